package stdlib

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
)

func TestJSONEncode(t *testing.T) {
	tests := []struct {
		lua  string
		want string
	}{
		{`nil`, `null`},
		{`json.null`, `null`},
		{`true`, `true`},
		{`2`, `2`},
		{`2.0`, `2`},
		{`-0`, `0`},
		{`0.1`, `0.1`},
		{`1/3`, `0.3333333333333333`},
		{`2^53`, `9007199254740992`},
		{`2^63`, `9223372036854776000`}, // the shortest decimal that reads back as 2^63
		{`1e21`, `1e+21`},
		{`1e-7`, `1e-7`},
		{`"plain"`, `"plain"`},
		{`"<a & b>"`, `"<a & b>"`},
		{`"quote \" back \\ slash / nl \n tab \t cr \r"`, `"quote \" back \\ slash / nl \n tab \t cr \r"`},
		{`"\1\31\127"`, "\"\\u0001\\u001f\x7f\""},
		{`"héllo wörld ✓ 😀"`, `"héllo wörld ✓ 😀"`},
		{`"bad \255 utf8"`, `"bad \ufffd utf8"`},
		{`"\226\128\168"`, `"\u2028"`},
		{`{}`, `{}`},
		{`json.array()`, `[]`},
		{`{1, 2, 3}`, `[1,2,3]`},
		{`{b = 1, a = 2, c = {z = 1, y = {}}}`, `{"a":2,"b":1,"c":{"y":{},"z":1}}`},
		{`{1, nil, 3}`, `{"1":1,"3":3}`},
		{`json.array({1, nil, 3})`, `[1,null,3]`},
		{`{a = json.null}`, `{"a":null}`},
		{`{[10] = "x", [2] = "y"}`, `{"10":"x","2":"y"}`},
		{`{["é"] = "k"}`, `{"é":"k"}`},
		{`{a = {1, {b = {}}}}`, `{"a":[1,{"b":{}}]}`},
		{`json.decode('{"x":[]}')`, `{"x":[]}`},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.lua, func(t *testing.T) {
			got := jrEval(t, L, "json.encode("+tt.lua+")")
			if got != tt.want {
				t.Errorf("json.encode(%s)\ngot  %s\nwant %s", tt.lua, got, tt.want)
			}
		})
	}
}

func TestJSONEncodeIndent(t *testing.T) {
	L := newJRState(t)
	tests := []struct{ opts, want string }{
		{`{indent = true}`, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}"},
		{`{indent = "\t"}`, "{\n\t\"a\": [\n\t\t1,\n\t\t2\n\t],\n\t\"b\": {}\n}"},
		{`{indent = false}`, `{"a":[1,2],"b":{}}`},
		{`{}`, `{"a":[1,2],"b":{}}`},
		{`nil`, `{"a":[1,2],"b":{}}`},
	}
	for _, tt := range tests {
		got := jrEval(t, L, `json.encode({a = {1, 2}, b = {}}, `+tt.opts+`)`)
		if got != tt.want {
			t.Errorf("json.encode with %s\ngot  %q\nwant %q", tt.opts, got, tt.want)
		}
	}
}

func TestJSONEncodeErrors(t *testing.T) {
	tests := []struct{ lua, want string }{
		{`json.encode({cb = print})`, "test.lua:1: json.encode: cannot encode function at $.cb"},
		{`local t = {}; t.me = {t}; json.encode(t)`,
			"test.lua:1: json.encode: cannot encode a table that contains itself at $.me[1]"},
		{`json.encode({0/0})`, "test.lua:1: json.encode: cannot encode NaN at $[1]"},
		{`json.encode(1/0)`, "test.lua:1: json.encode: cannot encode inf at $"},
		{"local t = {}\nfor i = 1, 101 do t = {t} end\njson.encode(t)",
			"test.lua:3: json.encode: nesting deeper than 100 at $[1][1]"},
		{`json.encode()`, "test.lua:1: bad argument #1 to encode (value expected)"},
		{`json.encode(1, {indnet = true})`, `test.lua:1: bad argument #2 to encode (unknown option "indnet")`},
		{`json.encode(1, {indent = 2})`, `test.lua:1: bad argument #2 to encode (indent must be a boolean or a string)`},
		{`json.encode(1, "x")`, `test.lua:1: bad argument #2 to encode (table expected, got string)`},
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

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		json string
		want any
	}{
		{`null`, nil},
		{` true `, true},
		{`2`, int64(2)},
		{`-0`, int64(0)},
		{`2.5e1`, int64(25)},
		{`0.1`, 0.1},
		{`9007199254740992`, int64(1 << 53)},
		{`9007199254740993`, "9007199254740993"},
		{`-123456789012345678901234567890`, "-123456789012345678901234567890"},
		{`1e400`, "1e400"},
		{`100000000000000000000`, 1e20},
		{`9007199254740994`, float64(1<<53 + 2)},
		{`20000000000000010`, float64(20000000000000008)},
		{`-9223372036854775808`, float64(-(1 << 63))},
		{`"a\u00e9\ud83d\ude00\n\"\\\/"`, "aé😀\n\"\\/"},
		{`"\ud800"`, "\ufffd"},
		{"\"raw \xff byte\"", "raw \ufffd byte"},
		{`"\u0000"`, "\x00"},
		{`[]`, []any{}},
		{`{}`, map[string]any{}},
		{`[1, "two", [3], {"four": 4}]`, []any{int64(1), "two", []any{int64(3)}, map[string]any{"four": int64(4)}}},
		{`{"a": null, "b": [null, 2, null]}`, map[string]any{"b": []any{nil, int64(2)}}},
		{`{"1": "x", "2": "y"}`, map[string]any{"1": "x", "2": "y"}},
		{`{"k": 1, "k": 2}`, map[string]any{"k": int64(2)}},
		{"\t\r\n [ ] \n", []any{}},
	}
	L := newJRState(t)
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			L.SetGlobal("s", lua.LString(tt.json))
			got := jrEval(t, L, `json.decode(s)`)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("json.decode(%s) (-want +got):\n%s", tt.json, diff)
			}
		})
	}
}

// TestJSONDecodeLua checks decoded values from the script's side.
func TestJSONDecodeLua(t *testing.T) {
	L := newJRState(t)
	code := `
local o = json.decode('{"items": [{"sku": "A", "qty": 2}], "big": 12345678901234567890, "n": [1, null, 3]}')
assert(o.items[1].sku == "A" and o.items[1].qty == 2)
assert(#o.items == 1 and getmetatable(o.items) == "json.array")
assert(getmetatable(o) == nil)
assert(o.big == "12345678901234567890")
assert(o.n[1] == 1 and o.n[2] == nil and o.n[3] == 3)
assert(json.encode(o.n) == "[1,null,3]")
assert(not pcall(setmetatable, o.items, {}), "the array marker is protected")
assert(tostring(json.null) == "null" and getmetatable(json.null) == "json.null")
assert(json.decode("null") == nil)
local t = {}
assert(json.array(t) == t and getmetatable(t) == "json.array" and json.array(t) == t)
local ok, err = pcall(json.array, setmetatable({}, {}))
assert(not ok and err:find("table already has a metatable", 1, true), err)
`
	if msg := jrRun(t, L, code); msg != "" {
		t.Fatal(msg)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct{ json, want string }{
		{`[1, x]`, "json.decode: invalid character 'x' looking for beginning of value at offset 4"},
		{`{"a":1,}`, "json.decode: invalid character '}' looking for beginning of object key string at offset 7"},
		{`{"a" 1}`, "json.decode: invalid character '1' after object key at offset 5"},
		{``, "json.decode: empty input"},
		{"  \n", "json.decode: empty input"},
		{`{"a":`, "json.decode: unexpected end of input at offset 5"},
		{`"abc`, "json.decode: unexpected end of input at offset 4"},
		{`1 2`, "json.decode: invalid character '2' after top-level value at offset 2"},
		{`{} x`, "json.decode: invalid character 'x' after top-level value at offset 3"},
		{"[1]\x01", `json.decode: invalid character '\x01' after top-level value at offset 3`},
		{`NaN`, "json.decode: invalid character 'N' looking for beginning of value at offset 0"},
		{`01`, "json.decode: invalid character '1' after top-level value at offset 1"},
		{"\"a\x01\"", "json.decode: invalid character '\\x01' in string literal at offset 2"},
		{nest(MaxDepth + 1), "json.decode: nesting deeper than 100 at offset 100"},
		{`{"a": "[[[[` + nest(MaxDepth-1) + `"}`, ""},
		{`[` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat("}", MaxDepth) + `]`,
			"json.decode: nesting deeper than 100 at offset 496"},
		{nest(MaxDepth), ""},
	}
	L := newJRState(t)
	for _, tt := range tests {
		name := tt.json
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			L.SetGlobal("s", lua.LString(tt.json))
			got := jrRun(t, L, `json.decode(s)`)
			if tt.want != "" {
				tt.want = "test.lua:1: " + tt.want
			}
			if got != tt.want {
				t.Errorf("json.decode(%q)\ngot  %s\nwant %s", tt.json, got, tt.want)
			}
		})
	}
}

func TestJSONDecodeMaxInput(t *testing.T) {
	L := newJRState(t)
	L.SetGlobal("json", JSONOptions{MaxInput: 10}.Module(L))
	if got := jrEval(t, L, `json.decode("[1,2,3,45]")`); cmp.Diff([]any{int64(1), int64(2), int64(3), int64(45)}, got) != "" {
		t.Errorf("10 bytes: got %v", got)
	}
	want := "test.lua:1: json.decode: input is 11 bytes, more than the limit of 10"
	if got := jrRun(t, L, `json.decode("[1,2,3,456]")`); got != want {
		t.Errorf("11 bytes: got %q, want %q", got, want)
	}

	// The default, just over the limit (the input is never parsed).
	L2 := newJRState(t)
	L2.SetGlobal("s", lua.LString(`"`+strings.Repeat("a", DefaultMaxJSONInput-1)+`"`))
	want = fmt.Sprintf("test.lua:1: json.decode: input is %d bytes, more than the limit of %d",
		DefaultMaxJSONInput+1, DefaultMaxJSONInput)
	if got := jrRun(t, L2, `json.decode(s)`); got != want {
		t.Errorf("16 MiB + 1: got %q, want %q", got, want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []string{
		`{}`,
		`{a = 1, b = "two", c = {true, false}, d = {e = {f = {1.5, -2, "é"}}}}`,
		`json.array({})`,
		`{order = {id = "A-1", total = 12.34, lines = {{sku = "x", qty = 1}}, note = "<b>\"hi\"</b>\n"}}`,
		`{big = "123456789012345678901234567890", max = 2^53, float = 1e300, tiny = 5e-324}`,
		`{["with space"] = {["😀"] = "\0\1\127"}}`,
		`json.array({1, nil, 3})`,
	}
	L := newJRState(t)
	for _, lv := range tests {
		t.Run(lv, func(t *testing.T) {
			want := jrEval(t, L, lv)
			s := jrEval(t, L, "json.encode("+lv+")").(string)
			L.SetGlobal("s", lua.LString(s))
			got := jrEval(t, L, "json.decode(s)")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Lua→JSON→Lua via %s (-want +got):\n%s", s, diff)
			}
			if again := jrEval(t, L, "json.encode(json.decode(s))"); again != s {
				t.Errorf("encode(decode(s))\ngot  %s\nwant %s", again, s)
			}
		})
	}
}

func TestJSONContext(t *testing.T) {
	L := newJRState(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	mod := L.GetGlobal("json").(*lua.LTable)
	for _, name := range []string{"encode", "decode"} {
		L.SetContext(ctx)
		// Call the Go function directly: the VM would stop a Lua caller first.
		err := L.CallByParam(lua.P{Fn: mod.RawGetString(name), NRet: 1, Protect: true}, lua.LString("[]"))
		L.RemoveContext()
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("json.%s with a cancelled context: got %v, want context canceled", name, err)
		}
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`null`, `0`, `-0.0`, `1e400`, `9007199254740993`, `1e20`, `9223372036854775808`, `20000000000000008`, `"\ud800"`, `[1,null,3]`, `[null]`,
		`{"a":{"b":[{}]}}`, `{"1":2}`, `[[[[[]]]]]`, `"\u0000\u2028"`, "\"\xff\"", `{"a":1,"a":2}`,
		jsonOrderDoc,
	} {
		f.Add(s)
	}
	L := newJRState(f)
	f.Fuzz(func(t *testing.T, s string) {
		L.SetGlobal("s", lua.LString(s))
		if msg := jrRun(t, L, `v = json.decode(s)`); msg != "" {
			if !strings.HasPrefix(msg, "test.lua:1: json.decode: ") {
				t.Fatalf("json.decode(%q): unexpected error %s", s, msg)
			}
			return
		}
		s1, ok := jrEval(t, L, `json.encode(v)`).(string)
		if !ok {
			t.Fatalf("json.encode(json.decode(%q)) is not a string", s)
		}
		L.SetGlobal("s1", lua.LString(s1))
		s2 := jrEval(t, L, `json.encode(json.decode(s1))`)
		if s1 != s2 {
			t.Fatalf("not stable for %q\nonce:  %s\ntwice: %s", s, s1, s2)
		}
	})
}

// jsonOrderDoc is a 2 KiB order as a shop would mail it.
var jsonOrderDoc = func() string {
	var b strings.Builder
	b.WriteString(`{"order_id":"SO-2024-000123","created":"2024-05-06T07:08:09Z","currency":"EUR",`)
	b.WriteString(`"customer":{"id":48151623,"name":"Zoë Müller","email":"zoe@example.org",`)
	b.WriteString(`"address":{"street":"Hauptstraße 12","city":"München","zip":"80331","country":"DE"}},`)
	b.WriteString(`"lines":[`)
	for i := range 18 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","title":"Widget number %d, blue","qty":%d,"price":%d.95,"tax":0.19,"gift":%t}`,
			i*37, i, i%3+1, 10+i, i%2 == 0)
	}
	b.WriteString(`],"total":1234.56,"paid":true,"notes":null,"tags":["web","priority"]}`)
	return b.String()
}()

func BenchmarkJSONDecode(b *testing.B) {
	L := newJRState(b)
	decode := L.GetGlobal("json").(*lua.LTable).RawGetString("decode")
	arg := lua.LValue(lua.LString(jsonOrderDoc))
	b.SetBytes(int64(len(jsonOrderDoc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := L.CallByParam(lua.P{Fn: decode, NRet: 1, Protect: true}, arg); err != nil {
			b.Fatal(err)
		}
		L.Pop(1)
	}
}

func BenchmarkJSONEncode(b *testing.B) {
	L := newJRState(b)
	mod := L.GetGlobal("json").(*lua.LTable)
	if err := L.CallByParam(lua.P{Fn: mod.RawGetString("decode"), NRet: 1, Protect: true},
		lua.LString(jsonOrderDoc)); err != nil {
		b.Fatal(err)
	}
	doc := L.Get(-1)
	L.Pop(1)
	encode := mod.RawGetString("encode")
	b.SetBytes(int64(len(jsonOrderDoc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := L.CallByParam(lua.P{Fn: encode, NRet: 1, Protect: true}, doc); err != nil {
			b.Fatal(err)
		}
		L.Pop(1)
	}
}
