package stdlib

import (
	"math"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/database"
)

// kvModule is the `kv` module: string values by key, kept between
// messages, with an optional time to live in seconds.
//
//	if kv.get("replied:" .. msg.from) == nil then
//	  kv.set("replied:" .. msg.from, "1", 7 * 86400)   -- a week
//	end
//	if kv.incr("rate:" .. msg.client, 1, 3600) > 100 then return tempfail("slow down") end
//	kv.delete("temp:" .. addr)
//
// kv.set stores a string or a number (as its string); a ttl of 0 or none
// means forever. kv.incr adds delta (default 1) to an integer value and
// returns the sum; a missing or expired key counts from 0 and gets the
// ttl, an existing one keeps its expiry. In a dry run (sluice run) set,
// incr and delete are recorded as actions {kind = "kv.set" …, reason =
// key} and not done; kv.incr returns what the sum would be.
func (lib *Lib) kvModule() *lua.LTable {
	return lib.L.SetFuncs(lib.L.NewTable(), lib.lockedFuncs(map[string]lua.LGFunction{
		"get":    lib.kvGet,
		"set":    lib.kvSet,
		"incr":   lib.kvIncr,
		"delete": lib.kvDelete,
	}))
}

func (lib *Lib) kv(L *lua.LState) *database.KV {
	if lib.svc.KV == nil {
		L.RaiseError("kv: not configured")
	}
	return lib.svc.KV
}

func (lib *Lib) kvGet(L *lua.LState) int {
	kv, key := lib.kv(L), L.CheckString(1)
	v, ok, err := kv.Get(lib.call.Context(), key)
	if err != nil {
		L.RaiseError("kv.get: %s", kvError(err))
	}
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(v))
	return 1
}

func (lib *Lib) kvSet(L *lua.LState) int {
	kv, key := lib.kv(L), L.CheckString(1)
	var value string
	switch v := L.Get(2).(type) {
	case lua.LString:
		value = string(v)
	case lua.LNumber:
		value = v.String()
	default:
		L.ArgError(2, "a string or a number expected, got "+v.Type().String())
	}
	ttl := kvTTL(L, 3)
	if lib.call.DryRun {
		if err := database.CheckKV(key, value, ttl); err != nil {
			L.RaiseError("kv.set: %s", kvError(err))
		}
		lib.record(Action{Kind: "kv.set", Reason: key})
		return 0
	}
	if err := kv.Set(lib.call.Context(), key, value, ttl); err != nil {
		L.RaiseError("kv.set: %s", kvError(err))
	}
	return 0
}

func (lib *Lib) kvIncr(L *lua.LState) int {
	kv, key := lib.kv(L), L.CheckString(1)
	d := float64(L.OptNumber(2, 1))
	if d != math.Trunc(d) || math.Abs(d) > maxExactInt {
		L.ArgError(2, "an integer expected")
	}
	delta := int64(d)
	ttl := kvTTL(L, 3)
	ctx := lib.call.Context()
	if lib.call.DryRun {
		lib.record(Action{Kind: "kv.incr", Reason: key})
		cur, ok, err := kv.Get(ctx, key)
		if err != nil {
			L.RaiseError("kv.incr: %s", kvError(err))
		}
		n := int64(0)
		if ok {
			if n, err = strconv.ParseInt(cur, 10, 64); err != nil {
				L.RaiseError("kv.incr: %s: not an integer", key)
			}
		}
		L.Push(intToLua(n + delta))
		return 1
	}
	n, err := kv.Incr(ctx, key, delta, ttl)
	if err != nil {
		L.RaiseError("kv.incr: %s", kvError(err))
	}
	L.Push(intToLua(n))
	return 1
}

func (lib *Lib) kvDelete(L *lua.LState) int {
	kv, key := lib.kv(L), L.CheckString(1)
	if lib.call.DryRun {
		lib.record(Action{Kind: "kv.delete", Reason: key})
		return 0
	}
	if err := kv.Delete(lib.call.Context(), key); err != nil {
		L.RaiseError("kv.delete: %s", kvError(err))
	}
	return 0
}

// kvTTL reads an optional ttl in seconds (fractions allowed) at index n.
func kvTTL(L *lua.LState, n int) time.Duration {
	s := float64(L.OptNumber(n, 0))
	if s < 0 || math.IsNaN(s) || s > float64(math.MaxInt64)/float64(time.Second) {
		L.ArgError(n, "a ttl in seconds from 0 (forever) expected")
	}
	return time.Duration(s * float64(time.Second))
}

func kvError(err error) string {
	return strings.TrimPrefix(err.Error(), "kv: ")
}
