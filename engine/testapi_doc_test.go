package engine

// TestTestAPIDoc keeps the API of test files (*_test.lua, run by `sluice
// test`) in step with its two documents: the "Testing rules" section of
// docs/lua-api.md and docs/sluice-test.meta.lua. It fails when a name a
// test file can reach is missing from either, and when either names
// something a test file cannot reach. stdlib/apidoc_test.go checks the rest
// of docs/lua-api.md and docs/sluice.meta.lua, and skips that section.
//
// # What is registered
//
// A probe test file runs through RunTestFile, as `sluice test` runs one,
// with a TestEnv whose Run returns a Result with every field set (so that
// no field that `sluice run --json` leaves out when empty is missed). The
// probe reports with t.log, in JSON, what it finds:
//
//   - the globals of test files: every key of the file's own _G but _G (a
//     stage script's _G has no other), and every candidate name the file
//     sees as a global while a stage script, run on a real engine, does not;
//   - the members of t: its keys (pairs), and every candidate name t has;
//   - the options of t.run: every candidate name t.run does not refuse as
//     an unknown option;
//   - the fields of the answer of t.filter: every candidate name t.filter
//     does not refuse as an unknown field;
//   - the fields of the result of t.run, and of the tables in it: the
//     first entry of each array of tables, and each other table
//     (testResultScopes names them).
//
// The candidate names are the identifier-like string literals of the
// non-test Go files of engine and stdlib (every key the runner accepts is
// one) and every name the two documents use.
//
// # Names
//
// Both documents and the probe spell every name the same way, always with
// a dot (t's functions may be called with a colon, but are documented with
// a dot):
//
//	test                 a global of test files
//	t.run, t.name        a member of the t object a test function gets
//	opts.script          an option of t.run
//	answer.verdict       a field of the answer of t.filter
//	result.verdict       a field of what t.run returns
//	stage.hook           a field of an entry of result.stages (also
//	                     symbol., action., refusal. and headers., see
//	                     testResultScopes)
//
// # docs/lua-api.md
//
// The section runs from the heading that starts with testDocHeading to the
// next "## " heading. Its entries have the shape of the rest of the page
// (see stdlib/apidoc_test.go; internal/apidoc parses both): a table row of
// three cells, the first a code span that starts with the name, then a
// one-line description and a one-line example in one code span. A function
// is written with its arguments (`t.eq(got, want [, message])`), a field
// without.
//
// # docs/sluice-test.meta.lua
//
// The file starts with "---@meta". Names come from:
//
//	function test(name, fn) end     a global function
//	function T.run(opts) end        a member of t (T: see testMetaLocals)
//	---@field name string           a field of the class of the comment
//	                                block (see testMetaClasses)
//
// Every class named sluice.* is in testMetaClasses, and every parameter of
// a declared function has a ---@param.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuin/gopher-lua/parse"

	"github.com/sluicemail/sluice/internal/apidoc"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

const (
	testDocFile  = "../docs/lua-api.md"
	testMetaFile = "../docs/sluice-test.meta.lua"
	// testDocHeading starts the section of docs/lua-api.md on test files;
	// stdlib/apidoc_test.go skips the same section.
	testDocHeading = "## Testing rules"
)

// testResultScopes maps the tables found in the result of t.run (by path:
// "" is the result itself, "stages[]" an entry of result.stages) to the
// prefix their fields are documented with.
var testResultScopes = map[string]string{
	"":               "result",
	"stages[]":       "stage",
	"symbols[]":      "symbol",
	"actions[]":      "action",
	"headers":        "headers",
	"rcpt_refused[]": "refusal",
}

// testMetaClasses maps the classes of docs/sluice-test.meta.lua to the
// prefix of the names their fields are; testMetaLocals maps the local
// tables holding the functions of a class to that prefix.
var (
	testMetaClasses = map[string]string{
		"sluice.T":              "t",
		"sluice.TestRunOptions": "opts",
		"sluice.FilterAnswer":   "answer",
		"sluice.TestResult":     "result",
		"sluice.TestStage":      "stage",
		"sluice.TestSymbol":     "symbol",
		"sluice.TestAction":     "action",
		"sluice.TestHeaders":    "headers",
		"sluice.TestRefusal":    "refusal",
	}
	testMetaLocals = map[string]string{"T": "t"}
)

func TestTestAPIDoc(t *testing.T) {
	doc, docErrs := parseTestDoc(testDocFile)
	meta, metaErrs := parseTestMeta(testMetaFile)
	for _, e := range append(docErrs, metaErrs...) {
		t.Error(e)
	}

	reg := registeredTestAPI(t, append(apidoc.NameParts(doc), apidoc.NameParts(meta)...))
	t.Logf("test files reach %d names: %s", len(reg), strings.Join(slices.Sorted(maps.Keys(reg)), " "))

	for _, n := range slices.Sorted(maps.Keys(reg)) {
		if _, ok := doc[n]; !ok {
			t.Errorf("%s is registered in test files but missing from the %q section of docs/lua-api.md", n, testDocHeading)
		}
		if _, ok := meta[n]; !ok {
			t.Errorf("%s is registered in test files but missing from docs/sluice-test.meta.lua", n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(doc)) {
		e := doc[n]
		kind, ok := reg[n]
		switch {
		case !ok:
			t.Errorf("docs/lua-api.md:%d: %s is documented, but test files cannot reach it%s", e.Line, n, testHint(n, reg))
		case kind == "function" && !e.Call:
			t.Errorf("docs/lua-api.md:%d: %s is a function: write it with its arguments, like `%s(...)`", e.Line, n, n)
		case kind != "function" && e.Call:
			t.Errorf("docs/lua-api.md:%d: %s is not a function: write it without arguments", e.Line, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(meta)) {
		if _, ok := reg[n]; !ok {
			t.Errorf("docs/sluice-test.meta.lua:%d: %s is declared, but test files cannot reach it%s", meta[n], n, testHint(n, reg))
		}
	}
}

// testHint explains a name that is not registered: a near spelling that
// is, or a name that is not of the test API.
func testHint(n string, reg map[string]string) string {
	if alt := strings.Replace(n, ":", ".", 1); alt != n {
		if _, ok := reg[alt]; ok {
			return " (spell it " + alt + ")"
		}
	}
	prefix, _, member := strings.Cut(strings.Replace(n, ":", ".", 1), ".")
	known := map[string]bool{"t": true, "opts": true, "answer": true}
	for _, p := range testResultScopes {
		known[p] = true
	}
	if !member || !known[prefix] {
		return " (only the names of test files go there, spelt test, t.…, opts.…, answer.…, result.… …; what stage scripts have too is documented in the rest of the page)"
	}
	return ""
}

// parseTestDoc returns the entries of the test section of docs/lua-api.md
// and the problems with its layout.
func parseTestDoc(path string) (map[string]apidoc.Entry, []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	path = strings.TrimPrefix(path, "../") // as the messages name it
	d, errs := apidoc.ParseDoc(path, src, testDocHeading, true)
	switch {
	case d.Sections == 0:
		errs = append(errs, fmt.Sprintf("%s: no section starts with %q", path, testDocHeading))
	case d.Sections > 1:
		errs = append(errs, fmt.Sprintf("%s: %d sections start with %q, want one", path, d.Sections, testDocHeading))
	case len(d.Entries) == 0:
		errs = append(errs, fmt.Sprintf("%s: no entries in the section %q", path, testDocHeading))
	}
	return d.Entries, errs
}

// testMeta names the classes and functions of docs/sluice-test.meta.lua:
// every class named sluice.* is in testMetaClasses, and functions are
// declared with a dot on a table of testMetaLocals.
var testMeta = apidoc.Meta{
	Class: func(class string) (string, string) {
		p, ok := testMetaClasses[class]
		if !ok && strings.HasPrefix(class, "sluice.") {
			return "", "class " + class + " is not in testMetaClasses of engine/testapi_doc_test.go"
		}
		return p, ""
	},
	Func: func(table, sep, member string) (string, string) {
		prefix, ok := testMetaLocals[table]
		if !ok {
			return "", fmt.Sprintf("function %s%s%s: %s is not in testMetaLocals of engine/testapi_doc_test.go", table, sep, member, table)
		}
		if sep == ":" {
			return prefix + "." + member, fmt.Sprintf("declare %s.%s with a dot (t's functions take no self)", table, member)
		}
		return prefix + "." + member, ""
	},
}

// parseTestMeta returns the names docs/sluice-test.meta.lua declares, with
// their line numbers, and the problems with the file.
func parseTestMeta(path string) (map[string]int, []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	path = strings.TrimPrefix(path, "../") // as the messages name it
	var errs []string
	if _, err := parse.Parse(bytes.NewReader(src), path); err != nil {
		errs = append(errs, fmt.Sprintf("%s: not valid Lua: %v", path, err))
	}
	names, metaErrs := apidoc.ParseMeta(path, src, testMeta)
	errs = append(errs, metaErrs...)
	if len(names) == 0 {
		errs = append(errs, path+": declares nothing")
	}
	return names, errs
}

// testAPIProbe is the probe test file; %s is the list of candidate names.
// It reports with t.log("apidoc " .. json), each report a scope (see
// registeredTestAPI) and the names found in it with the type of their
// value.
const testAPIProbe = `
local K = {%s}

-- The file's own globals, before it defines any.
local own = {}
for k, v in pairs(_G) do own[k] = type(v) end
local seen = {}
for _, k in ipairs(K) do
  local v = _G[k]
  if v ~= nil then seen[k] = type(v) end
end

local function keys(v)
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" then out[k] = type(x) end
  end
  return out
end

test("probe", function(t)
  local function report(scope, names)
    t.log("apidoc " .. json.encode({scope = scope, names = names}))
  end
  report("own", own)
  report("global", seen)

  local members = keys(t)
  for _, k in ipairs(K) do
    local v = t[k]
    if v ~= nil then members[k] = type(v) end
  end
  report("t", members)

  local opts, answer = {}, {}
  for _, k in ipairs(K) do
    local o = {raw = "x"}
    o[k] = true
    local ok, err = pcall(t.run, o)
    if ok or not tostring(err):find("unknown option", 1, true) then opts[k] = "option" end
    ok, err = pcall(t.filter, "probe", {[k] = true})
    if ok or not tostring(err):find("unknown field", 1, true) then answer[k] = "field" end
  end
  t.filter("probe", nil)
  report("opts", opts)
  report("answer", answer)

  -- Every table in the result with string keys: the result is "", an
  -- entry of an array field f is "f[]", a table field f is "f".
  local function walk(v, path)
    local names = keys(v)
    if next(names) ~= nil then report("result:" .. path, names) end
    for k, x in pairs(v) do
      if type(x) == "table" then
        local sub = type(k) == "string" and (path == "" and k or path .. "." .. k) or path .. "[]"
        if type(k) == "number" then
          if k == 1 then walk(x, sub) end
        else
          walk(x, sub)
        end
      end
    end
  end
  walk(t.run({raw = "x"}), "")
end)
`

// testAPIStageProbe is a stage script that reports the candidate names
// (%s) a stage script sees as globals.
const testAPIStageProbe = `
local K = {%s}
function on_data(msg)
  local seen = {}
  for _, k in ipairs(K) do
    local v = _G[k]
    if v ~= nil then seen[k] = type(v) end
  end
  log.info("apidoc " .. json.encode({scope = "global", names = seen}))
end
`

// fullResultEnv is a TestEnv whose Run returns a Result with every field
// set.
type fullResultEnv struct{}

func (fullResultEnv) Run(context.Context, RunSpec) (*Result, error) {
	r := &Result{}
	fillAPIValue(reflect.ValueOf(r).Elem())
	return r, nil
}

func (fullResultEnv) Query(context.Context, string, string, ...any) ([]map[string]any, []string, error) {
	return nil, nil, nil
}

func (fullResultEnv) Close() error { return nil }

// fillAPIValue sets every field of v to a value that is not empty: strings,
// numbers and booleans, and slices of one filled element.
func fillAPIValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAPIValue(v.Index(0))
	case reflect.Array:
		for i := range v.Len() {
			fillAPIValue(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAPIValue(v.Field(i))
			}
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAPIValue(k)
		fillAPIValue(e)
		v.SetMapIndex(k, e)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAPIValue(v.Elem())
	}
}

// registeredTestAPI runs the probes and returns the names test files can
// reach (and stage scripts cannot) with the type of their value. extra are
// candidate names besides the Go string literals.
func registeredTestAPI(t *testing.T, extra []string) map[string]string {
	t.Helper()
	cands := testCandidates(t)
	for _, n := range extra {
		cands[n] = true
	}
	var list strings.Builder
	for _, n := range slices.Sorted(maps.Keys(cands)) {
		fmt.Fprintf(&list, "%q, ", n)
	}

	const file = "t/probe_test.lua"
	fs := files{file: fmt.Sprintf(testAPIProbe, list.String())}
	rs := RunTestFile(t.Context(), file, TestOptions{
		ReadFile: fs.read,
		Timeout:  time.Minute,
		NewEnv:   func(string, *slog.Logger) (TestEnv, error) { return fullResultEnv{}, nil },
	})
	if len(rs) != 1 || rs[0].Failed {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "\n%s %s: %s\n%s", r.Where, r.Name, r.Message, strings.Join(r.Log, "\n"))
		}
		t.Fatalf("the probe test file did not pass:%s", b.String())
	}
	found := map[string]map[string]string{}
	for _, line := range rs[0].Log {
		if _, js, ok := strings.Cut(line, "apidoc "); ok {
			scope, names, err := apidoc.DecodeReport(js)
			if err != nil {
				t.Fatal(err)
			}
			found[scope] = names
		}
	}
	stage := stageAPIGlobals(t, list.String())

	reg := map[string]string{}
	for name, kind := range found["own"] {
		if name != "_G" {
			reg[name] = kind
		}
	}
	for name, kind := range found["global"] {
		if _, ok := stage[name]; !ok {
			reg[name] = kind
		}
	}
	for _, scope := range []string{"t", "opts", "answer"} {
		if len(found[scope]) == 0 {
			t.Fatalf("the probe found nothing in %s", scope)
		}
		for name, kind := range found[scope] {
			reg[scope+"."+name] = kind
		}
	}
	for scope, names := range found {
		path, ok := strings.CutPrefix(scope, "result:")
		if !ok {
			continue
		}
		prefix, ok := testResultScopes[path]
		if !ok {
			t.Errorf("the result of t.run has a table at %q with fields %v: add a prefix for it to testResultScopes and document its fields", path, slices.Sorted(maps.Keys(names)))
			continue
		}
		for name, kind := range names {
			reg[prefix+"."+name] = kind
		}
	}
	for path, prefix := range testResultScopes {
		if len(found["result:"+path]) == 0 {
			t.Errorf("testResultScopes maps %q to %s, but the result of t.run has no such table", path, prefix)
		}
	}
	if _, ok := reg["test"]; !ok {
		t.Errorf("the probe did not find the global test: %v", found["own"])
	}
	return reg
}

// stageAPIGlobals runs a stage script on a real engine and returns the
// candidate names (a Lua list, quoted) it sees as globals.
func stageAPIGlobals(t *testing.T, list string) map[string]string {
	t.Helper()
	logs := &apidoc.LogCapture{}
	e, err := New(Options{
		Stages:   []Stage{{Name: "probe", Script: "scripts/probe.lua", Timeout: time.Minute}},
		ReadFile: files{"scripts/probe.lua": fmt.Sprintf(testAPIStageProbe, list)}.read,
		Logger:   slog.New(logs),
		States:   1,
		DryRun:   true,
	})
	if err != nil {
		t.Fatalf("stage probe: %v", err)
	}
	defer e.Close()
	res := e.Pipeline(t.Context(), &stdlib.Msg{ID: "probe", Body: message.New([]byte(testMessage), message.Options{})})
	for _, st := range res.Stages {
		if st.Error != "" {
			t.Fatalf("stage probe %s: %s", st.Hook, st.Error)
		}
	}
	for _, msg := range logs.Messages() {
		if js, ok := strings.CutPrefix(msg, "apidoc "); ok {
			_, names, err := apidoc.DecodeReport(js)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) > 0 {
				return names
			}
		}
	}
	t.Fatal("the stage probe found no globals")
	return nil
}

// testCandidates returns the identifier-like string literals of the
// non-test Go files of engine and stdlib.
func testCandidates(t *testing.T) map[string]bool {
	t.Helper()
	out, err := apidoc.Candidates(".", "../stdlib")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
