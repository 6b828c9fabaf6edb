package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callSpool wraps a DirSpool and counts the calls the queue makes, to check
// which of them a message's fast path leaves out. fail, when set, is asked
// before each call and may fail it.
type callSpool struct {
	*DirSpool
	mu    sync.Mutex
	calls []string // "Load ID", "Open ID", "Record ID RCPT", "Remove ID", "RemoveDone ID"
	fail  func(call string) error
}

var _ DoneRemover = (*callSpool)(nil)

func (c *callSpool) note(call string) error {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return fail(call)
	}
	return nil
}

func (c *callSpool) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call == prefix || strings.HasPrefix(call, prefix+" ") {
			n++
		}
	}
	return n
}

func (c *callSpool) Load(id string) (*Item, error) {
	if err := c.note("Load " + id); err != nil {
		return nil, err
	}
	return c.DirSpool.Load(id)
}

func (c *callSpool) Open(id string) (Body, error) {
	if err := c.note("Open " + id); err != nil {
		return nil, err
	}
	return c.DirSpool.Open(id)
}

func (c *callSpool) Record(ctx context.Context, id, rcpt string, rec DeliveryRecord) error {
	if err := c.note("Record " + id + " " + rcpt); err != nil {
		return err
	}
	return c.DirSpool.Record(ctx, id, rcpt, rec)
}

func (c *callSpool) Remove(ctx context.Context, id string) error {
	if err := c.note("Remove " + id); err != nil {
		return err
	}
	return c.DirSpool.Remove(ctx, id)
}

func (c *callSpool) RemoveDone(ctx context.Context, id string) error {
	if err := c.note("RemoveDone " + id); err != nil {
		return err
	}
	return c.DirSpool.RemoveDone(ctx, id)
}

func newCallSpool(t *testing.T) *callSpool {
	return &callSpool{DirSpool: openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{})}
}

// waitGone waits until the queue is empty.
func waitGone(t *testing.T, q *Queue) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty: %+v", q.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRemoveDoneWhenAllRecorded: a message finished with a durable record
// for every recipient is removed without waiting for the folder's sync;
// one whose handler recorded nothing (a discard) waits for it.
func TestRemoveDoneWhenAllRecorded(t *testing.T) {
	s := newCallSpool(t)
	q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		if it.From == "discard@example.org" {
			return Done()
		}
		for _, r := range it.Pending() {
			if err := it.Record(ctx, r, Delivered, "INBOX"); err != nil {
				return Retry(err)
			}
		}
		return Done()
	}), Options{})
	all := accept(t, q)
	waitGone(t, q)
	env := testEnv
	env.From = "discard@example.org"
	none, err := q.Accept(t.Context(), env, nil, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, q)
	if s.count("RemoveDone "+all) != 1 || s.count("Remove "+all) != 0 {
		t.Errorf("all recorded: calls %v, want RemoveDone", s.calls)
	}
	if s.count("Remove "+none) != 1 || s.count("RemoveDone "+none) != 0 {
		t.Errorf("nothing recorded: calls %v, want Remove", s.calls)
	}
	if names := dirNames(t, s.Dir()); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}

// TestRecordFound: a delivery that is its own record (RecordFound) is not
// written, and a message whose recipients all have a record or such a
// delivery is removed without waiting (RemoveDone). When the attempt ends
// otherwise, or the removal fails, the record is written after all.
func TestRecordFound(t *testing.T) {
	type outcome int
	const (
		done outcome = iota
		retry
		fail
	)
	handler := func(end outcome) Handler {
		return HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			p := it.Pending()
			if len(p) == 0 {
				return Done()
			}
			for _, r := range p[:len(p)-1] {
				if err := it.Record(ctx, r, Delivered, "INBOX"); err != nil {
					return Retry(err)
				}
			}
			it.RecordFound(p[len(p)-1], Delivered, "INBOX")
			if _, ok := it.Done[p[len(p)-1]]; !ok {
				t.Errorf("RecordFound did not add %s to Done", p[len(p)-1])
			}
			switch end {
			case retry:
				return Retry(errors.New("try again"))
			case fail:
				return Fail(errors.New("give up"))
			}
			return Done()
		})
	}

	t.Run("Done", func(t *testing.T) {
		s := newCallSpool(t)
		q := startQueue(t, s, handler(done), Options{})
		id := accept(t, q)
		waitGone(t, q)
		want := []string{"Record " + id + " bob@localhost", "RemoveDone " + id}
		if got := slices.DeleteFunc(slices.Clone(s.calls), func(c string) bool { return strings.HasPrefix(c, "Open ") }); !slices.Equal(got, want) {
			t.Errorf("calls %v, want %v", got, want)
		}
	})

	t.Run("Retry", func(t *testing.T) {
		s := newCallSpool(t)
		q := openQueue(t, s, handler(retry), Options{RetryInitial: time.Hour})
		if err := q.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		id := accept(t, q)
		deadline := time.Now().Add(10 * time.Second)
		for q.Stats().Retried == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		q.Close(t.Context())
		it, err := s.DirSpool.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(it.Pending()) != 0 || it.Done["carol@example.com"].Result != Delivered {
			t.Errorf("after Retry: Done = %v, want both recipients recorded", it.Done)
		}
	})

	t.Run("Fail", func(t *testing.T) {
		s := newCallSpool(t)
		failed := make(chan []string, 1)
		q := startQueue(t, s, handler(fail), Options{OnFail: func(ctx context.Context, it *Item, err error) error {
			failed <- it.Pending()
			return nil
		}})
		id := accept(t, q)
		if p := recv(t, failed); len(p) != 0 {
			t.Errorf("OnFail sees pending %v, want none", p)
		}
		if s.count("Record "+id) != 2 {
			t.Errorf("calls %v, want both records written before OnFail", s.calls)
		}
	})

	t.Run("RemoveFails", func(t *testing.T) {
		s := newCallSpool(t)
		var once sync.Once
		s.fail = func(call string) error {
			var err error
			if strings.HasPrefix(call, "RemoveDone ") {
				once.Do(func() { err = errors.New("I/O error") })
			}
			return err
		}
		attempts := make(chan []string, 2)
		h := handler(done)
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			attempts <- it.Pending()
			return h.Handle(ctx, it)
		}), Options{RetryInitial: 10 * time.Millisecond})
		accept(t, q)
		recv(t, attempts)
		if p := recv(t, attempts); len(p) != 0 {
			t.Errorf("after a failed removal the next attempt has %v pending, want none", p)
		}
		waitGone(t, q)
	})
}

// TestFirstAttemptNotLoaded: a message accepted by this process reaches its
// first attempt without being read back from the spool; a later attempt
// loads it.
func TestFirstAttemptNotLoaded(t *testing.T) {
	s := newCallSpool(t)
	var n atomic.Int32
	handled := make(chan Item, 2)
	q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		handled <- *it // a copy: the queue changes it after the attempt
		if n.Add(1) == 1 {
			return Retry(errors.New("again"))
		}
		return Done()
	}), Options{RetryInitial: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	env := testEnv
	env.Received = time.Now().Add(-time.Minute)
	id, err := q.Accept(t.Context(), env, []byte(`{"k":1}`), strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	first := recv(t, handled)
	if s.count("Load "+id) != 0 {
		t.Errorf("first attempt loaded the message: %v", s.calls)
	}
	if first.ID != id || first.From != env.From || !slices.Equal(first.Rcpt, env.Rcpt) || string(first.Vars) != `{"k":1}` ||
		first.Size != int64(len(testBody)) || first.Attempts != 0 || first.Held || len(first.Done) != 0 {
		t.Errorf("first attempt's item = %+v", first)
	}
	second := recv(t, handled)
	if s.count("Load "+id) != 1 || second.Attempts != 1 {
		t.Errorf("second attempt: %d loads, attempts %d; want 1, 1", s.count("Load "+id), second.Attempts)
	}
	waitGone(t, q)
}

// TestReceiveKeepsBytes: Pending.Bytes gives the received message without
// reading the spool, up to maxCapture bytes; a larger one is read back.
func TestReceiveKeepsBytes(t *testing.T) {
	s := newCallSpool(t)
	q := openQueue(t, s, nil, Options{})
	for _, size := range []int{0, 100, maxCapture, maxCapture + 1} {
		body := bytes.Repeat([]byte("x"), size)
		p, err := q.Receive(t.Context(), testEnv, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Bytes()
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("size %d: Bytes = %d bytes, %v", size, len(got), err)
		}
		opened := s.count("Open "+p.ID()) > 0
		if opened != (size > maxCapture) {
			t.Errorf("size %d: spool read back: %v", size, opened)
		}
		// A second call reads the spool: the first slice is the caller's.
		if again, err := p.Bytes(); err != nil || !bytes.Equal(again, body) {
			t.Errorf("size %d: second Bytes = %d bytes, %v", size, len(again), err)
		}
		if err := p.Abort(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemoveDoneSyncsLater: the folder sync that RemoveDone skips comes
// with the next sync of the spool, or after laterDelay, or at Close.
func TestRemoveDoneSyncsLater(t *testing.T) {
	for _, mode := range []SyncMode{SyncFS, SyncBatch, SyncEach, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			s := openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{Sync: mode})
			create := func() *Item {
				it := &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}
				if err := s.Create(t.Context(), it, strings.NewReader("m")); err != nil {
					t.Fatal(err)
				}
				return it
			}
			// With a delivery log, so that RemoveDone has a file to
			// delete in every mode.
			createLogged := func() *Item {
				it := create()
				if err := s.Record(t.Context(), it.ID, "a@x", DeliveryRecord{Result: Delivered}); err != nil {
					t.Fatal(err)
				}
				return it
			}
			a, b := createLogged(), create()
			if err := s.RemoveDone(t.Context(), a.ID); err != nil {
				t.Fatal(err)
			}
			if names := dirNames(t, s.Dir()); !slices.Equal(names, []string{b.ID}) {
				t.Errorf("files after RemoveDone: %v", names)
			}
			if _, err := s.Load(a.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Load after RemoveDone = %v", err)
			}
			if err := s.RemoveDone(t.Context(), a.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("second RemoveDone = %v", err)
			}
			pending := s.syncer.pending.Load()
			if want := mode == SyncFS || mode == SyncBatch; pending != want {
				t.Errorf("sync pending after RemoveDone: %v, want %v", pending, want)
			}
			if !pending {
				return
			}
			// Another message's sync of the folder covers it (its first
			// record creates its log).
			if err := s.Record(t.Context(), b.ID, "a@x", DeliveryRecord{Result: Delivered}); err != nil {
				t.Fatal(err)
			}
			if s.syncer.pending.Load() {
				t.Error("still pending after another sync of the folder")
			}
			// Alone, it is synced within laterDelay.
			c := createLogged()
			if err := s.RemoveDone(t.Context(), c.ID); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(laterDelay + 5*time.Second)
			for s.syncer.pending.Load() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if s.syncer.pending.Load() {
				t.Errorf("not synced %v after RemoveDone", laterDelay+5*time.Second)
			}
			// And Close syncs what is left.
			d := createLogged()
			s.RemoveDone(t.Context(), d.ID)
			s.Close()
			if s.syncer.pending.Load() {
				t.Error("Close left a removal unsynced")
			}
		})
	}
}

// TestDirSpoolLogRemovedAfterReopen: Remove deletes a delivery log that an
// earlier process wrote, which this one knows of only from OpenDir.
func TestDirSpoolLogRemovedAfterReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	it := &Item{Envelope: Envelope{Rcpt: []string{"a@x", "b@x"}}}
	if err := s.Create(t.Context(), it, strings.NewReader("m")); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(t.Context(), it.ID, "a@x", DeliveryRecord{Result: Delivered}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openDir(t, dir, DirOptions{})
	if err := s2.Remove(t.Context(), it.ID); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("files left after Remove: %v", names)
	}
}

// TestSyncFiles: files outside the spool are synced through it, on its
// file system or another.
func TestSyncFiles(t *testing.T) {
	other := os.Getenv("TMPDIR")
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		other = "/dev/shm"
	}
	for _, mode := range []SyncMode{SyncFS, SyncBatch, SyncEach, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, filepath.Join(dir, "queue"), DirOptions{Sync: mode})
			var files []*os.File
			for _, d := range []string{dir, other} {
				if d == "" {
					continue
				}
				f, err := os.CreateTemp(d, "sync")
				if err != nil {
					t.Fatal(err)
				}
				defer os.Remove(f.Name())
				defer f.Close()
				f.WriteString("data")
				files = append(files, f)
				dirf, err := os.Open(d)
				if err != nil {
					t.Fatal(err)
				}
				defer dirf.Close()
				files = append(files, dirf)
			}
			for i := range files {
				if err := s.SyncFiles(files[i:]...); err != nil {
					t.Errorf("SyncFiles(%d files) = %v", len(files[i:]), err)
				}
			}
			it := &Item{spool: s}
			if err := it.SyncFiles(files...); err != nil {
				t.Errorf("Item.SyncFiles = %v", err)
			}
			s.Close()
			if err := s.SyncFiles(files...); !errors.Is(err, ErrClosed) {
				t.Errorf("SyncFiles after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestBacklogPastCache: past maxCached waiting messages, the queue keeps
// only their schedule in memory and loads each for its first attempt; every
// message is still handled once, with what was accepted.
func TestBacklogPastCache(t *testing.T) {
	s := &callSpool{DirSpool: openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{Sync: SyncNone})}
	var mu sync.Mutex
	got := map[string]string{} // id → vars seen by its attempt
	q := openQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		mu.Lock()
		got[it.ID] += string(it.Vars)
		mu.Unlock()
		return Done()
	}), Options{})
	const extra = 20
	want := map[string]string{}
	for i := range maxCached + extra {
		vars := fmt.Sprintf(`{"n":%d}`, i)
		id, err := q.Accept(t.Context(), testEnv, []byte(vars), strings.NewReader(testBody))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = vars
	}
	if err := q.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(context.Background()) })
	waitGone(t, q)
	mu.Lock()
	defer mu.Unlock()
	if !maps.Equal(got, want) {
		t.Errorf("handled %d messages, want %d, each once with its vars", len(got), len(want))
	}
	if n := s.count("Load"); n != extra {
		t.Errorf("%d first attempts loaded their message, want %d (those past maxCached)", n, extra)
	}
}
