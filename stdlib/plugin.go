package stdlib

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/message"
)

// Scanner is a filter as the plugin module sees it; *handoff.Filter is
// one, and `sluice test` replaces them with fixed answers.
type Scanner interface {
	Scan(ctx context.Context, msg []byte) handoff.Result
}

// Filter is one [filter.NAME] of the configuration.
type Filter struct {
	Scanner
	// OnError is what a failed scan (verdict error or timeout, or disabled
	// by an open circuit breaker) means for
	// the message, whatever the script does with the result: "tempfail"
	// (default), "reject", "quarantine" or "accept".
	OnError string
}

// FilterFailure is a scan that failed during a hook call; the engine turns
// it into the filter's on_error verdict unless the script refused the
// message itself.
type FilterFailure struct {
	Filter, Policy, Err string
}

// TakeFilterFailure returns and forgets the first failed scan of the call
// in progress, if any.
func (m *Msg) TakeFilterFailure() *FilterFailure {
	if len(m.failures) == 0 {
		return nil
	}
	f := m.failures[0]
	m.failures = nil
	return &f
}

// pluginModule is the `plugin` module:
//
//	local r = plugin.scan("clamav", msg)
//	if r.verdict == "infected" then return reject("5.7.1", "virus: " .. r.name) end
//
// r has verdict, name, score, threshold, symbols, modified, log,
// duration_ms and error. A modified message replaces the one the next
// stages see. A scan that fails (error, timeout) also applies the filter's
// on_error policy when the hook returns, unless the hook refused the
// message itself: a script that ignores the failure cannot accept the
// message unchecked.
func (lib *Lib) pluginModule() *lua.LTable {
	return lib.L.SetFuncs(lib.L.NewTable(), lib.lockedFuncs(map[string]lua.LGFunction{
		"scan": lib.pluginScan,
	}))
}

func (lib *Lib) pluginScan(L *lua.LState) int {
	name := L.CheckString(1)
	ref := lib.checkMsg(L, 2)
	f, ok := lib.svc.Filters[name]
	if !ok {
		L.RaiseError("plugin.scan: no filter %q in the configuration ([filter.%s])", name, name)
	}
	m := ref.m
	var raw []byte
	if m.Body != nil {
		raw = m.Body.Bytes()
	}
	start := time.Now()
	res := f.Scan(lib.call.Context(), raw)
	if res.Duration == 0 {
		res.Duration = time.Since(start)
	}
	log := lib.call.Log().With("filter", name)
	for _, line := range res.Log {
		log.Info("filter log", "line", line)
	}
	if res.Modified != nil {
		m.Body = message.New(res.Modified, lib.limits.MessageOptions())
		lib.act(ref, Action{Kind: "rewrite", Reason: "by filter " + name})
	}
	errText := ""
	if res.Err != nil {
		errText = res.Err.Error()
	}
	failed := res.Verdict == handoff.Error || res.Verdict == handoff.Timeout ||
		// An open breaker is a filter failing, not one switched off on
		// purpose (a folder filter without .active): the message is as
		// unchecked as after a timeout.
		res.Verdict == handoff.Disabled && errors.Is(res.Err, handoff.ErrBreakerOpen)
	if failed {
		policy := f.OnError
		if policy == "" {
			policy = "tempfail"
		}
		m.failures = append(m.failures, FilterFailure{Filter: name, Policy: policy, Err: errText})
		log.Warn("filter failed", "verdict", string(res.Verdict), "error", errText, "policy", policy)
	}
	L.Push(lib.resultTable(res, errText))
	return 1
}

func (lib *Lib) resultTable(res handoff.Result, errText string) *lua.LTable {
	L := lib.L
	t := L.CreateTable(0, 10)
	t.RawSetString("verdict", lua.LString(res.Verdict))
	t.RawSetString("name", lua.LString(res.Name))
	t.RawSetString("score", lua.LNumber(res.Score))
	t.RawSetString("threshold", lua.LNumber(res.Threshold))
	syms := append([]string(nil), res.Symbols...)
	sort.Strings(syms)
	st := L.CreateTable(len(syms), 0)
	for _, s := range syms {
		st.Append(lua.LString(s))
	}
	t.RawSetString("symbols", st)
	t.RawSetString("modified", lua.LBool(res.Modified != nil))
	lt := L.CreateTable(len(res.Log), 0)
	for _, l := range res.Log {
		lt.Append(lua.LString(l))
	}
	t.RawSetString("log", lt)
	t.RawSetString("duration_ms", lua.LNumber(float64(res.Duration.Microseconds())/1000))
	if errText != "" {
		t.RawSetString("error", lua.LString(errText))
	}
	return t
}

// String describes f for logs.
func (f FilterFailure) String() string {
	return fmt.Sprintf("filter %s failed (%s): %s", f.Filter, f.Policy, f.Err)
}
