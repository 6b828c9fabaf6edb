package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// ordersPostgres is where the outage test finds PostgreSQL.
const ordersPostgres = "127.0.0.1:5432"

// tcpProxy forwards connections to a target; Stop cuts it off (listener and
// every connection closed), as a database that went away would look, and
// Start brings it back on the same address.
type tcpProxy struct {
	target string
	addr   string // host:port, fixed by the first Start

	mu    sync.Mutex // guards l and conns
	l     net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup // the accept loop and the copiers
}

// Start listens (on a free port the first time, on the same one after) and
// forwards every connection to the target.
func (p *tcpProxy) Start(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for range 50 { // the old port may take a moment to be free again
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.addr, p.l, p.conns = l.Addr().String(), l, map[net.Conn]bool{}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

// forward joins c to a new connection to the target.
func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.conns == nil { // stopped meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	p.wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
}

// Stop closes the listener and every connection, and waits for the
// goroutines.
func (p *tcpProxy) Stop() {
	p.mu.Lock()
	if p.l != nil {
		p.l.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.l, p.conns = nil, nil
	p.mu.Unlock()
	p.wg.Wait()
}

// ordersDatabase creates a fresh PostgreSQL database for one test, dropped
// when it ends, and returns its name and a handle on it; it skips the test
// when PostgreSQL is absent.
func ordersDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", ordersPostgres, 2*time.Second)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable on %s (%v): skipping", ordersPostgres, err)
	}
	c.Close()
	admin, err := sql.Open("pgx", "postgres://postgres@"+ordersPostgres+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Skipf("PostgreSQL on %s refuses user postgres (%v): skipping", ordersPostgres, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "sluice_orders_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	db, err := sql.Open("pgx", "postgres://postgres@"+ordersPostgres+"/"+name+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return name, db
}

// orderMessage is an order e-mail with an order.json attachment of two
// items (total 2 × 9.50 + 4.25 = 23.25).
func orderMessage(id string) string {
	return strings.ReplaceAll(`From: Web Shop <shop@example.org>
To: bob@local.test
Subject: Order `+id+`
Date: Mon, 02 Mar 2026 10:15:00 +0100
Message-ID: <order-`+id+`@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

A new order.

--b
Content-Type: application/json; name="order.json"
Content-Disposition: attachment; filename="order.json"

{"order_id": "`+id+`", "customer": {"name": "O'Neil", "email": "c@example.org"}, "currency": "EUR",
 "items": [{"sku": "MUG", "qty": 2, "price": 9.5}, {"sku": "TEA", "qty": 1, "price": 4.25}], "total": 23.25}
--b--
`, "\n", "\r\n")
}

// sendOrder sends the order id to bob@local.test over SMTP.
func sendOrder(addr, id string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SendMail("shop@example.org", []string{"bob@local.test"}, strings.NewReader(orderMessage(id)))
}

// countRows returns SELECT count(*) of the query, or -1 on error.
func countRows(db *sql.DB, query string, args ...any) int {
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// heldOrders returns how many messages `sluice queue list` shows that were
// tried at least once, and the listing.
func heldOrders(s *Server) (int, string) {
	out, err := s.Sluice("queue", "list")
	if err != nil {
		return 0, out
	}
	n := 0
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] == "" {
			continue
		}
		if tries, err := strconv.Atoi(f[3]); err == nil && tries >= 1 {
			n++
		}
	}
	return n, out
}

// startOrders starts sluice serve with the orders example on the
// PostgreSQL database name reached at addr, retrying every second at first.
func startOrders(t *testing.T, addr, name string) *Server {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "..", "examples", "orders", "scripts", "orders.lua"))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile(filepath.Join("..", "..", "examples", "orders", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig + `
[queue]
retry_initial = "1s"
retry_max = "30s"

[[stage]]
name = "orders"
script = "orders.lua"
timeout = "5s"
on_error = "tempfail"

[database.orders]
driver = "postgres"
dsn = "postgres://postgres@` + addr + `/` + name + `?sslmode=disable&connect_timeout=2"
init = "schema.sql"
`
	return startWithFiles(t, cfg, map[string]string{"orders.lua": string(script), "schema.sql": string(schema)})
}

// waitHeld waits until the queue holds n messages tried at least once.
func waitHeld(t *testing.T, s *Server, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	held, list := heldOrders(s)
	for held < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		held, list = heldOrders(s)
	}
	if held != n {
		t.Fatalf("queue holds %d tried orders, want %d:\n%s\n%s", held, n, list, lastLines(s.Log(), 30))
	}
	return list
}

// Orders arrive while PostgreSQL is unreachable: they are acknowledged (the
// stage runs in on_queue, after the 250), held in the queue, and written
// exactly once when it is back.
func TestOrdersOutage(t *testing.T) {
	name, db := ordersDatabase(t)
	proxy := &tcpProxy{target: ordersPostgres}
	proxy.Start(t)
	t.Cleanup(proxy.Stop)

	s := startOrders(t, proxy.addr, name)

	// One order while the database is there, so the pool holds live
	// connections through the proxy when it goes.
	if err := sendOrder(s.Addr, "W-1"); err != nil {
		t.Fatalf("send W-1: %v", err)
	}
	if got := s.WaitMaildir("bob@local.test", "Orders", 1, 20*time.Second); len(got) != 1 {
		t.Fatalf("W-1 not filed into Orders\n%s", s.Log())
	}

	// The database goes away; N orders arrive and are acknowledged.
	const n = 20
	proxy.Stop()
	for i := 1; i <= n; i++ {
		if err := sendOrder(s.Addr, fmt.Sprintf("O-%d", i)); err != nil {
			t.Fatalf("send O-%d while the database is down: %v", i, err)
		}
	}
	// The queue holds them, each tried and failed at least once.
	list := waitHeld(t, s, n)
	t.Logf("while the database was down:\n%s", lastLines(list, 4))
	if !s.WaitLog("connection refused", 5*time.Second) {
		t.Errorf("the log shows no refused connection to the database:\n%s", grepLines(s.Log(), "stage failed"))
	}
	if got := countRows(db, "SELECT count(*) FROM orders"); got != 1 {
		t.Fatalf("orders while the database was down: %d rows, want 1", got)
	}
	if got := len(s.Maildir("bob@local.test", "Orders")); got != 1 {
		t.Fatalf("Orders folder while the database was down: %d messages, want 1", got)
	}

	// It comes back; a flush retries at once.
	proxy.Start(t)
	if out, err := s.Sluice("queue", "flush"); err != nil {
		t.Fatalf("queue flush: %v\n%s", err, out)
	}
	files := s.WaitMaildir("bob@local.test", "Orders", n+1, 60*time.Second)
	if len(files) != n+1 {
		t.Fatalf("Orders folder: %d messages, want %d\n%s\n%s", len(files), n+1, queueList(s), lastLines(s.Log(), 30))
	}
	if !waitDrained(t, s, 20*time.Second) {
		t.Fatalf("queue not drained:\n%s", queueList(s))
	}

	// Every order once in the tables, with its two items.
	if got := countRows(db, "SELECT count(*) FROM orders"); got != n+1 {
		t.Errorf("orders: %d rows, want %d", got, n+1)
	}
	if got := countRows(db, "SELECT count(*) FROM order_items"); got != 2*(n+1) {
		t.Errorf("order_items: %d rows, want %d", got, 2*(n+1))
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("O-%d", i)
		if got := countRows(db, "SELECT count(*) FROM orders WHERE order_id = $1 AND total = 23.25 AND customer_name = $2", id, "O'Neil"); got != 1 {
			t.Errorf("order %s: %d rows, want 1", id, got)
		}
	}
	// Every message once in bob's Orders folder, and nothing elsewhere.
	seen := map[string]int{}
	for _, f := range files {
		text := readFile(t, f)
		_, rest, ok := strings.Cut(text, "\nSubject: Order ")
		if !ok {
			t.Errorf("%s: no order subject", f)
			continue
		}
		seen[strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])]++
	}
	for i := 0; i <= n; i++ {
		id := fmt.Sprintf("O-%d", i)
		if i == 0 {
			id = "W-1"
		}
		if seen[id] != 1 {
			t.Errorf("Orders folder holds %s %d times, want 1", id, seen[id])
		}
	}
	if inbox := s.Maildir("bob@local.test", ""); len(inbox) != 0 {
		t.Errorf("INBOX: %d messages, want 0", len(inbox))
	}
	if q, err := s.Sluice("quarantine", "list"); err != nil || !strings.Contains(q, "\n0 messages in quarantine") {
		t.Errorf("quarantine (%v):\n%s", err, q)
	}
	t.Logf("%d orders held while PostgreSQL was unreachable; after it came back: %d orders, %d items, %d messages in Orders",
		n, countRows(db, "SELECT count(*) FROM orders"), countRows(db, "SELECT count(*) FROM order_items"), len(files))
}

// PostgreSQL is unreachable when sluice starts: it serves anyway, holds the
// orders, runs the schema once the database is back, and stores them.
func TestOrdersDatabaseDownAtStart(t *testing.T) {
	name, db := ordersDatabase(t)
	proxy := &tcpProxy{target: ordersPostgres}
	proxy.Start(t)
	proxy.Stop() // an address that refuses connections, for now
	t.Cleanup(proxy.Stop)
	s := startOrders(t, proxy.addr, name)
	if !s.WaitLog("database unreachable at start", 5*time.Second) {
		t.Errorf("no warning about the database at start:\n%s", s.Log())
	}
	const n = 5
	for i := 1; i <= n; i++ {
		if err := sendOrder(s.Addr, fmt.Sprintf("S-%d", i)); err != nil {
			t.Fatalf("send S-%d: %v", i, err)
		}
	}
	waitHeld(t, s, n)

	proxy.Start(t)
	if !s.WaitLog("database back; init done", 30*time.Second) {
		t.Fatalf("the schema was not run once the database was back:\n%s", lastLines(s.Log(), 20))
	}
	if out, err := s.Sluice("queue", "flush"); err != nil {
		t.Fatalf("queue flush: %v\n%s", err, out)
	}
	if files := s.WaitMaildir("bob@local.test", "Orders", n, 30*time.Second); len(files) != n {
		t.Fatalf("Orders folder: %d messages, want %d\n%s", len(files), n, queueList(s))
	}
	if got := countRows(db, "SELECT count(*) FROM orders"); got != n {
		t.Errorf("orders: %d rows, want %d", got, n)
	}
	if got := countRows(db, "SELECT count(*) FROM order_items"); got != 2*n {
		t.Errorf("order_items: %d rows, want %d", got, 2*n)
	}
}
