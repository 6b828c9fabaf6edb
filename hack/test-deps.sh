#!/bin/sh
# Installs what sluice's tests need when it is missing, on Debian (as root).
# Today: a Go toolchain as new as go.mod asks. Later issues add the real
# filters (ClamAV, SpamAssassin) and SMTP clients (swaks, smtp-source)
# through ../shared/tools/install-filters.sh.
set -eu
cd "$(dirname "$0")/.."

need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "test-deps: go is at /usr/local/go/bin; add it to PATH" >&2
	else
		echo "test-deps: no Go toolchain; install Go $need or newer (https://go.dev/dl) into /usr/local/go" >&2
	fi
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
	echo "test-deps: go $have is older than go $need (go.mod)" >&2
	exit 1
fi
corpus=${SLUICE_CORPUS:-../shared/corpus}
if [ ! -d "$corpus" ]; then
	echo "test-deps: note: no corpus at $corpus; the corpus tests will skip" >&2
fi
echo "test-deps: go $have ok"
