package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// burstQueue starts a queue of 8 workers with BurstHold whose handler
// blocks until h.gate is closed, and accepts n messages one at a time,
// each taken up (or held) before the next arrives.
func burstQueue(t *testing.T, n int) (*gatedHandler, *Queue) {
	h := newGatedHandler()
	q := startQueue(t, newMemSpool(), h, Options{Workers: 8, BurstHold: time.Minute})
	for range n {
		accept(t, q)
		synctest.Wait()
	}
	return h, q
}

// TestBurstHoldUntilQuiet: while messages arrive, BurstHold lets only a
// quarter of the workers run; once the senders stop, all of them.
func TestBurstHoldUntilQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := burstQueue(t, 10) // 2 run, 8 wait: no more than Workers
		if n := h.running.Load(); n != 2 {
			t.Errorf("during the burst: %d handlers running, want 2", n)
		}
		time.Sleep(burstIdle - time.Millisecond)
		synctest.Wait()
		if n := h.running.Load(); n != 2 {
			t.Errorf("%v after the last arrival: %d handlers running, want 2", burstIdle-time.Millisecond, n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := h.running.Load(); n != 8 {
			t.Errorf("%v after the last arrival: %d handlers running, want 8", burstIdle, n)
		}
		close(h.gate)
		synctest.Wait()
		if h.total.Load() != 10 || h.peak.Load() != 8 {
			t.Errorf("handled %d, peak %d; want 10, 8", h.total.Load(), h.peak.Load())
		}
	})
}

// TestBurstHoldBound: messages that keep arriving (through Receive and
// Commit, as the SMTP server stores them) hold deliveries back, but no
// message waits longer than BurstHold for its attempt.
func TestBurstHoldBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newGatedHandler()
		const hold = 100 * time.Millisecond
		q := startQueue(t, newMemSpool(), h, Options{Workers: 8, BurstHold: hold})
		start := time.Now()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				p, err := q.Receive(context.Background(), testEnv, strings.NewReader(testBody))
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				if err := p.Commit(context.Background(), nil, nil); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		// One message every 5 ms: the first two run at once; the third
		// (at 10 ms) is the first held, until 10 ms + hold; the fourth
		// (at 15 ms) until 15 ms + hold.
		for _, c := range []struct {
			at   time.Duration
			want int32
		}{
			{10*time.Millisecond + hold - time.Millisecond, 2},
			{10*time.Millisecond + hold, 3},
			{15*time.Millisecond + hold - time.Millisecond, 3},
			{15*time.Millisecond + hold, 4},
		} {
			time.Sleep(c.at - time.Since(start))
			synctest.Wait()
			if n := h.running.Load(); n != c.want {
				t.Errorf("%v into the burst: %d handlers running, want %d", c.at, n, c.want)
			}
		}
		close(stop)
		<-done
		close(h.gate)
		// More than Workers wait: the rest start once the burst is over.
		time.Sleep(burstIdle)
		synctest.Wait()
		if st := q.Stats(); st.Queued != 0 || st.Done != int64(h.total.Load()) {
			t.Errorf("Stats = %+v after %d handled", st, h.total.Load())
		}
	})
}

// TestBurstHoldBacklog: during a burst a quarter of the workers deliver
// while at most Workers new messages wait (a stream they keep up with);
// once more wait, none starts until the senders stop.
func TestBurstHoldBacklog(t *testing.T) {
	for _, c := range []struct {
		more   int   // messages accepted while the first two run
		del    int   // of them deleted before the two end
		during int32 // handled before the burst is over
	}{
		{8, 0, 10}, // 8 wait: the two workers deliver them during the burst
		{9, 0, 2},  // 9 wait: held until the burst is over
		{9, 1, 10}, // 9, and one deleted: 8 wait
	} {
		synctest.Test(t, func(t *testing.T) {
			h, q := burstQueue(t, 2)
			if n := h.running.Load(); n != 2 {
				t.Fatalf("%d handlers running, want 2", n)
			}
			var ids []string
			for range c.more {
				ids = append(ids, accept(t, q))
			}
			for _, id := range ids[:c.del] {
				if err := q.Delete(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			close(h.gate)
			synctest.Wait()
			if n := h.total.Load(); n != c.during {
				t.Errorf("%d waiting, %d deleted: %d handled during the burst, want %d", c.more, c.del, n, c.during)
			}
			time.Sleep(burstIdle)
			synctest.Wait()
			if st, want := q.Stats(), int64(2+c.more-c.del); st.Queued != 0 || st.Done != want {
				t.Errorf("%d waiting: Stats = %+v after the burst, want all %d done", c.more, st, want)
			}
		})
	}
}

// latencyHandler takes 1 ms a delivery and notes the longest wait from
// a message's arrival to its delivery.
type latencyHandler struct {
	mu  sync.Mutex
	max time.Duration
}

func (h *latencyHandler) Handle(ctx context.Context, it *Item) Outcome {
	time.Sleep(time.Millisecond)
	h.mu.Lock()
	h.max = max(h.max, time.Since(it.Received))
	h.mu.Unlock()
	return Done()
}

// TestBurstHoldSteadyStream: a steady stream that a quarter of the workers
// keep up with is delivered as it comes, also when Open found messages
// deferred by earlier attempts (they are no backlog until tried again).
func TestBurstHoldSteadyStream(t *testing.T) {
	for _, deferred := range []int{0, 9} {
		synctest.Test(t, func(t *testing.T) {
			s := newMemSpool()
			for range deferred {
				it := &Item{Envelope: testEnv, NextTry: time.Now().Add(time.Hour)}
				it.Received = time.Now()
				if err := s.Create(context.Background(), it, strings.NewReader(testBody)); err != nil {
					t.Fatal(err)
				}
				it.Attempts = 1
				if err := s.SaveState(context.Background(), it); err != nil {
					t.Fatal(err)
				}
			}
			h := &latencyHandler{}
			q := startQueue(t, s, h, Options{Workers: 8, BurstHold: time.Second})
			for range 200 { // 100 a second for 2 s
				accept(t, q)
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(time.Second)
			synctest.Wait()
			if h.max > 10*time.Millisecond {
				t.Errorf("%d deferred at Open: a message waited %v for its delivery; want the 1 ms it takes", deferred, h.max)
			}
		})
	}
}
