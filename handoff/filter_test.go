package handoff

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var filterMsg = []byte("From: a@example.org\r\nTo: b@example.com\r\nSubject: hello\r\n\r\nHello.\r\n")

// filterLogger sends a filter's log to the test's output.
func filterLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// filterRecorder keeps the messages logged, and shows them in the test
// output too.
type filterRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *filterRecorder) logger(t *testing.T) *slog.Logger {
	h := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(&filterRecordHandler{Handler: h, r: r})
}

func (r *filterRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

type filterRecordHandler struct {
	slog.Handler
	r *filterRecorder
}

func (h *filterRecordHandler) Handle(ctx context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.msgs = append(h.r.msgs, rec.Message)
	h.r.mu.Unlock()
	return h.Handler.Handle(ctx, rec)
}

func (h *filterRecordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &filterRecordHandler{Handler: h.Handler.WithAttrs(as), r: h.r}
}

func (h *filterRecordHandler) WithGroup(name string) slog.Handler {
	return &filterRecordHandler{Handler: h.Handler.WithGroup(name), r: h.r}
}

// filterFake wraps s in a Filter with spec's defaults.
func filterFake(t *testing.T, spec Spec, s Scanner) *Filter {
	t.Helper()
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	return newFilter("fake", spec, s, filterLogger(t))
}

func filterAnswer(r Result) Scanner {
	return ScannerFunc(func(ctx context.Context, msg []byte) Result { return r })
}

func TestFilterDefaults(t *testing.T) {
	f, err := New("av", Spec{Kind: "exec", Command: []string{"true"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := f.spec
	want := Spec{Kind: "exec", Command: []string{"true"}, Timeout: 30 * time.Second, MaxConcurrent: 4,
		MaxWait: 5 * time.Second, MaxOutputBytes: 1 << 20, MaxBytes: 25 << 20, BreakerCooldown: 30 * time.Second}
	if got.Timeout != want.Timeout || got.MaxConcurrent != want.MaxConcurrent || got.MaxWait != want.MaxWait ||
		got.MaxOutputBytes != want.MaxOutputBytes || got.MaxBytes != want.MaxBytes ||
		got.BreakerCooldown != want.BreakerCooldown || got.BreakerFailures != 0 {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	if f.Name != "av" || cap(f.sem) != 4 {
		t.Errorf("got name %q, %d slots; want av, 4", f.Name, cap(f.sem))
	}
	if st := f.Stats(); st.Breaker != "closed" || st.Scans != 0 {
		t.Errorf("fresh stats: %+v", st)
	}
}

func TestFilterNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"kind", Spec{Kind: "magic"}, "unknown filter kind magic"},
		{"timeout", Spec{Kind: "exec", Command: []string{"true"}, Timeout: -1}, "timeout -1ns is negative"},
		{"breaker", Spec{Kind: "exec", Command: []string{"true"}, BreakerFailures: -2}, "breaker_failures -2"},
		{"no command", Spec{Kind: "exec"}, "command is required"},
		{"input", Spec{Kind: "exec", Command: []string{"true"}, Input: "pipe"}, `input "pipe"`},
		{"output", Spec{Kind: "exec", Command: []string{"true"}, Output: "json"}, `output "json"`},
		{"status", Spec{Kind: "exec", Command: []string{"true"}, Verdicts: map[string]string{"256": "clean"}}, `"256" is not an exit status`},
		{"status form", Spec{Kind: "exec", Command: []string{"true"}, Verdicts: map[string]string{"01": "clean"}}, `"01" is not an exit status`},
		{"verdict", Spec{Kind: "exec", Command: []string{"true"}, Verdicts: map[string]string{"0": "fine"}}, `0 = "fine"`},
		{"regex", Spec{Kind: "exec", Command: []string{"true"}, NameRegex: "("}, "name_regex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("f", tc.spec, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "handoff: filter f: ") {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFilterTooLarge(t *testing.T) {
	var calls atomic.Int32
	f := filterFake(t, Spec{MaxBytes: 10}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
		calls.Add(1)
		return Result{Verdict: Clean}
	}))
	r := f.Scan(t.Context(), []byte("12345678901"))
	if r.Verdict != Error || !errors.Is(r.Err, ErrTooLarge) {
		t.Errorf("11 bytes over 10: got %s, %v; want error, ErrTooLarge", r.Verdict, r.Err)
	}
	if r := f.Scan(t.Context(), []byte("1234567890")); r.Verdict != Clean {
		t.Errorf("10 bytes: got %s, %v; want clean", r.Verdict, r.Err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("scanner called %d times, want 1 (not for the large message)", n)
	}
}

func TestFilterBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started, release := make(chan struct{}), make(chan struct{})
		slow := ScannerFunc(func(ctx context.Context, msg []byte) Result {
			started <- struct{}{}
			<-release
			return Result{Verdict: Clean}
		})
		f := filterFake(t, Spec{MaxConcurrent: 1, MaxWait: 100 * time.Millisecond}, slow)
		first := make(chan Result)
		go func() { first <- f.Scan(context.Background(), filterMsg) }()
		<-started

		t0 := time.Now()
		r := f.Scan(t.Context(), filterMsg)
		if r.Verdict != Error || !errors.Is(r.Err, ErrBusy) {
			t.Errorf("second scan: got %s, %v; want error, ErrBusy", r.Verdict, r.Err)
		}
		if waited := time.Since(t0); waited != 100*time.Millisecond {
			t.Errorf("waited %v for a slot, want MaxWait 100ms", waited)
		}
		if st := f.Stats(); st.Running != 1 || st.Errors != 1 {
			t.Errorf("stats while one runs: %+v", st)
		}

		// A slot freed during the wait is taken.
		go func() {
			time.Sleep(50 * time.Millisecond)
			release <- struct{}{}
		}()
		go func() { <-started; release <- struct{}{} }()
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Clean {
			t.Errorf("scan after a slot freed: got %s, %v; want clean", r.Verdict, r.Err)
		}
		if r := <-first; r.Verdict != Clean {
			t.Errorf("first scan: got %s, %v", r.Verdict, r.Err)
		}
		if st := f.Stats(); st.Running != 0 || st.Scans != 3 {
			t.Errorf("stats at the end: %+v", st)
		}
	})
}

func TestFilterBusyNoWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := filterFake(t, Spec{MaxConcurrent: 1, MaxWait: -1}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
			<-release
			return Result{Verdict: Clean}
		}))
		go f.Scan(context.Background(), filterMsg)
		synctest.Wait()
		t0 := time.Now()
		if r := f.Scan(t.Context(), filterMsg); !errors.Is(r.Err, ErrBusy) || time.Since(t0) != 0 {
			t.Errorf("got %s, %v after %v; want ErrBusy at once", r.Verdict, r.Err, time.Since(t0))
		}
		close(release)
	})
}

func TestFilterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A scanner that ignores ctx and answers late: its filterAnswer does
		// not count.
		late := ScannerFunc(func(ctx context.Context, msg []byte) Result {
			time.Sleep(2 * time.Second)
			return Result{Verdict: Clean, Modified: filterMsg}
		})
		f := filterFake(t, Spec{Timeout: time.Second}, late)
		r := f.Scan(t.Context(), filterMsg)
		if r.Verdict != Timeout || !errors.Is(r.Err, context.DeadlineExceeded) || r.Modified != nil {
			t.Errorf("got %s, %v, modified %v; want timeout, DeadlineExceeded, nil", r.Verdict, r.Err, r.Modified != nil)
		}
		if r.Duration != 2*time.Second {
			t.Errorf("Duration %v, want 2s", r.Duration)
		}
		// The scanner sees the deadline.
		var dl time.Duration
		f = filterFake(t, Spec{Timeout: 3 * time.Second}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
			d, _ := ctx.Deadline()
			dl = time.Until(d)
			<-ctx.Done()
			return Result{Verdict: Timeout, Err: ctx.Err()}
		}))
		r = f.Scan(t.Context(), filterMsg)
		if dl != 3*time.Second || r.Verdict != Timeout || r.Duration != 3*time.Second {
			t.Errorf("scanner saw a deadline in %v, got %s after %v; want 3s, timeout after 3s", dl, r.Verdict, r.Duration)
		}
		if st := f.Stats(); st.Timeouts != 1 {
			t.Errorf("stats: %+v, want 1 timeout", st)
		}
	})
}

func TestFilterCallerCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := filterFake(t, Spec{BreakerFailures: 1}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
		cancel()
		<-ctx.Done()
		return Result{Verdict: Error, Err: ctx.Err()}
	}))
	r := f.Scan(ctx, filterMsg)
	if r.Verdict != Error || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("got %s, %v; want error, Canceled", r.Verdict, r.Err)
	}
	// Not the filter's fault: the breaker stays closed.
	if st := f.Stats(); st.Breaker != "closed" || st.Failures != 0 {
		t.Errorf("breaker after a cancelled scan: %+v", st)
	}
}

func TestFilterBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		var healthy atomic.Bool
		s := ScannerFunc(func(ctx context.Context, msg []byte) Result {
			calls.Add(1)
			if healthy.Load() {
				return Result{Verdict: Clean}
			}
			return Result{Verdict: Error, Err: errors.New("clamd: connection refused")}
		})
		var rec filterRecorder
		spec := Spec{BreakerFailures: 3, BreakerCooldown: time.Minute}.withDefaults()
		f := newFilter("av", spec, s, rec.logger(t))

		for i := range 3 {
			if r := f.Scan(t.Context(), filterMsg); r.Verdict != Error {
				t.Fatalf("scan %d: got %s, want error", i+1, r.Verdict)
			}
		}
		r := f.Scan(t.Context(), filterMsg)
		if r.Verdict != Disabled || !errors.Is(r.Err, ErrBreakerOpen) {
			t.Errorf("4th scan: got %s, %v; want disabled, ErrBreakerOpen", r.Verdict, r.Err)
		}
		if !strings.HasPrefix(r.Err.Error(), "handoff: av: filter skipped") {
			t.Errorf("error text %q", r.Err)
		}
		if n := calls.Load(); n != 3 {
			t.Errorf("scanner called %d times, want 3", n)
		}
		st := f.Stats()
		if st.Breaker != "open" || st.Failures != 3 || st.Skipped != 1 || st.Errors != 3 {
			t.Errorf("stats with the breaker open: %+v", st)
		}

		// After the cool-down one scan tries again; it fails: open again.
		time.Sleep(time.Minute)
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Error {
			t.Errorf("probe: got %s, want error", r.Verdict)
		}
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Disabled {
			t.Errorf("after a failed probe: got %s, want disabled", r.Verdict)
		}
		if n := calls.Load(); n != 4 {
			t.Errorf("scanner called %d times, want 4", n)
		}

		// The filter recovers: the next probe closes the breaker.
		healthy.Store(true)
		time.Sleep(time.Minute)
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Clean {
			t.Errorf("probe: got %s, %v; want clean", r.Verdict, r.Err)
		}
		if st := f.Stats(); st.Breaker != "closed" || st.Failures != 0 {
			t.Errorf("after a good probe: %+v", st)
		}
		if n := rec.count("breaker open"); n != 1 {
			t.Errorf("logged the opening %d times, want 1", n)
		}
		if n := rec.count("breaker closed"); n != 1 {
			t.Errorf("logged the closing %d times, want 1", n)
		}

		// A success in between resets the count.
		healthy.Store(false)
		f.Scan(t.Context(), filterMsg)
		f.Scan(t.Context(), filterMsg)
		healthy.Store(true)
		f.Scan(t.Context(), filterMsg)
		healthy.Store(false)
		f.Scan(t.Context(), filterMsg)
		if st := f.Stats(); st.Breaker != "closed" || st.Failures != 1 {
			t.Errorf("after fail, fail, ok, fail: %+v; want closed with 1 failure", st)
		}
	})
}

func TestFilterBreakerOneProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var fail atomic.Bool
		fail.Store(true)
		f := filterFake(t, Spec{BreakerFailures: 1, BreakerCooldown: time.Second},
			ScannerFunc(func(ctx context.Context, msg []byte) Result {
				if fail.Load() {
					return Result{Verdict: Timeout, Err: context.DeadlineExceeded}
				}
				<-release
				return Result{Verdict: Clean}
			}))
		f.Scan(t.Context(), filterMsg)
		fail.Store(false)
		time.Sleep(time.Second)
		done := make(chan Result)
		go func() { done <- f.Scan(context.Background(), filterMsg) }()
		synctest.Wait()
		// While the probe runs, other scans are still skipped.
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Disabled || !errors.Is(r.Err, ErrBreakerOpen) {
			t.Errorf("during the probe: got %s, %v; want disabled", r.Verdict, r.Err)
		}
		if st := f.Stats(); st.Breaker != "probing" {
			t.Errorf("breaker %q, want probing", st.Breaker)
		}
		close(release)
		if r := <-done; r.Verdict != Clean {
			t.Errorf("probe: got %s", r.Verdict)
		}
		if r := f.Scan(t.Context(), filterMsg); r.Verdict != Clean {
			t.Errorf("after the probe: got %s, want clean", r.Verdict)
		}
	})
}

func TestFilterModified(t *testing.T) {
	good := []byte("From: a@example.org\r\nSubject: hello\r\nX-Scanned: yes\r\n\r\nHello.\r\n")
	big := append(bytes.Repeat([]byte("X-Pad: 0123456789\r\n"), 10), "\r\nbody\r\n"...)
	for _, tc := range []struct {
		name     string
		modified []byte
		want     []byte // nil: refused or unchanged
		refused  string // substring of the Log line, "" when accepted
	}{
		{"good rewrite", good, good, ""},
		{"unchanged", bytes.Clone(filterMsg), nil, ""},
		{"garbage", []byte("\x00\x00garbage"), nil, "no header field"},
		{"text only", []byte("this is not a message\r\n"), nil, "no header field"},
		{"empty body only", []byte("\r\n\r\nbody"), nil, "no header field"},
		{"blank", []byte(" \r\n"), nil, "no header field"},
		{"empty", []byte{}, nil, "empty"},
		{"too large", big, nil, "over max_bytes 150"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec filterRecorder
			spec := Spec{MaxBytes: 150}.withDefaults()
			f := newFilter("rw", spec, filterAnswer(Result{Verdict: Ham, Modified: tc.modified}), rec.logger(t))
			r := f.Scan(t.Context(), filterMsg)
			if r.Verdict != Ham || r.Err != nil {
				t.Errorf("got %s, %v; want ham (a refused rewrite keeps the verdict)", r.Verdict, r.Err)
			}
			if !bytes.Equal(r.Modified, tc.want) || (tc.want == nil) != (r.Modified == nil) {
				t.Errorf("Modified: got %q, want %q", r.Modified, tc.want)
			}
			refusedLog := strings.Join(r.Log, "\n")
			if tc.refused == "" {
				if len(r.Log) > 0 || f.Stats().Refused != 0 {
					t.Errorf("accepted rewrite: log %q, stats %+v", r.Log, f.Stats())
				}
				return
			}
			if !strings.Contains(refusedLog, "rewritten message refused: ") || !strings.Contains(refusedLog, tc.refused) {
				t.Errorf("Log %q: want a refusal with %q", r.Log, tc.refused)
			}
			if rec.count("rewritten message refused") != 1 || f.Stats().Refused != 1 {
				t.Errorf("refusal logged %d times, stats %+v; want 1", rec.count("rewritten message refused"), f.Stats())
			}
		})
	}
	// A failed scan's output is never taken.
	f := filterFake(t, Spec{}, filterAnswer(Result{Verdict: Error, Err: errors.New("boom"), Modified: good}))
	if r := f.Scan(t.Context(), filterMsg); r.Modified != nil {
		t.Errorf("error result kept Modified")
	}
}

func TestFilterPanic(t *testing.T) {
	var n atomic.Int32
	f := filterFake(t, Spec{MaxConcurrent: 1, BreakerFailures: 5}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
		if n.Add(1) == 1 {
			var m map[string]int
			//lint:ignore SA5000 the filter must panic
			m["boom"]++ // assignment to entry in nil map
		}
		return Result{Verdict: Clean}
	}))
	r := f.Scan(t.Context(), filterMsg)
	if r.Verdict != Error || r.Err == nil || !strings.Contains(r.Err.Error(), "handoff: fake: filter panicked: assignment to entry in nil map") {
		t.Errorf("got %s, %v; want error, filter panicked", r.Verdict, r.Err)
	}
	// The slot was given back and the filter keeps working.
	if r := f.Scan(t.Context(), filterMsg); r.Verdict != Clean {
		t.Errorf("after the panic: got %s, %v", r.Verdict, r.Err)
	}
	if st := f.Stats(); st.Running != 0 || st.Errors != 1 || st.Failures != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestFilterBadVerdict(t *testing.T) {
	for _, tc := range []struct {
		in   Result
		want Verdict
		err  string
	}{
		{Result{}, Error, `filter returned verdict ""`},
		{Result{Verdict: "maybe"}, Error, `filter returned verdict "maybe"`},
		{Result{Verdict: Error}, Error, "handoff: fake: filter failed (error)"},
		{Result{Verdict: Disabled, Err: ErrNotActive}, Disabled, "handoff: fake: folder filter not active"},
		{Result{Verdict: Infected, Name: "Eicar"}, Infected, ""},
	} {
		r := filterFake(t, Spec{}, filterAnswer(tc.in)).Scan(t.Context(), filterMsg)
		errText := ""
		if r.Err != nil {
			errText = r.Err.Error()
		}
		if r.Verdict != tc.want || !strings.Contains(errText, tc.err) || (tc.err == "") != (r.Err == nil) {
			t.Errorf("%+v: got %s, %q; want %s, %q", tc.in, r.Verdict, errText, tc.want, tc.err)
		}
	}
}

func TestFilterConcurrentStats(t *testing.T) {
	f := filterFake(t, Spec{MaxConcurrent: 3, BreakerFailures: 1000}, ScannerFunc(func(ctx context.Context, msg []byte) Result {
		if len(msg)%2 == 0 {
			return Result{Verdict: Error, Err: errors.New("odd")}
		}
		return Result{Verdict: Clean}
	}))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { f.Scan(t.Context(), filterMsg[:30+i%2]) })
	}
	wg.Wait()
	if st := f.Stats(); st.Scans != 40 || st.Errors+st.Timeouts > 20 || st.Running != 0 {
		t.Errorf("stats: %+v", st)
	}
}
