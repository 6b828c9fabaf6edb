#!/usr/bin/env bash
# load.sh - sluice serve against a no-work SMTP server, under smtp-source.
#
# For each message size, smtp-source (Postfix) sends the same load to
#   (a) `sluice serve` with the default pipeline (embedded scripts, fsync on,
#       a fresh store in a temp folder),
#   (b) bench/nowork, a go-smtp server that reads DATA into io.Discard, and
#   (c) the durable floor, `nowork -durable` (built with sluice's DATA
#       reader): it only appends each message to a spool file and syncs
#       (where sluice runs on_data), appends a commit record and syncs, and
#       after the 250 writes it into a Maildir (tmp/, sync, rename, sync of
#       the folder), holding deliveries while messages arrive as sluice's
#       [queue] burst_hold does — what the disk and the protocol leave for
#       sluice's work;
# each server pinned to one core, smtp-source to another. It prints msgs/s
# of each, the ratio sluice/no-work, sluice's CPU per message and peak RSS,
# and checks that every message sluice acknowledged reached the Maildir.
# See bench/README.md. Run from anywhere; it works in the repo root.
#
# Environment (defaults):
#   MSGS_4K=2000 MSGS_100K=500   messages per run at 4 KiB and 100 KiB
#   SESSIONS=20                  concurrent smtp-source sessions
#   RUNS=3                       runs per size and server; the median is shown
#   SERVER_CPU=0 CLIENT_CPU=1    cores for the servers and for smtp-source
#   DRAIN_TIMEOUT=300            seconds to wait for sluice's queue to empty
#   FSYNC=true                   sluice's store.fsync (false: to measure its cost)
#   FLOOR_FLAGS=-hold            the floor's options (bench/nowork: -hold, -fdatasync;
#                                "" for the floor of the runs before 2026-11-26's fifth)
#   TMPDIR=/tmp                  where the temp folder (and so sluice's store) goes
#   SLUICE_BIN=                  use this binary instead of building one
#   PERF=1                       record sluice with `perf record -g` (run 1 of
#                                each size, until drained); implies KEEP=1
#   KEEP=1                       keep the temp folder (logs, stores)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "load.sh: $*" >&2; exit 1; }

MSGS_4K=${MSGS_4K:-2000}
MSGS_100K=${MSGS_100K:-500}
SESSIONS=${SESSIONS:-20}
RUNS=${RUNS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
FSYNC=${FSYNC:-true}
FLOOR_FLAGS=${FLOOR_FLAGS--hold}
PERF=${PERF:-}
if [[ -n $PERF ]]; then
	command -v perf >/dev/null || die "PERF=1: perf not found (Debian: linux-perf)"
	KEEP=1
fi

SMTP_SOURCE=$(command -v smtp-source || true)
[[ -z $SMTP_SOURCE && -x /usr/sbin/smtp-source ]] && SMTP_SOURCE=/usr/sbin/smtp-source
[[ -n $SMTP_SOURCE ]] || die "smtp-source not found (Debian: postfix; or shared/tools/install-filters.sh --no-rspamd)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
[[ $(nproc) -ge 2 ]] || echo "load.sh: warning: $(nproc) core(s): servers and smtp-source share them" >&2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-load.XXXXXX")
SERVER_PID="" PERF_PID=""
cleanup() {
	local pid
	for pid in $PERF_PID $SERVER_PID; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -INT "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ ${KEEP:-} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

echo "building into $TMP ..." >&2
if [[ -n ${SLUICE_BIN:-} ]]; then
	cp "$SLUICE_BIN" "$TMP/sluice"
else
	go build -o "$TMP/sluice" ./cmd/sluice
fi
# The no-work baseline as the issue defines it: go-smtp as released (its own
# module, bench/nowork/go.mod). And the same server built with the DATA reader
# sluice uses (third_party/go-smtp), to show what the reader alone is worth.
(cd bench/nowork && go build -o "$TMP/nowork" .)
cp bench/nowork/go.mod "$TMP/fast.mod"
cp bench/nowork/go.sum "$TMP/fast.sum"
echo "replace github.com/emersion/go-smtp => $PWD/third_party/go-smtp" >>"$TMP/fast.mod"
(cd bench/nowork && go build -modfile "$TMP/fast.mod" -o "$TMP/nowork-fast" .)

# now prints a time in seconds with nanoseconds.
now() { date +%s.%N; }

# cputicks prints utime+stime of a process, in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# The functions below run in the main shell (no $(…)) and return their
# results in globals, so that die and the EXIT trap always see SERVER_PID.

# wait_log FILE REGEX: waits (10 s at most) until FILE has a line matching
# REGEX; sets LINE to the first such line.
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		if LINE=$(grep -Em1 -- "$2" "$1" 2>/dev/null); then
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$1" >&2; die "server exited"; }
		sleep 0.05
	done
	cat "$1" >&2
	die "timed out waiting for /$2/ in $1"
}

# stop_server ends the server started last (SIGTERM, then waits).
stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

# blast PORT COUNT SIZE LOG: runs smtp-source; sets SECS to its wall time
# and CLIENT to its CPU time per message (µs), to show it is not the limit.
blast() {
	local TIMEFORMAT='%3R %3U %3S' real user sys
	if ! { time taskset -c "$CLIENT_CPU" "$SMTP_SOURCE" -s "$SESSIONS" -m "$2" -l "$3" -c \
		-f a@example.org -t bob@localhost "127.0.0.1:$1" >"$4" 2>&1; } 2>"$4.time"; then
		cat "$4" >&2
		die "smtp-source failed"
	fi
	read -r real user sys <"$4.time"
	SECS=$real
	CLIENT=$(awk -v u="$user" -v s="$sys" -v n="$2" 'BEGIN { printf "%.0f", (u + s) * 1e6 / n }')
}

# per_msg TICKS COUNT prints CPU microseconds per message.
per_msg() { awk -v c="$1" -v n="$2" -v hz="$HZ" 'BEGIN { printf "%.0f", c * 1e6 / hz / n }'; }

# run_nowork COUNT SIZE RUN [BIN]: sets SECS and CPU (µs per message).
run_nowork() {
	local bin=${4:-nowork}
	local dir=$TMP/$bin-$2-$3 port c0 c1
	mkdir -p "$dir"
	taskset -c "$SERVER_CPU" "$TMP/$bin" -addr 127.0.0.1:0 2>"$dir/server.log" &
	SERVER_PID=$!
	wait_log "$dir/server.log" '^listening on '
	port=${LINE##*:}
	c0=$(cputicks "$SERVER_PID")
	blast "$port" "$1" "$2" "$dir/smtp-source.log"
	c1=$(cputicks "$SERVER_PID")
	stop_server
	CPU=$(per_msg $((c1 - c0)) "$1")
}

# run_floor COUNT SIZE RUN: the durable floor (nowork-fast -durable); sets
# SECS, SUST (seconds until every message was in its Maildir) and CPU (µs
# per message, until then).
run_floor() {
	local dir=$TMP/floor-$2-$3 port c0 c1 t0 i n=0
	mkdir -p "$dir"
	taskset -c "$SERVER_CPU" "$TMP/nowork-fast" -addr 127.0.0.1:0 -durable "$dir/md" $FLOOR_FLAGS 2>"$dir/server.log" &
	SERVER_PID=$!
	wait_log "$dir/server.log" '^listening on '
	port=${LINE##*:}
	c0=$(cputicks "$SERVER_PID")
	t0=$(now)
	blast "$port" "$1" "$2" "$dir/smtp-source.log"
	for ((i = 0; i < DRAIN_TIMEOUT * 20; i++)); do
		n=$(find "$dir/md/new" -type f | wc -l)
		((n >= $1)) && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "floor exited"; }
		sleep 0.05
	done
	((n >= $1)) || die "floor: $n of $1 messages delivered after ${DRAIN_TIMEOUT}s"
	SUST=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	c1=$(cputicks "$SERVER_PID")
	stop_server
	CPU=$(per_msg $((c1 - c0)) "$1")
}

# run_sluice COUNT SIZE RUN: sets SECS, CPU (µs per message, until the
# queue drained), RSS (peak, KiB), DRAIN (seconds after smtp-source ended),
# ACKED (messages sluice answered 250, from its mail log) and DELIVERED
# (files in the Maildirs).
run_sluice() {
	local dir=$TMP/sluice-$2-$3 port c0 c1 t0 left i
	mkdir -p "$dir"
	cat >"$dir/sluice.toml" <<-EOF
		[server]
		hostname = "bench.test"
		listen = ["127.0.0.1:0"]

		[store]
		dir = "data"
		fsync = $FSYNC
	EOF
	(cd "$dir" && exec taskset -c "$SERVER_CPU" "$TMP/sluice" serve --config sluice.toml 2>server.log) &
	SERVER_PID=$!
	wait_log "$dir/server.log" 'sluice serving'
	wait_log "$dir/server.log" 'msg=listening proto=smtp addr='
	port=$(sed -E 's/.*addr=[^ ]*:([0-9]+).*/\1/' <<<"$LINE")
	if [[ -n $PERF && $3 == 1 ]]; then
		perf record -q -g -F 999 -p "$SERVER_PID" -o "$dir/perf.data" 2>"$dir/perf.log" &
		PERF_PID=$!
		sleep 0.5 # perf attaches
	fi
	c0=$(cputicks "$SERVER_PID")
	blast "$port" "$1" "$2" "$dir/smtp-source.log"

	# Wait for the queue to drain: every accepted message delivered.
	t0=$(now)
	left=""
	for ((i = 0; i < DRAIN_TIMEOUT * 10; i++)); do
		# status counts; queue list would load every message and cost
		# sluice CPU that the measurement would charge to the messages.
		left=$(cd "$dir" && "$TMP/sluice" status --config sluice.toml 2>/dev/null | awk '/^queue: / { print $2 }')
		[[ $left == 0 ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { tail "$dir/server.log" >&2; die "sluice exited"; }
		sleep 0.1
	done
	[[ $left == 0 ]] || echo "load.sh: warning: queue not drained after ${DRAIN_TIMEOUT}s ($left left)" >&2
	DRAIN=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	c1=$(cputicks "$SERVER_PID")
	RSS=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")
	DELIVERED=$(find "$dir/data/mail" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l)
	ACKED=$(grep -c 'msg=queued component=maillog' "$dir/server.log" || true)
	if [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID"
		wait "$PERF_PID" || true
		PERF_PID=""
		echo "  profile: perf report -i $dir/perf.data --children --sort sym" >&2
	fi
	stop_server
	CPU=$(per_msg $((c1 - c0)) "$1")
}

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

rows=() frows=()
lost=0
for spec in "4096 $MSGS_4K 4 40" "102400 $MSGS_100K 100 90"; do
	read -r size count kib target <<<"$spec"
	nw_rate=() nw_cpu=() sl_rate=() sl_sust=() sl_cpu=() sl_rss=() sl_drain=() fw_rate=()
	fl_rate=() fl_sust=() fl_cpu=()
	for ((run = 1; run <= RUNS; run++)); do
		run_nowork "$count" "$size" "$run"
		nw_rate+=("$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')")
		nw_cpu+=("$CPU")
		nw_client=$CLIENT
		run_nowork "$count" "$size" "$run" nowork-fast
		fw_rate+=("$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')")
		run_floor "$count" "$size" "$run"
		fl_rate+=("$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')")
		fl_sust+=("$(awk -v n="$count" -v s="$SUST" 'BEGIN { printf "%.0f", n / s }')")
		fl_cpu+=("$CPU")
		run_sluice "$count" "$size" "$run"
		sl_rate+=("$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')")
		sl_sust+=("$(awk -v n="$count" -v s="$SECS" -v d="$DRAIN" 'BEGIN { printf "%.0f", n / (s + d) }')")
		sl_cpu+=("$CPU")
		sl_rss+=("$RSS")
		sl_drain+=("$DRAIN")
		if ((ACKED != count)); then
			echo "load.sh: ${kib} KiB run $run: sluice acknowledged $ACKED of $count messages" >&2
		fi
		if ((DELIVERED < ACKED)); then
			echo "load.sh: ${kib} KiB run $run: LOST: $ACKED acknowledged, $DELIVERED delivered" >&2
			lost=1
		fi
		echo "  ${kib} KiB run $run: no-work ${nw_rate[-1]} msgs/s (${nw_cpu[-1]} µs/msg, smtp-source $nw_client)," \
			"no-work with sluice's reader ${fw_rate[-1]} msgs/s," \
			"floor ${fl_rate[-1]} msgs/s (sustained ${fl_sust[-1]}, ${fl_cpu[-1]} µs/msg)," \
			"sluice ${sl_rate[-1]} msgs/s (${CPU} µs/msg, smtp-source $CLIENT), ${RSS} KiB peak RSS," \
			"drained in ${DRAIN}s, $ACKED acknowledged, $DELIVERED delivered" >&2
	done
	nw=$(median "${nw_rate[@]}")
	sl=$(median "${sl_rate[@]}")
	nwc=$(median "${nw_cpu[@]}")
	slc=$(median "${sl_cpu[@]}")
	ratio=$(awk -v a="$sl" -v b="$nw" 'BEGIN { printf "%.0f", 100 * a / b }')
	fw=$(median "${fw_rate[@]}")
	fratio=$(awk -v a="$sl" -v b="$fw" 'BEGIN { printf "%.0f", 100 * a / b }')
	cratio=$(awk -v a="$nwc" -v b="$slc" 'BEGIN { printf "%.0f", 100 * a / b }')
	rss=$(printf '%s\n' "${sl_rss[@]}" | sort -g | tail -1)
	# The issue's targets: the ratio of accepted rates and peak RSS. The
	# cpu ratio is shown beside them ("cpu<" when under the target) but
	# is not one: sluice's µs include delivering every message, which the
	# no-work server never does.
	verdict=$(awk -v r="$ratio" -v c="$cratio" -v t="$target" -v m="$rss" 'BEGIN {
		v = ""
		if (r < t) v = v " wall"
		if (m >= 40 * 1024) v = v " rss"
		v = v == "" ? "ok" : "MISSED:" v
		if (c < t) v = v " (cpu<)"
		print v }')
	rows+=("$(printf '%-8s %6d %10s %6s %10s %7s %6s %6s%% %6s%% %6s%% %8.1f %7s  %-14s  (no-work with sluice'"'"'s reader %s/s: %s%%)' \
		"${kib} KiB" "$count" "$nw" "$nwc" "$sl" "$(median "${sl_sust[@]}")" "$slc" "$ratio" "$cratio" "$target" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(median "${sl_drain[@]}")" "$verdict" "$fw" "$fratio")")
	fl=$(median "${fl_rate[@]}")
	fls=$(median "${fl_sust[@]}")
	flc=$(median "${fl_cpu[@]}")
	frows+=("$(printf '%-8s %8s %7s %6s %8s%% %9s%% %9s%% %9s%%' "${kib} KiB" "$fl" "$fls" "$flc" \
		"$(awk -v a="$fl" -v b="$nw" 'BEGIN { printf "%.0f", 100 * a / b }')" \
		"$(awk -v a="$sl" -v b="$fl" 'BEGIN { printf "%.0f", 100 * a / b }')" \
		"$(awk -v a="$(median "${sl_sust[@]}")" -v b="$fls" 'BEGIN { printf "%.0f", 100 * a / b }')" \
		"$(awk -v a="$flc" -v b="$slc" 'BEGIN { printf "%.0f", 100 * a / b }')")")
done

echo
echo "sluice serve (default pipeline, fsync=$FSYNC, store on $(df --output=fstype "$TMP" | tail -1)) vs no-work go-smtp;" \
	"$SESSIONS sessions; median of $RUNS runs"
echo "server on CPU $SERVER_CPU, smtp-source on CPU $CLIENT_CPU; µs = server CPU per message (sluice: until drained)"
printf '%-8s %6s %10s %6s %10s %7s %6s %7s %7s %7s %8s %7s  %s\n' \
	size msgs "no-work/s" "µs" "sluice/s" "sust/s" "µs" "ratio" "cpu" target "RSS MiB" "drain s" "targets"
printf '%s\n' "${rows[@]}"
echo "sluice/s: accepted (smtp-source's wall time); sust/s: until the queue drained (accepted and delivered)"
echo "ratio: sluice/no-work msgs/s; cpu: no-work µs / sluice µs, sluice's counted until it has delivered everything"
echo "(what accepting and delivering cost it against what no-work spends accepting; not one of the issue's targets);"
echo "no-work is go-smtp v0.25.1 as released; sluice reads DATA with its patched copy (third_party/go-smtp),"
echo "and the last column compares with the no-work server built with that same reader"
echo "targets (the issue's): ratio >= target, peak RSS < 40 MiB; (cpu<): the cpu ratio is under the target"
echo
echo "the durable floor (nowork -durable $FLOOR_FLAGS, sluice's reader): spool append + sync (body), append + sync (commit),"
echo "250, then Maildir tmp/ + sync + rename + sync; nothing else (syncs grouped with syncfs, as sluice's;"
echo "-hold: deliveries wait while messages arrive, as sluice's burst_hold has them)"
printf '%-8s %8s %7s %6s %9s %10s %10s %10s\n' size "floor/s" "sust/s" "µs" "/no-work" "sluice/fl" "sust/fl" "cpu/fl"
printf '%s\n' "${frows[@]}"
echo "/no-work: floor/s over no-work/s; sluice/fl, sust/fl: sluice's accepted and sustained rates over the floor's;"
echo "cpu/fl: floor µs / sluice µs — how close sluice's own work is to the least the disk allows"
((lost == 0)) || die "messages lost: see above"
