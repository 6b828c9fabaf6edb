package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"
)

// entry is the queue's in-memory note of one message. All fields are
// guarded by Queue.mu.
type entry struct {
	id      string
	next    time.Time
	index   int // position in Queue.waiting, -1 while running
	running bool
	first   bool               // new, waiting for its first attempt (Queue.fresh)
	deleted bool               // Delete was called while running
	cancel  context.CancelFunc // of the running attempt
	// item is the message as stored, kept from Accept, Commit or Open
	// for the first attempt, which then need not load it (nil after).
	item *Item
}

// entryHeap orders waiting entries by next try (then ID).
type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if !h[i].next.Equal(h[j].next) {
		return h[i].next.Before(h[j].next)
	}
	return h[i].id < h[j].id
}
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

func (h *entryHeap) push(e *entry)   { heap.Push(h, e) }
func (h *entryHeap) remove(e *entry) { heap.Remove(h, e.index) }
func (h *entryHeap) init()           { heap.Init(h) }

// takeDue pops the first entry if it is due and marks it running; else it
// returns how long until the first one is due (-1: none waiting).
// q.mu must be held.
func (q *Queue) takeDue(now time.Time) (*entry, time.Duration) {
	if len(q.waiting) == 0 {
		return nil, -1
	}
	e := q.waiting[0]
	if d := e.next.Sub(now); d > 0 {
		return nil, d
	}
	heap.Pop(&q.waiting)
	if e.first {
		e.first = false
		q.fresh--
	}
	e.running = true
	q.stats.Running++
	return e, 0
}

// burstIdle is how long after the last arrival a burst counts as over
// (Options.BurstHold).
const burstIdle = 20 * time.Millisecond

// burstWorkers is how many of workers run during a burst (BurstHold)
// while the senders do not outpace them: a quarter, at least one.
func burstWorkers(workers int) int { return max(workers/4, 1) }

// burstHeld reports whether Options.BurstHold keeps the next attempt
// waiting, and for how long at most before it should look again (0: not
// held). During a burst a quarter of the workers deliver while at most
// Workers new messages wait, so that a steady stream is delivered as it
// comes; past that the senders outpace them, and a delivery would only
// slow the sessions down (its files join the syncs they wait for), so
// none starts until the first waiting message has waited BurstHold.
// q.mu must be held.
func (q *Queue) burstHeld(now time.Time) time.Duration {
	if q.opt.BurstHold <= 0 || len(q.waiting) == 0 {
		return 0
	}
	if q.stats.Running < burstWorkers(q.opt.Workers) && q.fresh <= q.opt.Workers {
		return 0
	}
	quiet := time.Unix(0, q.arrived.Load()).Add(burstIdle).Sub(now)
	if quiet <= 0 {
		return 0 // the senders have stopped
	}
	due := now.Sub(q.waiting[0].next)
	if due < 0 || due >= q.opt.BurstHold {
		return 0 // nothing due yet, or the first has waited long enough
	}
	return min(quiet, q.opt.BurstHold-due)
}

// schedule is the scheduler goroutine (owned by Start/Close): it takes a
// worker slot, waits until a message is due, and runs it on a goroutine
// that gives the slot back.
func (q *Queue) schedule() {
	defer q.sched.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case q.slots <- struct{}{}:
		case <-q.stop:
			return
		case <-q.ctx.Done():
			return
		}
		for {
			now := time.Now()
			q.mu.Lock()
			held := q.burstHeld(now)
			var e *entry
			wait := held
			if held == 0 {
				e, wait = q.takeDue(now)
			}
			q.mu.Unlock()
			if e != nil {
				q.work.Add(1)
				go q.run(e)
				break
			}
			var tc <-chan time.Time
			if wait >= 0 {
				timer.Reset(wait)
				tc = timer.C
			}
			// Held back, the scheduler looks again when an attempt ends
			// or the burst may be over, not at every arrival.
			wake, freed := q.wake, q.freed
			if held > 0 {
				wake = nil
			} else {
				freed = nil
			}
			select {
			case <-wake:
			case <-freed:
			case <-tc:
			case <-q.stop:
				return
			case <-q.ctx.Done():
				return
			}
			timer.Stop()
		}
	}
}

// run makes one attempt on e's message and acts on the outcome.
func (q *Queue) run(e *entry) {
	defer q.work.Done()
	defer func() {
		<-q.slots
		select {
		case q.freed <- struct{}{}:
		default:
		}
	}()
	if q.dead.Load() {
		return
	}
	log := q.log.With("msg_id", e.id)
	q.mu.Lock()
	it := e.item
	if it != nil {
		e.item = nil
		q.cached--
	}
	q.mu.Unlock()
	var err error
	if it == nil {
		it, err = q.spool.Load(e.id)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			log.Error("queue: message vanished from the spool")
			q.forget(e)
			return
		}
		log.Error("queue: cannot load message", "err", err)
		q.requeue(e, time.Now().Add(q.opt.RetryMax))
		return
	}
	it.spool = q.spool
	if it.Failed != "" {
		q.callOnFail(e, it, failedError(it))
		return
	}
	ctx, cancel := q.attemptContext(e)
	out := q.handle(ctx, it)
	cancel()
	if q.dead.Load() {
		return
	}
	if q.wasDeleted(e) {
		q.removeDeleted(e)
		return
	}
	if out.kind != outcomeDone {
		q.writeFound(it)
	}
	switch out.kind {
	case outcomeDone:
		if err := q.removeDone(it); err != nil {
			log.Error("queue: cannot remove finished message; it will be handed over again", "err", err)
			q.writeFound(it)
			q.requeue(e, time.Now().Add(q.opt.RetryInitial))
			return
		}
		q.mu.Lock()
		q.stats.Done++
		q.mu.Unlock()
		q.forget(e)
		log.Debug("done", "attempts", it.Attempts+1)
	case outcomeFail:
		it.Attempts++
		it.LastError = out.err.Error()
		q.fail(e, it, out.err, false)
	default:
		if out.kind == outcomeNone {
			out = Retry(errors.New("queue: handler returned no outcome"))
		}
		it.Attempts++
		it.LastError = out.err.Error()
		now := time.Now()
		deadline := it.Received.Add(q.opt.MaxAge)
		if !now.Before(deadline) {
			q.fail(e, it, fmt.Errorf("%w after %d attempts: %w", ErrExpired, it.Attempts, out.err), true)
			return
		}
		next := now.Add(q.opt.backoff(it.Attempts))
		if next.After(deadline) {
			next = deadline
		}
		it.NextTry = next
		q.save(it)
		q.mu.Lock()
		q.stats.Retried++
		q.mu.Unlock()
		q.requeue(e, next)
		log.Info("deferred", "attempts", it.Attempts, "next_try", next, "reason", it.LastError)
	}
}

// removeDone removes a message whose handler reported Done. When every
// recipient of its envelope has a durable delivery record, or a delivery
// that is its own record (Item.RecordFound), the removal need not be
// durable before the worker moves on (see DoneRemover). Otherwise (a
// handler that recorded nothing, such as a discard) it must be durable.
func (q *Queue) removeDone(it *Item) error {
	if dr, ok := q.spool.(DoneRemover); ok && len(it.Pending()) == 0 {
		return dr.RemoveDone(context.Background(), it.ID)
	}
	return q.spool.Remove(context.Background(), it.ID)
}

// writeFound writes the records the handler left unwritten (see
// Item.RecordFound) when the message is not removed after all. A failure is
// logged: the delivery may then be repeated.
func (q *Queue) writeFound(it *Item) {
	if err := it.writeFound(context.Background()); err != nil {
		q.log.Error("queue: cannot write delivery record; the delivery may be repeated", "msg_id", it.ID, "err", err)
	}
}

// handle calls the Handler, turning a panic into Retry.
func (q *Queue) handle(ctx context.Context, it *Item) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("queue: handler panic", "msg_id", it.ID, "panic", r, "stack", string(debug.Stack()))
			out = Retry(fmt.Errorf("queue: handler panic: %v", r))
		}
	}()
	return q.h.Handle(ctx, it)
}

// attemptContext returns the context of one Handle or OnFail call, which
// Delete cancels.
func (q *Queue) attemptContext(e *entry) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(q.ctx, q.opt.AttemptTimeout)
	q.mu.Lock()
	e.cancel = cancel
	if e.deleted {
		cancel()
	}
	q.mu.Unlock()
	return ctx, cancel
}

// fail marks it as failed (durably, so that a crash leads to OnFail and not
// to another attempt) and calls OnFail.
func (q *Queue) fail(e *entry, it *Item, err error, expired bool) {
	it.Failed = err.Error()
	it.Expired = expired
	q.save(it)
	q.callOnFail(e, it, err)
}

// failedError rebuilds the error of a message that failed before.
func failedError(it *Item) error {
	if it.Expired {
		return fmt.Errorf("%w%s", ErrExpired, strings.TrimPrefix(it.Failed, ErrExpired.Error()))
	}
	return errors.New(it.Failed)
}

// callOnFail hands a failed message to OnFail and removes it, or schedules
// another call if OnFail fails.
func (q *Queue) callOnFail(e *entry, it *Item, err error) {
	log := q.log.With("msg_id", it.ID)
	ctx, cancel := q.attemptContext(e)
	ferr := q.onFail(ctx, it, err)
	cancel()
	if q.dead.Load() {
		return
	}
	if q.wasDeleted(e) {
		q.removeDeleted(e)
		return
	}
	if ferr != nil {
		it.Attempts++
		it.LastError = "on fail: " + ferr.Error()
		it.NextTry = time.Now().Add(q.opt.backoff(it.Attempts))
		q.save(it)
		q.requeue(e, it.NextTry)
		log.Error("queue: failure handler failed; will call it again", "err", ferr, "next_try", it.NextTry)
		return
	}
	if rerr := q.spool.Remove(context.Background(), it.ID); rerr != nil {
		log.Error("queue: cannot remove failed message", "err", rerr)
		q.requeue(e, time.Now().Add(q.opt.RetryInitial))
		return
	}
	q.mu.Lock()
	if it.Expired {
		q.stats.Expired++
	} else {
		q.stats.Failed++
	}
	q.mu.Unlock()
	q.forget(e)
	if it.Expired {
		log.Warn("expired", "attempts", it.Attempts, "reason", err)
	} else {
		log.Warn("failed", "attempts", it.Attempts, "reason", err)
	}
}

func (q *Queue) onFail(ctx context.Context, it *Item, err error) (ferr error) {
	if q.opt.OnFail == nil {
		q.log.Warn("queue: no failure handler; message dropped", "msg_id", it.ID, "reason", err)
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("queue: failure handler panic", "msg_id", it.ID, "panic", r, "stack", string(debug.Stack()))
			ferr = fmt.Errorf("queue: failure handler panic: %v", r)
		}
	}()
	return q.opt.OnFail(ctx, it, err)
}

// save stores it's state; a failure is logged (the previous state stays,
// which at worst repeats an attempt).
func (q *Queue) save(it *Item) {
	if err := q.spool.SaveState(context.Background(), it); err != nil {
		q.log.Error("queue: cannot save message state", "msg_id", it.ID, "err", err)
	}
}

// backoff returns the delay after the given number of attempts:
// RetryInitial doubled per further attempt, capped at RetryMax, less a
// random 0–20 %.
func (o *Options) backoff(attempts int) time.Duration {
	d := o.RetryInitial
	for i := 1; i < attempts && d < o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, o.RetryMax)
	return d - rand.N(d/5+1)
}

// requeue puts a running entry back into the schedule at next.
func (q *Queue) requeue(e *entry, next time.Time) {
	q.mu.Lock()
	e.running, e.cancel = false, nil
	q.stats.Running--
	if e.deleted {
		// Deleted while its outcome was being saved: drop it now.
		delete(q.entries, e.id)
		q.mu.Unlock()
		q.removeDeletedID(e.id)
		return
	}
	e.next = next
	q.waiting.push(e)
	q.mu.Unlock()
	q.poke()
}

// forget drops a running entry whose message is gone.
func (q *Queue) forget(e *entry) {
	q.mu.Lock()
	e.running, e.cancel = false, nil
	q.stats.Running--
	delete(q.entries, e.id)
	q.mu.Unlock()
}

func (q *Queue) wasDeleted(e *entry) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return e.deleted
}

// removeDeleted finishes a Delete of a running entry.
func (q *Queue) removeDeleted(e *entry) {
	q.forget(e)
	q.removeDeletedID(e.id)
}

func (q *Queue) removeDeletedID(id string) {
	if err := q.spool.Remove(context.Background(), id); err != nil && !errors.Is(err, ErrNotFound) {
		q.log.Error("queue: cannot remove deleted message", "msg_id", id, "err", err)
		return
	}
	q.log.Info("deleted", "msg_id", id)
}
