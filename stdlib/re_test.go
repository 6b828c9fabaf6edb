package stdlib

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
)

func TestRe(t *testing.T) {
	tests := []struct {
		lua  string
		want []any
	}{
		{`re.match("Order 42", "^Order \\d+$")`, []any{true}},
		{`re.match("my Order 42", "^Order")`, []any{false}},
		{`re.match("my Order 42", "Order")`, []any{true}},
		{`re.match("ORDER", "(?i)order")`, []any{true}},
		{`re.match("a\nb", "^b$")`, []any{false}},
		{`re.match("a\nb", "(?m)^b$")`, []any{true}},
		{`re.match("naïve", "^na.ve$")`, []any{true}},
		{`re.match("", "")`, []any{true}},

		{`re.find("total: 12.50 EUR", "(\\d+)\\.(\\d+)")`, []any{"12.50", "12", "50"}},
		{`re.find("abc", "b")`, []any{"b"}},
		{`re.find("abc", "x")`, []any{nil}},
		{`re.find("ac", "a(b)?(c)")`, []any{"ac", nil, "c"}},
		{`re.find("a", "a(?:x)?")`, []any{"a"}},
		{`re.find("€5", "(.)(\\d)")`, []any{"€5", "€", "5"}},

		{`re.find_all("a1 b2 c3", "[a-z]\\d")`, []any{[]any{"a1", "b2", "c3"}}},
		{`re.find_all("a1 b2 c3", "[a-z]\\d", 2)`, []any{[]any{"a1", "b2"}}},
		{`re.find_all("a1 b2 c3", "[a-z]\\d", 0)`, []any{map[string]any{}}},
		{`re.find_all("abc", "x")`, []any{map[string]any{}}},
		{`re.find_all("a=1, b=2", "(?P<k>\\w)=(\\d)")`, []any{[]any{
			map[string]any{"0": "a=1", "1": "a", "2": "1", "k": "a"},
			map[string]any{"0": "b=2", "1": "b", "2": "2", "k": "b"},
		}}},
		{`re.find_all("x", "(a)?x")`, []any{[]any{map[string]any{"0": "x"}}}},
		{`re.find_all("baaac", "a*")`, []any{[]any{"", "aaa", ""}}},

		{`re.gsub("a-b c-d", "(\\w)-(\\w)", "$2-$1")`, []any{"b-a d-c", int64(2)}},
		{`re.gsub("a-b", "(?P<x>\\w)-(?P<y>\\w)", "${y}${x}")`, []any{"ba", int64(1)}},
		{`re.gsub("a", "a", "$$1")`, []any{"$1", int64(1)}},
		{`re.gsub("a", "a", "$1x")`, []any{"", int64(1)}},
		{`re.gsub("a.b.c", "\\.", "/")`, []any{"a/b/c", int64(2)}},
		{`re.gsub("abc", "x", "y")`, []any{"abc", int64(0)}},
		{`re.gsub("abc", "", "-")`, []any{"-a-b-c-", int64(4)}},
		{`re.gsub("n1", "\\d", 7)`, []any{"n7", int64(1)}},
		{`re.gsub("x1 x2", "\\d", function(d) return d * 2 end)`, []any{"x2 x4", int64(2)}},
		{`re.gsub("a1 b2", "(\\w)(\\d)", function(m, l, d) return d .. l .. "(" .. m .. ")" end)`,
			[]any{"1a(a1) 2b(b2)", int64(2)}},
		{`re.gsub("keep me", "\\w+", function(w) if w == "me" then return "you" end end)`,
			[]any{"keep you", int64(2)}},
		{`re.gsub("keep", "e", function() return false end)`, []any{"keep", int64(2)}},
		{`re.gsub("ac", "a(b)?(c)", function(m, b, c) return tostring(b) .. c end)`, []any{"nilc", int64(1)}},

		{`re.split("a, b,c", ",\\s*")`, []any{[]any{"a", "b", "c"}}},
		{`re.split("a, b,c", ",\\s*", 2)`, []any{[]any{"a", "b,c"}}},
		{`re.split("a, b,c", ",\\s*", 0)`, []any{map[string]any{}}},
		{`re.split("", ",")`, []any{[]any{""}}},
		{`re.split("abc", "")`, []any{[]any{"a", "b", "c"}}},

		{`re.quote("1+1=2 [a] (b) $ ^ . * ? { } | \\")`, []any{`1\+1=2 \[a\] \(b\) \$ \^ \. \* \? \{ \} \| \\`}},
		{`re.match("1+1=2", "^" .. re.quote("1+1=2") .. "$")`, []any{true}},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.lua, func(t *testing.T) {
			got := jrEvalAll(t, L, tt.lua)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.lua, diff)
			}
		})
	}
}

// TestReGsubLikeGo checks that the $-expanding path gives what Go's
// ReplaceAllString gives, empty matches included.
func TestReGsubLikeGo(t *testing.T) {
	tests := []struct{ s, pattern, repl string }{
		{"baaac", "a*", "<$0>"},
		{"abc", "", "-$0"},
		{"a1b22c333", `(\d+)`, "[$1]"},
		{"héllo wörld", `(\pL)(\pL*)`, "${2}${1}"},
		{"x", "y*", "$0$0"},
		{"one two", `\b`, "|"},
		{"line1\nline2\n", `(?m)^`, "> $0"},
	}
	L := newJRState(t)
	for _, tt := range tests {
		want := regexp.MustCompile(tt.pattern).ReplaceAllString(tt.s, tt.repl)
		L.SetGlobal("s", lua.LString(tt.s))
		L.SetGlobal("p", lua.LString(tt.pattern))
		L.SetGlobal("r", lua.LString(tt.repl))
		if got := jrEvalAll(t, L, `re.gsub(s, p, r)`)[0]; got != want {
			t.Errorf("re.gsub(%q, %q, %q) = %q, want %q", tt.s, tt.pattern, tt.repl, got, want)
		}
		// A function that returns the match must leave s unchanged.
		if got := jrEvalAll(t, L, `re.gsub(s, p, function(m) return m end)`)[0]; got != tt.s {
			t.Errorf("re.gsub(%q, %q, identity) = %q, want it unchanged", tt.s, tt.pattern, got)
		}
	}
}

func TestReErrors(t *testing.T) {
	tests := []struct{ lua, want string }{
		{`re.match("x", "(")`, "test.lua:1: re: bad pattern `(`: missing closing )"},
		{`re.find("x", "a**")`, "test.lua:1: re: bad pattern `a**`: invalid nested repetition operator in `**`"},
		{`re.gsub("x", "[z-a]", "")`, "test.lua:1: re: bad pattern `[z-a]`: invalid character class range in `z-a`"},
		{`re.split("x", "\\8")`, "test.lua:1: re: bad pattern `\\8`: invalid escape sequence"},
		{`re.find_all("x", "(?<name")`, "test.lua:1: re: bad pattern `(?<name`: invalid named capture"},
		{`re.match("x", "a{1001}")`, "test.lua:1: re: bad pattern `a{1001}`: invalid repeat count in `{1001}`"},
		{`re.match("x", "(?=x)")`, "test.lua:1: re: bad pattern `(?=x)`: invalid or unsupported Perl syntax in `(?=`"},
		{`re.match("x")`, "test.lua:1: bad argument #2 to match (string expected, got nil)"},
		{`re.match(nil, "x")`, "test.lua:1: bad argument #1 to match (string expected, got nil)"},
		{`re.gsub("x", "x", {})`, "test.lua:1: bad argument #3 to gsub (string or function expected, got table)"},
		{`re.gsub("x", "x")`, "test.lua:1: bad argument #3 to gsub (string or function expected, got nil)"},
		{`re.gsub("x", "x", function() return {} end)`,
			"test.lua:1: re.gsub: replacement function returned a table"},
		{"re.gsub('abc', '(b)', function(b)\n  error('no ' .. b)\nend)", "test.lua:2: no b"},
		{"re.gsub('abc', 'b', function(b)\n  error('no ' .. b)\nend)", "test.lua:2: no b"},
		{`re.gsub("x", "x", function() error({code = 1}) end)`, "table: "},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.lua, func(t *testing.T) {
			got := jrRun(t, L, tt.lua)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("%s\ngot  %s\nwant %s", tt.lua, got, tt.want)
			}
		})
	}
}

// TestReErrorValue checks that a non-string error raised by the replacement
// function reaches pcall as it was raised.
func TestReErrorValue(t *testing.T) {
	L := newJRState(t)
	code := `
local ok, err = pcall(re.gsub, "x", "(x)", function() error({code = 7}) end)
assert(not ok and type(err) == "table" and err.code == 7, tostring(err))
-- the state is usable afterwards
assert(re.gsub("x", "x", function() return "y" end) == "y")
`
	if msg := jrRun(t, L, code); msg != "" {
		t.Fatal(msg)
	}
}

func TestReLimits(t *testing.T) {
	L := newJRState(t)
	L.SetGlobal("re", ReOptions{MaxOutput: 10}.Module(L))
	tests := []struct{ lua, want string }{
		{`re.gsub("abc", "b", "0123456789")`, "test.lua:1: re.gsub: result longer than 10 bytes"},
		{`re.gsub("abc", "(b)", "$1$1$1$1$1$1$1$1$1")`, "test.lua:1: re.gsub: result longer than 10 bytes"},
		{`re.gsub("abc", "b", function() return "0123456789" end)`, "test.lua:1: re.gsub: result longer than 10 bytes"},
		{`re.gsub("abc", "(b)", function() return "0123456789" end)`, "test.lua:1: re.gsub: result longer than 10 bytes"},
		{`re.gsub("abc", "b", "01234567")`, ""},
		// A result as long as the input is always allowed.
		{`assert(re.gsub(string.rep("a", 100), "a", "b") == string.rep("b", 100))`, ""},
		{`re.gsub(string.rep("a", 100), "a", "bb")`, "test.lua:1: re.gsub: result longer than 100 bytes"},
	}
	for _, tt := range tests {
		if got := jrRun(t, L, tt.lua); got != tt.want {
			t.Errorf("%s\ngot  %s\nwant %s", tt.lua, got, tt.want)
		}
	}
}

func TestReMaxMatches(t *testing.T) {
	defer func(n int) { reMaxMatches = n }(reMaxMatches)
	reMaxMatches = 1000
	L := newJRState(t)
	L.SetGlobal("s", lua.LString(strings.Repeat("a", reMaxMatches+1)))
	tests := []struct{ lua, want string }{
		{`re.find_all(s, "a")`, fmt.Sprintf("test.lua:1: re.find_all: more than %d matches", reMaxMatches)},
		{`re.find_all(s, "(a)")`, fmt.Sprintf("test.lua:1: re.find_all: more than %d matches", reMaxMatches)},
		{`re.split(s, "a")`, fmt.Sprintf("test.lua:1: re.split: more than %d matches", reMaxMatches)},
		{`re.gsub(s, "(a)", "$1")`, fmt.Sprintf("test.lua:1: re.gsub: more than %d matches", reMaxMatches)},
		{`assert(#re.find_all(s, "a", 3) == 3)`, ""},
		{`assert(#re.find_all(s:sub(2), "a") == 1000)`, ""},
		{`assert(#re.split(s:sub(2), "a") == 1001)`, ""},
		{`re.split(s, "a", 2000)`, "test.lua:1: re.split: more than 1000 matches"},
		{`assert(#re.split(s, "a", 1000) == 1000)`, ""},
		{`assert(select(2, re.gsub(s, "a", "b")) == 1001)`, ""},
		{`assert(select(2, re.gsub(s, "a", function() end)) == 1001)`, ""},
	}
	for _, tt := range tests {
		if got := jrRun(t, L, tt.lua); got != tt.want {
			t.Errorf("%s\ngot  %s\nwant %s", tt.lua, got, tt.want)
		}
	}
}

func TestReContext(t *testing.T) {
	L := newJRState(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	start := time.Now()
	got := jrRun(t, L, `re.gsub("aaa", "a", function() while true do end end)`)
	if !strings.Contains(got, "context deadline exceeded") {
		t.Errorf("got %q, want a context deadline error", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %v", d)
	}

	// A cancelled context stops the Go function before it starts.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	L.SetContext(ctx2)
	match := L.GetGlobal("re").(*lua.LTable).RawGetString("match")
	err := L.CallByParam(lua.P{Fn: match, NRet: 1, Protect: true}, lua.LString("x"), lua.LString("x"))
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("re.match with a cancelled context: got %v, want context canceled", err)
	}
}

func TestReCacheBounded(t *testing.T) {
	c := newReCache()
	hot := `^hot\d+$`
	for i := range 10 * reCacheGen {
		if _, err := c.get(fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.get(hot); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, m := range []*sync.Map{c.cur.Load(), c.old.Load()} {
		m.Range(func(_, _ any) bool { n++; return true })
	}
	if n > 2*reCacheGen {
		t.Errorf("cache holds %d patterns, want at most %d", n, 2*reCacheGen)
	}
	_, inCur := c.cur.Load().Load(hot)
	_, inOld := c.old.Load().Load(hot)
	if !inCur && !inOld {
		t.Errorf("the pattern used all along was evicted")
	}
	re1, _ := c.get(hot)
	re2, _ := c.get(hot)
	if re1 != re2 {
		t.Errorf("two gets of a cached pattern compiled it twice")
	}
	if _, err := c.get(strings.Repeat("a", reMaxCachedPattern+1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.cur.Load().Load(strings.Repeat("a", reMaxCachedPattern+1)); ok {
		t.Errorf("a pattern longer than %d bytes was cached", reMaxCachedPattern)
	}
}

// TestReConcurrent runs many states at once on shared and private patterns
// (enough to turn the cache's generations over); run it with -race.
func TestReConcurrent(t *testing.T) {
	const goroutines, rounds = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			L := lua.NewState(lua.Options{SkipOpenLibs: true})
			defer L.Close()
			lua.OpenBase(L)
			lua.OpenString(L)
			L.SetGlobal("re", ReModule(L))
			L.SetGlobal("g", lua.LNumber(g))
			L.SetGlobal("rounds", lua.LNumber(rounds))
			err := L.DoString(`
for i = 1, rounds do
  assert(re.match("order-" .. i, "^order-(\\d+)$"))
  local own = "^g" .. g .. "-" .. i .. "-(\\w+)$"
  local m, w = re.find("g" .. g .. "-" .. i .. "-word", own)
  assert(w == "word", "find " .. own)
  assert(re.gsub("a.b", "\\.", "-") == "a-b")
  assert(not re.match("x", "^y" .. (i % 7) .. "$"))
end`)
			if err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkReMatch(b *testing.B) {
	L := newJRState(b)
	match := L.GetGlobal("re").(*lua.LTable).RawGetString("match")
	s := lua.LValue(lua.LString("Subject: Order SO-2024-000123 confirmed"))
	p := lua.LValue(lua.LString(`(?i)^subject: order \S+ confirmed$`))
	b.ReportAllocs()
	for b.Loop() {
		if err := L.CallByParam(lua.P{Fn: match, NRet: 1, Protect: true}, s, p); err != nil {
			b.Fatal(err)
		}
		if L.Get(-1) != lua.LTrue {
			b.Fatal("no match")
		}
		L.Pop(1)
	}
}

func BenchmarkReMatchParallel(b *testing.B) {
	s := lua.LValue(lua.LString("Subject: Order SO-2024-000123 confirmed"))
	p := lua.LValue(lua.LString(`(?i)^subject: order \S+ confirmed$`))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		L := lua.NewState(lua.Options{SkipOpenLibs: true})
		defer L.Close()
		match := ReModule(L).RawGetString("match")
		for pb.Next() {
			if err := L.CallByParam(lua.P{Fn: match, NRet: 1, Protect: true}, s, p); err != nil {
				b.Fatal(err)
			}
			L.Pop(1)
		}
	})
}

// BenchmarkReMatchGo is the floor: the compiled pattern, without Lua or cache.
func BenchmarkReMatchGo(b *testing.B) {
	re := regexp.MustCompile(`(?i)^subject: order \S+ confirmed$`)
	b.ReportAllocs()
	for b.Loop() {
		if !re.MatchString("Subject: Order SO-2024-000123 confirmed") {
			b.Fatal("no match")
		}
	}
}

func BenchmarkReGsubFunc(b *testing.B) {
	L := newJRState(b)
	fn, err := L.Load(strings.NewReader(
		`return re.gsub("a1 b22 c333 d4444 e55555", "(\\w)(\\d+)", function(m, l, d) return d .. l end)`), "bench.lua")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}); err != nil {
			b.Fatal(err)
		}
		L.Pop(1)
	}
}
