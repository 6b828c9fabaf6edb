#!/bin/sh
# Installs what sluice's tests need when it is missing, on Debian (as root):
# a Go toolchain as new as go.mod asks (checked, not installed), and the real
# SMTP clients the end-to-end tests drive (swaks, postfix's smtp-source)
# with the real filters (ClamAV, SpamAssassin) through
# ../shared/tools/install-filters.sh, which works offline; and Dovecot's
# doveadm and mutt (in tmux), real Maildir readers for mailstore's interop
# tests.
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
installer="$shared/tools/install-filters.sh"
if [ "$(id -u)" = 0 ] && [ -x "$installer" ]; then
	# Installs what is missing (idempotent, quick when all is there) and
	# starts test instances of clamd, spamd and rspamd on /tmp/mailfilters.
	if ! "$installer" --start-daemons --daemons all >/tmp/sluice-test-deps.log 2>&1; then
		echo "test-deps: warning: $installer failed (see /tmp/sluice-test-deps.log); tests that need a missing part will skip" >&2
		tail -5 /tmp/sluice-test-deps.log >&2
	else
		echo "test-deps: swaks, smtp-source, ClamAV, SpamAssassin, rspamd installed; daemons running"
	fi
	command -v python3 >/dev/null 2>&1 || apt-get install -y --no-install-recommends python3
	# Real Maildir readers for mailstore's interop tests: Dovecot's doveadm,
	# and mutt, which needs a terminal (tmux).
	readers=""
	command -v doveadm >/dev/null 2>&1 || readers="$readers dovecot-core"
	command -v mutt >/dev/null 2>&1 || readers="$readers mutt"
	command -v tmux >/dev/null 2>&1 || readers="$readers tmux"
	if [ -n "$readers" ]; then
		# shellcheck disable=SC2086 # one word a package
		{ apt-get install -y --no-install-recommends $readers ||
			{ apt-get update && apt-get install -y --no-install-recommends $readers; }; } >>/tmp/sluice-test-deps.log 2>&1 ||
			echo "test-deps: warning: could not install$readers; the tests with Dovecot and mutt will skip" >&2
	fi
else
	echo "test-deps: not root or no $installer: not installing the filters and clients; the tests that need them will skip" >&2
fi

corpus=${SLUICE_CORPUS:-$shared/corpus}
if [ ! -d "$corpus" ]; then
	echo "test-deps: note: no corpus at $corpus; the corpus tests will skip" >&2
fi
