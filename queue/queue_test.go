package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var testEnv = Envelope{From: "alice@example.org", Rcpt: []string{"bob@localhost", "carol@example.com"}, Client: "192.0.2.1:25"}

const testBody = "From: alice@example.org\r\nSubject: test\r\n\r\nhello\r\n"

func openQueue(t testing.TB, s Spool, h Handler, opt Options) *Queue {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	q, err := Open(s, h, opt)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// startQueue opens and starts a queue that t.Cleanup closes.
func startQueue(t testing.TB, s Spool, h Handler, opt Options) *Queue {
	t.Helper()
	q := openQueue(t, s, h, opt)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(context.Background()) })
	return q
}

func accept(t testing.TB, q *Queue) string {
	t.Helper()
	id, err := q.Accept(context.Background(), testEnv, nil, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return id
}

// recv waits for a value; the timeout only guards against a hung test.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// deliverAll is a handler that reads the body, records every pending
// recipient and reports the ID on handled.
func deliverAll(t testing.TB, handled chan<- string) Handler {
	return HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		b, err := it.Body()
		if err != nil {
			return Retry(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		if string(data) != testBody {
			t.Errorf("handler read %q", data)
		}
		for _, r := range it.Pending() {
			if err := it.Record(ctx, r, Delivered, "INBOX"); err != nil {
				return Retry(err)
			}
		}
		handled <- it.ID
		return Done()
	})
}

func TestAcceptHandle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	handled := make(chan string, 20)
	q := startQueue(t, s, deliverAll(t, handled), Options{})
	var ids []string
	for range 10 {
		ids = append(ids, accept(t, q))
	}
	var got []string
	for range ids {
		got = append(got, recv(t, handled))
	}
	if err := q.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("handled %v, want %v", got, ids)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left in the spool: %v", names)
	}
	st := q.Stats()
	if st.Accepted != 10 || st.Done != 10 || st.Queued != 0 || st.Running != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if _, err := q.Accept(t.Context(), testEnv, nil, strings.NewReader(testBody)); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close = %v, want ErrClosed", err)
	}
}

func TestAcceptRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	q := openQueue(t, s, HandlerFunc(func(context.Context, *Item) Outcome { return Done() }), Options{})
	ctx := t.Context()
	if _, err := q.Accept(ctx, Envelope{From: "a@x"}, nil, strings.NewReader("m")); !errors.Is(err, ErrBadEnvelope) {
		t.Errorf("no recipient: %v, want ErrBadEnvelope", err)
	}
	if _, err := q.Accept(ctx, testEnv, []byte(`{"a":`), strings.NewReader("m")); !errors.Is(err, ErrBadEnvelope) {
		t.Errorf("bad vars: %v, want ErrBadEnvelope", err)
	}
	broken := errors.New("client went away")
	if _, err := q.Accept(ctx, testEnv, nil, &failingReader{n: 1000, err: broken}); !errors.Is(err, broken) || errors.Is(err, ErrSpool) {
		t.Errorf("broken transfer: %v, want the reader's error", err)
	}
	s.fault = func(op string) error {
		if op == "sync" {
			return syscall.ENOSPC
		}
		return nil
	}
	_, err := q.Accept(ctx, testEnv, nil, strings.NewReader(testBody))
	if !errors.Is(err, ErrSpool) || !strings.HasPrefix(err.Error(), "queue: ") {
		t.Errorf("full disk: %v, want ErrSpool", err)
	}
	s.fault = nil
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
	if st := q.Stats(); st.Queued != 0 || st.Accepted != 0 {
		t.Errorf("Stats = %+v", st)
	}
	// A caller-chosen ID and vars are kept.
	env := testEnv
	env.ID = NewID()
	id, err := q.Accept(ctx, env, []byte(`{"score":2}`), strings.NewReader(testBody))
	if err != nil || id != env.ID {
		t.Fatalf("Accept with ID = %q, %v", id, err)
	}
	items := q.List()
	if len(items) != 1 || items[0].ID != id || string(items[0].Vars) != `{"score":2}` || items[0].Size != int64(len(testBody)) {
		t.Fatalf("List = %s", jsonText(t, items))
	}
	if b, err := items[0].Body(); err != nil {
		t.Errorf("Body of a listed item: %v", err)
	} else {
		b.Close()
	}
}

// TestCrashBeforeHandling accepts messages, "kills" the server (the spool is
// dropped; the queue is never closed) and checks that a new queue hands
// every accepted message over exactly once.
func TestCrashBeforeHandling(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s1 := openDir(t, dir, DirOptions{})
	q1 := openQueue(t, s1, HandlerFunc(func(context.Context, *Item) Outcome {
		t.Error("handler of the crashed queue called")
		return Retry(nil)
	}), Options{})
	var ids []string
	for range 20 {
		ids = append(ids, accept(t, q1))
	}
	s1.Close() // kill: nothing more is written

	s2 := openDir(t, dir, DirOptions{})
	var mu sync.Mutex
	count := map[string]int{}
	handled := make(chan string, 40)
	h := HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		mu.Lock()
		count[it.ID]++
		mu.Unlock()
		handled <- it.ID
		return Done()
	})
	q2 := openQueue(t, s2, h, Options{})
	// Counted before Start: once started, a worker may finish some.
	if st := q2.Stats(); st.Queued != len(ids) {
		t.Errorf("recovered %d messages, want %d", st.Queued, len(ids))
	}
	if err := q2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range ids {
		recv(t, handled)
	}
	q2.Close(t.Context())
	s2.Close()
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("%s handled %d times, want 1", id, count[id])
		}
	}
	s3 := openDir(t, dir, DirOptions{})
	if ids, _ := s3.List(); len(ids) != 0 {
		t.Errorf("after handling, the spool still has %v", ids)
	}
}

// TestCrashAfterRecord: the handler delivers to one recipient, records it,
// and the process dies before the attempt ends. After recovery the record
// is visible, so the handler skips that recipient.
func TestCrashAfterRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s1 := openDir(t, dir, DirOptions{})
	var q1 *Queue
	crashed := make(chan struct{})
	q1 = startQueue(t, s1, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		if err := it.Record(ctx, it.Rcpt[0], Delivered, "INBOX"); err != nil {
			t.Error(err)
		}
		q1.abandon() // the process dies here
		close(crashed)
		return Retry(errors.New("never saved"))
	}), Options{})
	id := accept(t, q1)
	recv(t, crashed)
	q1.Close(t.Context())
	s1.Close()

	s2 := openDir(t, dir, DirOptions{})
	it, err := s2.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	if it.Attempts != 0 || it.LastError != "" {
		t.Errorf("state after crash: attempts %d, last error %q; want the state before the attempt", it.Attempts, it.LastError)
	}
	handled := make(chan []string, 1)
	q2 := startQueue(t, s2, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		if rec, ok := it.Done[testEnv.Rcpt[0]]; !ok || rec.Result != Delivered || rec.Detail != "INBOX" {
			t.Errorf("Done after crash = %v; want %s delivered", it.Done, testEnv.Rcpt[0])
		}
		pending := it.Pending()
		for _, r := range pending {
			it.Record(ctx, r, Relayed, "250 ok")
		}
		handled <- pending
		return Done()
	}), Options{})
	if p := recv(t, handled); !slices.Equal(p, testEnv.Rcpt[1:]) {
		t.Errorf("Pending after crash = %v, want %v", p, testEnv.Rcpt[1:])
	}
	q2.Close(t.Context())
	if ids, _ := s2.List(); len(ids) != 0 {
		t.Errorf("spool after Done: %v", ids)
	}
}

// TestCrashAfterFail: a message that failed permanently goes to OnFail, and
// the process dies inside OnFail. After recovery OnFail gets it again; the
// handler does not.
func TestCrashAfterFail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s1 := openDir(t, dir, DirOptions{})
	var q1 *Queue
	crashed := make(chan struct{})
	q1 = startQueue(t, s1, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		return Fail(errors.New("550 5.1.1 no such user"))
	}), Options{OnFail: func(ctx context.Context, it *Item, err error) error {
		q1.abandon()
		close(crashed)
		return nil
	}})
	id := accept(t, q1)
	recv(t, crashed)
	q1.Close(t.Context())
	s1.Close()

	s2 := openDir(t, dir, DirOptions{})
	failed := make(chan error, 1)
	q2 := startQueue(t, s2, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		t.Error("handler called for a failed message")
		return Done()
	}), Options{OnFail: func(ctx context.Context, it *Item, err error) error {
		if it.ID != id || it.Attempts != 1 {
			t.Errorf("OnFail item %s attempts %d", it.ID, it.Attempts)
		}
		failed <- err
		return nil
	}})
	if err := recv(t, failed); err == nil || err.Error() != "550 5.1.1 no such user" || errors.Is(err, ErrExpired) {
		t.Errorf("OnFail after crash got %v", err)
	}
	q2.Close(t.Context())
	if st := q2.Stats(); st.Failed != 1 || st.Queued != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestOpenSkipsUnreadable(t *testing.T) {
	s := newMemSpool()
	q1 := openQueue(t, s, nil, Options{})
	good := accept(t, q1)
	bad := accept(t, q1)
	s.msgs[bad].state = []byte("{garbage")
	var logs logBuffer
	q2 := openQueue(t, s, nil, Options{Logger: logs.logger()})
	items := q2.List()
	if len(items) != 1 || items[0].ID != good {
		t.Errorf("List = %v, want only %s", items, good)
	}
	if !strings.Contains(logs.String(), bad) {
		t.Errorf("log does not name the unreadable message:\n%s", logs.String())
	}
	if _, err := s.Load(bad); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("unreadable message was removed: %v", err)
	}
}

func TestStartTwice(t *testing.T) {
	q := startQueue(t, newMemSpool(), nil, Options{})
	if err := q.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	q.Close(t.Context())
	if err := q.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	if err := q.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOutcomeString(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Done(), "done"},
		{Retry(errors.New("busy")), "retry: busy"},
		{Retry(nil), "retry: retry requested"},
		{Fail(fmt.Errorf("550 no")), "fail: 550 no"},
		{Outcome{}, "no outcome"},
	} {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
