package stdlib

import (
	lua "github.com/yuin/gopher-lua"
)

// Lib is the standard library bound to one Lua state: the metatables of
// the Lua types (msg, part) and the module tables. The engine creates one
// per pooled state and never shares it between goroutines.
type Lib struct {
	L        *lua.LState
	call     *Call
	limits   Limits
	svc      Services
	msgMeta  *lua.LTable
	partMeta *lua.LTable
	// cur is the msg of the call in progress (there is one per call).
	cur *msgRef
}

// New binds the standard library to L. c is the per-call information the
// engine fills in before each hook call; svc the components modules reach.
func New(L *lua.LState, c *Call, lim Limits, svc Services) *Lib {
	lib := &Lib{L: L, call: c, limits: lim.WithDefaults(), svc: svc}
	lib.msgMeta = lib.newMsgMeta()
	lib.partMeta = lib.newPartMeta()
	return lib
}

// Modules returns the module tables to expose to scripts as globals, by
// name. Each call builds new tables; the engine makes them read-only.
func (lib *Lib) Modules() map[string]*lua.LTable {
	L := lib.L
	slim := Limits{MaxString: lib.limits.MaxString}
	return map[string]*lua.LTable{
		"string":  StringLib(L, slim),
		"table":   TableLib(L, slim),
		"json":    JSONModule(L),
		"re":      ReOptions{MaxOutput: lib.limits.MaxString}.Module(L),
		"log":     lib.logModule(),
		"mailbox": lib.mailboxModule(),
		"plugin":  lib.pluginModule(),
		"db":      lib.dbModule(),
		"kv":      lib.kvModule(),
	}
}

// Print is the script's print: a log line at info level.
func (lib *Lib) Print(L *lua.LState) int {
	return lib.logAt(L, levelInfo, 1)
}
