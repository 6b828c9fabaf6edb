package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/stdlib"
)

// baseAllowed lists the base functions scripts get. Missing on purpose:
// dofile, loadfile, load, loadstring, getfenv, setfenv, collectgarbage,
// module, newproxy, _printregs (and require, print, getmetatable,
// setmetatable, which are replaced).
var baseAllowed = []string{
	"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
	"rawget", "rawset", "select", "tonumber", "tostring", "type",
	"xpcall", "_VERSION",
}

// unavailable names what the sandbox leaves out; using one raises an error
// that says so, rather than "attempt to call a nil value".
var (
	unavailableFuncs = []string{
		"dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv",
		"collectgarbage", "module", "newproxy",
	}
	unavailableModules = []string{"io", "os", "debug", "package"}
)

// maxResults caps how many values unpack returns (as Lua's C stack does).
const maxResults = 8000

// state is one pooled Lua state with its sandbox.
type state struct {
	L    *lua.LState
	call *stdlib.Call
	lib  *stdlib.Lib
	// g holds what scripts can see; never reachable (nor writable) from Lua.
	g *lua.LTable
	// envMeta is the metatable of every per-run environment: __index = g.
	envMeta *lua.LTable
	// proxies are the read-only library tables; rawset can still write into
	// them, so they are checked after every run.
	proxies []*lua.LTable
	// loaded caches require results for the current run only.
	loaded map[string]lua.LValue
	// envs keeps, per stage, an environment table to reuse (see stageEnv).
	envs map[*stage]*envCache
	// broken is set when the state must not be reused.
	broken bool

	// jobs feed the state's goroutine (Engine.work), results come back;
	// fate tells it whether the caller still waits (fateRunning…).
	jobs    chan job
	results chan callResult
	fate    atomic.Int32
}

// close stops the state's goroutine, which closes the Lua state. Only for
// states that are idle (not running a call).
func (s *state) close() {
	close(s.jobs)
}

// newState builds a sandboxed Lua state for e.
func (e *Engine) newState() (*state, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    e.callStack,
		RegistrySize:     1024 * 4,
		RegistryMaxSize:  1024 * 256,
		RegistryGrowStep: 1024 * 4,
		// Not MinimizeStackMemory: its call-frame segments go back to a
		// process-wide sync.Pool while a frame may still be read, which
		// the race detector catches across two states.
	})
	s := &state{L: L, call: &stdlib.Call{Logger: e.log, DryRun: e.opt.DryRun}}
	s.lib = stdlib.New(L, s.call, e.opt.Limits, e.opt.Services)
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenMath, lua.OpenCoroutine} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), NRet: 0, Protect: true}); err != nil {
			L.Close()
			return nil, fmt.Errorf("engine: open libraries: %w", err)
		}
	}
	global := L.G.Global
	s.g = L.NewTable()
	for _, name := range baseAllowed {
		s.g.RawSetString(name, global.RawGetString(name))
	}
	s.g.RawSetString("getmetatable", L.NewFunction(safeGetmetatable))
	s.g.RawSetString("setmetatable", L.NewFunction(safeSetmetatable))
	s.g.RawSetString("print", L.NewFunction(s.lib.Print))
	s.g.RawSetString("require", L.NewFunction(func(L *lua.LState) int { return e.require(s, L) }))
	s.g.RawSetString("unpack", L.NewFunction(safeUnpack))
	for _, name := range unavailableFuncs {
		s.g.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s is not available in sluice scripts (sandbox)", name)
			return 0
		}))
	}
	for _, name := range unavailableModules {
		s.g.RawSetString(name, unavailableModule(L, name))
	}

	mods := s.lib.Modules()
	mods["math"] = global.RawGetString("math").(*lua.LTable)
	mods["math"].RawSetString("random", L.NewFunction(safeRandom))
	mods["coroutine"] = global.RawGetString("coroutine").(*lua.LTable)
	for name, t := range mods {
		p := readOnly(L, name, t)
		s.proxies = append(s.proxies, p)
		s.g.RawSetString(name, p)
	}
	strMeta := L.NewTable()
	strMeta.RawSetString("__index", mods["string"])
	strMeta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), strMeta)

	vmeta := newVerdictMeta(L)
	for name, fn := range verdictFuncs(L, vmeta) {
		s.g.RawSetString(name, fn)
	}
	// Leave nothing reachable through the state's own globals table.
	global.ForEach(func(k, _ lua.LValue) { global.RawSet(k, lua.LNil) })

	s.envMeta = L.NewTable()
	s.envMeta.RawSetString("__index", s.g)
	s.envMeta.RawSetString("__metatable", lua.LFalse)

	s.jobs = make(chan job)
	s.results = make(chan callResult, 1)
	go e.work(s)
	return s, nil
}

// readOnly returns an empty proxy whose reads go to t and whose writes fail.
func readOnly(L *lua.LState, name string, t *lua.LTable) *lua.LTable {
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("attempt to modify read-only table %q", name)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	p.Metatable = mt
	return p
}

// newEnv returns a fresh environment for one run: reads fall through to the
// sandbox globals, writes stay in the environment.
func (s *state) newEnv() *lua.LTable {
	env := s.L.CreateTable(0, 8)
	env.RawSetString("_G", env)
	env.Metatable = s.envMeta
	return env
}

// envCache is a stage's environment kept between runs on one state, with
// the global names the chunk defines when it loads.
type envCache struct {
	t    *lua.LTable
	keys []string
}

// stageEnv returns the environment for a run of st: the one of the last
// run emptied of every key, or a new one. An emptied table is as good as a
// new one, since nothing from the last run can still reach it; reusing it
// saves the three maps gopher-lua allocates for a table with string keys.
func (s *state) stageEnv(st *stage) *lua.LTable {
	c := s.envs[st]
	if c == nil {
		return s.newEnv()
	}
	for _, k := range c.keys {
		c.t.RawSetString(k, lua.LNil)
	}
	c.t.RawSetString("_G", c.t)
	return c.t
}

// keepEnv records env after a run of st for reuse, unless the run left
// keys the chunk does not define when it loads (a script that writes
// globals at run time gets a new table each time, so nothing accumulates).
func (s *state) keepEnv(st *stage, env *lua.LTable, defined []string) {
	n, extra := 0, false
	env.ForEach(func(k, _ lua.LValue) {
		n++
		if ks, ok := k.(lua.LString); !ok || (ks != "_G" && !slices.Contains(defined, string(ks))) {
			extra = true
		}
	})
	if extra || n != len(defined)+1 {
		delete(s.envs, st)
		return
	}
	if s.envs == nil {
		s.envs = map[*stage]*envCache{}
	}
	s.envs[st] = &envCache{t: env, keys: defined}
}

// clean reports whether the last run left the shared tables untouched.
func (s *state) clean() bool {
	for _, p := range s.proxies {
		if k, _ := p.Next(lua.LNil); k != lua.LNil {
			return false
		}
	}
	return true
}

// unavailableModule is a stand-in for a library the sandbox leaves out:
// any use of it raises an error naming it.
func unavailableModule(L *lua.LState, name string) *lua.LTable {
	fail := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("the %s library is not available in sluice scripts (sandbox)", name)
		return 0
	})
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", fail)
	mt.RawSetString("__newindex", fail)
	mt.RawSetString("__call", fail)
	mt.RawSetString("__metatable", lua.LFalse)
	t.Metatable = mt
	return t
}

// safeUnpack is unpack with a cap on the number of results, so that
// unpack({}, 1, 1e8) fails at once instead of growing the stack for minutes.
func safeUnpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, t.Len())
	if i > j {
		return 0
	}
	if n := int64(j) - int64(i) + 1; n > maxResults {
		L.RaiseError("unpack: too many results (%d > %d)", n, maxResults)
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(k))
	}
	return j - i + 1
}

// safeGetmetatable honours __metatable, as Lua's does.
func safeGetmetatable(L *lua.LState) int {
	mt := L.GetMetatable(L.CheckAny(1))
	if t, ok := mt.(*lua.LTable); ok {
		if protected := t.RawGetString("__metatable"); protected != lua.LNil {
			L.Push(protected)
			return 1
		}
	}
	L.Push(mt)
	return 1
}

// safeSetmetatable sets metatables of tables only, and refuses to change a
// protected one.
func safeSetmetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	L.CheckTypes(2, lua.LTNil, lua.LTTable)
	if old, ok := t.Metatable.(*lua.LTable); ok && old.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	L.SetMetatable(t, L.Get(2))
	L.SetTop(1)
	return 1
}

// safeRandom is math.random with Lua 5.1's argument checks: gopher-lua's
// panics on an empty interval (math.random(0), math.random(5, 1)), which
// threw the state away instead of raising an error at the script's line.
func safeRandom(L *lua.LState) int {
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(rand.Float64()))
	case 1:
		n := L.CheckInt(1)
		if n < 1 {
			L.RaiseError("bad argument #1 to 'random' (interval is empty)")
		}
		L.Push(lua.LNumber(rand.IntN(n) + 1))
	default:
		lo, hi := L.CheckInt(1), L.CheckInt(2)
		if lo > hi {
			L.RaiseError("bad argument #2 to 'random' (interval is empty)")
		}
		L.Push(lua.LNumber(lo + rand.IntN(hi-lo+1)))
	}
	return 1
}
