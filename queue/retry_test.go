package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests in this file run in a synctest bubble: time moves only when
// every goroutine is blocked, so backoff delays of hours take no time and
// are measured exactly.

// attempts records when a handler was called.
type attempts struct {
	times []time.Time
	items []Item
}

func (a *attempts) add(it *Item) int {
	a.times = append(a.times, time.Now())
	a.items = append(a.items, *it)
	return len(a.times)
}

func checkGap(t *testing.T, i int, got, max time.Duration) {
	t.Helper()
	if min := max - max/5; got < min || got > max {
		t.Errorf("gap before attempt %d = %v, want %v–%v", i+1, got, min, max)
	}
}

func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a attempts
		done := make(chan struct{})
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			if n := a.add(it); n < 6 {
				return Retry(fmt.Errorf("451 try %d", n))
			}
			close(done)
			return Done()
		}), Options{RetryInitial: time.Minute, RetryMax: 8 * time.Minute, MaxAge: 24 * time.Hour})
		start := time.Now()
		accept(t, q)
		<-done
		q.Close(t.Context())

		if !a.times[0].Equal(start) {
			t.Errorf("first attempt after %v, want at once", a.times[0].Sub(start))
		}
		for i, max := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 8 * time.Minute} {
			checkGap(t, i+1, a.times[i+1].Sub(a.times[i]), max)
		}
		for i, it := range a.items {
			if it.Attempts != i {
				t.Errorf("attempt %d saw Attempts = %d", i+1, it.Attempts)
			}
			if i > 0 && it.LastError != fmt.Sprintf("451 try %d", i) {
				t.Errorf("attempt %d saw LastError %q", i+1, it.LastError)
			}
		}
		if st := q.Stats(); st.Retried != 5 || st.Done != 1 || st.Queued != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	o := Options{RetryInitial: 10 * time.Second, RetryMax: time.Minute}
	for _, tc := range []struct {
		attempts int
		max      time.Duration
	}{
		{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{4, time.Minute}, {50, time.Minute}, {1 << 20, time.Minute},
	} {
		for range 100 {
			if d := o.backoff(tc.attempts); d < tc.max-tc.max/5 || d > tc.max {
				t.Fatalf("backoff(%d) = %v, want %v–%v", tc.attempts, d, tc.max-tc.max/5, tc.max)
			}
		}
	}
}

// TestExpiry: a message that is always deferred gets its last attempt at
// exactly MaxAge, then goes to OnFail with ErrExpired and is removed.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "queue")
		s := openDir(t, dir, DirOptions{Sync: SyncNone})
		var a attempts
		type failure struct {
			at  time.Time
			it  Item
			err error
		}
		failed := make(chan failure, 1)
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			a.add(it)
			return Retry(errors.New("451 4.4.1 host busy"))
		}), Options{
			RetryInitial: time.Minute, RetryMax: 4 * time.Minute, MaxAge: 5 * time.Minute,
			OnFail: func(ctx context.Context, it *Item, err error) error {
				failed <- failure{time.Now(), *it, err}
				return nil
			},
		})
		start := time.Now()
		id := accept(t, q)
		f := <-failed
		q.Close(t.Context())

		deadline := start.Add(5 * time.Minute)
		if !f.at.Equal(deadline) || !a.times[len(a.times)-1].Equal(deadline) {
			t.Errorf("last attempt at +%v, OnFail at +%v; want both at +5m", a.times[len(a.times)-1].Sub(start), f.at.Sub(start))
		}
		// At 0, 0.8–1m, 2.4–3m, then 5m (the next would be after 5.6m).
		if len(a.times) != 4 {
			t.Errorf("%d attempts, want 4", len(a.times))
		}
		if !errors.Is(f.err, ErrExpired) || !strings.Contains(f.err.Error(), "451 4.4.1 host busy") {
			t.Errorf("OnFail error = %v; want ErrExpired with the last reason", f.err)
		}
		if f.it.ID != id || !f.it.Expired || f.it.Attempts != 4 {
			t.Errorf("OnFail item: id %s expired %v attempts %d", f.it.ID, f.it.Expired, f.it.Attempts)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("left in the spool: %v", names)
		}
		if st := q.Stats(); st.Expired != 1 || st.Failed != 0 || st.Queued != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

// TestExpiredOnArrival: a message already older than MaxAge (the server
// was down) still gets one attempt.
func TestExpiredOnArrival(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		failed := make(chan error, 1)
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			calls.Add(1)
			return Retry(nil)
		}), Options{MaxAge: time.Hour, OnFail: func(ctx context.Context, it *Item, err error) error {
			failed <- err
			return nil
		}})
		env := testEnv
		env.Received = time.Now().Add(-48 * time.Hour)
		if _, err := q.Accept(t.Context(), env, nil, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
		if err := <-failed; !errors.Is(err, ErrExpired) {
			t.Errorf("OnFail got %v", err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("handler called %d times, want 1", n)
		}
	})
}

func TestFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		perm := errors.New("550 5.7.1 refused")
		var calls atomic.Int32
		failed := make(chan error, 1)
		s := newMemSpool()
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			calls.Add(1)
			return Fail(fmt.Errorf("stage orders: %w", perm))
		}), Options{OnFail: func(ctx context.Context, it *Item, err error) error {
			if it.Failed == "" || it.Expired {
				t.Errorf("OnFail item: failed %q expired %v", it.Failed, it.Expired)
			}
			failed <- err
			return nil
		}})
		accept(t, q)
		if err := <-failed; !errors.Is(err, perm) || errors.Is(err, ErrExpired) {
			t.Errorf("OnFail got %v, want the handler's error", err)
		}
		q.Close(t.Context())
		if n := calls.Load(); n != 1 {
			t.Errorf("handler called %d times", n)
		}
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("failed message kept: %v", ids)
		}
		if st := q.Stats(); st.Failed != 1 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

// TestOnFailRetried: when OnFail fails (no DSN could be queued), it is
// called again after a backoff; the handler is not.
func TestOnFailRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		var times []time.Time
		done := make(chan struct{})
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			calls.Add(1)
			return Fail(errors.New("550 no"))
		}), Options{RetryInitial: time.Minute, OnFail: func(ctx context.Context, it *Item, err error) error {
			times = append(times, time.Now())
			if len(times) == 1 {
				return errors.New("disk full")
			}
			if it.LastError != "on fail: disk full" {
				t.Errorf("LastError = %q", it.LastError)
			}
			close(done)
			return nil
		}})
		accept(t, q)
		<-done
		q.Close(t.Context())
		if n := calls.Load(); n != 1 {
			t.Errorf("handler called %d times, want 1", n)
		}
		checkGap(t, 1, times[1].Sub(times[0]), 2*time.Minute) // after 2 attempts
	})
}

func TestNoOnFailDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemSpool()
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			return Fail(errors.New("550 no"))
		}), Options{})
		accept(t, q)
		synctest.Wait()
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("message kept: %v", ids)
		}
	})
}

func TestFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a attempts
		done := make(chan struct{})
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			if a.add(it) == 1 {
				return Retry(nil)
			}
			close(done)
			return Done()
		}), Options{RetryInitial: time.Hour})
		accept(t, q)
		synctest.Wait() // the first attempt is over; the next is due in an hour
		if n := q.Flush(); n != 1 {
			t.Errorf("Flush() = %d, want 1", n)
		}
		<-done
		if gap := a.times[1].Sub(a.times[0]); gap != 0 {
			t.Errorf("after Flush the retry came %v later, want at once", gap)
		}
	})
}

func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a attempts
		done := make(chan struct{})
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			if a.add(it) == 1 {
				<-ctx.Done() // a stage that hangs
				return Retry(ctx.Err())
			}
			close(done)
			return Done()
		}), Options{AttemptTimeout: 30 * time.Second, RetryInitial: time.Minute})
		accept(t, q)
		<-done
		checkGap(t, 1, a.times[1].Sub(a.times[0]), 30*time.Second+time.Minute)
		if !strings.Contains(a.items[1].LastError, "deadline exceeded") {
			t.Errorf("LastError = %q", a.items[1].LastError)
		}
	})
}

// TestWorkers: no more than Workers handlers run at once, and without
// BurstHold every worker runs while messages arrive.
func TestWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newGatedHandler()
		q := startQueue(t, newMemSpool(), h, Options{Workers: 3})
		for range 10 {
			accept(t, q)
		}
		synctest.Wait()
		if n := h.running.Load(); n != 3 {
			t.Errorf("%d handlers running, want 3", n)
		}
		if st := q.Stats(); st.Running != 3 || st.Queued != 10 {
			t.Errorf("Stats = %+v", st)
		}
		close(h.gate)
		synctest.Wait()
		if h.total.Load() != 10 || h.peak.Load() != 3 {
			t.Errorf("handled %d, peak %d; want 10, 3", h.total.Load(), h.peak.Load())
		}
	})
}

// TestCloseWaits: Close waits for running handlers.
func TestCloseWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemSpool()
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			time.Sleep(time.Minute) // a slow delivery
			return Done()
		}), Options{})
		accept(t, q)
		synctest.Wait()
		start := time.Now()
		if err := q.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Close returned after %v, want 1m", d)
		}
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("message not finished: %v", ids)
		}
	})
}

// TestCloseTimeout: a handler that outlives Close's ctx has its context
// canceled; its Retry is still saved.
func TestCloseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemSpool()
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			<-ctx.Done()
			return Retry(ctx.Err())
		}), Options{})
		id := accept(t, q)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Close returned after %v, want 5s", d)
		}
		synctest.Wait() // the handler returns
		it, err := s.Load(id)
		if err != nil || it.Attempts != 1 || it.LastError != "context canceled" {
			t.Errorf("state after Close: %+v, %v", it, err)
		}
	})
}

func TestDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemSpool()
		var calls atomic.Int32
		q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			calls.Add(1)
			if it.From == "hang@x" {
				<-ctx.Done()
				return Retry(ctx.Err())
			}
			return Retry(nil)
		}), Options{RetryInitial: time.Hour, OnFail: func(context.Context, *Item, error) error {
			t.Error("OnFail called for a deleted message")
			return nil
		}})
		waiting := accept(t, q)
		env := testEnv
		env.From = "hang@x"
		running, _ := q.Accept(t.Context(), env, nil, strings.NewReader(testBody))
		synctest.Wait()
		if st := q.Stats(); st.Running != 1 || st.Queued != 2 {
			t.Fatalf("Stats = %+v", st)
		}
		for _, id := range []string{waiting, running} {
			if err := q.Delete(t.Context(), id); err != nil {
				t.Errorf("Delete(%s) = %v", id, err)
			}
		}
		synctest.Wait()
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("spool after Delete: %v", ids)
		}
		if st := q.Stats(); st.Queued != 0 || st.Running != 0 {
			t.Errorf("Stats = %+v", st)
		}
		if err := q.Delete(t.Context(), waiting); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete = %v", err)
		}
		if err := q.Delete(t.Context(), "../x"); !errors.Is(err, ErrBadID) {
			t.Errorf("Delete(bad id) = %v", err)
		}
		time.Sleep(2 * time.Hour)
		if n := calls.Load(); n != 2 {
			t.Errorf("handler called %d times, want 2", n)
		}
	})
}

func TestPanicAndNoOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a attempts
		done := make(chan struct{})
		q := startQueue(t, newMemSpool(), HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			switch a.add(it) {
			case 1:
				panic("stage bug")
			case 2:
				return Outcome{}
			}
			close(done)
			return Done()
		}), Options{RetryInitial: time.Second})
		accept(t, q)
		<-done
		if got := a.items[1].LastError; !strings.Contains(got, "panic: stage bug") {
			t.Errorf("LastError after panic = %q", got)
		}
		if got := a.items[2].LastError; !strings.Contains(got, "no outcome") {
			t.Errorf("LastError after zero Outcome = %q", got)
		}
	})
}

// TestRestartKeepsNextTry: a restarted queue waits for a deferred message's
// stored NextTry instead of trying it at once.
func TestRestartKeepsNextTry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemSpool()
		opt := Options{RetryInitial: 10 * time.Minute}
		first := make(chan time.Time, 1)
		q1 := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			first <- time.Now()
			return Retry(nil)
		}), opt)
		accept(t, q1)
		t0 := <-first
		synctest.Wait()
		q1.Close(t.Context())

		second := make(chan time.Time, 1)
		startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
			second <- time.Now()
			return Done()
		}), opt)
		checkGap(t, 1, (<-second).Sub(t0), 10*time.Minute)
	})
}
