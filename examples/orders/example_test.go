package orders_test

// The order desk through `sluice run --json --commit`, against a real
// SQLite file and, when they run on their default ports on loopback, a real
// PostgreSQL and MariaDB (or MySQL): each database gets a fresh database of
// its own, dropped at the end.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// sluiceBin is the binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-orders")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", sluiceBin, "../../cmd/sluice").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Where the servers are looked for; the environment can point elsewhere.
var (
	postgresAdmin = envOr("SLUICE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	mysqlAdmin    = envOr("SLUICE_TEST_MYSQL", "root@tcp(127.0.0.1:3306)/")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// backend is one database the example runs against.
type backend struct {
	// block is the [database.orders] table written into sluice.toml.
	block string
	// db reaches the same database, for the assertions.
	db *sql.DB
	// rebind turns the ?-placeholders of a test query into the driver's.
	rebind func(string) string
}

func (b backend) query(t *testing.T, q string, args ...any) *sql.Rows {
	t.Helper()
	rows, err := b.db.QueryContext(t.Context(), b.rebind(q), args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	t.Cleanup(func() { rows.Close() })
	return rows
}

func (b backend) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func sameMarks(q string) string { return q }

// dollarMarks numbers the placeholders for PostgreSQL: ? → $1, $2 …
func dollarMarks(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqliteBlock is the example's own [database.orders].
const sqliteBlock = "driver = \"sqlite\"\ndsn = \"data/orders.db\"\ninit = \"schema.sql\"\n"

func sqliteBackend(t *testing.T, work string) backend {
	path := filepath.Join(work, "data", "orders.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return backend{
		block:  sqliteBlock,
		db:     db,
		rebind: sameMarks,
	}
}

// fresh returns a name for a database of this test alone.
func fresh() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "sluice_orders_" + hex.EncodeToString(b)
}

// postgresBackend creates a database on the local PostgreSQL and drops it
// when the test ends.
func postgresBackend(t *testing.T) backend {
	admin, err := sql.Open("pgx", postgresAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Skipf("PostgreSQL is not reachable at %s (%v): skipping; start it, or set SLUICE_TEST_POSTGRES", postgresAdmin, err)
	}
	name := fresh()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(postgresAdmin)
	if err != nil {
		t.Fatalf("SLUICE_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	dsn := u.String()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // before the drop: cleanups run last first
	return backend{
		block:  fmt.Sprintf("driver = \"postgres\"\ndsn = %q\ninit = \"schema.sql\"\n", dsn),
		db:     db,
		rebind: dollarMarks,
	}
}

// mysqlBackend creates a database on the local MariaDB (or MySQL) and drops
// it when the test ends.
func mysqlBackend(t *testing.T) backend {
	admin, err := sql.Open("mysql", mysqlAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Skipf("MariaDB/MySQL is not reachable at %s (%v): skipping; start it, or set SLUICE_TEST_MYSQL", mysqlAdmin, err)
	}
	name := fresh()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	base, _, _ := strings.Cut(mysqlAdmin, ")/") // user@tcp(host:port)/db?params
	dsn := base + ")/" + name
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return backend{
		block:  fmt.Sprintf("driver = \"mysql\"\ndsn = %q\ninit = \"schema.sql\"\n", dsn),
		db:     db,
		rebind: sameMarks,
	}
}

// workdir copies the example into a temporary folder, with the
// [database.orders] table of sluice.toml replaced by block.
func workdir(t *testing.T, work, block string) {
	t.Helper()
	cfg, err := os.ReadFile("sluice.toml")
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(cfg), "[database.orders]")
	if !ok {
		t.Fatal("sluice.toml has no [database.orders]")
	}
	files := map[string]string{"sluice.toml": head + "[database.orders]\n" + block}
	for _, f := range []string{"schema.sql", "scripts/orders.lua"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	for name, text := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// result is what the test reads of `sluice run --json`.
type result struct {
	Verdict string
	Text    string
	Stages  []struct{ Name, Hook, Verdict, Error string }
	Actions []struct{ Kind, Folder, Reason string }
	Headers struct{ Added [][2]string }
}

// order returns the X-Order header the stage added, or "".
func (r result) order() string {
	for _, h := range r.Headers.Added {
		if h[0] == "X-Order" {
			return h[1]
		}
	}
	return ""
}

// filed returns the folder of the fileinto action, or "".
func (r result) filed() string {
	for _, a := range r.Actions {
		if a.Kind == "fileinto" {
			return a.Folder
		}
	}
	return ""
}

// run runs `sluice run --json` on msg in work, with --commit when asked.
func run(t *testing.T, work, msg string, commit bool) result {
	t.Helper()
	r, err := runErr(work, msg, commit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runErr is run for other goroutines than the test's.
func runErr(work, msg string, commit bool) (result, error) {
	args := []string{"run", "--json", "--config", "sluice.toml", "--rcpt", "orders@shop.example"}
	if commit {
		args = append(args, "--commit")
	}
	cmd := exec.Command(sluiceBin, append(args, msg)...)
	cmd.Dir = work
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r result
	if err != nil {
		return r, fmt.Errorf("sluice run %s: %v\n%s%s", filepath.Base(msg), err, out, stderr.String())
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("sluice run %s: %v\n%s", filepath.Base(msg), err, out)
	}
	return r, nil
}

// variant writes a copy of the fixture src into work with the replacements
// done (old, new, old, new …) and returns its path.
func variant(t *testing.T, work, name, src string, oldnew ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("messages", src))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(oldnew...).Replace(string(b))
	if text == string(b) {
		t.Fatalf("variant %s: nothing replaced", name)
	}
	p := filepath.Join(work, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("messages", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOrdersSQLite(t *testing.T) {
	work := t.TempDir()
	testOrders(t, work, sqliteBackend(t, work))
}

func TestOrdersPostgres(t *testing.T) {
	testOrders(t, t.TempDir(), postgresBackend(t))
}

func TestOrdersMariaDB(t *testing.T) {
	testOrders(t, t.TempDir(), mysqlBackend(t))
}

// orderRow is one row of the orders table.
type orderRow struct {
	ID, MessageID   string
	Name            sql.NullString
	Email, Currency string
	Total           float64
}

// itemRow is one row of the order_items table.
type itemRow struct {
	Order, SKU string
	Qty        int
	Price      float64
}

func testOrders(t *testing.T, work string, b backend) {
	workdir(t, work, b.block)

	// Each fixture's verdict.
	for _, tt := range []struct {
		msg, verdict, text, order, folder string
	}{
		{"order-json.eml", "accept", "", "A-1001 stored", "Orders"},
		{"order-csv.eml", "accept", "", "B-2002 stored", "Orders"},
		{"injection.eml", "accept", "", "A-666 stored", "Orders"},
		{"bad-total.eml", "quarantine", "order A-1: total 20.00 does not match items 19.00", "", ""},
		{"malformed.eml", "quarantine", "order.json: malformed JSON: json.decode: unexpected end of input", "", ""},
		{"bad-qty.eml", "quarantine", "order B-3: item 1 (PEN-BLUE): qty 0 is not a whole number > 0", "", ""},
		{"plain.eml", "accept", "", "", ""},
	} {
		r := run(t, work, fixture(t, tt.msg), true)
		if r.Verdict != tt.verdict || !strings.HasPrefix(r.Text, tt.text) {
			t.Errorf("%s: %s %q, want %s %q; stages %+v", tt.msg, r.Verdict, r.Text, tt.verdict, tt.text, r.Stages)
		}
		if got := r.order(); got != tt.order {
			t.Errorf("%s: X-Order %q, want %q", tt.msg, got, tt.order)
		}
		if got := r.filed(); got != tt.folder {
			t.Errorf("%s: filed into %q, want %q", tt.msg, got, tt.folder)
		}
	}

	// What the tables hold: the three good orders, and nothing of the bad
	// ones; the injection attempts are plain data.
	wantOrders := []orderRow{
		{"A-1001", "<order-A-1001@shop.example>", sql.NullString{String: "Alice Müller", Valid: true}, "alice@example.org", "EUR", 23.25},
		{"A-666", "<order-A-666@shop.example>", sql.NullString{String: `Robert'); DROP TABLE orders; -- "Bobby" O'Brien`, Valid: true}, "bobby@example.org", "USD", 3.99},
		{"B-2002", "<order-B-2002@shop.example>", sql.NullString{}, "carol@example.net", "EUR", 41.70},
	}
	wantItems := []itemRow{
		{"A-1001", "MUG-RED", 2, 9.5},
		{"A-1001", "TEA-GREEN-100G", 1, 4.25},
		{"A-666", `"quoted" ` + "`sku`", 3, 1},
		{"A-666", "X'; DELETE FROM order_items; --", 1, 0.99},
		{"B-2002", "INK-BLACK", 1, 12},
		{"B-2002", "NOTEBOOK A5, dotted", 3, 5.9},
		{"B-2002", "PEN-BLUE", 10, 1.2},
	}
	checkTables(t, b, wantOrders, wantItems)
	var received any
	if err := b.db.QueryRowContext(t.Context(), b.rebind("SELECT received_at FROM orders WHERE order_id = ?"), "A-1001").Scan(&received); err != nil || received == nil {
		t.Errorf("received_at of A-1001: %v, %v; want a time", received, err)
	}

	// The same message twice, the same order in another message, and
	// another order in the same message (by Message-ID): nothing new.
	for _, msg := range []string{
		fixture(t, "order-json.eml"),
		fixture(t, "order-csv.eml"),
		variant(t, work, "resent.eml", "order-json.eml", "<order-A-1001@shop.example>", "<resent-A-1001@shop.example>"),
		variant(t, work, "same-msgid.eml", "order-json.eml", `"order_id": "A-1001"`, `"order_id": "A-1999"`),
	} {
		r := run(t, work, msg, true)
		if r.Verdict != "accept" || !strings.HasSuffix(r.order(), " already stored") || r.filed() != "Orders" {
			t.Errorf("%s again: %s %q, X-Order %q, filed %q; want accept, already stored, Orders; stages %+v",
				filepath.Base(msg), r.Verdict, r.Text, r.order(), r.filed(), r.Stages)
		}
	}
	checkTables(t, b, wantOrders, wantItems)

	// A dry run (no --commit) writes nothing.
	dry := variant(t, work, "dry.eml", "order-json.eml",
		`"order_id": "A-1001"`, `"order_id": "A-2000"`, "<order-A-1001@shop.example>", "<order-A-2000@shop.example>")
	r := run(t, work, dry, false)
	if r.Verdict != "accept" || r.order() != "A-2000 stored" {
		t.Errorf("dry run: %s %q, X-Order %q; want accept, A-2000 stored; stages %+v", r.Verdict, r.Text, r.order(), r.Stages)
	}
	var statements []string
	for _, a := range r.Actions {
		if a.Kind == "sql" {
			statements = append(statements, strings.Fields(a.Reason)[2])
		}
	}
	if want := []string{"orders", "order_items", "order_items"}; !slices.Equal(statements, want) {
		t.Errorf("dry run: statements listed into %v, want %v", statements, want)
	}
	checkTables(t, b, wantOrders, wantItems)

	// The same new order from several senders at once: stored once, whoever
	// wins; the others see it, or hit the primary key, and call it stored.
	const racers = 6
	var wg sync.WaitGroup
	results := make([]result, racers)
	errs := make([]error, racers)
	for i := range racers {
		msg := variant(t, work, fmt.Sprintf("race-%d.eml", i), "order-csv.eml",
			"<order-B-2002@shop.example>", fmt.Sprintf("<race-%d@shop.example>", i), "B-2002", "C-3003")
		wg.Go(func() { results[i], errs[i] = runErr(work, msg, true) })
	}
	wg.Wait()
	stored := 0
	for i, r := range results {
		switch {
		case errs[i] != nil:
			t.Error(errs[i])
		case r.Verdict == "accept" && r.order() == "C-3003 stored":
			stored++
		case r.Verdict == "accept" && r.order() == "C-3003 already stored":
		case r.Verdict == "tempfail":
			// A writer that lost a lock race (SQLite's "database is
			// locked"): the queue would retry it.
			t.Logf("race %d: tempfail %+v", i, r.Stages)
		default:
			t.Errorf("race %d: %s %q, X-Order %q; stages %+v", i, r.Verdict, r.Text, r.order(), r.Stages)
		}
	}
	if stored != 1 {
		t.Errorf("the racing order was stored by %d runs, want 1", stored)
	}
	var n int
	if err := b.db.QueryRowContext(t.Context(), b.rebind("SELECT count(*) FROM order_items WHERE order_id = ?"), "C-3003").Scan(&n); err != nil || n != 3 {
		t.Errorf("items of C-3003: %d (%v), want 3", n, err)
	}
	if got := b.count(t, "orders"); got != len(wantOrders)+1 {
		t.Errorf("orders: %d rows, want %d", got, len(wantOrders)+1)
	}
}

// checkTables compares both tables with what they should hold.
func checkTables(t *testing.T, b backend, wantOrders []orderRow, wantItems []itemRow) {
	t.Helper()
	var orders []orderRow
	rows := b.query(t, "SELECT order_id, message_id, customer_name, customer_email, currency, total FROM orders ORDER BY order_id")
	for rows.Next() {
		var o orderRow
		if err := rows.Scan(&o.ID, &o.MessageID, &o.Name, &o.Email, &o.Currency, &o.Total); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantOrders, orders); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
	var items []itemRow
	rows = b.query(t, "SELECT order_id, sku, qty, price FROM order_items ORDER BY order_id, sku")
	for rows.Next() {
		var it itemRow
		if err := rows.Scan(&it.Order, &it.SKU, &it.Qty, &it.Price); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("order_items (-want +got):\n%s", diff)
	}
}

// sluice check compiles the example (in a copy: checking opens the
// database, and so creates the SQLite file).
func TestOrdersCheck(t *testing.T) {
	work := t.TempDir()
	workdir(t, work, sqliteBlock)
	cmd := exec.Command(sluiceBin, "check", "--config", "sluice.toml")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: 1 stages compiled") {
		t.Fatalf("sluice check: %v\n%s", err, out)
	}
}
