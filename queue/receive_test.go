package queue

import (
	"bytes"
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
