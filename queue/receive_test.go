package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
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

// TestReceiveRecords: what Receive writes into a segment (in one call up
// to maxCapture, streamed past it) reads back whole after a reopen, for
// sizes around the cap and in odd read sizes; a transfer cut short leaves
// nothing behind, and the segment still takes the next message.
func TestReceiveRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	q := openQueue(t, s, nil, Options{})
	want := map[string][]byte{}
	receive := func(r io.Reader) (*Pending, error) {
		t.Helper()
		return q.Receive(t.Context(), testEnv, r)
	}
	small := capSmall - capHead - 1 // the longest message the small buffer holds whole
	for i, size := range []int{0, 1, 4 << 10, small - 1, small, small + 1, maxCapture - 1, maxCapture, maxCapture + 1, 3*maxCapture + 17} {
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(j*31 + j>>11 + i)
		}
		chunk := []int{1, 4 << 10, 1000, 64 << 10}[i%4]
		r := bytes.NewReader(body)
		p, err := receive(readerFunc(func(b []byte) (int, error) { return r.Read(b[:min(len(b), chunk)]) }))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got, err := p.Bytes(); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("size %d: Bytes = %d bytes, %v", size, len(got), err)
		}
		if err := p.Commit(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
		want[p.ID()] = body
		// A transfer cut short after some bytes, before and past the cap.
		cut := []int{100, maxCapture + 100}[i%2]
		left := cut
		broken := readerFunc(func(b []byte) (int, error) {
			if left == 0 {
				return 0, errors.New("connection reset")
			}
			n := min(len(b), left)
			clear(b[:n])
			left -= n
			return n, nil
		})
		if p, err := receive(broken); err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("cut after %d bytes: Receive = %v, %v; want the read error", cut, p, err)
		}
	}
	if err := q.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openDir(t, dir, DirOptions{})
	ids, err := s2.List()
	if err != nil || len(ids) != len(want) {
		t.Fatalf("List after reopen = %d messages, %v; want %d", len(ids), err, len(want))
	}
	for _, id := range ids {
		if got := bodyOf(t, s2, id); got != string(want[id]) {
			t.Errorf("%s: body of %d bytes, want %d", id, len(got), len(want[id]))
		}
	}
}

// TestCaptureRead checks the copy capture keeps when it is read as a
// reader (spools other than DirSpool): the message itself up to
// maxCapture, in the small buffer while it fits and across the move to the
// large one, and nothing past it.
func TestCaptureRead(t *testing.T) {
	small := capSmall - capHead - 1 // the longest message the small buffer holds whole
	for i, size := range []int{1, small - 1, small, small + 1, 3 * small, maxCapture, maxCapture + 1, 2 * small} {
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(j*7 + i)
		}
		// Reads of these sizes at most; a first read of more than the
		// small buffer holds takes the large one at once.
		chunk := []int{1000, small, 4 << 10, small + 3}[i%4]
		r := bytes.NewReader(body)
		c := &capture{r: readerFunc(func(b []byte) (int, error) { return r.Read(b[:min(len(b), chunk)]) })}
		buf := make([]byte, 64<<10)
		n := 0
		for {
			k, err := c.Read(buf)
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("size %d: read: %v", size, err)
			}
		}
		if n != size {
			t.Fatalf("size %d: read %d bytes", size, n)
		}
		if size > maxCapture {
			if c.buf != nil || c.bytes() != nil {
				t.Errorf("size %d: kept a copy past maxCapture", size)
			}
			continue
		}
		// Read keeps what it was given, so the small buffer's spare byte
		// holds a message too.
		wantLen := capSmall
		if size > capSmall-capHead {
			wantLen = capSize
		}
		if c.buf == nil || len(*c.buf) != wantLen {
			got := 0
			if c.buf != nil {
				got = len(*c.buf)
			}
			t.Errorf("size %d (reads of %d): a buffer of %d bytes, want %d", size, chunk, got, wantLen)
		}
		if got := c.bytes(); !bytes.Equal(got, body) {
			t.Errorf("size %d (reads of %d): kept %d bytes that differ from the message", size, chunk, len(got))
		}
	}
}

// TestReceiveCanceled: a Receive whose context is done before the first
// byte stores nothing and says why (the capture has no buffer yet then).
func TestReceiveCanceled(t *testing.T) {
	s := openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{})
	q := openQueue(t, s, nil, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if p, err := q.Receive(ctx, testEnv, strings.NewReader("Subject: x\r\n\r\nx\r\n")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive = %v, %v; want context.Canceled", p, err)
	}
	if ids, err := s.List(); err != nil || len(ids) != 0 {
		t.Errorf("List after a canceled Receive = %v, %v; want nothing", ids, err)
	}
}
