package stdlib_test

// TestAPIDoc keeps docs/lua-api.md and docs/sluice.meta.lua in step with
// what scripts can actually reach. It fails when a name scripts can reach is
// missing from either file, and when either file names something scripts
// cannot reach.
//
// # What is registered
//
// The test runs a probe script through a real engine.Engine, so the Lua
// state is built exactly as for the server's scripts (the sandbox, the
// read-only library proxies, the verdict helpers, print and require). The
// probe looks up candidate names in the globals, in every library table, in
// msg (on_data), in a part, in a header field, in a plugin.scan result, in a
// db handle and its transaction, in conn (on_connect) and in tx (on_rcpt),
// and reports what it found through log.info. Tables (conn, tx, header
// fields, scan results) are walked with pairs; userdata (msg, part, db
// handles) and the read-only library proxies cannot be walked from Lua, so
// they are probed with every candidate name:
//
//   - every identifier-like string literal in the non-test Go files of
//     stdlib and engine (gopher-lua is imported only by those two packages,
//     so every name they give scripts is such a literal: method tables,
//     field switches, RawSetString keys, allow lists);
//   - every key of the module tables stdlib.Lib.Modules returns and of the
//     msg method table, walked in Go;
//   - every global and library member of a gopher-lua state with all its
//     libraries open;
//   - every name the two documents use.
//
// A global function the sandbox replaces with a stand-in that raises "… is
// not available in sluice scripts" (dofile, load …) and a library replaced
// by a table that raises on use (io, os …) count as unavailable, not as
// registered. The hooks (on_data …) are the ones in engine.Hooks.
//
// # Names
//
// Both files and the probe spell every name the same way:
//
//	accept, _VERSION        a global
//	json.encode, math.pi    a member of a library (module) table
//	msg:header, msg.id      a method (colon) or field (dot) of an object
//	on_data                 a hook the script defines
//
// The objects are: msg (on_data, on_queue), part (msg:parts() …), conn
// (on_connect, on_helo, tx.conn), tx (on_mail, on_rcpt), field (an entry of
// msg:header_fields()), r (what plugin.scan returns), h (what db.open
// returns) and dbtx (what h:tx passes to its function).
//
// # docs/lua-api.md
//
// An entry is a Markdown table row of exactly three cells whose first cell
// is a code span; the name is the start of that code span, up to the "(",
// space or "[" after it. The second cell is the description, the third the
// example, as one code span:
//
//	| `msg:header(name)` | The first value of a header field. | `local s = msg:header("Subject")` |
//
// No other table row may start with a code span. The sandbox's stand-ins
// are listed as code spans on the one line that starts with
// "**Not available**".
//
// The section that starts with the heading "## Testing rules" (up to the
// next "## " heading) is the API of test files (test, t …), which stage
// scripts cannot reach: this test skips it, and engine/testapi_doc_test.go
// checks it and docs/sluice-test.meta.lua against a real test file.
//
// # docs/sluice.meta.lua
//
// The file starts with "---@meta". Names come from:
//
//	function accept(...) end            a global function (or a hook)
//	_VERSION = "Lua 5.1"                a global value; "NAME = {}" after a
//	                                    "---@class NAMElib" is a library
//	function json.encode(value) end     a library function
//	function Msg:header(name) end       a method: Msg is the class sluice.Msg
//	---@field id string                 a field of the class of the comment
//	                                    block (a library class such as
//	                                    sluice.jsonlib or mathlib: a member)
//
// The classes of the objects are in metaClasses; a class whose name ends in
// "lib" is the library of that name; other classes are helper types and are
// not checked. Every parameter of a declared function has a ---@param.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/database"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/internal/apidoc"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

const (
	apiDocFile  = "../docs/lua-api.md"
	apiMetaFile = "../docs/sluice.meta.lua"
	// testAPIHeading starts the section of docs/lua-api.md on the API of
	// test files, which engine/testapi_doc_test.go checks.
	testAPIHeading = "## Testing rules"
)

// docObjects are the prefixes of the objects scripts are given; any other
// prefix is a library. methods tells whether the object has methods (so its
// functions are written with a colon).
var docObjects = map[string]struct{ methods bool }{
	"msg": {true}, "part": {true}, "h": {true}, "dbtx": {true},
	"conn": {false}, "tx": {false}, "field": {false}, "r": {false},
}

// metaClasses maps the classes of docs/sluice.meta.lua (without "sluice.")
// to the prefixes above; the local tables holding their methods have the
// same names.
var metaClasses = map[string]string{
	"Msg": "msg", "Part": "part", "DB": "h", "DBTx": "dbtx",
	"Conn": "conn", "Tx": "tx", "HeaderField": "field", "ScanResult": "r",
}

func TestAPIDoc(t *testing.T) {
	doc, docOut, docErrs := parseAPIDoc(apiDocFile)
	meta, metaErrs := parseMeta(apiMetaFile)
	for _, e := range append(docErrs, metaErrs...) {
		t.Error(e)
	}

	extra := append(apidoc.NameParts(doc), apidoc.NameParts(docOut)...)
	reg, out := registered(t, append(extra, apidoc.NameParts(meta)...))

	for _, n := range slices.Sorted(maps.Keys(reg)) {
		if _, ok := doc[n]; !ok {
			t.Errorf("%s is registered but missing from docs/lua-api.md", n)
		}
		if _, ok := meta[n]; !ok {
			t.Errorf("%s is registered but missing from docs/sluice.meta.lua", n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(doc)) {
		if !reg[n] {
			t.Errorf("docs/lua-api.md:%d: %s is documented, but scripts cannot reach it%s", doc[n], n, hint(n, reg, out))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(meta)) {
		if !reg[n] {
			t.Errorf("docs/sluice.meta.lua:%d: %s is declared, but scripts cannot reach it%s", meta[n], n, hint(n, reg, out))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(out)) {
		if _, ok := docOut[n]; !ok {
			t.Errorf("%s is a sandbox stand-in that raises \"not available\", but the **Not available** line of docs/lua-api.md does not list it", n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(docOut)) {
		if !out[n] {
			t.Errorf("docs/lua-api.md:%d: %s is listed as not available, but the sandbox has no stand-in for it", docOut[n], n)
		}
	}
}

// hint explains a name that is not registered when a near spelling is.
func hint(n string, reg, out map[string]bool) string {
	if out[n] {
		return " (the sandbox leaves it out: list it on the **Not available** line only)"
	}
	for _, alt := range []string{strings.Replace(n, ":", ".", 1), strings.Replace(n, ".", ":", 1)} {
		if alt != n && reg[alt] {
			return " (did you mean " + alt + "?)"
		}
	}
	return ""
}

// parseAPIDoc returns the entries of docs/lua-api.md (but the section of
// testAPIHeading) and the names on its **Not available** line, each with
// its line number, and the problems with the file's layout.
func parseAPIDoc(path string) (entries, unavailable map[string]int, errs []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	path = strings.TrimPrefix(path, "../") // as the messages name it
	d, errs := apidoc.ParseDoc(path, src, testAPIHeading, false)
	entries = map[string]int{}
	for name, e := range d.Entries {
		entries[name] = e.Line
	}
	if len(entries) == 0 {
		errs = append(errs, path+": no entries found")
	}
	return entries, d.Unavailable, errs
}

// metaPrefix is the prefix of the names a class of the meta file holds, or
// "" for a helper type.
func metaPrefix(class string) string {
	c := strings.TrimPrefix(class, "sluice.")
	if p, ok := metaClasses[c]; ok {
		return p
	}
	if lib, ok := strings.CutSuffix(c, "lib"); ok && lib != "" {
		return lib
	}
	return ""
}

// apiMeta names the classes and functions of docs/sluice.meta.lua: a method
// is declared on the local table of its class (function Msg:header), a
// library function on the library (function json.encode).
var apiMeta = apidoc.Meta{
	Class: func(class string) (string, string) { return metaPrefix(class), "" },
	Func: func(table, sep, member string) (string, string) {
		if p, ok := metaClasses[table]; ok {
			table = p
		}
		return table + sep + member, ""
	},
}

// parseMeta returns the names docs/sluice.meta.lua declares, with their
// line numbers, and the problems with the file.
func parseMeta(path string) (names map[string]int, errs []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	return apidoc.ParseMeta(strings.TrimPrefix(path, "../"), src, apiMeta)
}

// registered runs the probe and returns the names scripts can reach and
// the sandbox's stand-ins. extra are candidate names besides those the
// test finds itself.
func registered(t *testing.T, extra []string) (reg, unavailable map[string]bool) {
	t.Helper()
	cands := candidates(t)
	for _, n := range append(extra, engine.Hooks...) {
		cands[n] = true
	}
	goMods, goMsg := goNames(t)
	for _, names := range append([][]string{goMsg}, mapValues(goMods)...) {
		for _, n := range names {
			cands[n] = true
		}
	}

	found := runProbe(t, slices.Sorted(maps.Keys(cands)))

	reg, unavailable = map[string]bool{}, map[string]bool{}
	for _, h := range engine.Hooks {
		reg[h] = true
	}
	for name, kind := range found["global"] {
		switch {
		case kind == "unavailable":
			unavailable[name] = true
		case kind == "table" && name != "_G":
			for member := range found[name] {
				reg[name+"."+member] = true
			}
		default:
			reg[name] = true
		}
	}
	for obj, o := range docObjects {
		if found[obj] == nil {
			t.Fatalf("the probe reported nothing for %s", obj)
		}
		for member, kind := range found[obj] {
			sep := "."
			if o.methods && kind == "function" {
				sep = ":"
			}
			reg[obj+sep+member] = true
		}
	}

	// What stdlib registers must be what the sandbox exposes.
	for mod, names := range goMods {
		for _, n := range names {
			if !reg[mod+"."+n] {
				t.Errorf("stdlib registers %s.%s, but scripts cannot reach it", mod, n)
			}
		}
	}
	for _, n := range goMsg {
		if !reg["msg:"+n] {
			t.Errorf("stdlib registers the method msg:%s, but scripts cannot reach it", n)
		}
	}
	return reg, unavailable
}

// candidates returns the identifier-like string literals of the non-test
// Go files of stdlib and engine, and the globals and library members of a
// gopher-lua state with every library open.
func candidates(t *testing.T) map[string]bool {
	t.Helper()
	out, err := apidoc.Candidates(".", "../engine")
	if err != nil {
		t.Fatal(err)
	}
	out["_G"] = true
	L := lua.NewState()
	defer L.Close()
	L.G.Global.ForEach(func(k, v lua.LValue) {
		out[k.String()] = true
		if tb, ok := v.(*lua.LTable); ok {
			tb.ForEach(func(k, _ lua.LValue) {
				if s, ok := k.(lua.LString); ok {
					out[string(s)] = true
				}
			})
		}
	})
	return out
}

// goNames walks, in Go, the module tables stdlib gives the engine and the
// method table of msg.
func goNames(t *testing.T) (mods map[string][]string, msgMethods []string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	lib := stdlib.New(L, &stdlib.Call{}, stdlib.Limits{}, stdlib.Services{})
	mods = map[string][]string{}
	for name, tb := range lib.Modules() {
		mods[name] = tableKeys(tb)
	}
	ud := lib.PushMsg(&stdlib.Msg{ID: "Q"})
	mt, ok := ud.Metatable.(*lua.LTable)
	if !ok {
		t.Fatal("msg has no metatable")
	}
	methods, ok := mt.RawGetString("__index").(*lua.LTable)
	if !ok {
		t.Fatal("msg's __index is not a table of methods")
	}
	return mods, tableKeys(methods)
}

func tableKeys(tb *lua.LTable) []string {
	var keys []string
	tb.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		}
	})
	return keys
}

// probeScript looks names up where scripts find them and reports, with
// log.info("apidoc " .. json), a scope ("global", a library name, an
// object prefix) and the names found in it with the type of their value.
// K is the list of candidate names.
const probeScript = `
local K = {%s}
local HOOKS = {%s}

local function report(scope, names)
  log.info("apidoc " .. json.encode({scope = scope, names = names}))
end

-- probe looks every candidate up in obj (a userdata or a read-only proxy).
local function probe(obj)
  local out = {}
  for _, k in ipairs(K) do
    local ok, v = pcall(function() return obj[k] end)
    if ok and v ~= nil then out[k] = type(v) end
  end
  return out
end

-- walk lists the keys of a plain table.
local function walk(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) end
  return out
end

local function unavailable(err)
  return tostring(err):find("not available in sluice scripts", 1, true) ~= nil
end

local function globals()
  local out, libs = {}, {}
  for _, k in ipairs(K) do
    local v = _G[k]
    if v ~= nil and not HOOKS[k] then
      local kind = type(v)
      if kind == "function" then
        local ok, err = pcall(v)
        if not ok and unavailable(err) then kind = "unavailable" end
      elseif kind == "table" and k ~= "_G" then
        local ok, err = pcall(function() return v.probe end)
        if not ok and unavailable(err) then kind = "unavailable" else libs[k] = v end
      end
      out[k] = kind
    end
  end
  report("global", out)
  for name, t in pairs(libs) do report(name, probe(t)) end
end

function on_data(msg)
  globals()
  report("msg", probe(msg))
  report("part", probe(msg:parts()[1]))
  report("field", walk(msg:header_fields()[1]))
  report("r", walk(plugin.scan("probe", msg)))
  local h = db.open("probe")
  report("h", probe(h))
  h:tx(function(tx) report("dbtx", probe(tx)) end)
end

function on_connect(conn)
  report("conn", walk(conn))
end

function on_rcpt(tx, rcpt)
  report("tx", walk(tx))
end
`

const probeMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: probe\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"hello\r\n" +
	"--b\r\n" +
	"Content-Type: application/pdf; name=a.pdf\r\n" +
	"Content-Disposition: attachment; filename=a.pdf\r\n" +
	"\r\n" +
	"%PDF\r\n" +
	"--b--\r\n"

// runProbe runs probeScript with candidate names cands on an engine and
// returns, by scope, the names found and the types of their values.
func runProbe(t *testing.T, cands []string) map[string]map[string]string {
	t.Helper()
	quote := func(names []string, suffix string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%q%s, ", n, suffix)
		}
		return b.String()
	}
	var hooks []string
	for _, h := range engine.Hooks {
		hooks = append(hooks, "["+strconv.Quote(h)+"]")
	}
	src := fmt.Sprintf(probeScript, quote(cands, ""), strings.Join(hooks, " = true, ")+" = true")

	db, err := database.Open(t.Context(), "probe", database.Spec{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "probe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	scan := handoff.ScannerFunc(func(context.Context, []byte) handoff.Result {
		return handoff.Result{Verdict: handoff.Disabled, Err: errors.New("probe")}
	})
	logs := &apidoc.LogCapture{}
	e, err := engine.New(engine.Options{
		Stages:   []engine.Stage{{Name: "probe", Script: "scripts/probe.lua", Timeout: time.Minute}},
		ReadFile: func(string) ([]byte, error) { return []byte(src), nil },
		States:   1,
		Logger:   slog.New(logs),
		DryRun:   true,
		Services: stdlib.Services{
			Filters: map[string]stdlib.Filter{"probe": {Scanner: scan}},
			DB:      database.NewSet(db),
		},
	})
	if err != nil {
		t.Fatalf("probe script: %v", err)
	}
	defer e.Close()

	ctx := t.Context()
	conn := &stdlib.Conn{ID: "S1", IP: "192.0.2.1", Port: 4321, Local: "127.0.0.1:25", Helo: "client.example"}
	m := &stdlib.Msg{
		ID: "Q1", From: "alice@example.org", Rcpt: []string{"bob@example.com"},
		Client: "192.0.2.1:4321", Helo: "client.example",
		Body: message.New([]byte(probeMessage), message.Options{}),
	}
	res := e.Pipeline(ctx, m)
	e.RunSession(ctx, "on_connect", engine.Session{Conn: conn}, res)
	tx := &stdlib.Tx{Conn: conn, From: "alice@example.org", Rcpt: []string{"bob@example.com"}, Size: 100}
	e.RunSession(ctx, "on_rcpt", engine.Session{Conn: conn, Tx: tx, Rcpt: "carol@example.com"}, res)
	for _, st := range res.Stages {
		if st.Error != "" {
			t.Fatalf("probe %s: %s", st.Hook, st.Error)
		}
	}

	found := map[string]map[string]string{}
	for _, msg := range logs.Messages() {
		js, ok := strings.CutPrefix(msg, "apidoc ")
		if !ok {
			continue
		}
		scope, names, err := apidoc.DecodeReport(js)
		if err != nil {
			t.Fatal(err)
		}
		found[scope] = names
	}
	if len(found["global"]) == 0 {
		t.Fatal("the probe found no globals")
	}
	return found
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
