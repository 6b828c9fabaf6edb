package stdlib

// Conversion between Lua values and plain Go values. json, msg.vars (carried
// between stages and through the queue as JSON) and db share these rules, so a
// value means the same thing wherever a script hands it over.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// MaxDepth is how deeply tables (for ToGo and ToLua) and JSON arrays and
// objects (for json.decode) may nest. The outermost table is depth 1.
const MaxDepth = 100

// maxExactInt is 2^53: every integer of at most this magnitude is exact in a
// float64, which is what a Lua number is.
const maxExactInt = 1 << 53

// Errors returned by ToGo, wrapped with the detail and the path of the
// offending value ("json: cannot encode function at $.hooks[2]").
var (
	// ErrUnsupported: a function, userdata, thread or channel; NaN or an
	// infinity; a table key that is not a string or a number; or a table whose
	// keys cannot become a JSON array or object.
	ErrUnsupported = errors.New("json: cannot encode")
	// ErrCycle: a table that contains itself.
	ErrCycle = errors.New("json: cannot encode a table that contains itself")
	// ErrTooDeep: tables nested deeper than MaxDepth.
	ErrTooDeep = errors.New("json: nesting deeper than 100")
)

// jsonArrayTag is the __metatable field of the metatable that marks a table as
// a JSON array (see json.array). It also makes getmetatable(t) return
// "json.array" and protects the shared metatable from scripts.
const jsonArrayTag = lua.LString("json.array")

// jsonArrayRegistryKey is where a state keeps its array metatable.
const jsonArrayRegistryKey = "sluice.json.array"

// jsonNullValue is the Value of the json.null userdata.
type jsonNullValue struct{}

// ToGo converts a Lua value to a plain Go value that encoding/json encodes
// faithfully, for json.encode, msg.vars and db parameters:
//
//   - nil and json.null → nil; booleans → bool; strings → string (bytes as
//     they are: json.encode replaces invalid UTF-8 with U+FFFD).
//   - numbers → int64 when integral and within ±2^53 (so 2 prints as 2),
//     float64 otherwise; NaN and ±inf are ErrUnsupported.
//   - a table whose keys are exactly 1..n (n ≥ 1) → []any.
//   - a table marked with json.array → []any, even when empty; holes become
//     nil (JSON null); all keys must be positive integers, and at most
//     2n+16 slots for n values (so t[1e9] = x is an error, not 8 GB).
//   - any other table, including the empty one → map[string]any; number keys
//     become strings ("1", "2.5"). A number key that collides with a string key
//     ({[1]=…, ["1"]=…}) is ErrUnsupported.
//   - functions, userdata, threads, channels → ErrUnsupported.
//
// Errors wrap ErrUnsupported, ErrCycle or ErrTooDeep and name the path of the
// value in Lua terms, with 1-based indexes: "$.items[1].price". Metatables
// other than json.array's are ignored; ToGo reads tables raw.
func ToGo(v lua.LValue) (any, error) {
	var c goConv
	out, err := c.value(v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// convError is a ToGo failure with the path to the offending value. Segments
// are collected innermost first while the recursion unwinds.
type convError struct {
	kind   error
	detail string   // appended to kind's text, e.g. "function"
	segs   []string // path segments, innermost first
}

func (e *convError) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	if e.detail != "" {
		b.WriteByte(' ')
		b.WriteString(e.detail)
	}
	b.WriteString(" at $")
	for i := len(e.segs) - 1; i >= 0; i-- {
		if b.Len() > 300 && i > 2 {
			// Deep paths (a depth error) keep their first and last segments.
			b.WriteString("…")
			i = 2
		}
		b.WriteString(e.segs[i])
	}
	return b.String()
}

func (e *convError) Unwrap() error { return e.kind }

// wrapPath adds one path segment to a convError coming up from a child.
func wrapPath(err error, seg string) error {
	if ce, ok := err.(*convError); ok {
		ce.segs = append(ce.segs, seg)
	}
	return err
}

// goConv holds the tables on the path from the root, to detect cycles.
type goConv struct {
	stack []*lua.LTable
}

func (c *goConv) value(v lua.LValue) (any, error) {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		return numberToGo(float64(x))
	case lua.LString:
		return string(x), nil
	case *lua.LTable:
		return c.table(x)
	case *lua.LUserData:
		if _, ok := x.Value.(jsonNullValue); ok {
			return nil, nil
		}
	}
	return nil, &convError{kind: ErrUnsupported, detail: v.Type().String()}
}

// numberToGo returns int64 for integral numbers within ±2^53, else float64.
func numberToGo(f float64) (any, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return nil, &convError{kind: ErrUnsupported, detail: nonFinite(f)}
	case f == math.Trunc(f) && math.Abs(f) <= maxExactInt:
		return int64(f), nil
	}
	return f, nil
}

// nonFinite names NaN and the infinities as Lua prints them.
func nonFinite(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "inf"
	}
	return "-inf"
}

func (c *goConv) table(t *lua.LTable) (any, error) {
	for _, p := range c.stack {
		if p == t {
			return nil, &convError{kind: ErrCycle}
		}
	}
	if len(c.stack) >= MaxDepth {
		return nil, &convError{kind: ErrTooDeep}
	}
	c.stack = append(c.stack, t)
	defer func() { c.stack = c.stack[:len(c.stack)-1] }()

	marked := isJSONArray(t)
	// Fast path: every key lives in the array part, 1..n without holes.
	n := t.MaxN()
	first := lua.LValue(lua.LNil)
	if n > 0 {
		first = lua.LNumber(n)
	}
	if k, _ := t.Next(first); k == lua.LNil && (n > 0 || marked) {
		if out, ok, err := c.array(t, n, marked); ok || err != nil {
			return out, err
		}
	}
	return c.slowTable(t, marked)
}

// array converts t[1..n]. ok is false when t has a hole and is not marked as
// an array, so that it must become an object.
func (c *goConv) array(t *lua.LTable, n int, marked bool) (out []any, ok bool, err error) {
	// Count first: gopher-lua pads its array part with nils up to the
	// largest index set, so n can be huge for a table with few values.
	count := 0
	for i := 1; i <= n; i++ {
		if t.RawGetInt(i) != lua.LNil {
			count++
		}
	}
	switch {
	case !marked && count < n:
		return nil, false, nil
	case n > 2*count+16:
		return nil, false, errSparse(count, n)
	}
	out = make([]any, n)
	for i := 1; i <= n; i++ {
		v := t.RawGetInt(i)
		if v == lua.LNil {
			continue
		}
		if out[i-1], err = c.value(v); err != nil {
			return nil, false, wrapPath(err, "["+strconv.Itoa(i)+"]")
		}
	}
	return out, true, nil
}

// slowTable classifies a table whose keys are not all in its array part.
func (c *goConv) slowTable(t *lua.LTable, marked bool) (any, error) {
	count, maxIndex, allIndex := 0, 0, true
	var badKey lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		count++
		if i, ok := arrayIndex(k); ok {
			maxIndex = max(maxIndex, i)
		} else if allIndex {
			allIndex, badKey = false, k
		}
	})
	switch {
	case marked && !allIndex:
		return nil, &convError{kind: ErrUnsupported, detail: "key " + keyString(badKey) + " in a table marked as json.array"}
	case marked && maxIndex > 2*count+16:
		return nil, errSparse(count, maxIndex)
	case marked || (allIndex && count > 0 && maxIndex == count):
		out, _, err := c.array(t, maxIndex, true)
		return out, err
	}
	return c.object(t, count)
}

func (c *goConv) object(t *lua.LTable, count int) (any, error) {
	out := make(map[string]any, count)
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		var key, seg string
		switch kk := k.(type) {
		case lua.LString:
			key = string(kk)
			seg = pathSegment(key)
		case lua.LNumber:
			f := float64(kk)
			if math.IsInf(f, 0) || math.IsNaN(f) {
				err = &convError{kind: ErrUnsupported, detail: "table key " + nonFinite(f)}
				return
			}
			key = numberKey(f)
			seg = "[" + key + "]"
		default:
			err = &convError{kind: ErrUnsupported, detail: "table key of type " + k.Type().String()}
			return
		}
		if _, dup := out[key]; dup {
			err = &convError{kind: ErrUnsupported, detail: fmt.Sprintf("table with both number and string key %q", key)}
			return
		}
		var gv any
		if gv, err = c.value(v); err != nil {
			err = wrapPath(err, seg)
			return
		}
		out[key] = gv
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func errSparse(count, maxIndex int) error {
	return &convError{kind: ErrUnsupported,
		detail: fmt.Sprintf("sparse json.array (%d values, largest index %d)", count, maxIndex)}
}

// arrayIndex reports whether k is a positive integer usable as an array index.
func arrayIndex(k lua.LValue) (int, bool) {
	n, ok := k.(lua.LNumber)
	if !ok {
		return 0, false
	}
	f := float64(n)
	if f < 1 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// numberKey spells a number key as JSON would spell the number.
func numberKey(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func keyString(k lua.LValue) string {
	if s, ok := k.(lua.LString); ok {
		return strconv.Quote(string(s))
	}
	return k.String()
}

// pathSegment is ".name" for identifier-like keys and ["key"] otherwise.
func pathSegment(key string) string {
	ident := key != ""
	for i, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

// isJSONArray reports whether t carries the json.array marker metatable.
func isJSONArray(t *lua.LTable) bool {
	mt, ok := t.Metatable.(*lua.LTable)
	return ok && mt.RawGetString("__metatable") == jsonArrayTag
}

// jsonArrayMeta returns the state's array marker metatable, creating it once.
// It is kept in the registry, out of scripts' reach.
func jsonArrayMeta(L *lua.LState) *lua.LTable {
	mt := L.NewTypeMetatable(jsonArrayRegistryKey)
	if mt.RawGetString("__metatable") == lua.LNil {
		mt.RawSetString("__metatable", jsonArrayTag)
	}
	return mt
}

// ToLua converts a Go value to a Lua value: what encoding/json produces
// (map[string]any, []any, float64, json.Number, string, bool, nil) and also
// int and the other integer kinds, float32, []string, map[string]string,
// []byte (a string), time.Time (an RFC 3339 string with the fraction of a
// second when there is one) and lua.LValue (as it is).
//
// Arrays become tables marked with json.array, so that an empty or
// null-holed array survives Lua→JSON again. Integers (the int and uint kinds,
// json.Number without fraction or exponent) that a float64 cannot hold
// exactly become decimal strings, as do json.Numbers that overflow float64:
// never a silently rounded number (see jsonNumberToLua for the one nuance).
// Other json.Numbers become float64. Anything else goes through
// encoding/json (structs, typed maps and slices); a value encoding/json
// refuses becomes its fmt %v string. nil (and nil maps and slices) become nil.
//
// v must not nest deeper than MaxDepth (it cannot when it comes from
// json.decode or ToGo); a deeper or cyclic value raises a Lua error through
// L.RaiseError, which panics when no Lua function is running.
func ToLua(L *lua.LState, v any) lua.LValue {
	c := luaConv{L: L}
	return c.value(v, 0)
}

// luaConv caches the array metatable during one conversion.
type luaConv struct {
	L  *lua.LState
	mt *lua.LTable
}

func (c *luaConv) newArray(n int) *lua.LTable {
	if c.mt == nil {
		c.mt = jsonArrayMeta(c.L)
	}
	t := c.L.CreateTable(n, 0)
	t.Metatable = c.mt
	return t
}

func (c *luaConv) enter(depth int) {
	if depth >= MaxDepth {
		c.L.RaiseError("%s", ErrTooDeep.Error())
	}
}

func (c *luaConv) value(v any, depth int) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case lua.LValue:
		return x
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case []byte:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case float32:
		return lua.LNumber(x)
	case int:
		return intToLua(int64(x))
	case int8:
		return lua.LNumber(x)
	case int16:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case int64:
		return intToLua(x)
	case uint:
		return uintToLua(uint64(x))
	case uint8:
		return lua.LNumber(x)
	case uint16:
		return lua.LNumber(x)
	case uint32:
		return lua.LNumber(x)
	case uint64:
		return uintToLua(x)
	case json.Number:
		return jsonNumberToLua(x)
	case time.Time:
		return lua.LString(x.Format(time.RFC3339Nano))
	case []any:
		if x == nil {
			return lua.LNil
		}
		c.enter(depth)
		t := c.newArray(len(x))
		for i, e := range x {
			if e != nil {
				t.RawSetInt(i+1, c.value(e, depth+1))
			}
		}
		return t
	case []string:
		if x == nil {
			return lua.LNil
		}
		t := c.newArray(len(x))
		for i, e := range x {
			t.RawSetInt(i+1, lua.LString(e))
		}
		return t
	case map[string]any:
		if x == nil {
			return lua.LNil
		}
		c.enter(depth)
		t := c.L.CreateTable(0, len(x))
		for k, e := range x {
			if e != nil {
				t.RawSetString(k, c.value(e, depth+1))
			}
		}
		return t
	case map[string]string:
		if x == nil {
			return lua.LNil
		}
		t := c.L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, lua.LString(e))
		}
		return t
	}
	return c.viaJSON(v, depth)
}

// viaJSON converts any other Go value through its JSON encoding.
func (c *luaConv) viaJSON(v any, depth int) lua.LValue {
	b, err := json.Marshal(v)
	if err != nil {
		return lua.LString(fmt.Sprint(v))
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var g any
	if err := d.Decode(&g); err != nil {
		return lua.LString(fmt.Sprint(v))
	}
	return c.value(g, depth)
}

// intToLua keeps an integer exact: a number when float64 holds it exactly,
// else its decimal string.
func intToLua(i int64) lua.LValue {
	if i <= maxExactInt && i >= -maxExactInt {
		return lua.LNumber(i)
	}
	if f := float64(i); f < 1<<63 && int64(f) == i {
		return lua.LNumber(f)
	}
	return lua.LString(strconv.FormatInt(i, 10))
}

func uintToLua(u uint64) lua.LValue {
	if f := float64(u); f < 1<<64 && uint64(f) == u {
		return lua.LNumber(f)
	}
	return lua.LString(strconv.FormatUint(u, 10))
}

// jsonNumberToLua converts a JSON number without ever rounding an integer
// silently. An integer literal becomes a number when float64 holds it
// exactly, or when it is how Go and JavaScript print the nearest float64 (so
// that what json.encode writes, 1e20 as 100000000000000000000, reads back as
// a number); otherwise it stays a decimal string. A literal with a fraction
// or an exponent is a float64, or a string when it overflows.
func jsonNumberToLua(n json.Number) lua.LValue {
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return lua.LString(s)
		}
		return lua.LNumber(f)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && i <= maxExactInt && i >= -maxExactInt {
		return lua.LNumber(i)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && (strconv.FormatFloat(f, 'f', -1, 64) == s || exactFloat(s, f)) {
		return lua.LNumber(f)
	}
	return lua.LString(s)
}

// exactFloat reports whether the integer literal s equals f.
func exactFloat(s string, f float64) bool {
	want, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return false
	}
	got, acc := big.NewFloat(f).Int(nil)
	return acc == big.Exact && got.Cmp(want) == 0
}
