package smtpd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/queue"
)

// memSpool keeps committed messages in memory; fail makes Receive fail as
// a full disk would.
type memSpool struct {
	mu        sync.Mutex
	committed map[string]string
	aborted   int
	fail      error
}

type memPending struct {
	sp   *memSpool
	id   string
	data []byte
}

func (m *memSpool) Receive(ctx context.Context, env queue.Envelope, r io.Reader) (Pending, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if m.fail != nil {
		return nil, m.fail
	}
	return &memPending{sp: m, id: env.ID, data: b}, nil
}

func (p *memPending) ID() string             { return p.id }
func (p *memPending) Bytes() ([]byte, error) { return p.data, nil }
func (p *memPending) Commit(ctx context.Context, vars json.RawMessage, body []byte) error {
	if body == nil {
		body = p.data
	}
	p.sp.mu.Lock()
	defer p.sp.mu.Unlock()
	if p.sp.committed == nil {
		p.sp.committed = map[string]string{}
	}
	p.sp.committed[p.id] = string(body)
	return nil
}
func (p *memPending) Abort(ctx context.Context) error {
	p.sp.mu.Lock()
	p.sp.aborted++
	p.sp.mu.Unlock()
	return nil
}

const policyScript = `
function on_connect(conn)
  if conn.port == 0 then return reject(554, "5.7.1", "no port?") end
end
function on_helo(conn)
  if conn.helo == "bad.helo" then return reject(550, "5.7.1", "bad helo") end
end
function on_mail(tx)
  if tx.from == "spammer@example.net" then return reject(550, "5.7.1", "go away") end
end
function on_rcpt(tx, rcpt)
  if rcpt == "busy@local.test" then return tempfail(450, "4.2.1", "mailbox busy") end
end
function on_data(msg)
  if msg:subject() == "refuse" then return reject("5.7.1", "refused by rule") end
  if msg:subject() == "crash" then error("internal /secret/path") end
  msg:add_header("X-Checked", "yes")
end`

func newTestServer(t *testing.T, sp Spool, script string, mod ...func(*Options)) string {
	t.Helper()
	eng, err := engine.New(engine.Options{
		Stages: []engine.Stage{{Name: "policy", Script: "policy.lua", Timeout: 5 * time.Second}},
		ReadFile: func(name string) ([]byte, error) {
			if name == "policy.lua" {
				return []byte(script), nil
			}
			return nil, fs.ErrNotExist
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	opt := Options{
		Hostname:        "mx.local.test",
		MaxMessageBytes: 1 << 20,
		MaxRecipients:   5,
		Policy: &Policy{
			Local:     map[string]bool{"local.test": true},
			AcceptAll: true,
			RelayFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		},
		Engine: func() *engine.Engine { eng.Acquire(); return eng },
		Spool:  sp,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&opt)
	}
	srv := New(opt)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// code returns the SMTP code of err (250 for nil).
func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return 250
	}
	return -1
}

func TestSessionReplies(t *testing.T) {
	sp := &memSpool{}
	addr := newTestServer(t, sp, policyScript)
	send := func(helo, from string, rcpt []string, subject string) (int, string) {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello(helo); err != nil {
			return code(err), "helo"
		}
		if err := c.Mail(from, nil); err != nil {
			return code(err), "mail"
		}
		for _, r := range rcpt {
			if err := c.Rcpt(r, nil); err != nil {
				return code(err), "rcpt"
			}
		}
		w, err := c.Data()
		if err != nil {
			return code(err), "data"
		}
		io.WriteString(w, "Subject: "+subject+"\r\n\r\nhello\r\n")
		err = w.Close()
		return code(err), "end"
	}
	tests := []struct {
		helo, from string
		rcpt       []string
		subject    string
		wantCode   int
		wantAt     string
	}{
		{"client.test", "a@example.org", []string{"bob@local.test"}, "hi", 250, "end"},
		{"bad.helo", "a@example.org", []string{"bob@local.test"}, "hi", 550, "mail"},
		{"client.test", "spammer@example.net", []string{"bob@local.test"}, "hi", 550, "mail"},
		{"client.test", "a@example.org", []string{"busy@local.test"}, "hi", 450, "rcpt"},
		{"client.test", "a@example.org", []string{"x@other.test"}, "hi", 550, "rcpt"},
		{"client.test", "a@example.org", []string{"user%other.test@local.test"}, "hi", 553, "rcpt"},
		{"client.test", "a@example.org", []string{"bob@local.test"}, "refuse", 550, "end"},
		{"client.test", "a@example.org", []string{"bob@local.test"}, "crash", 451, "end"},
		{"client.test", "a@example.org", []string{"a@local.test", "b@local.test", "c@local.test", "d@local.test", "e@local.test", "f@local.test"}, "hi", 452, "rcpt"},
	}
	for _, tt := range tests {
		got, at := send(tt.helo, tt.from, tt.rcpt, tt.subject)
		if got != tt.wantCode || at != tt.wantAt {
			t.Errorf("%s/%s/%v/%q: got %d at %s, want %d at %s", tt.helo, tt.from, tt.rcpt, tt.subject, got, at, tt.wantCode, tt.wantAt)
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.committed) != 1 {
		t.Fatalf("%d messages committed, want 1", len(sp.committed))
	}
	for id, body := range sp.committed {
		for _, want := range []string{"X-Checked: yes", "Received: from client.test ([127.0.0.1])", "by mx.local.test (sluice) with ESMTP id " + id, "for <bob@local.test>"} {
			if !strings.Contains(body, want) {
				t.Errorf("committed message lacks %q:\n%s", want, body)
			}
		}
	}
	if sp.aborted != 2 {
		t.Errorf("%d messages aborted, want 2 (refuse, crash)", sp.aborted)
	}
}

// The 250 carries the queue id; an internal error never reaches the client.
func TestRepliesText(t *testing.T) {
	addr := newTestServer(t, &memSpool{}, policyScript)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, subject := range []string{"hi", "crash"} {
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@local.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: "+subject+"\r\n\r\nx\r\n")
		resp, err := w.CloseWithResponse()
		switch subject {
		case "hi":
			text := strings.TrimPrefix(resp.StatusText, "2.0.0 ")
			if err != nil || !strings.HasPrefix(text, "ok, queued as ") || !queue.ValidID(strings.TrimPrefix(text, "ok, queued as ")) {
				t.Errorf("250 reply = %+v, %v; want the queue id", resp, err)
			}
		case "crash":
			if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 451 || strings.Contains(se.Message, "secret") || strings.Contains(se.Message, ".lua") {
				t.Errorf("reply to a script crash = %v; want a 451 without internals", err)
			}
		}
	}
}

// A spool that cannot be written gets the client a 4xx, never a 250.
func TestSpoolFailureIsTemporary(t *testing.T) {
	sp := &memSpool{fail: errors.New("queue: cannot write to the spool: no space left on device")}
	addr := newTestServer(t, sp, `function on_data(msg) end`)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("a@example.org", []string{"bob@local.test"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	se, ok := err.(*smtp.SMTPError)
	if !ok || se.Code != 451 || strings.Contains(se.Message, "no space") {
		t.Fatalf("got %v, want a 451 that hides the cause", err)
	}
}

// on_connect can refuse a client before the greeting.
func TestOnConnectRefuses(t *testing.T) {
	addr := newTestServer(t, &memSpool{}, `function on_connect(conn)
	  if conn.ip == "127.0.0.1" then return reject(554, "5.7.1", "not from here") end
	end`)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if got := string(b); got != "554 5.7.1 not from here\r\n" {
		t.Errorf("greeting = %q", got)
	}
}

// Over the connection cap, a client gets 421 at once.
func TestConnectionCap(t *testing.T) {
	addr := newTestServer(t, &memSpool{}, `function on_data(msg) end`, func(o *Options) { o.MaxConnections = 2 })
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "220" {
			t.Fatalf("connection %d: %q %v", i, buf, err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "421 4.7.0") {
		t.Errorf("third connection got %q, want 421 4.7.0", b)
	}
	held[0].Close()
	time.Sleep(100 * time.Millisecond)
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	buf := make([]byte, 3)
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "220" {
		t.Errorf("after a slot freed: %q %v, want 220", buf, err)
	}
	held[1].Close()
}

// A connection the gate accepted and nobody took (the server is shutting
// down) does not hold up Close, and is closed.
func TestGateCloseWithUntakenConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admit := func(context.Context, net.Conn) string { return "" }
	g := newGate(l, 4, time.Second, admit, func() bool { return false }, t.Logf)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // the gate accepts it and waits to hand it over
	done := make(chan error, 1)
	go func() { done <- g.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection nobody took")
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("client read %d, %v; want EOF (the gate closed the connection)", n, err)
	}
}
