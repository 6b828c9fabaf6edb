package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/stdlib"
)

// Pipeline runs on_data then on_queue of every stage on m, as `sluice run`
// does. on_queue runs unless on_data ended with something other than accept.
func (e *Engine) Pipeline(ctx context.Context, m *stdlib.Msg) *Result {
	r := &Result{}
	v := e.Run(ctx, "on_data", m, r)
	if !v.Final() || v.Kind == Accept {
		r.Verdict = Continue
		e.Run(ctx, "on_queue", m, r)
	}
	r.finish(m)
	return r
}

// Run calls hook (on_data or on_queue) of every stage in order on m until
// one returns a final verdict, which it returns (Continue when none did).
// Each call is traced in r; errors apply the stage's on_error policy.
func (e *Engine) Run(ctx context.Context, hook string, m *stdlib.Msg, r *Result) Verdict {
	return e.run(ctx, hook, func() hookArgs { return &msgArgs{m: m} }, r)
}

// Session is what the SMTP-time hooks get: on_connect(conn), on_helo(conn),
// on_mail(tx), on_rcpt(tx, rcpt).
type Session struct {
	Conn *stdlib.Conn
	Tx   *stdlib.Tx
	// Rcpt is the recipient on_rcpt decides on.
	Rcpt string
}

// RunSession calls an SMTP-time hook (on_connect, on_helo, on_mail,
// on_rcpt) of every stage in order, as Run does.
func (e *Engine) RunSession(ctx context.Context, hook string, s Session, r *Result) Verdict {
	return e.run(ctx, hook, func() hookArgs { return &sessionArgs{s: s, hook: hook} }, r)
}

func (e *Engine) run(ctx context.Context, hook string, newArgs func() hookArgs, r *Result) Verdict {
	for _, st := range e.stages {
		if !st.hooks[hook] {
			continue
		}
		start := time.Now()
		args := newArgs()
		v, err := e.call(ctx, st, hook, args)
		if fv := filterPolicy(args.msg(), v); err == nil {
			v = fv
		}
		run := StageRun{Name: st.Name, Hook: hook, Ms: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			run.Error = err.Error()
			run.Policy = st.OnError
			v = e.policy(st, err)
			e.log.Error("stage failed", "stage", st.Name, "hook", hook, "msg_id", args.id(),
				"error", run.Error, "policy", st.OnError)
		}
		run.Verdict = v.Kind
		if run.Verdict == Continue {
			run.Verdict = "continue"
		}
		r.Stages = append(r.Stages, run)
		if v.Final() {
			r.decide(v)
			return v
		}
	}
	return Verdict{}
}

// policy turns a failed call into the stage's on_error verdict. The client
// sees only this text, never the script error.
func (e *Engine) policy(st *stage, err error) Verdict {
	switch st.OnError {
	case OnErrorAccept:
		return Verdict{}
	case OnErrorReject:
		return Verdict{Kind: Reject, Code: 554, Enhanced: "5.7.0", Text: "message refused by policy"}
	case OnErrorQuarantine:
		return Verdict{Kind: Quarantine, Code: 250, Enhanced: "2.0.0", Text: "stage " + st.Name + " failed: " + sanitizeText(err.Error())}
	default:
		return Verdict{Kind: Tempfail, Code: 451, Enhanced: "4.3.0", Text: "temporary local problem, try again later"}
	}
}

// filterPolicy applies the on_error policy of a filter that failed during
// the call, unless the hook refused the message itself: a script that
// ignores a failed scan cannot let the message through unchecked.
func filterPolicy(m *stdlib.Msg, v Verdict) Verdict {
	if m == nil {
		return v
	}
	f := m.TakeFilterFailure()
	if f == nil || (v.Final() && v.Kind != Accept) {
		return v
	}
	switch f.Policy {
	case OnErrorAccept:
		return v
	case OnErrorReject:
		return Verdict{Kind: Reject, Code: 554, Enhanced: "5.7.0", Text: "message could not be checked"}
	case OnErrorQuarantine:
		return Verdict{Kind: Quarantine, Code: 250, Enhanced: "2.0.0", Text: sanitizeText(f.String())}
	default:
		return Verdict{Kind: Tempfail, Code: 451, Enhanced: "4.7.1", Text: "message could not be checked now, try again later"}
	}
}

// ErrTimeout is matched by the error of a hook call that overran its deadline.
var ErrTimeout = errors.New("deadline exceeded")

// callResult carries a hook call's outcome back to the waiting caller.
type callResult struct {
	v   Verdict
	err error
}

// call runs one hook of one stage with the stage's deadline. The Lua work
// happens on the state's own goroutine; the caller waits at most the
// deadline plus the grace period.
func (e *Engine) call(parent context.Context, st *stage, hook string, args hookArgs) (Verdict, error) {
	// One context for the deadline and the memory guard: the guard marks
	// the call before it cancels it, so that the error can say which.
	ctx, cancel := context.WithTimeout(parent, st.Timeout)
	defer cancel()
	over := new(atomic.Bool)
	if e.guard != nil {
		defer e.guard.watch(over, cancel)()
	}
	s, err := e.pool.get(ctx)
	if err != nil {
		return Verdict{}, fmt.Errorf("waiting for a Lua state: %w", timeoutErr(err, st, over))
	}
	s.fate.Store(fateRunning)
	s.jobs <- job{ctx: ctx, st: st, hook: hook, args: args, over: over}
	select {
	case res := <-s.results:
		e.release(s)
		return res.v, res.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(e.opt.Grace)
	defer grace.Stop()
	select {
	case res := <-s.results:
		e.release(s)
		return res.v, res.err
	case <-grace.C:
		if !s.fate.CompareAndSwap(fateRunning, fateAbandoned) {
			res := <-s.results // finished just now
			e.release(s)
			return res.v, res.err
		}
		// The state's goroutine closes the state when it returns; the
		// slot is free for a new one now.
		e.pool.forget()
		if m := args.msg(); m != nil {
			m.Barrier() // a binding may still be working on the message
		}
		e.log.Error("hook call did not stop at its deadline; abandoned", "stage", st.Name, "hook", hook, "msg_id", args.id())
		err := timeoutErr(errors.New(st.Script), st, over)
		return Verdict{}, fmt.Errorf("%w; the call did not stop and was abandoned", err)
	}
}

// The fate of a call: running, finished (its caller puts the state back),
// or abandoned by its caller (the caller freed the pool slot; the state's
// goroutine closes the state when the call finally returns).
const (
	fateRunning int32 = iota
	fateFinished
	fateAbandoned
)

// job is one hook call handed to a state's goroutine.
type job struct {
	ctx  context.Context
	st   *stage
	hook string
	args hookArgs
	over *atomic.Bool // set by the memory guard before it cancels ctx
}

// work is the goroutine of state s: it runs the jobs sent to it until the
// state is closed or a call is abandoned. A long-lived goroutine keeps the
// stack gopher-lua needs, instead of growing a new one for every call.
func (e *Engine) work(s *state) {
	for j := range s.jobs {
		res := e.callOn(s, j)
		if !s.fate.CompareAndSwap(fateRunning, fateFinished) && s.fate.Load() == fateAbandoned {
			s.L.Close()
			return
		}
		s.results <- res
	}
	s.L.Close()
}

// callOn does the work of call on the state's goroutine.
func (e *Engine) callOn(s *state, j job) (res callResult) {
	ctx, st, hook, args := j.ctx, j.st, j.hook, j.args
	defer func() {
		if p := recover(); p != nil { // a panic outside PCall's reach
			s.broken = true
			res = callResult{err: fmt.Errorf("%s: internal error: %v", st.Script, p)}
		}
	}()
	s.call.Ctx, s.call.Stage, s.call.Hook, s.call.Msg = ctx, st.Name, hook, args.msg()
	s.loaded = nil
	s.L.SetContext(ctx)

	v, err := s.invoke(st, hook, args.push(s))
	if s.fate.Load() == fateAbandoned {
		// The caller has moved on and owns the message again.
		s.broken = true
		return callResult{err: err}
	}
	if rerr := args.finish(s); err == nil && rerr != nil {
		err = fmt.Errorf("%s: %w", st.Script, rerr)
	}
	if err != nil {
		if ctx.Err() != nil {
			s.broken = true
			return callResult{err: timeoutErr(err, st, j.over)}
		}
		var se *scriptErr
		if errors.As(err, &se) && se.panic {
			s.broken = true
		}
		return callResult{err: err}
	}
	return callResult{v: v}
}

// invoke loads the stage chunk in a fresh environment and calls hook(args...).
func (s *state) invoke(st *stage, hook string, args []lua.LValue) (Verdict, error) {
	env, err := s.load(st.proto, s.stageEnv(st))
	if err != nil {
		delete(s.envs, st)
		return Verdict{}, located(st, err)
	}
	fn, ok := env.RawGetString(hook).(*lua.LFunction)
	if !ok {
		return Verdict{}, nil
	}
	L := s.L
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	if err := L.PCall(len(args), 1, nil); err != nil {
		delete(s.envs, st)
		return Verdict{}, located(st, err)
	}
	s.keepEnv(st, env, st.defined)
	ret := L.Get(-1)
	L.Pop(1)
	v, err := toVerdict(ret)
	if err != nil {
		return Verdict{}, fmt.Errorf("%s: %s %w", st.Script, hook, err)
	}
	return v, nil
}

// scriptErr is the one-line error of a failed Lua call.
type scriptErr struct {
	msg string
	// panic is set when a Go function panicked: the state is suspect.
	panic bool
}

func (e *scriptErr) Error() string { return e.msg }

// located returns the one-line script error of err, starting with the
// script's path when gopher-lua gave no position.
func located(st *stage, err error) error {
	msg := scriptError(err)
	if scriptLocation(msg) == "" {
		msg = st.Script + ": " + msg
	}
	var ae *lua.ApiError
	return &scriptErr{msg: msg, panic: errors.As(err, &ae) && ae.Type == lua.ApiErrorPanic}
}

// release puts a state back in the pool, or discards it when it overran,
// panicked or left marks on the shared tables. Only the caller of a
// finished call releases the state.
func (e *Engine) release(s *state) {
	s.L.RemoveContext()
	s.call.Ctx, s.call.Msg, s.call.Stage, s.call.Hook = nil, nil, "", ""
	s.loaded = nil
	s.L.SetTop(0)
	if s.broken || !s.clean() {
		e.pool.discard(s)
		return
	}
	e.pool.put(s)
}

// timeoutErr rewrites the error of a call whose context ended: its
// deadline passed, or the memory guard stopped it (over is set).
func timeoutErr(err error, st *stage, over *atomic.Bool) error {
	loc := scriptLocation(err.Error())
	if loc == "" {
		loc = st.Script
	}
	if over != nil && over.Load() {
		return fmt.Errorf("%s: %w (stage %s)", loc, ErrMemory, st.Name)
	}
	return fmt.Errorf("%s: %w (stage %s, timeout %v)", loc, ErrTimeout, st.Name, st.Timeout)
}
