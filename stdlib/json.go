package stdlib

// The json module: json.encode, json.decode, json.array and json.null.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// DefaultMaxJSONInput is the largest string json.decode accepts by default.
const DefaultMaxJSONInput = 16 << 20

// jsonNullRegistryKey is where a state keeps its json.null userdata.
const jsonNullRegistryKey = "sluice.json.null"

// JSONOptions configures the json module. The zero value gives the defaults.
type JSONOptions struct {
	// MaxInput is the largest string json.decode accepts, in bytes.
	// Zero or less means DefaultMaxJSONInput.
	MaxInput int
}

// JSONModule returns the json module with default options. See
// JSONOptions.Module.
func JSONModule(L *lua.LState) *lua.LTable {
	return JSONOptions{}.Module(L)
}

// Module returns a new json module table for L:
//
//	json.encode(value [, {indent = true}]) → string
//	    json.encode({id = 7, tags = {"a"}}) --> {"id":7,"tags":["a"]}
//	    Follows ToGo: {} is an object, keys sorted, integers without ".0"
//	    (floats as Go prints them: 2^63 as 9223372036854776000), HTML
//	    characters not escaped, invalid UTF-8 replaced with U+FFFD; indent is
//	    true (two spaces) or the indent string. Raises on functions, cycles,
//	    NaN/inf, nesting deeper than 100:
//	    "json.encode: cannot encode function at $.cb".
//	json.decode(string) → value
//	    json.decode('{"total": 12.5}').total --> 12.5
//	    Follows ToLua: null becomes nil (so an array's nulls are holes and
//	    trailing nulls are lost), arrays are marked with json.array, an
//	    integer that a Lua number cannot hold exactly stays a decimal string
//	    (9007199254740993 → "9007199254740993"). Raises on bad input with the
//	    0-based byte offset of the problem, "json.decode: invalid character
//	    'x' looking for beginning of value at offset 12", on nesting deeper
//	    than 100 and on strings longer than MaxInput (16 MiB by default).
//	json.array([t]) → t
//	    json.encode(json.array({})) --> []
//	    Marks t (or a new table) so that it encodes as an array, even empty or
//	    with holes (written as null). t must have no other metatable, and a
//	    marked table cannot take one (the marker is protected).
//	    getmetatable(t) == "json.array" tells a marked table.
//	json.null
//	    json.encode({a = json.null}) --> {"a":null}
//	    A unique value that encodes as null, for explicit nulls in objects.
//
// Both encode and decode check L.Context() before they start.
func (o JSONOptions) Module(L *lua.LState) *lua.LTable {
	maxInput := o.MaxInput
	if maxInput <= 0 {
		maxInput = DefaultMaxJSONInput
	}
	t := L.CreateTable(0, 4)
	t.RawSetString("encode", L.NewFunction(jsonEncode))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		return jsonDecode(L, maxInput)
	}))
	t.RawSetString("array", L.NewFunction(jsonArray))
	t.RawSetString("null", jsonNull(L))
	return t
}

// jsonNull returns the state's json.null, creating it once.
func jsonNull(L *lua.LState) lua.LValue {
	reg := L.G.Registry
	if ud, ok := reg.RawGetString(jsonNullRegistryKey).(*lua.LUserData); ok {
		return ud
	}
	ud := L.NewUserData()
	ud.Value = jsonNullValue{}
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__metatable", lua.LString("json.null"))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("null"))
		return 1
	}))
	ud.Metatable = mt
	reg.RawSetString(jsonNullRegistryKey, ud)
	return ud
}

func jsonEncode(L *lua.LState) int {
	v := L.CheckAny(1)
	indent := ""
	if opts, ok := L.Get(2).(*lua.LTable); ok {
		indent = jsonEncodeOptions(L, opts)
	} else if L.Get(2) != lua.LNil {
		L.TypeError(2, lua.LTTable)
	}
	raiseIfCtxDone(L)
	g, err := ToGo(v)
	if err != nil {
		L.RaiseError("json.encode: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(g); err != nil {
		L.RaiseError("json.encode: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	L.Push(lua.LString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	return 1
}

// jsonEncodeOptions reads {indent = true | "string"}; unknown keys are errors.
func jsonEncodeOptions(L *lua.LState, opts *lua.LTable) string {
	indent := ""
	opts.ForEach(func(k, v lua.LValue) {
		if k != lua.LString("indent") {
			L.ArgError(2, "unknown option "+keyString(k))
		}
		switch x := v.(type) {
		case lua.LBool:
			if x {
				indent = "  "
			}
		case lua.LString:
			indent = string(x)
		default:
			L.ArgError(2, "indent must be a boolean or a string")
		}
	})
	return indent
}

func jsonDecode(L *lua.LState, maxInput int) int {
	s := L.CheckString(1)
	if len(s) > maxInput {
		L.RaiseError("json.decode: input is %d bytes, more than the limit of %d", len(s), maxInput)
	}
	raiseIfCtxDone(L)
	if off := jsonTooDeep(s, MaxDepth); off >= 0 {
		L.RaiseError("json.decode: nesting deeper than %d at offset %d", MaxDepth, off)
	}
	v, err := jsonUnmarshal(s)
	if err != nil {
		L.RaiseError("json.decode: %s", err)
	}
	raiseIfCtxDone(L)
	L.Push(ToLua(L, v))
	return 1
}

// jsonUnmarshal decodes exactly one JSON value, keeping numbers as
// json.Number. Errors carry the 0-based byte offset of the problem.
func jsonUnmarshal(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			off := se.Offset
			if strings.HasPrefix(se.Error(), "invalid character") && off > 0 {
				off-- // Offset counts the offending byte itself.
			}
			return nil, &jsonOffsetError{msg: se.Error(), off: off}
		case err == io.EOF:
			return nil, errors.New("empty input")
		case err == io.ErrUnexpectedEOF:
			return nil, &jsonOffsetError{msg: "unexpected end of input", off: int64(len(s))}
		}
		return nil, err
	}
	off := int(d.InputOffset())
	if rest := strings.TrimLeft(s[off:], " \t\r\n"); rest != "" {
		return nil, &jsonOffsetError{
			msg: "invalid character " + quoteJSONChar(rest[0]) + " after top-level value",
			off: int64(len(s) - len(rest)),
		}
	}
	return v, nil
}

type jsonOffsetError struct {
	msg string
	off int64
}

func (e *jsonOffsetError) Error() string {
	return e.msg + " at offset " + strconv.FormatInt(e.off, 10)
}

// quoteJSONChar spells a byte as encoding/json's messages do.
func quoteJSONChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf(`'\x%02x'`, c)
}

// jsonTooDeep returns the offset of the first '[' or '{' that nests deeper
// than limit, or -1. It skips strings and does not otherwise validate.
func jsonTooDeep(s string, limit int) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > limit {
				return i
			}
		case ']', '}':
			depth--
		}
	}
	return -1
}

func jsonArray(L *lua.LState) int {
	mt := jsonArrayMeta(L)
	if L.Get(1) == lua.LNil {
		t := L.NewTable()
		t.Metatable = mt
		L.Push(t)
		return 1
	}
	t := L.CheckTable(1)
	switch {
	case t.Metatable == lua.LNil:
		t.Metatable = mt
	case !isJSONArray(t):
		L.ArgError(1, "table already has a metatable")
	}
	L.Push(t)
	return 1
}

// raiseIfCtxDone raises the context's error when L's context is done.
func raiseIfCtxDone(L *lua.LState) {
	ctx := L.Context()
	if ctx == nil {
		return
	}
	select {
	case <-ctx.Done():
		L.RaiseError("%s", ctx.Err())
	default:
	}
}
