package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sluicemail/sluice/message"
)

// Defaults of New for the zero fields of a Spec.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxConcurrent   = 4
	DefaultMaxWait         = 5 * time.Second
	DefaultMaxOutputBytes  = 1 << 20
	DefaultMaxBytes        = 25 << 20
	DefaultBreakerCooldown = 30 * time.Second
)

// Filter runs one filter with the safety every kind shares: a size limit,
// a deadline, a concurrency limit with a bounded wait, a circuit breaker,
// validation of a rewritten message, and recovery from a panicking
// scanner. It is safe for concurrent use.
type Filter struct {
	// Name is the filter's name in the configuration ([filter.NAME]); it
	// appears in errors and log lines.
	Name string

	spec    Spec // with defaults applied
	scanner Scanner
	log     *slog.Logger
	sem     chan struct{} // one token per scan running

	mu sync.Mutex // guards the fields below
	st Stats
}

// Stats is a snapshot of a filter's counters and breaker, for status
// pages.
type Stats struct {
	Scans    uint64 // scans asked for, including refused and skipped ones
	Errors   uint64 // results with verdict Error (busy, too large, panics included)
	Timeouts uint64 // results with verdict Timeout
	Skipped  uint64 // scans not run because the breaker was open
	Refused  uint64 // rewritten messages refused (the original was kept)
	Running  int    // scans running now

	// Failures counts the Error and Timeout results in a row (0 after a
	// success).
	Failures int
	// Breaker is "closed" (scans run), "open" (scans are skipped until
	// OpenUntil) or "probing" (the cool-down is over and one scan is
	// trying the filter again).
	Breaker   string
	OpenUntil time.Time
}

// Breaker states.
const (
	breakerClosed  = "closed"
	breakerOpen    = "open"
	breakerProbing = "probing"
)

// New returns the filter name described by spec, with its defaults
// applied: Timeout 30 s, MaxConcurrent 4, MaxWait 5 s (a negative MaxWait
// fails at once when every slot is taken), MaxOutputBytes 1 MiB, MaxBytes
// 25 MiB, BreakerCooldown 30 s. BreakerFailures 0 disables the breaker.
// log receives the filter's events (breaker opened and closed, refused
// rewrites, panics); nil discards them.
func New(name string, spec Spec, log *slog.Logger) (*Filter, error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("handoff: filter %s: %w", name, err)
	}
	s, err := newScanner(spec)
	if err != nil {
		return nil, fmt.Errorf("handoff: filter %s: %s", name, strings.TrimPrefix(err.Error(), "handoff: "))
	}
	return newFilter(name, spec, s, log), nil
}

// newFilter wraps s, the scanner of spec (defaults already applied), in the
// common safety.
func newFilter(name string, spec Spec, s Scanner, log *slog.Logger) *Filter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Filter{
		Name:    name,
		spec:    spec,
		scanner: s,
		log:     log.With("filter", name),
		sem:     make(chan struct{}, spec.MaxConcurrent),
		st:      Stats{Breaker: breakerClosed},
	}
}

// withDefaults fills in the zero fields of s.
func (s Spec) withDefaults() Spec {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxConcurrent == 0 {
		s.MaxConcurrent = DefaultMaxConcurrent
	}
	if s.MaxWait == 0 {
		s.MaxWait = DefaultMaxWait
	}
	if s.MaxOutputBytes == 0 {
		s.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.BreakerCooldown == 0 {
		s.BreakerCooldown = DefaultBreakerCooldown
	}
	return s
}

// validate checks the fields every kind shares; the kinds check their own.
func (s Spec) validate() error {
	switch {
	case s.Timeout < 0:
		return fmt.Errorf("timeout %v is negative", s.Timeout)
	case s.MaxConcurrent < 0:
		return fmt.Errorf("max_concurrent %d is negative", s.MaxConcurrent)
	case s.MaxOutputBytes < 0:
		return fmt.Errorf("max_output_bytes %d is negative", s.MaxOutputBytes)
	case s.MaxBytes < 0:
		return fmt.Errorf("max_bytes %d is negative", s.MaxBytes)
	case s.BreakerFailures < 0:
		return fmt.Errorf("breaker_failures %d is negative", s.BreakerFailures)
	case s.BreakerCooldown < 0:
		return fmt.Errorf("breaker_cooldown %v is negative", s.BreakerCooldown)
	}
	return nil
}

// Scan runs the filter on msg and returns its result; it does not keep or
// modify msg. A message over MaxBytes is not handed to the filter (Error,
// ErrTooLarge). While the breaker is open the filter is skipped (Disabled,
// ErrBreakerOpen). When MaxConcurrent scans are running, Scan waits up to
// MaxWait for one to end (else Error, ErrBusy). The filter then gets
// Timeout to answer: a result that comes later counts as Timeout. A
// rewritten message that does not parse or is over MaxBytes is dropped
// (Modified nil) with a note in Log. A panicking scanner gives Error.
// Duration is the whole time Scan took.
func (f *Filter) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	r := f.scan(ctx, msg)
	r.Duration = time.Since(start)
	f.count(r)
	return r
}

// outcome is what a scan means for the breaker.
type outcome int

const (
	neutral outcome = iota // says nothing about the filter's health
	success
	failure
)

func (f *Filter) scan(ctx context.Context, msg []byte) Result {
	if int64(len(msg)) > f.spec.MaxBytes {
		return f.fail(fmt.Errorf("%w (%d bytes, limit %d)", ErrTooLarge, len(msg), f.spec.MaxBytes))
	}
	probe, err := f.admit()
	if err != nil {
		return Result{Verdict: Disabled, Err: f.wrap(err)}
	}
	r, o := f.acquireAndRun(ctx, msg)
	f.settle(probe, o)
	return r
}

// acquireAndRun waits for a slot, then runs the scanner.
func (f *Filter) acquireAndRun(ctx context.Context, msg []byte) (Result, outcome) {
	if err := f.acquire(ctx); err != nil {
		if ctx.Err() != nil {
			return f.interrupted(ctx, err), neutral
		}
		return f.fail(err), neutral
	}
	defer func() { <-f.sem }()

	sctx, cancel := context.WithTimeout(ctx, f.spec.Timeout)
	defer cancel()
	r := f.call(sctx, msg)
	switch {
	case ctx.Err() != nil:
		// The caller gave up (its own deadline or a cancel): not the
		// filter's fault.
		res := f.interrupted(ctx, r.Err)
		res.Log = r.Log
		return res, neutral
	case sctx.Err() != nil:
		r = Result{Verdict: Timeout, Log: r.Log,
			Err: f.wrap(fmt.Errorf("no answer within %v: %w", f.spec.Timeout, context.DeadlineExceeded))}
		return r, failure
	}
	return f.check(r, msg)
}

// acquire takes a slot, waiting at most MaxWait.
func (f *Filter) acquire(ctx context.Context) error {
	select {
	case f.sem <- struct{}{}:
		return nil
	default:
	}
	if f.spec.MaxWait < 0 {
		return fmt.Errorf("%w (%d running)", ErrBusy, f.spec.MaxConcurrent)
	}
	t := time.NewTimer(f.spec.MaxWait)
	defer t.Stop()
	select {
	case f.sem <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w (%d running, waited %v)", ErrBusy, f.spec.MaxConcurrent, f.spec.MaxWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call runs the scanner, turning a panic into an Error result.
func (f *Filter) call(ctx context.Context, msg []byte) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("handoff: filter panicked", "panic", p, "stack", string(debug.Stack()))
			r = Result{Verdict: Error, Err: fmt.Errorf("filter panicked: %v", p)}
		}
	}()
	return f.scanner.Scan(ctx, msg)
}

// check vets the result of a scan that ended in time.
func (f *Filter) check(r Result, msg []byte) (Result, outcome) {
	switch r.Verdict {
	case Clean, Infected, Spam, Ham:
	case Error, Timeout:
		if r.Err == nil {
			r.Err = fmt.Errorf("filter failed (%s)", r.Verdict)
		}
		r.Err, r.Modified = f.wrap(r.Err), nil
		return r, failure
	case Disabled:
		if r.Err != nil {
			r.Err = f.wrap(r.Err)
		}
		r.Modified = nil
		return r, neutral
	default:
		r = Result{Verdict: Error, Log: r.Log, Err: f.wrap(fmt.Errorf("filter returned verdict %q", r.Verdict))}
		return r, failure
	}
	if r.Modified != nil {
		if err := f.checkRewrite(r.Modified, msg); err != nil {
			r.Modified = nil
			r.Log = append(r.Log, "rewritten message refused: "+err.Error()+"; the original is kept")
			f.log.Warn("handoff: rewritten message refused, original kept", "reason", err)
			f.mu.Lock()
			f.st.Refused++
			f.mu.Unlock()
		} else if bytes.Equal(r.Modified, msg) {
			r.Modified = nil // unchanged
		}
	}
	return r, success
}

// checkRewrite says why b cannot replace the message, or nil when it can:
// it must fit MaxBytes and parse, with at least one header field.
func (f *Filter) checkRewrite(b, msg []byte) error {
	if int64(len(b)) > f.spec.MaxBytes {
		return fmt.Errorf("%d bytes, over max_bytes %d", len(b), f.spec.MaxBytes)
	}
	if len(b) == 0 {
		return errors.New("empty")
	}
	m := message.New(b, message.Options{})
	if len(m.HeaderFields()) == 0 {
		return errors.New("no header field: not a message")
	}
	if _, err := m.Parts(); err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	return nil
}

// interrupted is the result of a scan whose caller's ctx ended: Timeout for
// a deadline, Error for a cancel.
func (f *Filter) interrupted(ctx context.Context, err error) Result {
	cerr := ctx.Err()
	v := Error
	if errors.Is(cerr, context.DeadlineExceeded) {
		v = Timeout
	}
	if err == nil || !errors.Is(err, cerr) {
		err = cerr
	}
	return Result{Verdict: v, Err: f.wrap(err)}
}

// fail is an Error result for err.
func (f *Filter) fail(err error) Result {
	return Result{Verdict: Error, Err: f.wrap(err)}
}

// wrap prefixes err with the filter's name, keeping it for errors.Is.
func (f *Filter) wrap(err error) error {
	var fe *filterError
	if errors.As(err, &fe) && fe.name == f.Name {
		return err
	}
	return &filterError{name: f.Name, err: err}
}

// filterError is an error of the filter name: "handoff: NAME: ...".
type filterError struct {
	name string
	err  error
}

func (e *filterError) Error() string {
	return "handoff: " + e.name + ": " + strings.TrimPrefix(e.err.Error(), "handoff: ")
}

func (e *filterError) Unwrap() error { return e.err }

// admit says whether a scan may run now (nil) or is skipped (an error
// wrapping ErrBreakerOpen): it runs while the breaker is closed; while it
// is open, only once the cool-down is over, and then one scan at a time
// (the probe) until one ends.
func (f *Filter) admit() (probe bool, err error) {
	if f.spec.BreakerFailures <= 0 {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.st.Breaker {
	case breakerOpen:
		if until := f.st.OpenUntil; time.Now().Before(until) {
			return false, fmt.Errorf("%w (%d in a row); next try after %s",
				ErrBreakerOpen, f.st.Failures, until.Format(time.RFC3339))
		}
		f.st.Breaker = breakerProbing
		return true, nil
	case breakerProbing:
		return false, fmt.Errorf("%w (%d in a row); another scan is trying it again",
			ErrBreakerOpen, f.st.Failures)
	}
	return false, nil
}

// settle moves the breaker after a scan it admitted.
func (f *Filter) settle(probe bool, o outcome) {
	if f.spec.BreakerFailures <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch o {
	case success:
		f.st.Failures = 0
		if f.st.Breaker != breakerClosed {
			f.st.Breaker, f.st.OpenUntil = breakerClosed, time.Time{}
			f.log.Info("handoff: filter answers again, breaker closed")
		}
	case failure:
		f.st.Failures++
		switch {
		case probe:
			f.st.Breaker, f.st.OpenUntil = breakerOpen, time.Now().Add(f.spec.BreakerCooldown)
			f.log.Debug("handoff: filter still failing, breaker stays open", "until", f.st.OpenUntil)
		case f.st.Breaker == breakerClosed && f.st.Failures >= f.spec.BreakerFailures:
			f.st.Breaker, f.st.OpenUntil = breakerOpen, time.Now().Add(f.spec.BreakerCooldown)
			f.log.Warn("handoff: filter failing, breaker open: scans skipped",
				"failures", f.st.Failures, "cooldown", f.spec.BreakerCooldown)
		}
	default:
		if probe {
			// The probe did not try the filter (busy, cancelled): let the
			// next scan probe.
			f.st.Breaker = breakerOpen
		}
	}
}

// count updates the counters after a scan.
func (f *Filter) count(r Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Scans++
	switch {
	case r.Verdict == Error:
		f.st.Errors++
	case r.Verdict == Timeout:
		f.st.Timeouts++
	case errors.Is(r.Err, ErrBreakerOpen):
		f.st.Skipped++
	}
}

// Stats returns a snapshot of the filter's counters and breaker state.
func (f *Filter) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Running = len(f.sem)
	return st
}

// Close releases what the filter's kind holds between scans (the folder
// kind's watcher). Scans after Close fail.
func (f *Filter) Close() error {
	if c, ok := f.scanner.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
