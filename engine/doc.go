// Package engine runs sluice's stage scripts.
//
// Each stage is a Lua file that defines hook functions (on_connect, on_helo,
// on_mail, on_rcpt, on_data, on_queue). An Engine compiles every script once
// (the chunk name is the script's path, so errors read "scripts/x.lua:12: …")
// and runs hook calls on a bounded pool of Lua states.
//
// Isolation. A state is reused from message to message, but no run sees what
// an earlier run wrote: every hook call executes the stage's compiled chunk
// in a fresh environment table (so globals and top-level locals are new each
// time), the library tables (string, table, math, json, …) are read-only
// proxies, and getmetatable/setmetatable honour protected metatables. Only
// base, table, string, math and coroutine are opened, minus dofile, loadfile,
// load, loadstring, getfenv, setfenv, collectgarbage, module and newproxy;
// require resolves only inside the scripts folder.
//
// Deadlines. Every hook call gets its stage's timeout through the state's
// context (checked between VM instructions and inside the pattern matcher),
// and runs on its own goroutine so that the caller gets its answer within
// the deadline plus a small grace even if a binding misbehaves. A state that
// overran or panicked is discarded, never reused. A failed call (Lua error,
// Go panic in a binding, timeout) maps to the stage's on_error policy.
package engine
