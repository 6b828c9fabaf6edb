package stdlib

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
)

// newJRState returns a Lua state with base, string and table opened and the
// json and re modules installed as globals, closed at the end of the test.
func newJRState(tb testing.TB) *lua.LState {
	tb.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	tb.Cleanup(L.Close)
	lua.OpenBase(L)
	lua.OpenString(L)
	lua.OpenTable(L)
	L.SetGlobal("json", JSONModule(L))
	L.SetGlobal("re", ReModule(L))
	return L
}

// jrRun runs code as the chunk "test.lua" and returns its error text without
// the stack traceback, or "".
func jrRun(tb testing.TB, L *lua.LState, code string) string {
	tb.Helper()
	fn, err := L.Load(strings.NewReader(code), "test.lua")
	if err != nil {
		tb.Fatalf("compile %q: %v", code, err)
	}
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			if ae.Type == lua.ApiErrorPanic {
				tb.Fatalf("%q: Go panic: %v", code, err)
			}
			return ae.Object.String()
		}
		return err.Error()
	}
	return ""
}

// jrEvalAll evaluates "return <expr>" and returns every result through ToGo.
func jrEvalAll(tb testing.TB, L *lua.LState, expr string) []any {
	tb.Helper()
	top := L.GetTop()
	if msg := jrRun(tb, L, "return "+expr); msg != "" {
		tb.Fatalf("%s: %s", expr, msg)
	}
	var out []any
	for i := top + 1; i <= L.GetTop(); i++ {
		v, err := ToGo(L.Get(i))
		if err != nil {
			tb.Fatalf("%s: result %d: %v", expr, i-top, err)
		}
		out = append(out, v)
	}
	L.SetTop(top)
	return out
}

// jrEval evaluates "return <expr>" and returns its one result.
func jrEval(tb testing.TB, L *lua.LState, expr string) any {
	tb.Helper()
	out := jrEvalAll(tb, L, expr)
	if len(out) != 1 {
		tb.Fatalf("%s: got %d results, want 1", expr, len(out))
	}
	return out[0]
}

// jrLua evaluates "return <expr>" and returns the Lua value itself.
func jrLua(tb testing.TB, L *lua.LState, expr string) lua.LValue {
	tb.Helper()
	if msg := jrRun(tb, L, "return "+expr); msg != "" {
		tb.Fatalf("%s: %s", expr, msg)
	}
	v := L.Get(-1)
	L.Pop(1)
	return v
}

func TestValueToGo(t *testing.T) {
	tests := []struct {
		lua  string
		want any
	}{
		{`nil`, nil},
		{`true`, true},
		{`false`, false},
		{`2`, int64(2)},
		{`-7`, int64(-7)},
		{`2.5`, 2.5},
		{`-0`, int64(0)},
		{`2^53`, int64(1 << 53)},
		{`-2^53`, int64(-(1 << 53))},
		{`2^53 + 2`, float64(1<<53 + 2)},
		{`1e300`, 1e300},
		{`"héllo\0"`, "héllo\x00"},
		{`"\255"`, "\xff"},
		{`{}`, map[string]any{}},
		{`{1, 2, "x"}`, []any{int64(1), int64(2), "x"}},
		{`{a = 1, b = {c = "d", e = {true}}}`,
			map[string]any{"a": int64(1), "b": map[string]any{"c": "d", "e": []any{true}}}},
		{`{1, 2, x = 3}`, map[string]any{"1": int64(1), "2": int64(2), "x": int64(3)}},
		{`{1, nil, 3}`, map[string]any{"1": int64(1), "3": int64(3)}},
		{`(function() local t = {}; t[3] = "c"; t[2] = "b"; t[1] = "a"; return t end)()`,
			[]any{"a", "b", "c"}},
		{`(function() local t = {1, 2, 3}; t[3] = nil; return t end)()`, []any{int64(1), int64(2)}},
		{`{[1.5] = 1, [-1] = 2, [0] = 3}`, map[string]any{"1.5": int64(1), "-1": int64(2), "0": int64(3)}},
		{`{[2] = "b"}`, map[string]any{"2": "b"}},
		{`json.array({})`, []any{}},
		{`json.array()`, []any{}},
		{`json.array({1, nil, 3})`, []any{int64(1), nil, int64(3)}},
		{`json.array({[2] = "b"})`, []any{nil, "b"}},
		{`json.null`, nil},
		{`{a = json.null, b = {json.null}}`, map[string]any{"a": nil, "b": []any{nil}}},
		{`(function() local s = {1}; return {s, s} end)()`, []any{[]any{int64(1)}, []any{int64(1)}}},
		{`setmetatable({1}, {__index = function() return 1 end})`, []any{int64(1)}},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.lua, func(t *testing.T) {
			got := jrEval(t, L, tt.lua)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ToGo(%s) (-want +got):\n%s", tt.lua, diff)
			}
		})
	}
}

func TestValueToGoErrors(t *testing.T) {
	deep := func(n int) string {
		return strings.Repeat("{", n) + strings.Repeat("}", n)
	}
	tests := []struct {
		lua  string
		is   error
		want string
	}{
		{`print`, ErrUnsupported, "json: cannot encode function at $"},
		{`{cb = print}`, ErrUnsupported, "json: cannot encode function at $.cb"},
		{`{a = {{}, {x = {["two words"] = {print}}}}}`, ErrUnsupported,
			`json: cannot encode function at $.a[2].x["two words"][1]`},
		{`{[1] = 1, [2] = {[7] = print}}`, ErrUnsupported, "json: cannot encode function at $[2][7]"},
		{`ud`, ErrUnsupported, "json: cannot encode userdata at $"},
		{`{co = co}`, ErrUnsupported, "json: cannot encode thread at $.co"},
		{`0/0`, ErrUnsupported, "json: cannot encode NaN at $"},
		{`{n = 1/0}`, ErrUnsupported, "json: cannot encode inf at $.n"},
		{`{-1/0}`, ErrUnsupported, "json: cannot encode -inf at $[1]"},
		{`{[true] = 1}`, ErrUnsupported, "json: cannot encode table key of type boolean at $"},
		{`{[{}] = 1}`, ErrUnsupported, "json: cannot encode table key of type table at $"},
		{`{[1/0] = 1}`, ErrUnsupported, "json: cannot encode table key inf at $"},
		{`{x = {[1] = "a", ["1"] = "b"}}`, ErrUnsupported,
			`json: cannot encode table with both number and string key "1" at $.x`},
		{`json.array({1, x = 2})`, ErrUnsupported,
			`json: cannot encode key "x" in a table marked as json.array at $`},
		{`json.array({[100] = 1})`, ErrUnsupported,
			"json: cannot encode sparse json.array (1 values, largest index 100) at $"},
		{`json.array({a = {[100] = 1, [101] = 2}, [1] = 1})`, ErrUnsupported,
			`json: cannot encode key "a" in a table marked as json.array at $`},
		{`{json.array({[1e5] = 1})}`, ErrUnsupported,
			"json: cannot encode sparse json.array (1 values, largest index 100000) at $[1]"},
		{`json.array({[1] = 1, [3] = 3, [1e5] = 1, x = {}})`, ErrUnsupported,
			`json: cannot encode key "x" in a table marked as json.array at $`},
		{`(function() local t = json.array({}); t[1e5] = 1; t.k = 1; t.k = nil; return t end)()`, ErrUnsupported,
			"json: cannot encode sparse json.array (1 values, largest index 100000) at $"},
		{`(function() local t = {}; t.self = t; return t end)()`, ErrCycle,
			"json: cannot encode a table that contains itself at $.self"},
		{`(function() local t = {}; t[1] = {a = {t}}; return t end)()`, ErrCycle,
			"json: cannot encode a table that contains itself at $[1].a[1]"},
		{deep(MaxDepth + 1), ErrTooDeep, "json: nesting deeper than 100 at $[1][1][1]"},
	}
	L := newJRState(t)
	L.SetGlobal("ud", L.NewUserData())
	co, _ := L.NewThread()
	L.SetGlobal("co", co)
	for _, tt := range tests {
		t.Run(tt.lua, func(t *testing.T) {
			_, err := ToGo(jrLua(t, L, tt.lua))
			if !errors.Is(err, tt.is) {
				t.Fatalf("ToGo(%s) = %v, want errors.Is %v", tt.lua, err, tt.is)
			}
			got := err.Error()
			if tt.is == ErrTooDeep {
				got = got[:len(tt.want)] // the path is long
			}
			if got != tt.want {
				t.Errorf("ToGo(%s) error\ngot  %s\nwant %s", tt.lua, got, tt.want)
			}
		})
	}
}

func TestValueToGoDepthLimit(t *testing.T) {
	L := newJRState(t)
	nest := func(n int) string {
		return fmt.Sprintf("(function() local t = {} for i = 2, %d do t = {t} end return t end)()", n)
	}
	if _, err := ToGo(jrLua(t, L, nest(MaxDepth))); err != nil {
		t.Errorf("ToGo of %d nested tables: %v, want success", MaxDepth, err)
	}
	_, err := ToGo(jrLua(t, L, nest(5*MaxDepth)))
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("ToGo of %d nested tables: %v, want ErrTooDeep", 5*MaxDepth, err)
	}
	if n := len(err.Error()); n > 400 {
		t.Errorf("error text is %d bytes long, want it shortened: %s", n, err)
	}
}

type valueTestStruct struct {
	A int      `json:"a"`
	B []string `json:"b"`
}

func TestValueToLua(t *testing.T) {
	tests := []struct {
		name  string
		in    any
		check string // a Lua expression about v that must be true
	}{
		{"nil", nil, `v == nil`},
		{"bool", true, `v == true`},
		{"string", "héllo", `v == "héllo"`},
		{"bytes", []byte("a\x00b"), `v == "a\0b"`},
		{"float64", 2.5, `v == 2.5`},
		{"float32", float32(0.5), `v == 0.5`},
		{"int", 42, `v == 42`},
		{"int8", int8(-3), `v == -3`},
		{"uint16", uint16(65535), `v == 65535`},
		{"int64 exact", int64(1 << 53), `v == 2^53`},
		{"int64 big", int64(1<<53 + 1), `v == "9007199254740993"`},
		{"int64 exact big", int64(1 << 60), `v == 2^60`},
		{"int64 min", int64(math.MinInt64), `v == -2^63`},
		{"int64 max", int64(math.MaxInt64), `v == "9223372036854775807"`},
		{"uint64 2^63", uint64(1 << 63), `v == 2^63`},
		{"number 1e20", json.Number("100000000000000000000"), `v == 1e20`},
		{"number 2^63 exact", json.Number("9223372036854775808"), `v == 2^63`},
		{"number 2^63 as printed", json.Number("9223372036854776000"), `v == 2^63`},
		{"number -2^64 as printed", json.Number("-18446744073709552000"), `v == -2^64`},
		{"number 2^63+1", json.Number("9223372036854775809"), `v == "9223372036854775809"`},
		{"uint64 big", uint64(math.MaxUint64), `v == "18446744073709551615"`},
		{"number int", json.Number("-12"), `v == -12`},
		{"number float", json.Number("1.25e2"), `v == 125`},
		{"number big int", json.Number("123456789012345678901234567890"), `v == "123456789012345678901234567890"`},
		{"number 2^53+1", json.Number("9007199254740993"), `v == "9007199254740993"`},
		{"number overflow", json.Number("1e400"), `v == "1e400"`},
		{"number tiny", json.Number("1e-400"), `v == 0`},
		{"time", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), `v == "2024-01-02T03:04:05Z"`},
		{"time nanos", time.Date(2024, 1, 2, 3, 4, 5, 500, time.FixedZone("", 3600)),
			`v == "2024-01-02T03:04:05.0000005+01:00"`},
		{"[]any", []any{1.0, "x", nil, true}, `#v == 4 and v[1] == 1 and v[2] == "x" and v[3] == nil and v[4] == true`},
		{"[]any marked", []any{}, `getmetatable(v) == "json.array" and next(v) == nil`},
		{"[]any nil", []any(nil), `v == nil`},
		{"[]string", []string{"a", "b"}, `getmetatable(v) == "json.array" and v[1] == "a" and v[2] == "b"`},
		{"map", map[string]any{"a": map[string]any{"b": []any{json.Number("1")}}, "n": nil},
			`v.a.b[1] == 1 and v.n == nil and getmetatable(v) == nil`},
		{"map[string]string", map[string]string{"k": "v"}, `v.k == "v"`},
		{"struct", valueTestStruct{A: 1, B: []string{"x"}}, `v.a == 1 and v.b[1] == "x"`},
		{"map[string]int", map[string]int{"n": 3}, `v.n == 3`},
		{"chan", make(chan int), `type(v) == "string" and v:sub(1, 2) == "0x"`},
		{"LValue", lua.LString("x"), `v == "x"`},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L.SetGlobal("v", ToLua(L, tt.in))
			if got := jrLua(t, L, tt.check); got != lua.LTrue {
				t.Errorf("ToLua(%#v): %s is %v, want true", tt.in, tt.check, got)
			}
		})
	}
}

func TestValueToLuaTooDeep(t *testing.T) {
	L := newJRState(t)
	var v any = "leaf"
	for range MaxDepth + 1 {
		v = []any{v}
	}
	L.SetGlobal("deep", L.NewFunction(func(L *lua.LState) int {
		L.Push(ToLua(L, v))
		return 1
	}))
	want := "test.lua:1: json: nesting deeper than 100"
	if got := jrRun(t, L, `local x = deep()`); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestValueRoundTrip checks ToGo(ToLua(x)) == x for values as json.decode
// (with UseNumber) and msg.vars produce them, after ToGo's normalisation.
func TestValueRoundTrip(t *testing.T) {
	tests := []any{
		nil,
		"s",
		true,
		int64(3),
		2.5,
		[]any{},
		map[string]any{},
		[]any{int64(1), nil, "three"},
		map[string]any{"order": map[string]any{"id": int64(7), "lines": []any{
			map[string]any{"sku": "A-1", "qty": int64(2), "price": 9.95},
		}}, "tags": []any{"x", "y"}, "empty": []any{}, "obj": map[string]any{}},
	}
	L := newJRState(t)
	for _, in := range tests {
		got, err := ToGo(ToLua(L, in))
		if err != nil {
			t.Fatalf("ToGo(ToLua(%#v)): %v", in, err)
		}
		if diff := cmp.Diff(in, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}
