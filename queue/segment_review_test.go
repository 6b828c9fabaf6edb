package queue

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failSegSyncs replaces s's syncer with one whose goroutine fails every
// sync request that names a segment file (EIO) and grants the others
// without syncing (no power loss is simulated, so durability is not at
// stake): a write-back error of the segment alone.
func failSegSyncs(t *testing.T, s *DirSpool) {
	t.Helper()
	old := s.syncer
	old.close()
	fake := &syncer{mode: SyncBatch, dir: s.dirf, reqs: make(chan *syncReq), poke: make(chan struct{}, 1), quit: make(chan struct{})}
	fake.wg.Add(1)
	go func() {
		defer fake.wg.Done()
		for {
			select {
			case r := <-fake.reqs:
				var err error
				for _, f := range r.files {
					if strings.HasPrefix(filepath.Base(f.Name()), segPrefix) {
						err = syscall.EIO
					}
				}
				r.done <- err
			case <-fake.poke:
			case <-fake.quit:
				return
			}
		}
	}()
	s.syncer = fake
}

// TestReviewMoveOutSyncFailureLosesMessage: SaveState moves a committed
// message out of its segment; the dead flag is written, its sync fails, and
// moveOut then deletes ID.eml while leaving ID.json and the flag (already in
// the page cache) in place. On the next OpenDir the body record is dead and
// ID.json has no ID.eml: the acknowledged message is deleted.
func TestReviewMoveOutSyncFailureLosesMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{Sync: SyncEach})
	a := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), a, strings.NewReader("acknowledged")); err != nil {
		t.Fatal(err)
	}
	failSegSyncs(t, s)
	a.Attempts, a.LastError = 1, "451 later"
	// ID.json is durable before the flag is set: the state is saved even
	// though the flag's sync fails (logged).
	if err := s.SaveState(t.Context(), a); err != nil {
		t.Fatalf("SaveState = %v", err)
	}
	if ids, _ := s.List(); !slices.Equal(ids, []string{a.ID}) {
		t.Fatalf("List after SaveState = %v", ids)
	}
	s.Close()

	s2 := openDir(t, dir, DirOptions{})
	if ids, _ := s2.List(); !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("List after reopen = %v, want [%s]: an acknowledged message was lost (files %v)", ids, a.ID, dirNames(t, dir))
	}
	if got, err := s2.Load(a.ID); err != nil || got.Attempts != 1 {
		t.Errorf("Load after reopen = %+v, %v; want the saved state", got, err)
	}
	if got := bodyOf(t, s2, a.ID); got != "acknowledged" {
		t.Errorf("body after reopen = %q", got)
	}
}

// TestReviewLargeStateDroppedOnReopen: CommitState writes a state record of
// any size, but scanSegment ignores one over 1 MiB: a message whose
// envelope and vars exceed 1 MiB is acknowledged, then silently dropped by
// the next OpenDir (the per-message layout had no such limit).
func TestReviewLargeStateDroppedOnReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	vars := []byte(`{"big":"` + strings.Repeat("v", 1<<20) + `"}`)
	a := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}, Vars: vars}
	if err := s.Create(t.Context(), a, strings.NewReader("body")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(a.ID); err != nil || len(got.Vars) != len(vars) {
		t.Fatalf("Load before reopen: %v", err)
	}
	s.Close()
	s2 := openDir(t, dir, DirOptions{})
	if ids, _ := s2.List(); !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("List after reopen = %v, want [%s]: acknowledged message with a 1 MiB state lost", ids, a.ID)
	}
}

// TestReviewSaveStateEncodeErrorLeaksHold: SaveState holds the segment
// (hold) and, when encodeState fails, returns without unhold: the segment's
// held count never drops, so the full segment is never deleted.
func TestReviewSaveStateEncodeErrorLeaksHold(t *testing.T) {
	setSegMax(t, 100)
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	a := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), a, strings.NewReader("a body that fills the segment")); err != nil {
		t.Fatal(err)
	}
	bad := *a
	bad.Vars = []byte(`{not json`)
	if err := s.SaveState(t.Context(), &bad); err == nil {
		t.Fatal("SaveState with invalid Vars succeeded")
	}
	if err := s.Remove(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	if n := segFiles(t, dir); len(n) != 0 {
		t.Errorf("full segment with no live message kept after Remove: %v (held count leaked)", n)
	}
}

// TestReviewCreateBodySyncFailureKeepsSegment: when CreateBody's sync fails
// the segment stays in the free list (CommitState seals it in the same
// case: "what is on disk after a failed sync is unknown"). The next message
// is appended after the failed record and acknowledged; if the failed
// write-back lost the dropped record's header page (Linux marks such pages
// clean: simulated here by zeroing that header), OpenDir's scan stops there
// and the later acknowledged message is gone.
func TestReviewCreateBodySyncFailureKeepsSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	fail := true
	s.fault = func(op string) error {
		if op == "sync" && fail {
			fail = false
			return syscall.EIO
		}
		return nil
	}
	x := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), x, strings.NewReader(strings.Repeat("x", 64<<10))); !errors.Is(err, ErrSpool) {
		t.Fatalf("Create x = %v, want ErrSpool", err)
	}
	segs := segFiles(t, dir)
	y := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), y, strings.NewReader("acknowledged")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n := segFiles(t, dir); len(n) == 1 && len(segs) == 1 {
		// y went into the segment whose sync failed. Simulate the lost
		// write-back of x's first page (its header).
		f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(make([]byte, recHeader), 0)
		f.Close()
	}
	s2 := openDir(t, dir, DirOptions{})
	if ids, _ := s2.List(); !slices.Equal(ids, []string{y.ID}) {
		t.Errorf("List after reopen = %v, want [%s]: y was appended to a segment whose sync had failed", ids, y.ID)
	}
}

// TestReviewConcurrentCreateSameID: CreateBody checks that the ID is new
// (lookup) long before it records it (after streaming the body): two
// Creates of one ID at once both succeed (the per-message layout's O_EXCL
// refused the second with ErrExists). The first one's loc is overwritten,
// its lease and live count are never given back.
func TestReviewConcurrentCreateSameID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	id := NewID()
	pr1, pw1 := io.Pipe()
	pr2, pw2 := io.Pipe()
	errs := make(chan error, 2)
	go func() {
		errs <- s.Create(t.Context(), &Item{Envelope: Envelope{ID: id, Rcpt: []string{"b@y"}}}, pr1)
	}()
	pw1.Write([]byte("first")) // returns once Create is streaming
	go func() {
		errs <- s.Create(t.Context(), &Item{Envelope: Envelope{ID: id, Rcpt: []string{"b@y"}}}, pr2)
	}()
	go func() {
		// The second Create may refuse at once without reading.
		pw2.Write([]byte("second"))
		pw2.Close()
	}()
	pw1.Close()
	defer pr2.Close()
	var ok, exists int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrExists):
			exists++
		default:
			t.Errorf("Create: %v", err)
		}
	}
	if ok != 1 || exists != 1 {
		t.Errorf("two Creates of %s at once: %d succeeded, %d ErrExists; want 1 and 1", id, ok, exists)
	}
}

// TestReviewLoadRacesMoveOut: Load looks the message up, sees it in a
// segment, then holds it again (hold) and reads the state through the
// loc hold returned, without checking that it is still in a segment. A
// SaveState (moveOut) in between leaves seg nil: nil dereference in
// readState/unhold. Load is not a state-changing call, so the Spool
// contract allows it concurrently with SaveState.
func TestReviewLoadRacesMoveOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{Sync: SyncNone})
	var panicked sync.Once
	var msg any
	deadline := time.Now().Add(5 * time.Second)
	for round := 0; round < 300 && time.Now().Before(deadline) && msg == nil; round++ {
		it := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
		if err := s.Create(t.Context(), it, strings.NewReader("m")); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if r := recover(); r != nil {
						panicked.Do(func() { msg = r })
					}
				}()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s.Load(it.ID)
				}
			}()
		}
		time.Sleep(50 * time.Microsecond)
		it.Attempts = 1
		if err := s.SaveState(t.Context(), it); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		s.Remove(t.Context(), it.ID)
	}
	if msg != nil {
		t.Errorf("Load concurrent with SaveState panicked: %v", msg)
	}
}
