package stdlib

import (
	"context"
	"log/slog"

	lua "github.com/yuin/gopher-lua"
)

const (
	levelDebug = slog.LevelDebug
	levelInfo  = slog.LevelInfo
	levelWarn  = slog.LevelWarn
	levelError = slog.LevelError
)

// logModule is the `log` module: log.debug/info/warn/error(text, [fields])
// write to the server's log with the message id and stage attached.
//
//	log.info("order stored", {order_id = id, total = 19.5})
func (lib *Lib) logModule() *lua.LTable {
	t := lib.L.NewTable()
	for name, level := range map[string]slog.Level{
		"debug": levelDebug, "info": levelInfo, "warn": levelWarn, "error": levelError,
	} {
		t.RawSetString(name, lib.L.NewFunction(func(L *lua.LState) int {
			return lib.logAt(L, level, 1)
		}))
	}
	return t
}

// logAt logs the arguments from index first on: a text, then either a
// table of fields or further values appended to the text.
func (lib *Lib) logAt(L *lua.LState, level slog.Level, first int) int {
	logger := lib.call.Log()
	ctx := context.Background()
	if !logger.Enabled(ctx, level) {
		return 0
	}
	text := ""
	var attrs []any
	top := L.GetTop()
	for i := first; i <= top; i++ {
		v := L.Get(i)
		if t, ok := v.(*lua.LTable); ok && i == top && i > first {
			t.ForEach(func(k, v lua.LValue) {
				attrs = append(attrs, slog.String(k.String(), v.String()))
			})
			continue
		}
		if text != "" {
			text += " "
		}
		text += lua.LVAsString(L.ToStringMeta(v))
	}
	if where := L.Where(1); where != "" {
		attrs = append(attrs, slog.String("at", trimWhere(where)))
	}
	logger.Log(ctx, level, text, attrs...)
	return 0
}

// trimWhere turns gopher-lua's "path:12:" into "path:12".
func trimWhere(s string) string {
	if n := len(s); n > 0 && s[n-1] == ':' {
		return s[:n-1]
	}
	return s
}
