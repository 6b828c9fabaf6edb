#!/usr/bin/env bash
# syscalls.sh - system calls per message of `sluice serve` under smtp-source.
#
# Where bench/load.sh measures time, which on a shared VM varies from run to
# run, this counts what does not: the file and durability system calls one
# message costs (openat, unlinkat, renameat, syncfs, fsync, fdatasync, …),
# with `perf stat` on syscall tracepoints, over MSGS messages until the
# queue has drained. The server runs on SERVER_CPU, smtp-source on
# CLIENT_CPU, as in load.sh.
#
# Usage: bench/syscalls.sh [SIZE]       (bytes, default 4096)
# Environment: MSGS=2000 SESSIONS=20 TMPDIR=/tmp SLUICE_BIN= SERVER_CPU=0 CLIENT_CPU=1
# Needs perf with the syscalls tracepoints (Debian: linux-perf; root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "syscalls.sh: $*" >&2; exit 1; }

SIZE=${1:-4096}
MSGS=${MSGS:-2000}
SESSIONS=${SESSIONS:-20}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SMTP_SOURCE=$(command -v smtp-source || true)
[[ -z $SMTP_SOURCE && -x /usr/sbin/smtp-source ]] && SMTP_SOURCE=/usr/sbin/smtp-source
[[ -n $SMTP_SOURCE ]] || die "smtp-source not found (Debian: postfix)"
command -v perf >/dev/null || die "perf not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-syscalls.XXXXXX")
PID="" PERF_PID=""
cleanup() {
	local p
	for p in $PERF_PID $PID; do
		kill -INT "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -n ${SLUICE_BIN:-} ]]; then
	cp "$SLUICE_BIN" "$TMP/sluice"
else
	go build -o "$TMP/sluice" ./cmd/sluice
fi
cat >"$TMP/sluice.toml" <<EOF
[server]
hostname = "bench.test"
listen = ["127.0.0.1:0"]

[store]
dir = "data"
fsync = true
EOF
cd "$TMP"
taskset -c "$SERVER_CPU" ./sluice serve --config sluice.toml 2>server.log &
PID=$!
for ((i = 0; i < 200; i++)); do
	grep -q 'msg=listening proto=smtp' server.log 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { cat server.log >&2; die "sluice exited"; }
	sleep 0.05
done
port=$(grep -m1 -o 'proto=smtp addr=[^ ]*' server.log | sed 's/.*://')
[[ -n $port ]] || die "sluice did not start listening"

events=()
for s in openat close unlinkat renameat renameat2 syncfs fsync fdatasync sync_file_range \
	read write pread64 pwrite64 newfstatat statx futex nanosleep epoll_pwait; do
	[[ -d /sys/kernel/tracing/events/syscalls/sys_enter_$s ]] && events+=("syscalls:sys_enter_$s")
done
((${#events[@]})) || die "no syscall tracepoints (is tracefs mounted? root?)"
ev=$(IFS=,; echo "${events[*]}")
perf stat -x, -e "$ev" -p "$PID" -o perf.txt &
PERF_PID=$!
sleep 0.5

taskset -c "$CLIENT_CPU" "$SMTP_SOURCE" -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -c \
	-f a@example.org -t bob@localhost "127.0.0.1:$port" >/dev/null
for ((i = 0; i < 3000; i++)); do
	# A count: queue list would load every queued message, in the
	# process being counted.
	left=$(./sluice status --config sluice.toml 2>/dev/null | awk '/^queue: / { print $2 }')
	[[ $left == 0 ]] && break
	sleep 0.1
done
kill -INT "$PERF_PID"
wait "$PERF_PID" || true
PERF_PID=""

echo "sluice serve, $MSGS messages of $SIZE bytes, $SESSIONS sessions, store on $(df --output=fstype . | tail -1); per message:"
awk -F, -v n="$MSGS" '/syscalls:/ { sub("syscalls:sys_enter_", "", $3); printf "  %-16s %6.2f\n", $3, $1 / n }' perf.txt
echo "(the drain's 'sluice status' polls are included: a few reads and writes on the control socket)"
