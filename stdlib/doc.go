// Package stdlib holds the Lua-facing modules of sluice: the msg and part
// types, the string and table libraries with their limits, json, re and log.
// Each module is one file with its test beside it; the engine installs what
// New and its helpers return into every pooled Lua state.
package stdlib
