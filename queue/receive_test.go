package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// capture keeps an exact copy of what it read, whatever the size and the
// read sizes, up to maxCapture; past it, none.
func TestCaptureCopies(t *testing.T) {
	for _, size := range []int{0, 1, 4 << 10, 16<<10 + 1, 100 << 10, 333_333, maxCapture, maxCapture + 1} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i*7 + i>>9)
		}
		for _, chunk := range []int{1 << 10, 4 << 10, 64 << 10} {
			if size > 200<<10 && chunk < 4<<10 {
				continue
			}
			c := &capture{r: bytes.NewReader(msg)}
			got, err := io.ReadAll(io.LimitReader(readerFunc(func(p []byte) (int, error) {
				return c.Read(p[:min(len(p), chunk)])
			}), int64(size)+1))
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("size %d, reads of %d: passed on %d bytes, err %v", size, chunk, len(got), err)
			}
			kept := c.bytes()
			if size > maxCapture {
				if kept != nil {
					t.Fatalf("size %d: kept %d bytes past the cap", size, len(kept))
				}
				continue
			}
			if !bytes.Equal(kept, msg) || kept == nil {
				t.Fatalf("size %d, reads of %d: kept %d bytes (nil %v), not the %d read", size, chunk, len(kept), kept == nil, size)
			}
		}
	}
}

// A message's first attempt gets the bytes Receive kept (or the body
// Commit rewrote) from memory, within maxCachedBytes; a message past the
// budget, a retry and a deleted message go by the spool, and the budget
// comes back to zero.
func TestItemBytesFromMemory(t *testing.T) {
	ctx := context.Background()
	sp, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		id      string
		fromMem bool
		body    string
	}
	got := make(chan seen, 20)
	var q *Queue
	q, err = Open(sp, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		mem := it.raw != nil
		raw, err := it.Bytes()
		if err != nil {
			return Retry(err)
		}
		if again, err := it.Bytes(); err != nil || !bytes.Equal(again, raw) {
			return Fail(fmt.Errorf("second Bytes: %d bytes, %v", len(again), err))
		}
		got <- seen{it.ID, mem, string(raw)}
		if it.Attempts == 0 && strings.Contains(string(raw), "retry me") {
			return Retry(errors.New("once more"))
		}
		return Done()
	}), Options{RetryInitial: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(ctx)
	env := Envelope{From: "a@x", Rcpt: []string{"b@y"}}
	receive := func(body string, rewrite []byte) string {
		t.Helper()
		p, err := q.Receive(ctx, env, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := p.Bytes(); err != nil || string(raw) != body {
			t.Fatalf("Pending.Bytes = %q, %v", raw, err)
		}
		if err := p.Commit(ctx, nil, rewrite); err != nil {
			t.Fatal(err)
		}
		return p.ID()
	}
	// Three fit in maxCapture each, not in maxCachedBytes together.
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", maxCachedBytes/3+1) + "\r\n"
	// Received before Start: they wait, and the budget fills up.
	plain := receive("Subject: plain\r\n\r\nx\r\n", nil)
	rewritten := receive("Subject: old\r\n\r\nx\r\n", []byte("Subject: new\r\n\r\nx\r\n"))
	big1 := receive(big, nil)
	big2 := receive(big, nil)
	big3 := receive(big, nil) // past the budget
	retried := receive("Subject: retry me\r\n\r\nx\r\n", nil)
	deleted := receive("Subject: deleted\r\n\r\nx\r\n", nil)
	if err := q.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	want := map[string]seen{
		plain:     {plain, true, "Subject: plain\r\n\r\nx\r\n"},
		rewritten: {rewritten, true, "Subject: new\r\n\r\nx\r\n"},
		big1:      {big1, true, big},
		big2:      {big2, true, big},
		big3:      {big3, false, big},
		retried:   {retried, true, "Subject: retry me\r\n\r\nx\r\n"},
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range len(want) + 1 { // the retried message comes twice
		select {
		case s := <-got:
			w, ok := want[s.id]
			if !ok {
				t.Fatalf("unexpected message %s", s.id)
			}
			if s.body != w.body || s.fromMem != w.fromMem {
				t.Errorf("%s: from memory %v, %d bytes; want %v, %d bytes", s.id, s.fromMem, len(s.body), w.fromMem, len(w.body))
			}
			if s.id == retried {
				w.fromMem = false // its second attempt reads the spool
				want[s.id] = w
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timed out")
		}
	}
	q.mu.Lock()
	left := q.cachedBytes
	q.mu.Unlock()
	if left != 0 {
		t.Errorf("cachedBytes = %d after every message was handled", left)
	}
}
