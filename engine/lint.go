package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Warning is a likely mistake in a stage script that still compiles and
// loads: a global assigned by accident, a misspelt or local hook, a read of
// a global that nothing defines.
type Warning struct {
	// File is the script's path, as the stage names it.
	File string
	// Line is where the mistake is (1-based); 0 means the whole file.
	Line int
	// Msg says what is wrong and how to fix it.
	Msg string
}

// String formats w as "file:line: warning: msg" ("file: warning: msg" when
// Line is 0).
func (w Warning) String() string {
	if w.Line <= 0 {
		return fmt.Sprintf("%s: warning: %s", w.File, w.Msg)
	}
	return fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg)
}

// LintStages reads every stage script through opt.ReadFile (default
// os.ReadFile), as New does, and returns the warnings of Lint for each
// script once, in stage order, then those of LintModule for each file of
// Options.Modules. A script that cannot be read or parsed gives
// an error matching ErrScript; the other scripts are still linted.
func LintStages(opt Options) ([]Warning, error) {
	read := opt.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	type file struct {
		name   string
		module bool
	}
	var files []file
	for _, st := range opt.Stages {
		files = append(files, file{st.Script, false})
	}
	for _, m := range opt.Modules {
		files = append(files, file{m, true})
	}
	var out []Warning
	var errs []error
	done := map[string]bool{}
	for _, f := range files {
		if done[f.name] {
			continue
		}
		done[f.name] = true
		src, err := readScript(read, f.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ws, err := lint(f.name, src, f.module)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s", ErrScript, err.Error()))
			continue
		}
		out = append(out, ws...)
	}
	return out, errors.Join(errs...)
}

// Lint statically checks the stage script src, whose chunk name is name,
// and returns its warnings sorted by line (those about the whole file
// last):
//
//   - a global assigned inside a function (it should be local there);
//   - a global other than a hook assigned at the top level (declare it
//     local: each hook call runs the chunk afresh, so a global keeps
//     nothing that a local would not);
//   - a global function whose name is close to a hook's (on_date), or
//     starts with on_ without being a hook;
//   - a hook declared local at the top level (the engine sees globals only);
//   - no hook at all;
//   - a read of a global that is neither in the sandbox nor assigned
//     anywhere in the script (a typo such as mgs for msg), or that the
//     sandbox leaves out (os, io, load…).
//
// Assignments to fields (t.x = 1, function M.f()) are not global
// assignments; _G.x = v is a deliberate one and only gets the hook-name
// check. A script that does not parse gives no warnings: compiling it
// reports the syntax error.
func Lint(name string, src []byte) []Warning {
	ws, _ := lint(name, src, false)
	return ws
}

// LintModule is Lint for a file loaded with require: the same checks of
// globals, without those about hooks (a module defines none; its globals
// are as accidental as a stage's — it returns what it exports).
func LintModule(name string, src []byte) []Warning {
	ws, _ := lint(name, src, true)
	return ws
}

// lint is Lint (or LintModule) that returns the syntax error, in
// compileSource's format.
func lint(name string, src []byte, module bool) ([]Warning, error) {
	chunk, err := parseSource(name, src)
	if err != nil {
		return nil, err
	}
	l := &linter{module: module}
	l.block(chunk)
	known, _ := sandboxGlobals()
	ws := l.report(name, known)
	sort.SliceStable(ws, func(i, j int) bool { return sortLine(ws[i].Line) < sortLine(ws[j].Line) })
	return ws, nil
}

// sortLine puts the warnings about the whole file (line 0) last.
func sortLine(line int) int {
	if line <= 0 {
		return math.MaxInt
	}
	return line
}

// sandboxGlobals returns the names a script's environment starts with,
// taken from a state built as the engine builds them, minus the stand-ins
// for what the sandbox leaves out.
var sandboxGlobals = sync.OnceValues(func() (map[string]bool, error) {
	e := &Engine{log: slog.New(slog.DiscardHandler), callStack: 200}
	s, err := e.newState()
	if err != nil {
		return nil, err
	}
	defer s.close()
	names := map[string]bool{"_G": true} // set in each environment (newEnv)
	s.g.ForEach(func(k, _ lua.LValue) {
		if n, ok := k.(lua.LString); ok && !unavailable(string(n)) {
			names[string(n)] = true
		}
	})
	return names, nil
})

// unavailable reports whether the sandbox leaves name out on purpose.
func unavailable(name string) bool {
	return slices.Contains(unavailableFuncs, name) || slices.Contains(unavailableModules, name)
}

// isHook reports whether name is one of Hooks.
func isHook(name string) bool { return slices.Contains(Hooks, name) }

// fnInfo names the function a statement is in, for messages.
type fnInfo struct {
	name string // "" for an anonymous function
	line int
}

func (f *fnInfo) String() string {
	if f.name == "" {
		return fmt.Sprintf("an anonymous function (line %d)", f.line)
	}
	return fmt.Sprintf("function %s (line %d)", f.name, f.line)
}

// globalSet is an assignment to a global name.
type globalSet struct {
	name     string
	line     int
	fn       *fnInfo // nil at the top level
	isFunc   bool    // the value is a function
	explicit bool    // through _G
}

// nameAt is a name used at a line.
type nameAt struct {
	name string
	line int
}

// linter walks a chunk, keeping the local scopes, and records global
// assignments and reads.
type linter struct {
	module     bool              // a file loaded with require, not a stage
	scopes     []map[string]bool // innermost last
	fn         *fnInfo           // the function being walked; nil at the top level
	sets       []globalSet
	gets       []nameAt
	localHooks []nameAt
}

func (l *linter) push(names ...string) {
	sc := make(map[string]bool, len(names))
	for _, n := range names {
		sc[n] = true
	}
	l.scopes = append(l.scopes, sc)
}

func (l *linter) pop() { l.scopes = l.scopes[:len(l.scopes)-1] }

func (l *linter) declare(name string, line int) {
	l.scopes[len(l.scopes)-1][name] = true
	if l.fn == nil && len(l.scopes) == 1 && isHook(name) {
		l.localHooks = append(l.localHooks, nameAt{name, line})
	}
}

func (l *linter) isLocal(name string) bool {
	for i := len(l.scopes) - 1; i >= 0; i-- {
		if l.scopes[i][name] {
			return true
		}
	}
	return false
}

// block walks stmts in a new scope that starts with names.
func (l *linter) block(stmts []ast.Stmt, names ...string) {
	l.push(names...)
	for _, s := range stmts {
		l.stmt(s)
	}
	l.pop()
}

func (l *linter) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		for i, e := range s.Rhs {
			l.value(e, s.Lhs, i)
		}
		for i, lhs := range s.Lhs {
			l.target(lhs, isFunction(s.Rhs, i))
		}
	case *ast.LocalAssignStmt:
		l.local(s)
	case *ast.FuncCallStmt:
		l.expr(s.Expr)
	case *ast.DoBlockStmt:
		l.block(s.Stmts)
	case *ast.WhileStmt:
		l.expr(s.Condition)
		l.block(s.Stmts)
	case *ast.RepeatStmt: // the condition sees the body's locals
		l.push()
		for _, st := range s.Stmts {
			l.stmt(st)
		}
		l.expr(s.Condition)
		l.pop()
	case *ast.IfStmt:
		l.expr(s.Condition)
		l.block(s.Then)
		l.block(s.Else)
	case *ast.NumberForStmt:
		l.expr(s.Init)
		l.expr(s.Limit)
		l.expr(s.Step)
		l.block(s.Stmts, s.Name)
	case *ast.GenericForStmt:
		l.exprs(s.Exprs)
		l.block(s.Stmts, s.Names...)
	case *ast.FuncDefStmt:
		l.funcDef(s)
	case *ast.ReturnStmt:
		l.exprs(s.Exprs)
	}
	// BreakStmt, LabelStmt and GotoStmt name no variables.
}

// local walks a local statement. As gopher-lua compiles it, "local f =
// function" (one name, one function) is "local function f": f is in scope
// in its own body.
func (l *linter) local(s *ast.LocalAssignStmt) {
	if len(s.Names) == 1 && len(s.Exprs) == 1 {
		if f, ok := s.Exprs[0].(*ast.FunctionExpr); ok {
			l.declare(s.Names[0], s.Line())
			l.function(f, s.Names[0], s.Line(), false)
			return
		}
	}
	for _, e := range s.Exprs {
		l.expr(e)
	}
	for _, n := range s.Names {
		l.declare(n, s.Line())
	}
}

// funcDef walks "function name() … end" and its method and field forms.
func (l *linter) funcDef(s *ast.FuncDefStmt) {
	if s.Name.Func == nil { // function recv:method()
		l.expr(s.Name.Receiver)
		name := exprName(s.Name.Receiver)
		if name != "" {
			name += ":" + s.Name.Method
		}
		l.function(s.Func, name, s.Line(), true)
		return
	}
	l.target(s.Name.Func, true)
	l.function(s.Func, exprName(s.Name.Func), s.Line(), false)
}

// value walks the i-th value of an assignment to lhs, naming a function
// after its target.
func (l *linter) value(e ast.Expr, lhs []ast.Expr, i int) {
	if f, ok := e.(*ast.FunctionExpr); ok && i < len(lhs) {
		l.function(f, exprName(lhs[i]), f.Line(), false)
		return
	}
	l.expr(e)
}

// target records an assignment to e: a global name, _G.name, or a field
// (which reads the table expression).
func (l *linter) target(e ast.Expr, isFunc bool) {
	switch e := e.(type) {
	case *ast.IdentExpr:
		if !l.isLocal(e.Value) {
			l.sets = append(l.sets, globalSet{name: e.Value, line: e.Line(), fn: l.fn, isFunc: isFunc})
		}
		return
	case *ast.AttrGetExpr:
		obj, ok := e.Object.(*ast.IdentExpr)
		key, isStr := e.Key.(*ast.StringExpr)
		if ok && isStr && obj.Value == "_G" && !l.isLocal("_G") {
			l.sets = append(l.sets, globalSet{name: key.Value, line: e.Line(), fn: l.fn, isFunc: isFunc, explicit: true})
			return
		}
	}
	l.expr(e)
}

// function walks the body of f, named name, defined at line; a method has
// an implicit self.
func (l *linter) function(f *ast.FunctionExpr, name string, line int, method bool) {
	var params []string
	if method {
		params = append(params, "self")
	}
	if f.ParList != nil {
		params = append(params, f.ParList.Names...)
	}
	outer := l.fn
	l.fn = &fnInfo{name: name, line: line}
	l.block(f.Stmts, params...)
	l.fn = outer
}

func (l *linter) exprs(es []ast.Expr) {
	for _, e := range es {
		l.expr(e)
	}
}

func (l *linter) expr(e ast.Expr) {
	switch e := e.(type) {
	case *ast.IdentExpr:
		if !l.isLocal(e.Value) {
			l.gets = append(l.gets, nameAt{e.Value, e.Line()})
		}
	case *ast.AttrGetExpr:
		l.expr(e.Object)
		l.expr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			l.expr(f.Key)
			l.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		l.expr(e.Func)
		l.expr(e.Receiver)
		l.exprs(e.Args)
	case *ast.LogicalOpExpr:
		l.expr(e.Lhs)
		l.expr(e.Rhs)
	case *ast.RelationalOpExpr:
		l.expr(e.Lhs)
		l.expr(e.Rhs)
	case *ast.StringConcatOpExpr:
		l.expr(e.Lhs)
		l.expr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		l.expr(e.Lhs)
		l.expr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		l.expr(e.Expr)
	case *ast.UnaryNotOpExpr:
		l.expr(e.Expr)
	case *ast.UnaryLenOpExpr:
		l.expr(e.Expr)
	case *ast.FunctionExpr:
		l.function(e, "", e.Line(), false)
	}
	// Constants and ... name no variables; nil (an absent step) neither.
}

// isFunction reports whether the i-th of es is a function expression.
func isFunction(es []ast.Expr, i int) bool {
	if i >= len(es) {
		return false
	}
	_, ok := es[i].(*ast.FunctionExpr)
	return ok
}

// exprName returns a dotted name for a, a.b or a.b.c, and "" otherwise.
func exprName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.IdentExpr:
		return e.Value
	case *ast.AttrGetExpr:
		key, ok := e.Key.(*ast.StringExpr)
		if obj := exprName(e.Object); ok && obj != "" {
			return obj + "." + key.Value
		}
	}
	return ""
}

// report turns what the walk recorded into warnings for file. known holds
// the sandbox globals; nil skips the check of reads.
func (l *linter) report(file string, known map[string]bool) []Warning {
	var ws []Warning
	warn := func(line int, format string, args ...any) {
		ws = append(ws, Warning{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	topLevel, assigned, hooks := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range l.sets {
		assigned[s.name] = true
		if s.fn == nil || s.explicit {
			topLevel[s.name] = true
		}
		if isHook(s.name) {
			hooks[s.name] = true
		}
	}
	seen := map[string]bool{}
	for _, s := range l.sets {
		msg := setMessage(s, topLevel)
		if l.module && s.fn == nil && !s.explicit {
			msg = fmt.Sprintf("global '%s' set by a module; declare it local and return it in the module's table", s.name)
		}
		key := s.name
		if s.fn != nil {
			key += "\x00" + s.fn.String()
		}
		if msg != "" && !seen[key] {
			seen[key] = true
			warn(s.line, "%s", msg)
		}
	}
	for _, h := range l.localHooks {
		if !hooks[h.name] && !l.module {
			warn(h.line, "hook '%s' is declared local, so the engine does not see it; remove 'local'", h.name)
		}
	}
	if len(hooks) == 0 && len(l.localHooks) == 0 && !l.module {
		warn(0, "no hook defined; a stage script defines at least one of %s", strings.Join(Hooks, ", "))
	}
	reported := map[nameAt]bool{}
	for _, g := range l.gets {
		if assigned[g.name] || reported[g] {
			continue
		}
		switch {
		case unavailable(g.name):
			warn(g.line, "'%s' is not available in sluice scripts (sandbox)", g.name)
		case known != nil && !known[g.name]:
			warn(g.line, "unknown global '%s'", g.name)
		default:
			continue
		}
		reported[g] = true
	}
	return ws
}

// setMessage returns the warning for the global assignment s, or "".
// Assignments inside functions to a name also assigned at the top level
// are left to the top-level warning: declaring that one local fixes both.
func setMessage(s globalSet, topLevel map[string]bool) string {
	switch {
	case s.explicit:
		if s.isFunc && !isHook(s.name) {
			return hookMistake(s.name)
		}
		return ""
	case s.fn != nil:
		if topLevel[s.name] {
			return ""
		}
		return fmt.Sprintf("global '%s' assigned inside %s; declare it local", s.name, s.fn)
	case isHook(s.name):
		return ""
	case s.isFunc:
		if msg := hookMistake(s.name); msg != "" {
			return msg
		}
		return fmt.Sprintf("global function '%s' is not a hook; declare it local function", s.name)
	}
	return fmt.Sprintf("global '%s' assigned at top level; declare it local", s.name)
}

// hookMistake returns the warning for a global function name that looks
// like a hook but is not one (within 2 edits of a hook's name, ignoring
// case, or starting with on_), or "".
func hookMistake(name string) string {
	best, bestDist := "", 3
	low := strings.ToLower(name)
	for _, h := range Hooks {
		if d := editDistance(low, h); d < bestDist {
			best, bestDist = h, d
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf("function '%s' is not a hook; did you mean '%s'?", name, best)
	case strings.HasPrefix(low, "on_"):
		return fmt.Sprintf("function '%s' is not a hook; the hooks are %s", name, strings.Join(Hooks, ", "))
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
