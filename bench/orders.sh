#!/usr/bin/env bash
# orders.sh - orders per second through `sluice serve` into SQLite and into
# PostgreSQL, with the order desk of examples/orders.
#
# For each database, it starts `sluice serve` with examples/orders (its
# script and schema.sql; a fresh store in a temp folder), sends N order
# e-mails (each with an order.json attachment of 3 items, distinct order
# ids) over SMTP from Python's smtplib in THREADS threads, and waits until
# the orders table holds N rows. It prints the rate at which orders were
# accepted over SMTP, and the rate at which they were stored (N over the
# time from the first message sent to the N-th row). Nothing is written in
# the repository. Run from anywhere.
#
# Environment (defaults):
#   N=2000                   orders per database
#   THREADS=20               concurrent SMTP sessions (each sends N/THREADS)
#   WORKERS=8                sluice's [queue] workers (on_queue at once)
#   MAX_OPEN=8               [database.orders] max_open
#   FSYNC=true               sluice's store.fsync
#   TIMEOUT=300              seconds to wait for the N rows, per database
#   PG_URL=postgres://postgres@127.0.0.1:5432
#                            the server where a scratch database is created
#                            (and dropped); skipped when it does not answer
#   DATABASES="sqlite postgres"
#   SLUICE_BIN=              use this binary instead of building one
#   KEEP=1                   keep the temp folder (logs, stores)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "orders.sh: $*" >&2; exit 1; }

N=${N:-2000}
THREADS=${THREADS:-20}
WORKERS=${WORKERS:-8}
MAX_OPEN=${MAX_OPEN:-8}
FSYNC=${FSYNC:-true}
TIMEOUT=${TIMEOUT:-300}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_ADMIN="$PG_URL/postgres?sslmode=disable"
DATABASES=${DATABASES:-sqlite postgres}

command -v python3 >/dev/null || die "python3 not found (it sends the orders)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-orders.XXXXXX")
SERVER_PID="" PG_DB=""
cleanup() {
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [[ -n $PG_DB ]]; then
		psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	if [[ ${KEEP:-} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

echo "building into $TMP ..." >&2
if [[ -n ${SLUICE_BIN:-} ]]; then
	cp "$SLUICE_BIN" "$TMP/sluice"
else
	go build -o "$TMP/sluice" ./cmd/sluice
fi

# The sender: THREADS sessions, each sending its share of the N orders on
# one connection. Prints when it started sending (the messages are made
# before) and the seconds it took.
cat >"$TMP/send.py" <<'EOF'
import json, smtplib, sys, threading, time
from email.message import EmailMessage

port, n, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
errors = []

def order(i):
    m = EmailMessage()
    m["From"] = "shop@shop.example"
    m["To"] = "orders@shop.example"
    m["Subject"] = "Order B-%d" % i
    m["Message-ID"] = "<bench-%d@shop.example>" % i
    m.set_content("A new order from the web shop.")
    items = [{"sku": "MUG", "qty": 2, "price": 9.5},
             {"sku": "TEA", "qty": 1, "price": 4.25},
             {"sku": "PEN-%d" % (i % 7), "qty": 3, "price": 1.2}]
    o = {"order_id": "B-%d" % i, "customer": {"name": "Customer %d" % i, "email": "c%d@example.org" % i},
         "currency": "EUR", "items": items, "total": 26.85}
    m.add_attachment(json.dumps(o).encode(), maintype="application", subtype="json", filename="order.json")
    return m

msgs = [order(i).as_bytes() for i in range(n)]  # before the clock starts

def session(k):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            for i in range(k, n, threads):
                s.sendmail("shop@shop.example", ["orders@shop.example"], msgs[i])
    except Exception as e:
        errors.append(repr(e))

t0 = time.time()
ts = [threading.Thread(target=session, args=(k,)) for k in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    sys.exit("send: %d sessions failed: %s" % (len(errors), errors[0]))
print("%.6f %.3f" % (t0, time.time() - t0))
EOF

# count_sqlite FILE / count_postgres DB print the rows of orders (0 before
# the table exists).
count_sqlite() {
	python3 - "$1" <<-'EOF' 2>/dev/null || echo 0
		import sqlite3, sys
		c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
		print(c.execute("SELECT count(*) FROM orders").fetchone()[0])
	EOF
}
count_postgres() {
	psql -tA "$PG_URL/$1?sslmode=disable" -c 'SELECT count(*) FROM orders' 2>/dev/null || echo 0
}

now() { date +%s.%N; }

# run DB: starts sluice on the database, sends N orders, waits for N rows;
# sets SEND (seconds to send), STORE (seconds until N rows) and ROWS.
run() {
	local db=$1 dir=$TMP/$1 block port t0 i line
	mkdir -p "$dir/scripts"
	cp examples/orders/scripts/orders.lua "$dir/scripts/"
	cp examples/orders/schema.sql "$dir/"
	case $db in
	sqlite) block="driver = \"sqlite\"
dsn = \"data/orders.db\"" ;;
	postgres) block="driver = \"postgres\"
dsn = \"$PG_URL/$PG_DB?sslmode=disable\"" ;;
	esac
	cat >"$dir/sluice.toml" <<-EOF
		[server]
		hostname = "bench.test"
		listen = ["127.0.0.1:0"]
		max_connections = 200

		[store]
		dir = "data"
		fsync = $FSYNC

		[domains]
		local = ["shop.example"]

		[queue]
		workers = $WORKERS
		retry_initial = "1s"
		retry_max = "5s"

		[[stage]]
		name = "orders"
		script = "scripts/orders.lua"
		timeout = "10s"
		on_error = "tempfail"

		[database.orders]
		$block
		init = "schema.sql"
		max_open = $MAX_OPEN
		max_idle = $MAX_OPEN
	EOF
	(cd "$dir" && exec "$TMP/sluice" serve --config sluice.toml 2>server.log) &
	SERVER_PID=$!
	port=""
	for ((i = 0; i < 200; i++)); do
		line=$(grep -Em1 'msg=listening proto=smtp addr=' "$dir/server.log" 2>/dev/null || true)
		if [[ -n $line ]]; then
			port=$(sed -E 's/.*addr=[^ ]*:([0-9]+).*/\1/' <<<"$line")
			break
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "$db: sluice exited"; }
		sleep 0.05
	done
	[[ -n $port ]] || { cat "$dir/server.log" >&2; die "$db: sluice did not listen"; }

	read -r t0 SEND < <(python3 "$TMP/send.py" "$port" "$N" "$THREADS") || die "$db: sending failed"
	[[ -n $SEND ]] || die "$db: sending failed"
	ROWS=0
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		if [[ $db == sqlite ]]; then ROWS=$(count_sqlite "$dir/data/orders.db"); else ROWS=$(count_postgres "$PG_DB"); fi
		[[ $ROWS -ge $N ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { tail "$dir/server.log" >&2; die "$db: sluice exited"; }
		sleep 0.1
	done
	STORE=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	[[ $ROWS -ge $N ]] || echo "orders.sh: warning: $db: $ROWS of $N orders stored after ${TIMEOUT}s" >&2
	local deferred
	deferred=$(grep -c 'msg=deferred' "$dir/server.log" || true)
	[[ $deferred == 0 ]] || echo "orders.sh: $db: $deferred orders deferred for a retry" >&2
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

printf '%-9s %6s %7s %9s %9s %9s\n' database orders threads "smtp/s" "stored/s" "rows"
for db in $DATABASES; do
	if [[ $db == postgres ]]; then
		if ! command -v psql >/dev/null || ! psql -q "$PG_ADMIN" -c 'SELECT 1' >/dev/null 2>&1; then
			echo "orders.sh: PostgreSQL not reachable at $PG_ADMIN (or no psql): skipping it" >&2
			continue
		fi
		PG_DB=sluice_bench_$$
		psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
	fi
	run "$db"
	printf '%-9s %6d %7d %9s %9s %9d\n' "$db" "$N" "$THREADS" "$(rate "$N" "$SEND")" "$(rate "$N" "$STORE")" "$ROWS"
done
