package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/delivery"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/queue"
)

// sink is a smarthost that records what it receives and refuses
// recipients whose local part starts with "bad" (550) or "later" (451).
type sink struct {
	mu   sync.Mutex
	msgs []string // "from|rcpt,rcpt|data"
	addr string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	sk := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sk: sk}, nil
	}))
	srv.Domain = "sink.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sk.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); l.Close() })
	return sk
}

type sinkSession struct {
	sk   *sink
	from string
	rcpt []string
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "bad"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case strings.HasPrefix(to, "later"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.sk.mu.Lock()
	s.sk.msgs = append(s.sk.msgs, s.from+"|"+strings.Join(s.rcpt, ",")+"|"+string(b))
	s.sk.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *sinkSession) Logout() error { return nil }

func (sk *sink) received() []string {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return append([]string(nil), sk.msgs...)
}

// rig is a pipeline on a real queue, mail store and engine.
type rig struct {
	q     *queue.Queue
	store *mailstore.Store
	dir   string
}

func newRig(t *testing.T, script string, relay string) *rig {
	t.Helper()
	return newRigWith(t, script, relay, queue.Options{RetryInitial: time.Hour}, "bounce")
}

func newRigWith(t *testing.T, script string, relay string, qopt queue.Options, onExpire string) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := mailstore.New(dir, mailstore.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Stages: []engine.Stage{{Name: "s", Script: "s.lua", Timeout: 5 * time.Second}},
		ReadFile: func(name string) ([]byte, error) {
			if name == "s.lua" {
				return []byte(script), nil
			}
			return nil, fs.ErrNotExist
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &Pipeline{
		Engine:   func(string, string) *engine.Engine { eng.Acquire(); return eng },
		Local:    &delivery.Local{Store: st},
		IsLocal:  func(d string) bool { return d == "local.test" },
		Hostname: "mx.local.test",
		OnExpire: onExpire,
		Logger:   log,
	}
	if relay != "" {
		p.Relay = &delivery.Relay{Addr: relay, Hostname: "mx.local.test", StartTLS: delivery.StartTLSNone, Timeout: 5 * time.Second}
	}
	sp, err := queue.OpenDir(filepath.Join(dir, "queue"), queue.DirOptions{Sync: queue.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	qopt.OnFail, qopt.Logger = p.OnFail, log
	q, err := queue.Open(sp, p, qopt)
	if err != nil {
		t.Fatal(err)
	}
	p.Queue = q
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(context.Background()); sp.Close() })
	return &rig{q: q, store: st, dir: dir}
}

func (r *rig) send(t *testing.T, from string, rcpt []string, vars string, raw string) string {
	t.Helper()
	id, err := r.q.Accept(context.Background(), queue.Envelope{From: from, Rcpt: rcpt}, json.RawMessage(vars), strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// files waits for n files in addr's folder and returns their contents.
func (r *rig) files(t *testing.T, user, folder string, n int) []string {
	t.Helper()
	base := filepath.Join(r.dir, "mail", "local.test", user)
	if folder != "" {
		base = filepath.Join(base, "."+folder)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(base, "new", "*"))
		if len(names) >= n || time.Now().After(deadline) {
			var out []string
			for _, name := range names {
				b, _ := os.ReadFile(name)
				out = append(out, string(b))
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const msg = "From: a@example.org\r\nSubject: order 7\r\nMessage-ID: <m1@example.org>\r\n\r\nbody\r\n"

func TestFileintoAndHeaders(t *testing.T) {
	r := newRig(t, `function on_queue(msg)
	  msg:set_header("X-Seen", msg.vars.from_data or "none")
	  if msg:subject():match("^order") then msg:fileinto("Orders") end
	end`, "")
	r.send(t, "a@example.org", []string{"bob@local.test", "carol@local.test"}, `{"vars":{"from_data":"yes"}}`, msg)
	for _, user := range []string{"bob", "carol"} {
		got := r.files(t, user, "Orders", 1)
		if len(got) != 1 || !strings.Contains(got[0], "X-Seen: yes") || strings.Contains(got[0], "\r\n") {
			t.Errorf("%s/Orders = %q, want one LF message with X-Seen: yes", user, got)
		}
	}
}

func TestRelayPerRecipientAndBounce(t *testing.T) {
	sk := newSink(t)
	r := newRig(t, `function on_queue(msg) end`, sk.addr)
	r.send(t, "alice@local.test", []string{"good@remote.test", "bad@remote.test", "later@remote.test", "bob@local.test"}, "", msg)
	// bob gets the message, alice gets a bounce for bad@.
	if got := r.files(t, "bob", "", 1); len(got) != 1 {
		t.Fatalf("bob has %d messages", len(got))
	}
	bounces := r.files(t, "alice", "", 1)
	if len(bounces) != 1 || !strings.Contains(bounces[0], "Final-Recipient: rfc822; bad@remote.test") ||
		!strings.Contains(bounces[0], "Status: 5.1.1") || strings.Contains(bounces[0], "later@remote.test") {
		t.Fatalf("bounce = %q", bounces)
	}
	got := sk.received()
	if len(got) != 1 || !strings.HasPrefix(got[0], "alice@local.test|good@remote.test|") {
		t.Fatalf("sink received %q, want one message for good@ only", got)
	}
	// later@ is still queued, with the others recorded as done.
	var pending []string
	for _, it := range r.q.List() {
		pending = append(pending, it.Pending()...)
	}
	if len(pending) != 1 || pending[0] != "later@remote.test" {
		t.Errorf("pending = %v, want only later@remote.test", pending)
	}
}

func TestNoBounceToNullSender(t *testing.T) {
	sk := newSink(t)
	r := newRig(t, `function on_queue(msg) end`, sk.addr)
	r.send(t, "", []string{"bad@remote.test"}, "", msg)
	time.Sleep(300 * time.Millisecond)
	if n := len(r.q.List()); n != 0 {
		t.Errorf("%d messages left in the queue, want none (no bounce to <>)", n)
	}
}

func TestVerdictsInQueue(t *testing.T) {
	r := newRig(t, `function on_queue(msg)
	  local s = msg:subject()
	  if s == "drop" then return discard() end
	  if s == "hold" then return quarantine("held for review") end
	  if s == "refuse" then return reject("5.7.1", "not wanted") end
	  if s == "redirect" then msg:redirect("carol@local.test") end
	end`, "")
	r.send(t, "x@local.test", []string{"bob@local.test"}, "", "Subject: drop\r\n\r\nx\r\n")
	r.send(t, "x@local.test", []string{"bob@local.test"}, "", "Subject: hold\r\n\r\nx\r\n")
	r.send(t, "x@local.test", []string{"bob@local.test"}, "", "Subject: refuse\r\n\r\nx\r\n")
	r.send(t, "x@local.test", []string{"bob@local.test"}, "", "Subject: redirect\r\n\r\nx\r\n")
	if got := r.files(t, "carol", "", 1); len(got) != 1 {
		t.Errorf("carol has %d messages, want the redirected one", len(got))
	}
	if got := r.files(t, "x", "", 1); len(got) != 1 || !strings.Contains(got[0], "not wanted") {
		t.Errorf("x has %q, want a bounce with the reject text", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := r.files(t, "bob", "", 0); len(got) != 0 {
		t.Errorf("bob has %d messages, want none", len(got))
	}
	q, err := r.store.List()
	if err != nil || len(q) != 1 || q[0].Reason != "held for review" || q[0].Stage != "s" {
		t.Errorf("quarantine = %+v, %v", q, err)
	}
}

// A message that stays undeliverable past the queue's maximum age is
// bounced (with status 5.4.7), or quarantined when so configured.
func TestExpiry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close() // nothing listens there: every attempt fails temporarily
	qopt := queue.Options{RetryInitial: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond, MaxAge: 400 * time.Millisecond}

	r := newRigWith(t, `function on_queue(msg) end`, down, qopt, "bounce")
	r.send(t, "alice@local.test", []string{"x@remote.test"}, "", msg)
	got := r.files(t, "alice", "", 1)
	if len(got) != 1 || !strings.Contains(got[0], "Status: 5.4.7") || !strings.Contains(got[0], "Final-Recipient: rfc822; x@remote.test") {
		t.Fatalf("alice got %q, want a 5.4.7 bounce for x@remote.test", got)
	}

	r2 := newRigWith(t, `function on_queue(msg) end`, down, qopt, "quarantine")
	r2.send(t, "alice@local.test", []string{"x@remote.test"}, "", msg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, _ := r2.store.List()
		if len(q) == 1 && strings.HasPrefix(q[0].Reason, "undeliverable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quarantine = %+v, want the expired message", q)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := r2.files(t, "alice", "", 0); len(got) != 0 {
		t.Errorf("quarantine mode still bounced: %q", got)
	}
}

// countSpool is a DirSpool that notes the calls the pipeline and the queue
// make on it.
type countSpool struct {
	*queue.DirSpool
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]int // calls to fail, and how many times
}

var errInjected = errors.New("injected failure")

// note counts call, and returns errInjected if it is to fail.
func (c *countSpool) note(call string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[call]++
	kind, _, _ := strings.Cut(call, " ")
	if c.fail[kind] > 0 {
		c.fail[kind]--
		return errInjected
	}
	return nil
}

func (c *countSpool) count(call string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[call]
}

func (c *countSpool) Record(ctx context.Context, id, rcpt string, rec queue.DeliveryRecord) error {
	if err := c.note("Record " + rcpt); err != nil {
		return err
	}
	return c.DirSpool.Record(ctx, id, rcpt, rec)
}

func (c *countSpool) Remove(ctx context.Context, id string) error {
	if err := c.note("Remove"); err != nil {
		return err
	}
	return c.DirSpool.Remove(ctx, id)
}

func (c *countSpool) RemoveDone(ctx context.Context, id string) error {
	if err := c.note("RemoveDone"); err != nil {
		return err
	}
	return c.DirSpool.RemoveDone(ctx, id)
}

func (c *countSpool) SyncFiles(files ...*os.File) error {
	if err := c.note("SyncFiles"); err != nil {
		return err
	}
	return c.DirSpool.SyncFiles(files...)
}

// newDurableRig is a rig with fsync on, an empty on_queue stage and a
// countSpool that fails the calls in fail (by name: "Record", "Remove", …)
// as many times as it says.
func newDurableRig(t *testing.T, fail map[string]int) (*rig, *countSpool, *queue.DirSpool) {
	t.Helper()
	dir := t.TempDir()
	st, err := mailstore.New(dir, mailstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := noopEngine(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &Pipeline{
		Engine:  func(string, string) *engine.Engine { eng.Acquire(); return eng },
		Local:   &delivery.Local{Store: st},
		IsLocal: func(d string) bool { return d == "local.test" },
		Logger:  log,
	}
	ds, err := queue.OpenDir(filepath.Join(dir, "queue"), queue.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := &countSpool{DirSpool: ds, calls: map[string]int{}, fail: fail}
	q, err := queue.Open(sp, p, queue.Options{Logger: log, RetryInitial: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.Queue = q
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(context.Background()); ds.Close() })
	return &rig{q: q, store: st, dir: dir}, sp, ds
}

// TestDurablePath: with fsync on, the Maildir's two syncs go through the
// spool (Item.SyncFiles), and a message delivered only locally gets no
// delivery record and a removal nobody waits for: each Maildir file is
// its own record (queue.Item.RecordFound).
func TestDurablePath(t *testing.T) {
	r, sp, ds := newDurableRig(t, nil)
	q, dir := r.q, r.dir

	r.send(t, "a@example.org", []string{"bob@local.test", "carol@local.test"}, "", msg)
	for _, user := range []string{"bob", "carol"} {
		if got := r.files(t, user, "", 1); len(got) != 1 {
			t.Fatalf("%s has %d messages, want 1", user, len(got))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Stats().Done < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if sp.count("Record bob@local.test") != 0 || sp.count("Record carol@local.test") != 0 {
		t.Errorf("records %v: want none, the Maildir files are the records", sp.calls)
	}
	if sp.count("Remove") != 0 || sp.count("RemoveDone") != 1 {
		t.Errorf("removal %v: want one RemoveDone (not waited for)", sp.calls)
	}
	if n := sp.count("SyncFiles"); n != 4 {
		t.Errorf("SyncFiles called %d times, want 4 (file and folder of each delivery)", n)
	}
	if ids, err := ds.List(); len(ids) != 0 || err != nil {
		t.Errorf("spool not empty: %v, %v", ids, err)
	}
	// Nothing but the lock, the segment (kept for the next message) and
	// no file of the message.
	if names, _ := os.ReadDir(filepath.Join(dir, "queue")); len(names) != 2 {
		t.Errorf("spool folder: %v", names)
	}
}

// noopEngine is an engine with one stage whose on_queue does nothing: the
// path around the scripts, measured or checked alone.
func noopEngine(tb testing.TB) *engine.Engine {
	tb.Helper()
	eng, err := engine.New(engine.Options{
		Stages: []engine.Stage{{Name: "s", Script: "s.lua", Timeout: 5 * time.Second}},
		ReadFile: func(name string) ([]byte, error) {
			if name == "s.lua" {
				return []byte("function on_queue(msg) end"), nil
			}
			return nil, fs.ErrNotExist
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	return eng
}

// A delivery made again because the message's removal was lost — the
// removal and the record written when it fails both fail once, as a crash
// after the Maildir rename would leave things — finds its first copy in the
// mailbox: one message, not two.
func TestRepeatedDeliveryKeepsOneCopy(t *testing.T) {
	r, sp, ds := newDurableRig(t, map[string]int{"Remove": 1, "RemoveDone": 1, "Record": 1})
	r.send(t, "a@example.org", []string{"bob@local.test"}, "", msg)
	waitFor(t, "the first attempt's removal", func() bool { return sp.count("Remove")+sp.count("RemoveDone") >= 1 })
	// The failed removal is noted before the attempt ends: Flush finds
	// the message only once it waits again.
	waitFor(t, "the first attempt's end", func() bool { st := r.q.Stats(); return st.Running == 0 && st.Queued == 1 })
	if n := r.q.Flush(); n != 1 {
		t.Fatalf("Flush made %d messages due, want the one whose removal failed", n)
	}
	waitFor(t, "the second attempt", func() bool { return r.q.Stats().Done == 1 })
	names, _ := filepath.Glob(filepath.Join(r.dir, "mail", "local.test", "bob", "new", "*"))
	if len(names) != 1 {
		t.Errorf("bob has %d messages after the repeated attempt, want 1: %v", len(names), names)
	}
	if ids, err := ds.List(); len(ids) != 0 || err != nil {
		t.Errorf("spool not empty: %v, %v", ids, err)
	}
}

// TestRetryWritesFoundRecords: when an attempt ends in a retry, the local
// deliveries it made get their records then, and the next attempt skips
// those recipients instead of looking in their mailboxes again.
func TestRetryWritesFoundRecords(t *testing.T) {
	r, sp, _ := newDurableRig(t, nil)
	// carol's mailbox cannot be made: a file stands where its folder goes.
	blocker := filepath.Join(r.dir, "mail", "local.test", "carol")
	if err := os.MkdirAll(filepath.Dir(blocker), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.send(t, "a@example.org", []string{"bob@local.test", "carol@local.test"}, "", msg)
	// Retried counts before the entry is back in the schedule, where
	// Flush finds it.
	waitFor(t, "the first attempt's retry", func() bool { st := r.q.Stats(); return st.Retried == 1 && st.Running == 0 })
	if sp.count("Record bob@local.test") != 1 || sp.count("Record carol@local.test") != 0 {
		t.Fatalf("records %v: want bob's written at the retry, none for carol", sp.calls)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	syncs := sp.count("SyncFiles")
	if n := r.q.Flush(); n != 1 {
		t.Fatalf("Flush made %d messages due, want 1", n)
	}
	waitFor(t, "the second attempt", func() bool { return r.q.Stats().Done == 1 })
	for _, user := range []string{"bob", "carol"} {
		if got := r.files(t, user, "", 1); len(got) != 1 {
			t.Errorf("%s has %d messages, want 1", user, len(got))
		}
	}
	// carol's file and folder; a look for bob's copy would sync a file too.
	if n := sp.count("SyncFiles") - syncs; n != 2 {
		t.Errorf("second attempt: %d SyncFiles, want 2 (carol's only: bob skipped by his record)", n)
	}
}

// waitFor polls cond for 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
