package engine

// The t object a test function gets: t.run, t.filter, t.query, and the
// assertions of testassert.go. Every function may also be called with a
// colon (t:eq(…)).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/stdlib"
)

// testCtx is the state of one running test.
type testCtx struct {
	tf   *testFile
	ctx  context.Context
	log  *testLog
	name string
	// filters are the replacements made with t.filter, by name.
	filters map[string]stdlib.Filter
	env     TestEnv // made on first use
	// ended is set when the test's function has returned: a t the script
	// kept (in an upvalue) must not act for a later test.
	ended bool
}

// table builds the t object.
func (tc *testCtx) table(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	for name, fn := range map[string]lua.LGFunction{
		"run":      tc.run,
		"filter":   tc.filter,
		"query":    tc.query,
		"eq":       tc.eq,
		"ne":       tc.ne,
		"ok":       tc.ok,
		"contains": tc.contains,
		"match":    tc.match,
		"fail":     tc.fail,
		"log":      tc.logf,
	} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			if tc.ended {
				L.RaiseError("t.%s: the test %q has ended; use the t given to the test that is running", name, tc.name)
			}
			if L.GetTop() > 0 && L.Get(1) == t { // t:eq(…)
				L.Remove(1)
			}
			return fn(L)
		}))
	}
	t.RawSetString("name", lua.LString(tc.name))
	return t
}

// getEnv returns the test's environment, made on first use.
func (tc *testCtx) getEnv(L *lua.LState, fn string) TestEnv {
	if tc.env != nil {
		return tc.env
	}
	if tc.tf.opt.NewEnv == nil {
		L.RaiseError("%s: not available here (no test environment)", fn)
	}
	env, err := tc.tf.opt.NewEnv(tc.tf.file, tc.log.logger)
	if err != nil {
		L.RaiseError("%s: %v", fn, err)
	}
	tc.env = env
	return env
}

func (tc *testCtx) closeEnv() error {
	if tc.env == nil {
		return nil
	}
	err := tc.env.Close()
	tc.env = nil
	return err
}

// run is t.run(options) → result: the env runs the whole transaction
// (Engine.Transaction: the session hooks, then on_data and on_queue) and
// the result has the shape of `sluice run --json`, rcpt_refused included.
func (tc *testCtx) run(L *lua.LState) int {
	spec := tc.runSpec(L, L.CheckTable(1))
	env := tc.getEnv(L, "t.run")
	res, err := env.Run(tc.ctx, spec)
	if err != nil {
		L.RaiseError("t.run: %v", err)
	}
	L.Push(stdlib.ToLua(L, res)) // the field names of `sluice run --json`
	return 1
}

// runOptions are the keys t.run takes.
var runOptions = map[string]bool{
	"script": true, "config": true, "message": true, "raw": true, "from": true,
	"rcpt": true, "client": true, "helo": true, "vars": true, "commit": true,
}

// runSpec reads the options of t.run.
func (tc *testCtx) runSpec(L *lua.LState, opts *lua.LTable) RunSpec {
	spec := RunSpec{From: TestFrom, Rcpt: []string{TestRcpt}, Client: TestClient}
	var message, raw lua.LValue = lua.LNil, lua.LNil
	opts.ForEach(func(k, v lua.LValue) {
		key, ok := k.(lua.LString)
		if !ok || !runOptions[string(key)] {
			L.RaiseError("t.run: unknown option %s (script, config, message, raw, from, rcpt, client, helo, vars, commit)", fmtValue(k))
		}
		switch key {
		case "script":
			spec.Script = tc.path(optString(L, key, v))
		case "config":
			spec.Config = tc.path(optString(L, key, v))
		case "message":
			message = v
		case "raw":
			raw = v
		case "from":
			spec.From = optString(L, key, v)
		case "rcpt":
			spec.Rcpt = optStrings(L, key, v)
		case "client":
			addr, err := ClientAddr(optString(L, key, v))
			if err != nil {
				L.RaiseError("t.run: client: %v", err)
			}
			spec.Client = addr
		case "helo":
			spec.Helo = optString(L, key, v)
		case "vars":
			t, ok := v.(*lua.LTable)
			if !ok {
				L.RaiseError("t.run: vars must be a table, got %s", v.Type())
			}
			g, err := stdlib.ToGo(t)
			if err != nil {
				L.RaiseError("t.run: vars: %v", err)
			}
			vars, ok := g.(map[string]any)
			if !ok {
				L.RaiseError("t.run: vars must be a table with string keys")
			}
			spec.Vars = vars
		case "commit":
			b, ok := v.(lua.LBool)
			if !ok {
				L.RaiseError("t.run: commit must be a boolean, got %s", v.Type())
			}
			spec.Commit = bool(b)
		}
	})
	if spec.Script != "" && spec.Config != "" {
		L.RaiseError("t.run: script and config exclude each other")
	}
	switch {
	case message != lua.LNil && raw != lua.LNil:
		L.RaiseError("t.run: message and raw exclude each other")
	case message != lua.LNil:
		name := tc.path(optString(L, "message", message))
		data, err := tc.tf.opt.ReadFile(name)
		if err != nil {
			L.RaiseError("t.run: message: %v", err)
		}
		spec.Message = data
	case raw != lua.LNil:
		spec.Message = []byte(optString(L, "raw", raw))
	default:
		L.RaiseError("t.run: no message: give message = \"file.eml\" or raw = \"…\"")
	}
	if len(tc.filters) > 0 {
		spec.Filters = make(map[string]stdlib.Filter, len(tc.filters))
		for k, f := range tc.filters {
			spec.Filters[k] = f
		}
	}
	return spec
}

// path resolves p against the test file's folder.
func (tc *testCtx) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(tc.tf.dir, p)
}

func optString(L *lua.LState, key lua.LString, v lua.LValue) string {
	s, ok := v.(lua.LString)
	if !ok {
		L.RaiseError("t.run: %s must be a string, got %s", key, v.Type())
	}
	return string(s)
}

// optStrings reads a string or a list of strings.
func optStrings(L *lua.LState, key lua.LString, v lua.LValue) []string {
	switch x := v.(type) {
	case lua.LString:
		return []string{string(x)}
	case *lua.LTable:
		out := []string{}
		for i := 1; i <= x.Len(); i++ {
			out = append(out, optString(L, key, x.RawGetInt(i)))
		}
		return out
	}
	L.RaiseError("t.run: %s must be a string or a list of strings, got %s", key, v.Type())
	return nil
}

// filterAnswer are the keys t.filter takes.
var filterAnswer = map[string]bool{
	"verdict": true, "name": true, "score": true, "threshold": true, "symbols": true,
	"log": true, "error": true, "modified": true, "on_error": true, "breaker": true,
}

// filter is t.filter(name, answer): from now on in this test, the filter
// name answers every scan with answer; t.filter(name, nil) undoes it.
func (tc *testCtx) filter(L *lua.LState) int {
	name := L.CheckString(1)
	if L.Get(2) == lua.LNil {
		delete(tc.filters, name)
		return 0
	}
	ans := L.CheckTable(2)
	var res handoff.Result
	onError, breaker := "", false
	ans.ForEach(func(k, v lua.LValue) {
		key, ok := k.(lua.LString)
		if !ok || !filterAnswer[string(key)] {
			L.RaiseError("t.filter: unknown field %s (verdict, name, score, threshold, symbols, log, error, modified, on_error, breaker)", fmtValue(k))
		}
		switch key {
		case "verdict":
			res.Verdict = handoff.Verdict(answerString(L, key, v))
		case "name":
			res.Name = answerString(L, key, v)
		case "score":
			res.Score = answerNumber(L, key, v)
		case "threshold":
			res.Threshold = answerNumber(L, key, v)
		case "symbols":
			res.Symbols = answerStrings(L, key, v)
		case "log":
			res.Log = answerStrings(L, key, v)
		case "error":
			res.Err = errors.New(answerString(L, key, v))
		case "modified":
			res.Modified = []byte(answerString(L, key, v))
		case "on_error":
			onError = answerString(L, key, v)
		case "breaker":
			b, ok := v.(lua.LBool)
			if !ok {
				L.RaiseError("t.filter: breaker must be a boolean, not %s", v.Type())
			}
			breaker = bool(b)
		}
	})
	if breaker {
		// A filter its circuit breaker skips: "disabled", and a failure,
		// so that its on_error applies as in the server.
		if res.Verdict != "" && res.Verdict != handoff.Disabled {
			L.RaiseError("t.filter: breaker = true goes with the verdict \"disabled\", not %q", res.Verdict)
		}
		res.Verdict = handoff.Disabled
		res.Err = fmt.Errorf("%w (answer of t.filter)", handoff.ErrBreakerOpen)
	}
	if res.Verdict == "" {
		res.Verdict = handoff.Clean
		if res.Err != nil {
			res.Verdict = handoff.Error
		}
	}
	switch res.Verdict {
	case handoff.Clean, handoff.Infected, handoff.Spam, handoff.Ham,
		handoff.Error, handoff.Timeout, handoff.Disabled:
	default:
		L.RaiseError("t.filter: verdict %q is none of clean, infected, spam, ham, error, timeout, disabled", res.Verdict)
	}
	switch onError {
	case "", OnErrorTempfail, OnErrorAccept, OnErrorReject, OnErrorQuarantine:
	default:
		L.RaiseError("t.filter: on_error %q is none of tempfail, accept, reject, quarantine", onError)
	}
	if res.Err == nil && (res.Verdict == handoff.Error || res.Verdict == handoff.Timeout || res.Verdict == handoff.Disabled) {
		res.Err = fmt.Errorf("%s (answer of t.filter)", res.Verdict)
	}
	tc.filters[name] = stdlib.Filter{Scanner: fixedAnswer(res), OnError: onError}
	return 0
}

// fixedAnswer is a filter that answers every scan with res.
func fixedAnswer(res handoff.Result) handoff.ScannerFunc {
	return func(context.Context, []byte) handoff.Result {
		r := res
		r.Symbols = append([]string(nil), res.Symbols...)
		r.Log = append([]string(nil), res.Log...)
		if res.Modified != nil {
			r.Modified = append([]byte(nil), res.Modified...)
		}
		return r
	}
}

func answerString(L *lua.LState, key lua.LString, v lua.LValue) string {
	s, ok := v.(lua.LString)
	if !ok {
		L.RaiseError("t.filter: %s must be a string, got %s", key, v.Type())
	}
	return string(s)
}

func answerNumber(L *lua.LState, key lua.LString, v lua.LValue) float64 {
	n, ok := v.(lua.LNumber)
	if !ok {
		L.RaiseError("t.filter: %s must be a number, got %s", key, v.Type())
	}
	return float64(n)
}

func answerStrings(L *lua.LState, key lua.LString, v lua.LValue) []string {
	switch x := v.(type) {
	case lua.LString:
		return []string{string(x)}
	case *lua.LTable:
		var out []string
		for i := 1; i <= x.Len(); i++ {
			out = append(out, answerString(L, key, x.RawGetInt(i)))
		}
		return out
	}
	L.RaiseError("t.filter: %s must be a string or a list of strings, got %s", key, v.Type())
	return nil
}

// query is t.query(db, sql, ...) → rows, columns.
func (tc *testCtx) query(L *lua.LState) int {
	name := L.CheckString(1)
	q := L.CheckString(2)
	var args []any
	for i := 3; i <= L.GetTop(); i++ {
		v := L.Get(i)
		if _, ok := v.(*lua.LTable); ok {
			L.ArgError(i, "only strings, numbers, booleans and nil can be bound")
		}
		g, err := stdlib.ToGo(v)
		if err != nil {
			L.ArgError(i, err.Error())
		}
		args = append(args, g)
	}
	env := tc.getEnv(L, "t.query")
	rows, cols, err := env.Query(tc.ctx, name, q, args...)
	if err != nil {
		L.RaiseError("t.query: %v", err)
	}
	list := make([]any, len(rows))
	for i, r := range rows {
		list[i] = r
	}
	L.Push(stdlib.ToLua(L, list))
	L.Push(stdlib.ToLua(L, cols))
	return 2
}
