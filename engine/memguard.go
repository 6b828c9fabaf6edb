package engine

import (
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// ErrMemory is matched by the error of a hook call stopped because the
// heap grew past the engine's memory limit while it ran. gopher-lua has no
// allocation hook, so a script that builds huge strings by concatenation
// can only be stopped from outside: the guard samples the heap and, when it
// is over the limit after a collection, cancels the calls in progress.
var ErrMemory = errors.New("memory limit exceeded")

const (
	guardInterval    = 5 * time.Millisecond
	forcedGCInterval = 50 * time.Millisecond
	// guardIdleTicks is how many looks in a row with no call running send
	// the guard to sleep until the next call (one second): an idle server
	// does not wake every guardInterval, and a busy one does not wake the
	// guard for every call.
	guardIdleTicks = int(time.Second / guardInterval)
)

// memGuard cancels the running calls when the heap exceeds limit bytes.
type memGuard struct {
	limit uint64

	mu    sync.Mutex // guards calls and seq
	calls map[*guarded]struct{}
	seq   uint64 // numbers the calls in the order they were registered

	wake chan struct{} // capacity 1: a call was registered (the guard may sleep)
	stop chan struct{}
	done chan struct{}
}

func newMemGuard(limit uint64) *memGuard {
	g := &memGuard{
		limit: limit,
		calls: map[*guarded]struct{}{},
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go g.loop()
	return g
}

// guarded is a call the guard may stop: it sets over, then cancels.
type guarded struct {
	over   *atomic.Bool
	cancel context.CancelFunc
	seq    uint64
}

// watch registers a call; the returned function unregisters it.
func (g *memGuard) watch(over *atomic.Bool, cancel context.CancelFunc) func() {
	key := &guarded{over: over, cancel: cancel}
	g.mu.Lock()
	g.seq++
	key.seq = g.seq
	g.calls[key] = struct{}{}
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
	}
}

func (g *memGuard) loop() {
	defer close(g.done)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var lastGC time.Time
	t := time.NewTicker(guardInterval)
	defer t.Stop()
	idle := 0 // looks in a row with no call running
	for {
		if idle >= guardIdleTicks {
			t.Stop()
			select {
			case <-g.stop:
				return
			case <-g.wake:
			}
			t.Reset(guardInterval)
			idle = 0
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		n, seen := len(g.calls), g.seq
		g.mu.Unlock()
		if n == 0 {
			idle++
			continue
		}
		idle = 0
		if !g.over(sample) {
			continue
		}
		// The sample counts garbage not yet collected (a script stopped a
		// moment ago leaves plenty): collect, then look again, at most
		// once per forcedGCInterval so a heap that stays high does not
		// turn into back-to-back collections.
		if time.Since(lastGC) < forcedGCInterval {
			continue
		}
		runtime.GC()
		lastGC = time.Now()
		if !g.over(sample) {
			continue
		}
		// Only the calls that were running when the heap was seen over
		// are stopped: one that started since (during the collection,
		// say, right after a runaway script ended and left its garbage)
		// had no part in it, and a runaway one among them is caught at
		// the next look.
		g.mu.Lock()
		for c := range g.calls {
			if c.seq <= seen {
				c.over.Store(true)
				c.cancel()
			}
		}
		g.mu.Unlock()
	}
}

// over reads the heap size and reports whether it exceeds the limit.
func (g *memGuard) over(sample []metrics.Sample) bool {
	metrics.Read(sample)
	return sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > g.limit
}

func (g *memGuard) close() {
	close(g.stop)
	<-g.done
}
