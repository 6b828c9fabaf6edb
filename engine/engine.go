package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/stdlib"
)

// Hooks a stage may define, in the order a message meets them.
var Hooks = []string{"on_connect", "on_helo", "on_mail", "on_rcpt", "on_data", "on_queue"}

// Error policies of a stage (what a failed hook call turns into).
const (
	OnErrorTempfail   = "tempfail"
	OnErrorAccept     = "accept"
	OnErrorReject     = "reject"
	OnErrorQuarantine = "quarantine"
)

// Stage is one step of the pipeline.
type Stage struct {
	// Name identifies the stage in traces and logs.
	Name string
	// Script is the path of the Lua file, as ReadFile takes it; it is also
	// the chunk name errors are reported with.
	Script string
	// Timeout is the deadline of each hook call (default 30s).
	Timeout time.Duration
	// OnError is the policy when a hook call fails (default tempfail).
	OnError string
}

// Options configure an Engine. The zero value of each field is a safe default.
type Options struct {
	// Stages run in order.
	Stages []Stage
	// ReadFile reads scripts and modules; default os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// ModuleRoot is the folder require resolves in; default the folder of
	// the first stage's script.
	ModuleRoot string
	// Modules are files under ModuleRoot (as ReadFile takes them) that New
	// compiles up front: one that does not compile fails New, like a stage
	// script, and the engine keeps what it read, so a later change of the
	// file does not reach it. Modules not listed are read at their first
	// require.
	Modules []string
	// States caps the Lua states in use at once; default 2×GOMAXPROCS.
	States int
	// CallStack caps the Lua call depth (runaway recursion); default 200.
	CallStack int
	// Limits cap what scripts get and build.
	Limits stdlib.Limits
	// Services are the components the Lua modules reach (the mail store…).
	Services stdlib.Services
	// Grace is how long past a deadline the caller waits for a call that
	// does not stop before giving up on it; default 30ms.
	Grace time.Duration
	// Logger receives script logs and errors; default discards.
	Logger *slog.Logger
	// MemoryLimit is the heap size, in bytes, above which every hook call
	// in progress is stopped (see ErrMemory); default 1 GiB, negative
	// disables the guard.
	MemoryLimit int64
	// DryRun tells modules to record side effects instead of doing them.
	DryRun bool
	// Version names this generation of the rules (the server uses a hash
	// of the configuration and scripts); Version returns it.
	Version string
	// OnClose runs once, when the engine is closed and the last hold on
	// it is released (see Acquire): the owner closes there what the
	// engine's scripts reached (filters, databases).
	OnClose func()
}

// Engine runs the hooks of compiled stages on pooled Lua states. It is safe
// for concurrent use.
type Engine struct {
	opt       Options
	log       *slog.Logger
	callStack int
	stages    []*stage
	pool      *pool
	guard     *memGuard // nil when disabled

	mu      sync.Mutex // guards modules
	modules map[string]*module

	// refs counts the holds: one for the creator until Close, one per
	// Acquire until Release. At zero the engine is shut.
	refs atomic.Int64
}

type stage struct {
	Stage
	proto *lua.FunctionProto
	hooks map[string]bool
	// defined are the global names the chunk sets when it loads.
	defined []string
}

type module struct {
	proto *lua.FunctionProto
	err   error
}

// ErrScript is matched (errors.Is) by every compile or load error of a script.
var ErrScript = errors.New("engine: script error")

// New compiles every stage script and loads each once to find its hooks and
// report load-time errors. Errors read "path:line:col: message".
func New(opt Options) (*Engine, error) {
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	if opt.States <= 0 {
		opt.States = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.Grace <= 0 {
		opt.Grace = 30 * time.Millisecond
	}
	if opt.ModuleRoot == "" && len(opt.Stages) > 0 {
		opt.ModuleRoot = path.Dir(opt.Stages[0].Script)
	}
	e := &Engine{opt: opt, log: opt.Logger, callStack: opt.CallStack, modules: map[string]*module{}}
	e.refs.Store(1)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.callStack <= 0 {
		e.callStack = 200
	}
	var errs []error
	seen := map[string]bool{}
	for _, st := range opt.Stages {
		if seen[st.Name] {
			errs = append(errs, fmt.Errorf("%w: stage %q defined twice", ErrScript, st.Name))
			continue
		}
		seen[st.Name] = true
		if st.Timeout <= 0 {
			st.Timeout = 30 * time.Second
		}
		if st.OnError == "" {
			st.OnError = OnErrorTempfail
		}
		proto, err := e.compile(st.Script)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.stages = append(e.stages, &stage{Stage: st, proto: proto})
	}
	for _, file := range opt.Modules {
		if m := e.module(file); m.err != nil {
			errs = append(errs, fmt.Errorf("%w: %v", ErrScript, m.err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	e.pool = newPool(opt.States, e.newState)
	if err := e.probe(); err != nil {
		e.pool.close()
		return nil, err
	}
	switch {
	case opt.MemoryLimit == 0:
		e.guard = newMemGuard(1 << 30)
	case opt.MemoryLimit > 0:
		e.guard = newMemGuard(uint64(opt.MemoryLimit))
	}
	return e, nil
}

// compile reads and compiles one script with its path as the chunk name.
func (e *Engine) compile(name string) (*lua.FunctionProto, error) {
	src, err := readScript(e.opt.ReadFile, name)
	if err != nil {
		return nil, err
	}
	proto, err := compileSource(name, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrScript, err.Error())
	}
	return proto, nil
}

// probe loads every stage once on a fresh state to report load-time errors
// and to learn which hooks each stage defines.
func (e *Engine) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.pool.get(ctx)
	if err != nil {
		return err
	}
	defer e.pool.discard(s)
	s.L.SetContext(ctx)
	var errs []error
	for _, st := range e.stages {
		s.loaded = nil
		env, err := s.load(st.proto, s.newEnv())
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s", ErrScript, scriptError(err)))
			continue
		}
		st.hooks = map[string]bool{}
		env.ForEach(func(k, v lua.LValue) {
			name, ok := k.(lua.LString)
			if !ok || name == "_G" {
				return
			}
			st.defined = append(st.defined, string(name))
			if _, ok := v.(*lua.LFunction); ok && isHook(string(name)) {
				st.hooks[string(name)] = true
			}
		})
	}
	return errors.Join(errs...)
}

// StageHooks returns, for each stage in order, its name and the hooks it
// defines (sorted).
func (e *Engine) StageHooks() map[string][]string {
	out := map[string][]string{}
	for _, st := range e.stages {
		var hs []string
		for h := range st.hooks {
			hs = append(hs, h)
		}
		sort.Strings(hs)
		out[st.Name] = hs
	}
	return out
}

// Has reports whether any stage defines hook.
func (e *Engine) Has(hook string) bool {
	for _, st := range e.stages {
		if st.hooks[hook] {
			return true
		}
	}
	return false
}

// Version returns Options.Version.
func (e *Engine) Version() string { return e.opt.Version }

// Acquire takes a hold on e, so that it stays open until the matching
// Release even if its owner closes it meanwhile: a server that swaps in a
// new generation of rules lets every message finish on the one it started
// with. It reports false, taking nothing, when e is shut already.
func (e *Engine) Acquire() bool {
	for {
		n := e.refs.Load()
		if n <= 0 {
			return false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a hold taken with Acquire; the last one shuts e.
func (e *Engine) Release() {
	switch n := e.refs.Add(-1); {
	case n == 0:
		e.shut()
	case n < 0:
		panic("engine: Release without a hold")
	}
}

// Close drops the creator's hold: once no Acquire is outstanding, the idle
// Lua states are released, the memory guard stops and Options.OnClose runs.
// Calls in progress finish normally. Close must be called once.
func (e *Engine) Close() { e.Release() }

func (e *Engine) shut() {
	e.pool.close()
	if e.guard != nil {
		e.guard.close()
	}
	if e.opt.OnClose != nil {
		e.opt.OnClose()
	}
}

// load runs a compiled chunk in environment env and returns env.
func (s *state) load(proto *lua.FunctionProto, env *lua.LTable) (*lua.LTable, error) {
	fn := s.L.NewFunctionFromProto(proto)
	fn.Env = env
	s.L.Push(fn)
	if err := s.L.PCall(0, 0, nil); err != nil {
		return nil, err
	}
	return env, nil
}

// require loads a module from the scripts folder: require("lib.util") runs
// ModuleRoot/lib/util.lua once per hook call and returns its result.
func (e *Engine) require(s *state, L *lua.LState) int {
	name := L.CheckString(1)
	if v, ok := s.loaded[name]; ok {
		L.Push(v)
		return 1
	}
	file, err := modulePath(e.opt.ModuleRoot, name)
	if err != nil {
		L.RaiseError("%v", err)
	}
	m := e.module(file)
	if m.err != nil {
		L.RaiseError("module %q: %v", name, m.err)
	}
	if s.loaded == nil {
		s.loaded = map[string]lua.LValue{}
	}
	s.loaded[name] = lua.LTrue // a cycle sees true, as in Lua
	env := s.newEnv()
	fn := L.NewFunctionFromProto(m.proto)
	fn.Env = env
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		// Say which require it was, as for a module that does not compile.
		L.RaiseError("module %q: %s", name, scriptError(err))
	}
	v := L.Get(-1)
	if v == lua.LNil {
		v = lua.LTrue
	}
	s.loaded[name] = v
	return 1
}

// module compiles a required file once per engine.
func (e *Engine) module(file string) *module {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.modules[file]; ok {
		return m
	}
	m := &module{}
	src, err := e.opt.ReadFile(file)
	if err != nil {
		m.err = fmt.Errorf("not found in the scripts folder (%s)", file)
	} else {
		m.proto, m.err = compileSource(file, src)
	}
	e.modules[file] = m
	return m
}

// modulePath maps a module name to a file inside root, refusing anything
// that could leave it.
func modulePath(root, name string) (string, error) {
	if name == "" || len(name) > 200 {
		return "", fmt.Errorf("bad module name %q", name)
	}
	for _, r := range name {
		ok := r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return "", fmt.Errorf("bad module name %q: use letters, digits, _ and - separated by dots", name)
		}
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return "", fmt.Errorf("bad module name %q", name)
	}
	return path.Join(root, strings.ReplaceAll(name, ".", "/")+".lua"), nil
}
