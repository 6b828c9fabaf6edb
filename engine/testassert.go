package engine

// The assertions of the t object (t.eq, t.ne, t.ok, t.contains, t.match,
// t.fail) and t.log, with the comparison and display of Lua values they
// share. A failed assertion raises an error located at the line that
// called it, which ends the test.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// failf ends the test with a failure located where the assertion was
// called; msg (the assertion's optional last argument) comes first.
func failf(L *lua.LState, msg lua.LValue, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if s, ok := msg.(lua.LString); ok && s != "" {
		text = string(s) + ": " + text
	}
	L.RaiseError("%s", text)
}

// eq is t.eq(got, want [, msg]): equal values; tables are compared by
// content, recursively.
func (tc *testCtx) eq(L *lua.LState) int {
	if L.GetTop() < 2 {
		L.RaiseError("t.eq: give two values: t.eq(got, want [, message])")
	}
	got, want := L.Get(1), L.Get(2)
	if !luaEqual(got, want, map[tablePair]bool{}) {
		failf(L, L.Get(3), "got %s, want %s", fmtValue(got), fmtValue(want))
	}
	return 0
}

// ne is t.ne(got, other [, msg]).
func (tc *testCtx) ne(L *lua.LState) int {
	if L.GetTop() < 2 {
		L.RaiseError("t.ne: give two values: t.ne(got, other [, message])")
	}
	got, other := L.Get(1), L.Get(2)
	if luaEqual(got, other, map[tablePair]bool{}) {
		failf(L, L.Get(3), "got %s, want anything else", fmtValue(got))
	}
	return 0
}

// ok is t.ok(v [, msg]): v is neither nil nor false.
func (tc *testCtx) ok(L *lua.LState) int {
	v := L.Get(1)
	if !lua.LVAsBool(v) {
		failf(L, L.Get(2), "got %s, want a true value", fmtValue(v))
	}
	return 0
}

// contains is t.contains(haystack, needle [, msg]): a string that contains
// the string needle (plainly, no pattern), or a list with an element that
// matches needle; a table needle matches an element that has (at least)
// its fields with the same values, recursively.
func (tc *testCtx) contains(L *lua.LState) int {
	h, needle := L.Get(1), L.Get(2)
	switch x := h.(type) {
	case lua.LString:
		n, ok := needle.(lua.LString)
		if !ok {
			L.ArgError(2, "a string expected to look for in a string, got "+needle.Type().String())
		}
		if !strings.Contains(string(x), string(n)) {
			failf(L, L.Get(3), "%s does not contain %s", fmtValue(h), fmtValue(needle))
		}
	case *lua.LTable:
		found := false
		x.ForEach(func(_, v lua.LValue) {
			found = found || luaMatches(v, needle, map[tablePair]bool{})
		})
		if !found {
			failf(L, L.Get(3), "no element of %s matches %s", fmtValue(h), fmtValue(needle))
		}
	default:
		failf(L, L.Get(3), "got %s, want a string or a table to look in", fmtValue(h))
	}
	return 0
}

// match is t.match(s, pattern [, msg]): s matches the Lua pattern.
func (tc *testCtx) match(L *lua.LState) int {
	s, pat := L.Get(1), L.CheckString(2)
	str, ok := s.(lua.LString)
	if !ok {
		failf(L, L.Get(3), "got %s, want a string matching %q", fmtValue(s), pat)
	}
	find := L.GetField(tc.tf.s.g.RawGetString("string"), "find")
	if err := L.CallByParam(lua.P{Fn: find, NRet: 1, Protect: true}, str, lua.LString(pat)); err != nil {
		L.RaiseError("t.match: %s", scriptError(err))
	}
	start := L.Get(-1)
	L.Pop(1)
	if start == lua.LNil {
		failf(L, L.Get(3), "%s does not match %q", fmtValue(s), pat)
	}
	return 0
}

// fail is t.fail([msg]).
func (tc *testCtx) fail(L *lua.LState) int {
	msg := L.OptString(1, "failed")
	L.RaiseError("%s", msg)
	return 0
}

// logf is t.log(...): its arguments, as print shows them, in the test's
// log with the line that logged them.
func (tc *testCtx) logf(L *lua.LState) int {
	parts := make([]string, 0, L.GetTop())
	for i := 1; i <= L.GetTop(); i++ {
		v := L.Get(i)
		if s, ok := v.(lua.LString); ok {
			parts = append(parts, string(s))
		} else {
			parts = append(parts, fmtValue(v))
		}
	}
	where := strings.TrimSuffix(L.Where(1), ":")
	tc.log.add(where + ": " + strings.Join(parts, " "))
	return 0
}

// tablePair is two tables being compared.
type tablePair struct{ a, b *lua.LTable }

// luaEqual compares by value; tables by content, recursively (metatables
// ignored). seen holds the pairs of tables under comparison: a pair met
// again is taken as equal, so tables that contain themselves compare in
// finite time, and shared subtables are compared once.
func luaEqual(a, b lua.LValue, seen map[tablePair]bool) bool {
	ta, ok1 := a.(*lua.LTable)
	tb, ok2 := b.(*lua.LTable)
	if !ok1 || !ok2 {
		return a == b
	}
	if ta == tb || seen[tablePair{ta, tb}] {
		return true
	}
	seen[tablePair{ta, tb}] = true
	n, equal := 0, true
	ta.ForEach(func(k, v lua.LValue) {
		n++
		equal = equal && luaEqual(v, tb.RawGet(k), seen)
	})
	if !equal {
		return false
	}
	m := 0
	tb.ForEach(func(lua.LValue, lua.LValue) { m++ })
	return n == m
}

// luaMatches reports whether v has the fields of want (when want is a
// table), or equals it.
func luaMatches(v, want lua.LValue, seen map[tablePair]bool) bool {
	tw, ok := want.(*lua.LTable)
	if !ok {
		return luaEqual(v, want, seen)
	}
	tv, ok := v.(*lua.LTable)
	if !ok {
		return false
	}
	if seen[tablePair{tv, tw}] {
		return true
	}
	seen[tablePair{tv, tw}] = true
	match := true
	tw.ForEach(func(k, w lua.LValue) {
		match = match && luaMatches(tv.RawGet(k), w, seen)
	})
	return match
}

// Caps of fmtValue.
const (
	fmtDepth = 4
	fmtLen   = 400
)

// fmtValue shows a Lua value in a failure message: strings quoted, tables
// as constructors with sorted keys, cut at fmtLen bytes.
func fmtValue(v lua.LValue) string {
	var b strings.Builder
	writeValue(&b, v, 0)
	s := b.String()
	if len(s) > fmtLen {
		s = s[:fmtLen] + "…"
	}
	return s
}

func writeValue(b *strings.Builder, v lua.LValue, depth int) {
	if b.Len() > fmtLen {
		return
	}
	switch x := v.(type) {
	case lua.LString:
		b.WriteString(strconv.Quote(string(x)))
	case *lua.LTable:
		if depth >= fmtDepth {
			b.WriteString("{…}")
			return
		}
		writeTable(b, x, depth)
	case *lua.LUserData:
		if v, ok := x.Value.(*Verdict); ok {
			fmt.Fprintf(b, "%s(%d %s %s)", v.Kind, v.Code, v.Enhanced, v.Text)
			return
		}
		b.WriteString("userdata")
	case *lua.LFunction:
		b.WriteString("function")
	default:
		b.WriteString(v.String())
	}
}

func writeTable(b *strings.Builder, t *lua.LTable, depth int) {
	n := t.Len()
	var keys []lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		if i, ok := k.(lua.LNumber); ok && float64(i) >= 1 && float64(i) <= float64(n) && float64(i) == float64(int(i)) {
			return
		}
		keys = append(keys, k)
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	b.WriteString("{")
	sep := ""
	for i := 1; i <= n; i++ {
		b.WriteString(sep)
		writeValue(b, t.RawGetInt(i), depth+1)
		sep = ", "
	}
	for _, k := range keys {
		b.WriteString(sep)
		if s, ok := k.(lua.LString); ok && isIdent(string(s)) {
			b.WriteString(string(s))
		} else {
			b.WriteString("[")
			writeValue(b, k, depth+1)
			b.WriteString("]")
		}
		b.WriteString(" = ")
		writeValue(b, t.RawGet(k), depth+1)
		sep = ", "
	}
	b.WriteString("}")
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
