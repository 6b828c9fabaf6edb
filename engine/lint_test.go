package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lintLines returns the warnings of Lint as strings, for cmp.Diff.
func lintLines(name, src string) []string {
	var out []string
	for _, w := range Lint(name, []byte(src)) {
		out = append(out, w.String())
	}
	return out
}

func TestLint(t *testing.T) {
	hooks := strings.Join(Hooks, ", ")
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"clean hook", `
function on_data(msg)
  local x = msg:subject()
  return x
end`, nil},
		{"global in hook", `
function on_data(msg)
  count = 1
  count = 2
end`, []string{
			"t.lua:3: warning: global 'count' assigned inside function on_data (line 2); declare it local",
		}},
		{"outer local in nested functions", `
local count = 0
function on_data(msg)
  count = count + 1
  local function inc()
    count = count + 1
    return function() count = 0 end
  end
  inc()
end`, nil},
		{"block local ends with its block", `
function on_data(msg)
  do
    local n = 1
    n = 2
  end
  n = 3
end`, []string{
			"t.lua:7: warning: global 'n' assigned inside function on_data (line 2); declare it local",
		}},
		{"shadowing local", `
local msg = "outer"
function on_data(msg)
  local msg = msg
  msg = nil
  if true then
    local msg = 1
    msg = 2
  end
  msg = 3
end`, nil},
		{"numeric for", `
function on_data(msg)
  for i = 1, 3, 1 do
    i = i + 1
  end
  i = 0
end`, []string{
			"t.lua:6: warning: global 'i' assigned inside function on_data (line 2); declare it local",
		}},
		{"for bounds are outside the loop", `
function on_data(msg)
  for i = 1, i do end
  for k in pairs(k) do end
end`, []string{
			"t.lua:3: warning: unknown global 'i'",
			"t.lua:4: warning: unknown global 'k'",
		}},
		{"generic for", `
function on_data(msg)
  for k, v in pairs(msg.vars) do
    k, v = v, k
  end
end`, nil},
		{"parameters", `
function on_rcpt(msg, rcpt)
  rcpt = rcpt:lower()
  msg = nil
end`, nil},
		{"varargs", `
local function count(...)
  local a, b = ...
  return select("#", ...), a, b
end
function on_data(...)
  local n = count(...)
end`, nil},
		{"local function recursion", `
local function fact(n)
  if n <= 1 then return 1 end
  return n * fact(n - 1)
end
local fib = function(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
function on_data(msg) return fact(3) + fib(3) end`, nil},
		{"methods and fields of a local table", `
local M = {}
function M:reset() self.n = 0 end
function M.add(a) return a end
M.sub = function(a) return -a end
M.deep = {}
M.deep.x = 1
function on_data(msg)
  M:reset()
  msg.vars.seen = true
  local t = {}
  t.y, t["z"] = 2, 3
end`, nil},
		{"method of an unknown table", `
function Q:f() return self end
function on_data(msg) end`, []string{
			"t.lua:2: warning: unknown global 'Q'",
		}},
		{"repeat until sees the body's locals", `
function on_data(msg)
  repeat
    local done = true
  until done
  while done do local done = 1 end
end`, []string{
			"t.lua:6: warning: unknown global 'done'",
		}},
		{"anonymous closure", `
function on_data(msg)
  local ok = pcall(function()
    result = 1
  end)
end`, []string{
			"t.lua:4: warning: global 'result' assigned inside an anonymous function (line 3); declare it local",
		}},
		{"named nested function", `
local M = {}
function M.helper()
  a = 1
end
function M:method()
  b = 1
end
local function loc()
  c = 1
end
function on_data(msg) M.helper() M:method() loc() end`, []string{
			"t.lua:4: warning: global 'a' assigned inside function M.helper (line 3); declare it local",
			"t.lua:7: warning: global 'b' assigned inside function M:method (line 6); declare it local",
			"t.lua:10: warning: global 'c' assigned inside function loc (line 9); declare it local",
		}},
		{"goto and labels", `
function on_data(msg)
  for i = 1, 3 do
    if i == 2 then goto continue end
    ::continue::
  end
end`, nil},
		{"top-level global", `
LIMIT = 5
function on_data(msg)
  LIMIT = LIMIT + 1
  return LIMIT
end`, []string{
			"t.lua:2: warning: global 'LIMIT' assigned at top level; declare it local",
		}},
		{"top-level helper", `
function helper() end
other = function() end
function on_data(msg) helper() other() end`, []string{
			"t.lua:2: warning: global function 'helper' is not a hook; declare it local function",
			"t.lua:3: warning: global function 'other' is not a hook; declare it local function",
		}},
		{"misspelt hooks", `
function on_date(msg) end
function On_Data(msg) end
function onrcpt(msg) end
on_queu = function(msg) end
function on_message(msg) end
function on_mail(msg) end`, []string{
			"t.lua:2: warning: function 'on_date' is not a hook; did you mean 'on_data'?",
			"t.lua:3: warning: function 'On_Data' is not a hook; did you mean 'on_data'?",
			"t.lua:4: warning: function 'onrcpt' is not a hook; did you mean 'on_rcpt'?",
			"t.lua:5: warning: function 'on_queu' is not a hook; did you mean 'on_queue'?",
			"t.lua:6: warning: function 'on_message' is not a hook; the hooks are " + hooks,
		}},
		{"no hook", `
local x = 1
return x`, []string{
			"t.lua: warning: no hook defined; a stage script defines at least one of " + hooks,
		}},
		{"local hook", `
local function on_data(msg) end`, []string{
			"t.lua:2: warning: hook 'on_data' is declared local, so the engine does not see it; remove 'local'",
		}},
		{"hook defined in a block", `
if true then
  function on_data(msg) end
end`, nil},
		{"unknown global read", `
function on_data(msg)
  if mgs:header("X-Spam") == "yes" then
    return reject(550, "spam")
  end
  return mgs, mgs
end`, []string{
			"t.lua:3: warning: unknown global 'mgs'",
			"t.lua:6: warning: unknown global 'mgs'",
		}},
		{"left out of the sandbox", `
function on_data(msg)
  local t = os.time()
  loadstring("x")
end`, []string{
			"t.lua:3: warning: 'os' is not available in sluice scripts (sandbox)",
			"t.lua:4: warning: 'loadstring' is not available in sluice scripts (sandbox)",
		}},
		{"sandbox globals", `
function on_data(msg)
  log.info(json.encode({n = #msg:parts()}))
  local ok = pcall(re.match, "a", "a") and type(_G) == "table"
  print(string.format("%d", math.floor(1.5)), tostring(kv), db, plugin, mailbox)
  return ok and accept() or tempfail("later")
end`, nil},
		{"assigned anywhere is known", `
function on_connect(conn)
  peer = conn
end
function on_data(msg)
  return peer
end`, []string{
			"t.lua:3: warning: global 'peer' assigned inside function on_connect (line 2); declare it local",
		}},
		{"_G is deliberate", `
_G.shared = 1
_G.on_data = function(msg) return shared end
function _G.on_helo(h) end
_G.on_date = function(msg) end`, []string{
			"t.lua:5: warning: function 'on_date' is not a hook; did you mean 'on_data'?",
		}},
		{"shebang and byte order mark keep lines", "\xef\xbb\xbf#!/usr/bin/env sluice\n" +
			"function on_data(msg)\n  x = 1\nend\n", []string{
			"t.lua:3: warning: global 'x' assigned inside function on_data (line 2); declare it local",
		}},
		{"syntax error", "function on_data(msg)\n  if then\nend\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lintLines("t.lua", tt.src)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\nsource:\n%s", diff, tt.src)
			}
		})
	}
}

// TestLintRepoScripts keeps the shipped scripts free of warnings.
func TestLintRepoScripts(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"../scripts/*.lua", "../examples/*/scripts/*.lua"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			if !strings.HasSuffix(p, "_test.lua") { // tests are not stages
				paths = append(paths, p)
			}
		}
	}
	if len(paths) < 5 {
		t.Fatalf("found only %d scripts: %v", len(paths), paths)
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compileSource(p, src); err != nil {
			t.Errorf("%s does not compile: %v", p, err)
		}
		for _, w := range Lint(p, src) {
			t.Errorf("%v", w)
		}
	}
}

func TestLintSandboxGlobals(t *testing.T) {
	known, err := sandboxGlobals()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"_G", "log", "json", "reject", "require", "string", "pairs", "print"} {
		if !known[name] {
			t.Errorf("%q missing from the sandbox globals", name)
		}
	}
	for _, name := range []string{"os", "io", "load", "dofile", "msg", "arg"} {
		if known[name] {
			t.Errorf("%q among the sandbox globals", name)
		}
	}
}

func TestLintStages(t *testing.T) {
	fs := files{
		"scripts/a.lua":   "function on_data(msg)\n  n = 1\nend\n",
		"scripts/b.lua":   "function on_date(msg) end\n",
		"scripts/bad.lua": "function on_data(msg)\n  if then\nend\n",
	}
	opt := Options{
		Stages: []Stage{
			{Name: "a", Script: "scripts/a.lua"},
			{Name: "b", Script: "scripts/b.lua"},
			{Name: "a2", Script: "scripts/a.lua"}, // linted once
		},
		ReadFile: fs.read,
	}
	ws, err := LintStages(opt)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	want := []string{
		"scripts/a.lua:2: warning: global 'n' assigned inside function on_data (line 1); declare it local",
		"scripts/b.lua:1: warning: function 'on_date' is not a hook; did you mean 'on_data'?",
		"scripts/b.lua: warning: no hook defined; a stage script defines at least one of " + strings.Join(Hooks, ", "),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	opt.Stages = []Stage{{Name: "bad", Script: "scripts/bad.lua"}, {Name: "gone", Script: "scripts/gone.lua"}}
	_, err = LintStages(opt)
	if !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), "scripts/bad.lua:2:") || !strings.Contains(err.Error(), "scripts/gone.lua") {
		t.Errorf("got error %v, want ErrScript naming scripts/bad.lua:2: and scripts/gone.lua", err)
	}

	// A file that cannot be read is named once, as New names it.
	gone := filepath.Join(t.TempDir(), "gone.lua")
	_, err = LintStages(Options{Stages: []Stage{{Name: "gone", Script: gone}}})
	if err == nil || strings.Count(err.Error(), gone) != 1 {
		t.Errorf("got error %v, want %s named once", err, gone)
	}
}

// A module gets the checks of globals but none about hooks.
func TestLintModule(t *testing.T) {
	src := "local M = {}\n" +
		"local function on_data() end\n" + // a local named like a hook: fine in a module
		"function M.size(s) n = #s return n end\n" +
		"helper = 1\n" +
		"return M\n"
	var got []string
	for _, w := range LintModule("rules/lib/util.lua", []byte(src)) {
		got = append(got, w.String())
	}
	want := []string{
		"rules/lib/util.lua:3: warning: global 'n' assigned inside function M.size (line 3); declare it local",
		"rules/lib/util.lua:4: warning: global 'helper' set by a module; declare it local and return it in the module's table",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
