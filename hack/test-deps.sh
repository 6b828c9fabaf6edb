#!/bin/sh
# Installs what sluice's tests need when it is missing, on Debian (as root):
# a Go toolchain as new as go.mod asks (checked, not installed), and the real
# SMTP clients the end-to-end tests drive (swaks, postfix's smtp-source)
# with the real filters (ClamAV, SpamAssassin) through
# ../shared/tools/install-filters.sh, which works offline.
set -eu
cd "$(dirname "$0")/.."

need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
if ! command -v go >/dev/null 2>&1; then
	echo "test-deps: no Go toolchain on PATH; install Go $need or newer into /usr/local/go" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
	echo "test-deps: go $have is older than go $need (go.mod)" >&2
	exit 1
fi
echo "test-deps: go $have ok"

shared=${SLUICE_SHARED:-../shared}
missing=""
command -v swaks >/dev/null 2>&1 || missing="$missing swaks"
command -v smtp-source >/dev/null 2>&1 || [ -x /usr/sbin/smtp-source ] || missing="$missing smtp-source"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && [ -x "$shared/tools/install-filters.sh" ]; then
		echo "test-deps: installing$missing (and the filters) with $shared/tools/install-filters.sh"
		"$shared/tools/install-filters.sh" --no-rspamd
		command -v python3 >/dev/null 2>&1 || apt-get install -y --no-install-recommends python3
	else
		echo "test-deps: missing$missing; the tests that need them will skip (run as root with $shared/tools present to install)" >&2
	fi
else
	echo "test-deps: swaks, smtp-source, python3 present"
fi

corpus=${SLUICE_CORPUS:-$shared/corpus}
if [ ! -d "$corpus" ]; then
	echo "test-deps: note: no corpus at $corpus; the corpus tests will skip" >&2
fi
