package queue

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestReceiveCommitAbort(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	handled := make(chan string, 10)
	bodies := make(chan string, 10)
	open := func() (*Queue, *DirSpool) {
		sp, err := OpenDir(dir, DirOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q, err := Open(sp, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			b, err := it.Body()
			if err != nil {
				return Retry(err)
			}
			raw, _ := io.ReadAll(b)
			b.Close()
			handled <- it.ID
			bodies <- string(raw) + "|" + string(it.Vars)
			return Done()
		}), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return q, sp
	}
	q, sp := open()
	env := Envelope{From: "a@x", Rcpt: []string{"b@y"}}

	// Received but not committed: not handed to the handler.
	held, err := q.Receive(ctx, env, strings.NewReader("Subject: held\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := held.Bytes()
	if err != nil || !strings.Contains(string(raw), "Subject: held") {
		t.Fatalf("Bytes = %q, %v", raw, err)
	}
	// Committed with a rewritten body and vars: handled once, new body.
	p, err := q.Receive(ctx, env, strings.NewReader("Subject: one\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(ctx, []byte(`{"k":1}`), []byte("Subject: rewritten\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-handled:
		if id != p.ID() {
			t.Fatalf("handled %s, want %s", id, p.ID())
		}
		if got := <-bodies; !strings.HasPrefix(got, "Subject: rewritten") || !strings.HasSuffix(got, `|{"k":1}`) {
			t.Errorf("handler saw %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("committed message not handled")
	}
	// Aborted: gone.
	a, err := q.Receive(ctx, env, strings.NewReader("Subject: abort\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Load(a.ID()); err == nil {
		t.Error("aborted message still in the spool")
	}
	select {
	case id := <-handled:
		t.Fatalf("%s handled, but only the committed message should be", id)
	case <-time.After(200 * time.Millisecond):
	}
	// A crash with a held message: Open removes it.
	q.Close(ctx)
	sp.Close()
	q2, sp2 := open()
	defer func() { q2.Close(ctx); sp2.Close() }()
	if _, err := sp2.Load(held.ID()); err == nil {
		t.Error("a message never committed survived the restart")
	}
	select {
	case id := <-handled:
		t.Fatalf("%s handled after restart", id)
	case <-time.After(200 * time.Millisecond):
	}
}
