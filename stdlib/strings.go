// Adapted from github.com/yuin/gopher-lua (v1.1.2) stringlib.go and
// tablelib.go, Copyright (c) 2015 Yusuke Inuzuka, MIT License: see
// internal/luapattern/LICENSE. Changes: patterns run on luapattern and stop
// when the state's context is done; rep, format, gsub and concat refuse
// results over Limits.MaxString; gmatch and gsub walk the subject a match at
// a time; format checks each conversion as PUC Lua does; sort looks at the
// context while it compares.

package stdlib

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/internal/luapattern"
)

// StringLib returns a new table with the functions of Lua's string library
// as gopher-lua has them (byte, char, find, format, gfind, gmatch, gsub,
// len, lower, match, rep, reverse, sub, upper; no dump). Pattern matching
// stops with the error of L's context (the calling state's, for
// coroutines) once it is done, and rep, format and gsub raise an error
// rather than build a string longer than lim.MaxString. The caller installs
// the table as the strings' metatable __index for method calls:
//
//	mt := L.NewTable()
//	mt.RawSetString("__index", StringLib(L, lim))
//	L.SetMetatable(lua.LString(""), mt)
func StringLib(L *lua.LState, lim Limits) *lua.LTable {
	s := strLib{max: lim.WithDefaults().MaxString}
	fns := []struct {
		name string
		fn   lua.LGFunction
	}{
		{"byte", strByte}, {"char", strChar}, {"find", strFind}, {"format", s.format},
		{"gmatch", strGmatch}, {"gsub", s.gsub}, {"len", strLen}, {"lower", strLower},
		{"match", strMatch}, {"rep", s.rep}, {"reverse", strReverse}, {"sub", strSub},
		{"upper", strUpper},
	}
	t := L.CreateTable(0, len(fns)+1)
	for _, f := range fns {
		t.RawSetString(f.name, L.NewFunction(f.fn))
	}
	t.RawSetString("gfind", t.RawGetString("gmatch"))
	return t
}

// strLib holds what the string functions that build strings need.
type strLib struct {
	max int // longest string rep, format and gsub may return
}

// tooLarge raises the error of a function whose result of n bytes would
// pass max.
func tooLarge(L *lua.LState, fn string, n float64, max int) {
	size := strconv.FormatFloat(n, 'g', -1, 64)
	if n < 1<<64 {
		size = strconv.FormatUint(uint64(n), 10)
	}
	L.RaiseError("%s: result too large (%s bytes > limit %d)", fn, size, max)
}

// ctxErr returns the error of L's context, nil when it has none. Past the
// deadline it yields once, so that the timer that cancels the context runs
// even when this goroutine keeps its P busy.
func ctxErr(L *lua.LState) error {
	ctx := L.Context()
	if ctx == nil {
		return nil
	}
	err := ctx.Err()
	if d, ok := ctx.Deadline(); err == nil && ok && !time.Now().Before(d) {
		runtime.Gosched()
		err = ctx.Err()
	}
	return err
}

// patternCheck returns the check luapattern calls while it matches.
func patternCheck(L *lua.LState) func() error {
	if L.Context() == nil {
		return nil
	}
	return func() error { return ctxErr(L) }
}

// readOnlyBytes returns the bytes of s without copying; they must not be
// written to.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func compilePattern(L *lua.LState, p string) *luapattern.Pattern {
	pat, err := luapattern.Compile(p)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return pat
}

// initIndex turns the init argument of find and match into a byte offset
// in [0, len(s)].
func initIndex(s string, i int) int {
	switch {
	case i > 0:
		i--
	case i < 0:
		i = max(len(s)+i, 0)
	}
	return min(i, len(s))
}

// pushCaptures pushes the captures of md; with none, the whole match if
// whole is set. It returns how many values it pushed.
func pushCaptures(L *lua.LState, str string, md *luapattern.MatchData, whole bool) int {
	n := md.CaptureLength()
	if n == 2 {
		if !whole {
			return 0
		}
		L.Push(lua.LString(str[md.Capture(0):md.Capture(1)]))
		return 1
	}
	for i := 2; i < n; i += 2 {
		if md.IsPosCapture(i) {
			L.Push(lua.LNumber(md.Capture(i)))
		} else {
			L.Push(lua.LString(str[md.Capture(i):md.Capture(i+1)]))
		}
	}
	return n/2 - 1
}

// firstMatch returns the first match of pattern in str from byte init on.
func firstMatch(L *lua.LState, pattern, str string, init int) *luapattern.MatchData {
	mds, err := luapattern.Find(pattern, readOnlyBytes(str), init, 1, patternCheck(L))
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	if len(mds) == 0 {
		return nil
	}
	return mds[0]
}

func strByte(L *lua.LState) int {
	str := L.CheckString(1)
	start := L.OptInt(2, 1) - 1
	end := L.OptInt(3, -1)
	l := len(str)
	if start < 0 {
		start = l + start + 1
	}
	if end < 0 {
		end = l + end + 1
	}

	if L.GetTop() == 2 {
		if start < 0 || start >= l {
			return 0
		}
		L.Push(lua.LNumber(str[start]))
		return 1
	}

	start = max(start, 0)
	end = min(end, l)
	if end < 0 || end <= start || start >= l {
		return 0
	}

	for i := start; i < end; i++ {
		L.Push(lua.LNumber(str[i]))
	}
	return end - start
}

func strChar(L *lua.LState) int {
	top := L.GetTop()
	bytes := make([]byte, top)
	for i := 1; i <= top; i++ {
		bytes[i-1] = uint8(L.CheckInt(i))
	}
	L.Push(lua.LString(bytes))
	return 1
}

func strFind(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	init := initIndex(str, L.OptInt(3, 1))
	if lua.LVAsBool(L.Get(4)) { // plain
		pos := strings.Index(str[init:], pattern)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pattern)))
		return 2
	}
	md := firstMatch(L, pattern, str, init)
	if md == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(md.Capture(0) + 1))
	L.Push(lua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, str, md, false)
}

func strMatch(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	md := firstMatch(L, pattern, str, initIndex(str, L.OptInt(3, 1)))
	if md == nil {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, str, md, true)
}

func strGmatch(L *lua.LState) int {
	str := L.CheckString(1)
	pat := compilePattern(L, L.CheckString(2))
	var cur *lua.LState // the state that calls the iterator
	m := pat.Matcher(readOnlyBytes(str), 0, func() error { return ctxErr(cur) })
	L.Push(L.NewFunction(func(L *lua.LState) int {
		cur = L
		md, err := m.Next()
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		if md == nil {
			return 0
		}
		return pushCaptures(L, str, md, true)
	}))
	return 1
}

func (s strLib) gsub(L *lua.LState) int {
	str := L.CheckString(1)
	pat := compilePattern(L, L.CheckString(2))
	L.CheckTypes(3, lua.LTString, lua.LTTable, lua.LTFunction)
	repl := L.CheckAny(3)
	limit := -1 // every match
	if L.Get(4) != lua.LNil {
		limit = max(L.CheckInt(4), 0)
	}

	m := pat.Matcher(readOnlyBytes(str), 0, patternCheck(L))
	var b strings.Builder
	last, count := 0, 0
	for limit < 0 || count < limit {
		md, err := m.Next()
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		if md == nil {
			break
		}
		count++
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(str[last:start])
		last = end
		switch r := repl.(type) {
		case lua.LString:
			gsubExpand(L, &b, str, string(r), md)
		case *lua.LTable:
			gsubValue(&b, str, md, L.GetTable(r, gsubKey(str, md)))
		case *lua.LFunction:
			L.Push(r)
			nargs := pushCaptures(L, str, md, true)
			L.Call(nargs, 1)
			v := L.Get(-1)
			L.Pop(1)
			gsubValue(&b, str, md, v)
		}
		if b.Len() > s.max {
			tooLarge(L, "string.gsub", float64(b.Len()), s.max)
		}
	}
	if count == 0 {
		L.SetTop(1)
		L.Push(lua.LNumber(0))
		return 2
	}
	if b.Len()+len(str)-last > s.max {
		tooLarge(L, "string.gsub", float64(b.Len()+len(str)-last), s.max)
	}
	b.WriteString(str[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(count))
	return 2
}

// gsubKey is the key gsub looks up in a replacement table: the first
// capture, or the whole match.
func gsubKey(str string, md *luapattern.MatchData) lua.LValue {
	idx := 0
	if md.CaptureLength() > 2 {
		idx = 2
	}
	if md.IsPosCapture(idx) {
		return lua.LNumber(md.Capture(idx))
	}
	return lua.LString(str[md.Capture(idx):md.Capture(idx+1)])
}

// gsubValue writes the replacement v, or the match itself when v is false
// or nil.
func gsubValue(b *strings.Builder, str string, md *luapattern.MatchData, v lua.LValue) {
	if lua.LVIsFalse(v) {
		b.WriteString(str[md.Capture(0):md.Capture(1)])
		return
	}
	b.WriteString(lua.LVAsString(v))
}

// gsubExpand writes the replacement string repl for match md: %0-%9 are
// captures, %% is %, and any other % stays as it is (as in gopher-lua).
func gsubExpand(L *lua.LState, b *strings.Builder, str, repl string, md *luapattern.MatchData) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i == len(repl)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := repl[i]; {
		case d == '%':
			b.WriteByte('%')
		case '0' <= d && d <= '9':
			b.WriteString(capturedString(L, md, str, 2*int(d-'0')))
		default:
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
}

// capturedString returns the capture in slot idx; %1 is the whole match
// when the pattern has no captures.
func capturedString(L *lua.LState, md *luapattern.MatchData, str string, idx int) string {
	if idx > 2 && idx >= md.CaptureLength() {
		L.RaiseError("invalid capture index")
	}
	if idx >= md.CaptureLength() && idx == 2 {
		idx = 0
	}
	if md.IsPosCapture(idx) {
		return strconv.Itoa(md.Capture(idx))
	}
	return str[md.Capture(idx):md.Capture(idx+1)]
}

func strLen(L *lua.LState) int {
	L.Push(lua.LNumber(len(L.CheckString(1))))
	return 1
}

func strLower(L *lua.LState) int {
	L.Push(lua.LString(mapRunes(L.CheckString(1), unicode.ToLower)))
	return 1
}

func strUpper(L *lua.LState) int {
	L.Push(lua.LString(mapRunes(L.CheckString(1), unicode.ToUpper)))
	return 1
}

// mapRunes maps the UTF-8 runes of s as strings.ToLower and ToUpper do
// (gopher-lua's lower and upper), but keeps bytes that are not UTF-8 as
// they are where strings.Map would write U+FFFD.
func mapRunes(s string, f func(rune) rune) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			b.WriteByte(byte(f(rune(c))))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(c)
		} else {
			b.WriteRune(f(r))
		}
		i += n
	}
	return b.String()
}

func (s strLib) rep(L *lua.LState) int {
	str := L.CheckString(1)
	n := float64(L.CheckNumber(2))
	if !(n >= 1) || str == "" {
		L.Push(lua.LString(""))
		return 1
	}
	n = math.Floor(n)
	if total := float64(len(str)) * n; total > float64(s.max) {
		tooLarge(L, "string.rep", total, s.max)
	}
	L.Push(lua.LString(strings.Repeat(str, int(n))))
	return 1
}

func strReverse(L *lua.LState) int {
	str := L.CheckString(1)
	out := make([]byte, len(str))
	for i, j := 0, len(str)-1; j >= 0; i, j = i+1, j-1 {
		out[i] = str[j]
	}
	L.Push(lua.LString(out))
	return 1
}

func strSub(L *lua.LState) int {
	str := L.CheckString(1)
	start := luaIndex2StringIndex(str, L.CheckInt(2), true)
	end := luaIndex2StringIndex(str, L.OptInt(3, -1), false)
	if start >= len(str) || end < start {
		L.Push(lua.LString(""))
	} else {
		L.Push(lua.LString(str[start:end]))
	}
	return 1
}

func luaIndex2StringIndex(str string, i int, start bool) int {
	if start && i != 0 {
		i--
	}
	l := len(str)
	if i < 0 {
		i = l + i + 1
	}
	i = max(0, i)
	if !start && i > l {
		i = l
	}
	return i
}

// format formats one conversion at a time, as PUC Lua does: flags, at most
// two digits of width and of precision, then one of cdiouxXeEfgGqs. Each
// value is formatted as gopher-lua formats it, except %c (a byte, not a
// UTF-8 rune), %u (as %d) and %s (which honours __tostring).
func (s strLib) format(L *lua.LState) int {
	f := L.CheckString(1)
	var b strings.Builder
	arg := 1
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			b.WriteString(f[i : i+j])
			i += j - 1
		} else if i+1 < len(f) && f[i+1] == '%' {
			b.WriteByte('%')
			i++
		} else if spec, verb, next := formatSpec(L, f, i+1); verb == '%' {
			b.WriteByte('%') // "%5%", as gopher-lua
			i = next
		} else {
			i = next
			arg++
			if arg > L.GetTop() {
				L.ArgError(arg, "no value")
			}
			s.formatOne(L, &b, spec, verb, arg)
		}
		if b.Len() > s.max {
			tooLarge(L, "string.format", float64(b.Len()), s.max)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// formatSpec reads the conversion that starts after the '%' at f[i-1]. It
// returns the Go format without its verb, the verb, and the verb's index.
func formatSpec(L *lua.LState, f string, i int) (string, byte, int) {
	start := i
	for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
		i++
	}
	if i-start >= 6 {
		L.RaiseError("invalid format (repeated flags)")
	}
	digits := func() {
		for n := 0; n < 2 && i < len(f) && isDigit(f[i]); n++ {
			i++
		}
	}
	digits()
	if i < len(f) && f[i] == '.' {
		i++
		digits()
	}
	if i < len(f) && isDigit(f[i]) {
		L.RaiseError("invalid format (width or precision too long)")
	}
	if i >= len(f) {
		L.RaiseError("%s", "invalid option '%' to 'format'")
	}
	return "%" + f[start:i], f[i], i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// formatOne writes argument arg formatted with spec and verb. A string
// that would pass the limit is refused before it is formatted.
func (s strLib) formatOne(L *lua.LState, b *strings.Builder, spec string, verb byte, arg int) {
	switch verb {
	case 'c':
		c := byte(int64(L.CheckNumber(arg)))
		fmt.Fprintf(b, spec+"s", string([]byte{c}))
	case 'd', 'i', 'u':
		fmt.Fprintf(b, spec+"d", L.CheckNumber(arg))
	case 'o', 'x', 'X', 'e', 'E', 'f', 'g', 'G':
		fmt.Fprintf(b, spec+string(verb), L.CheckNumber(arg))
	case 'q':
		if str, ok := L.Get(arg).(lua.LString); ok && b.Len()+len(str)+2 > s.max {
			tooLarge(L, "string.format", float64(b.Len()+len(str)+2), s.max)
		}
		fmt.Fprintf(b, spec+"q", L.Get(arg))
	case 's':
		str := lua.LVAsString(L.ToStringMeta(L.Get(arg)))
		if !strings.Contains(spec, ".") && b.Len()+len(str) > s.max {
			tooLarge(L, "string.format", float64(b.Len()+len(str)), s.max)
		}
		if spec == "%" {
			b.WriteString(str)
		} else {
			fmt.Fprintf(b, spec+"s", str)
		}
	default:
		L.RaiseError("invalid option '%%%c' to 'format'", verb)
	}
}

// TableLib returns a new table with the functions of Lua's table library as
// gopher-lua has them (concat, getn, insert, maxn, remove, sort).
// table.concat raises an error rather than build a string longer than
// lim.MaxString; concat and sort stop with the error of L's context once it
// is done.
func TableLib(L *lua.LState, lim Limits) *lua.LTable {
	maxLen := lim.WithDefaults().MaxString
	fns := []struct {
		name string
		fn   lua.LGFunction
	}{
		{"concat", func(L *lua.LState) int { return tabConcat(L, maxLen) }},
		{"getn", tabGetN}, {"insert", tabInsert}, {"maxn", tabMaxN},
		{"remove", tabRemove}, {"sort", tabSort},
	}
	t := L.CreateTable(0, len(fns))
	for _, f := range fns {
		t.RawSetString(f.name, L.NewFunction(f.fn))
	}
	return t
}

// tabCheckEvery is how many elements concat and sort handle between two
// looks at the context.
const tabCheckEvery = 1024

// raiseIfDone raises the error of L's context once it is done.
func raiseIfDone(L *lua.LState) {
	if err := ctxErr(L); err != nil {
		L.RaiseError("%s", err.Error())
	}
}

func tabConcat(L *lua.LState, maxLen int) int {
	tbl := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := tbl.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	if L.GetTop() == 3 && (i > n || i < 1) {
		L.Push(lua.LString(""))
		return 1
	}
	i = max(min(i, n), 1)
	j = min(j, n)
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	total := float64(len(sep)) * float64(j-i)
	for k := i; k <= j; k++ {
		if k%tabCheckEvery == 0 {
			raiseIfDone(L)
		}
		switch v := tbl.RawGetInt(k).(type) {
		case lua.LString:
			total += float64(len(v))
		case lua.LNumber:
			total += float64(len(v.String()))
		default:
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type().String(), k)
		}
	}
	if total > float64(maxLen) {
		tooLarge(L, "table.concat", total, maxLen)
	}
	var b strings.Builder
	b.Grow(int(total))
	for k := i; k <= j; k++ {
		if k%tabCheckEvery == 0 {
			raiseIfDone(L)
		}
		b.WriteString(lua.LVAsString(tbl.RawGetInt(k)))
		if k != j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

func tabGetN(L *lua.LState) int {
	L.Push(lua.LNumber(L.CheckTable(1).Len()))
	return 1
}

func tabMaxN(L *lua.LState) int {
	L.Push(lua.LNumber(L.CheckTable(1).MaxN()))
	return 1
}

func tabInsert(L *lua.LState) int {
	tbl := L.CheckTable(1)
	switch L.GetTop() {
	case 1:
		L.RaiseError("wrong number of arguments")
	case 2:
		tbl.Append(L.Get(2))
	default:
		tbl.Insert(L.CheckInt(2), L.CheckAny(3))
	}
	return 0
}

func tabRemove(L *lua.LState) int {
	tbl := L.CheckTable(1)
	if L.GetTop() == 1 {
		L.Push(tbl.Remove(-1))
	} else {
		L.Push(tbl.Remove(L.CheckInt(2)))
	}
	return 1
}

func tabSort(L *lua.LState) int {
	tbl := L.CheckTable(1)
	sorter := luaSorter{L: L, tbl: tbl, n: tbl.Len()}
	if v := L.Get(2); v != lua.LNil {
		sorter.fn = L.CheckFunction(2)
	}
	sort.Sort(&sorter)
	return 0
}

// luaSorter sorts t[1..n] in place with < or a Lua comparator, and looks at
// the context every tabCheckEvery comparisons.
type luaSorter struct {
	L     *lua.LState
	fn    *lua.LFunction
	tbl   *lua.LTable
	n     int
	calls int
}

func (s *luaSorter) Len() int { return s.n }

func (s *luaSorter) Swap(i, j int) {
	a, b := s.tbl.RawGetInt(i+1), s.tbl.RawGetInt(j+1)
	s.tbl.RawSetInt(i+1, b)
	s.tbl.RawSetInt(j+1, a)
}

func (s *luaSorter) Less(i, j int) bool {
	s.calls++
	if s.calls%tabCheckEvery == 0 {
		raiseIfDone(s.L)
	}
	a, b := s.tbl.RawGetInt(i+1), s.tbl.RawGetInt(j+1)
	if s.fn == nil {
		return s.L.LessThan(a, b)
	}
	s.L.Push(s.fn)
	s.L.Push(a)
	s.L.Push(b)
	s.L.Call(2, 1)
	v := s.L.Get(-1)
	s.L.Pop(1)
	return lua.LVAsBool(v)
}
