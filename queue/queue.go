package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Queue. Zero fields take the defaults given.
type Options struct {
	// Workers is how many handlers run at once. Default 8.
	Workers int
	// RetryInitial is the delay after the first Retry; each further Retry
	// doubles it, up to RetryMax. Every delay is shortened by a random
	// 0–20 % (jitter). Defaults 1 minute and 1 hour.
	RetryInitial, RetryMax time.Duration
	// MaxAge is how long after Envelope.Received a message is retried.
	// The last attempt is made at that age; if it asks for a Retry the
	// message expires (OnFail with an error matching ErrExpired). A
	// message found already older (a server down for days) still gets one
	// attempt. Default 5 days.
	MaxAge time.Duration
	// AttemptTimeout bounds one Handle or OnFail call (its ctx). Default
	// 10 minutes.
	AttemptTimeout time.Duration
	// BurstHold favours accepting over delivering while messages arrive:
	// as long as one arrived (Accept or Receive) in the last burstIdle, a
	// quarter of the Workers (at least one) run while no more than Workers
	// new messages wait for their first attempt, and none once more do
	// (the senders outpace the deliveries); a message due waits up to
	// BurstHold, and one that has waited that long starts on any free
	// worker. The deliveries' CPU and syncs (which would make the
	// sessions' syncs longer) go to accepting; the queue absorbs the burst
	// and drains it with every worker once the senders stop. 0, the
	// default, runs all Workers at all times.
	BurstHold time.Duration
	// OnFail is called when a message failed permanently (Fail) or
	// expired (err matches ErrExpired), before the message is removed, so
	// that the caller can send a DSN or quarantine it. If it returns an
	// error the message stays and OnFail is called again after a backoff
	// (also after a restart); the Handler is not called again. A nil
	// OnFail logs and drops such messages.
	OnFail func(ctx context.Context, it *Item, err error) error
	// Logger gets a line per queued, delivered, deferred, failed and
	// expired message, and errors. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = time.Minute
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Hour
	}
	if o.RetryMax < o.RetryInitial {
		o.RetryMax = o.RetryInitial
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 10 * time.Minute
	}
	if o.BurstHold < 0 {
		o.BurstHold = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats are a Queue's counters. The totals count since Open.
type Stats struct {
	Queued   int   // messages in the queue, running ones included
	Running  int   // handlers (or OnFail calls) running now
	Accepted int64 // messages accepted
	Done     int64 // messages finished (Done)
	Retried  int64 // attempts that ended in Retry
	Failed   int64 // messages failed (Fail) and handed to OnFail
	Expired  int64 // messages expired and handed to OnFail
}

const (
	stateNew = iota
	stateRunning
	stateClosed
)

// Queue schedules the messages of a Spool onto a Handler: a bounded pool
// of workers, retries with exponential backoff, expiry. Its methods are safe
// for concurrent use.
type Queue struct {
	spool Spool
	h     Handler
	opt   Options
	log   *slog.Logger

	mu      sync.Mutex // guards the fields below
	entries map[string]*entry
	waiting entryHeap // the entries not running, by next try
	state   int
	stats   Stats
	cached  int // entries with an item
	fresh   int // waiting entries with first set: the backlog, for BurstHold

	wake  chan struct{} // capacity 1: the schedule changed
	freed chan struct{} // capacity 1: an attempt ended (for BurstHold)
	slots chan struct{} // capacity Workers: one token per running attempt
	stop  chan struct{} // closed by Close: dispatch no more
	ctx   context.Context
	// cancel cancels ctx, the parent of every attempt's context.
	cancel context.CancelFunc
	sched  sync.WaitGroup // the scheduler goroutine
	work   sync.WaitGroup // one per running attempt
	dead   atomic.Bool    // tests: the process "died"; change nothing more
	// arrived is when the last message arrived (Unix ns), for BurstHold.
	arrived atomic.Int64
}

// Open makes a Queue over spool and recovers: every message stored there is
// scheduled at its NextTry (messages that failed before a crash go to
// OnFail again). A message that cannot be loaded is logged and left in the
// spool. Open does not start the workers (Start does); Accept works at once.
// The caller keeps ownership of spool and closes it after Close.
func Open(spool Spool, h Handler, opt Options) (*Queue, error) {
	opt = opt.withDefaults()
	q := &Queue{
		spool:   spool,
		h:       h,
		opt:     opt,
		log:     opt.Logger,
		entries: make(map[string]*entry),
		wake:    make(chan struct{}, 1),
		freed:   make(chan struct{}, 1),
		slots:   make(chan struct{}, opt.Workers),
		stop:    make(chan struct{}),
	}
	ids, err := spool.List()
	if err != nil {
		return nil, fmt.Errorf("queue: open: %w", err)
	}
	bad := 0
	for _, id := range ids {
		it, err := spool.Load(id)
		if err != nil {
			bad++
			q.log.Error("queue: cannot load message; left in the spool", "msg_id", id, "err", err)
			continue
		}
		if it.Held {
			if err := spool.Remove(context.Background(), id); err != nil {
				q.log.Error("queue: cannot remove a message never acknowledged", "msg_id", id, "err", err)
			} else {
				q.log.Info("queue: removed a message never acknowledged", "msg_id", id)
			}
			continue
		}
		q.add(it)
	}
	q.log.Info("queue: opened", "messages", len(q.entries), "unreadable", bad)
	return q, nil
}

// maxCached caps the items kept in memory for their first attempt (see
// entry.item); past it a waiting message costs only its entry, and its
// first attempt loads it. An item with its envelope and vars is ~1.5 KB:
// at 4096, the backlog of a 4000-message burst at 20 sessions (~3000
// waiting) held ~5 MB of them, and peak RSS was 36–38 MiB against 31–32
// at 512, with the same accepted and sustained rates (bench/README,
// 2026-11-26, fifth session).
const maxCached = 512

// add puts a new entry in the schedule, keeping it (as the spool has it
// now) for the first attempt. The queue owns it from now on. q.mu must not
// be held.
func (q *Queue) add(it *Item) {
	q.mu.Lock()
	// A message Open finds deferred by an earlier attempt is not new: it
	// must not count as a backlog for BurstHold until it is tried again.
	e := &entry{id: it.ID, next: it.NextTry, index: -1, first: it.Attempts == 0}
	if e.first {
		q.fresh++
	}
	if q.cached < maxCached {
		e.item = it
		q.cached++
	}
	q.entries[it.ID] = e
	q.waiting.push(e)
	q.mu.Unlock()
	q.poke()
}

// poke wakes the scheduler.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Accept stores a message and schedules it. When it returns nil the message
// is durable — the SMTP server may reply 250 — and will be handed to the
// Handler, also after a crash. env.Rcpt must not be empty; env.ID may be
// set to an ID from NewID, else the spool assigns one; env.Received
// defaults to now; env.Size is set from r. vars (msg.vars after on_data)
// must be valid JSON or empty.
//
// When storing fails the error matches ErrSpool (451 4.3.0 for SMTP) and
// nothing is left behind; an error from reading r or from ctx is returned
// wrapped (the transfer failed). After Close it returns ErrClosed.
func (q *Queue) Accept(ctx context.Context, env Envelope, vars json.RawMessage, r io.Reader) (string, error) {
	if len(env.Rcpt) == 0 {
		return "", fmt.Errorf("%w: no recipient", ErrBadEnvelope)
	}
	if len(vars) > 0 && !json.Valid(vars) {
		return "", fmt.Errorf("%w: vars are not valid JSON", ErrBadEnvelope)
	}
	q.mu.Lock()
	closed := q.state == stateClosed
	q.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	now := time.Now()
	q.arrived.Store(now.UnixNano())
	it := &Item{Envelope: env, NextTry: now, Vars: vars}
	it.Rcpt = slices.Clone(env.Rcpt)
	if it.Received.IsZero() {
		it.Received = now
	}
	if err := q.spool.Create(ctx, it, r); err != nil {
		return "", err
	}
	q.mu.Lock()
	q.stats.Accepted++
	q.mu.Unlock()
	q.log.Debug("queued", "msg_id", it.ID, "from", it.From, "rcpts", len(it.Rcpt), "size", it.Size)
	id := it.ID
	q.add(it)
	return id, nil
}

// Start starts the scheduler and the workers. ctx is the parent of every
// attempt's context: its values reach the handlers, and canceling it
// cancels the running attempts and stops dispatching (Close must still be
// called). Start returns an error if the queue was started or closed.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch q.state {
	case stateRunning:
		return errors.New("queue: already started")
	case stateClosed:
		return ErrClosed
	}
	q.state = stateRunning
	q.ctx, q.cancel = context.WithCancel(ctx)
	q.sched.Add(1)
	go q.schedule()
	return nil
}

// Close stops the queue like http.Server.Shutdown: Accept refuses new
// messages (ErrClosed), no more attempts start, and Close waits for the
// running ones to finish. If ctx ends first, Close cancels the running
// attempts' contexts and returns ctx.Err() without waiting further; their
// outcomes are still saved if the spool is open. Messages not handled stay
// in the spool for the next Open. Close does not close the spool.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	was := q.state
	q.state = stateClosed
	q.mu.Unlock()
	if was != stateRunning {
		return nil
	}
	close(q.stop)
	q.sched.Wait()
	done := make(chan struct{})
	go func() {
		q.work.Wait()
		close(done)
	}()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel()
		return ctx.Err()
	}
}

// List returns the queued messages, oldest first, as stored (a running
// message shows the state before its attempt). Unreadable ones are skipped.
func (q *Queue) List() []Item {
	q.mu.Lock()
	ids := make([]string, 0, len(q.entries))
	for id := range q.entries {
		ids = append(ids, id)
	}
	q.mu.Unlock()
	slices.Sort(ids)
	items := make([]Item, 0, len(ids))
	for _, id := range ids {
		it, err := q.spool.Load(id)
		if err != nil {
			continue
		}
		it.spool = q.spool
		items = append(items, *it)
	}
	return items
}

// Flush makes every waiting message due now (retry all now) and returns
// how many it touched. Stored NextTry values are left as they are.
func (q *Queue) Flush() int {
	q.mu.Lock()
	now := time.Now()
	for _, e := range q.waiting {
		e.next = now
	}
	q.waiting.init()
	n := len(q.waiting)
	q.mu.Unlock()
	q.poke()
	return n
}

// Delete removes a message from the queue and the spool without calling
// OnFail. A running attempt on it has its context canceled, and the
// message is removed when the handler returns. It returns ErrNotFound if
// the message is not queued.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	q.mu.Lock()
	e := q.entries[id]
	if e == nil {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if e.running {
		e.deleted = true
		if e.cancel != nil {
			e.cancel()
		}
		q.mu.Unlock()
		return nil
	}
	q.waiting.remove(e)
	delete(q.entries, id)
	if e.first {
		q.fresh--
	}
	if e.item != nil {
		e.item = nil
		q.cached--
	}
	q.mu.Unlock()
	q.log.Info("deleted", "msg_id", id)
	return q.spool.Remove(ctx, id)
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Queued = len(q.entries)
	return s
}

// abandon makes the queue behave as if its process had been killed: no
// attempt that is running or starts later changes anything any more. For
// tests that simulate a crash; Close still stops the goroutines.
func (q *Queue) abandon() { q.dead.Store(true) }
