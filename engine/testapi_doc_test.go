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
// (see stdlib/apidoc_test.go): a table row of three cells, the first a code
// span that starts with the name, then a one-line description and a
// one-line example in one code span. A function is written with its
// arguments (`t.eq(got, want [, message])`), a field without.
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
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuin/gopher-lua/parse"

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

	var extra []string
	for n := range doc {
		extra = append(extra, strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == ':' })...)
	}
	for n := range meta {
		extra = append(extra, strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == ':' })...)
	}
	reg := registeredTestAPI(t, extra)
	t.Logf("test files reach %d names: %s", len(reg), strings.Join(apiSortedNames(reg), " "))

	for _, n := range apiSortedNames(reg) {
		if _, ok := doc[n]; !ok {
			t.Errorf("%s is registered in test files but missing from the %q section of docs/lua-api.md", n, testDocHeading)
		}
		if _, ok := meta[n]; !ok {
			t.Errorf("%s is registered in test files but missing from docs/sluice-test.meta.lua", n)
		}
	}
	for _, n := range apiSortedNames(doc) {
		e := doc[n]
		kind, ok := reg[n]
		switch {
		case !ok:
			t.Errorf("docs/lua-api.md:%d: %s is documented, but test files cannot reach it%s", e.line, n, testHint(n, reg))
		case kind == "function" && !e.call:
			t.Errorf("docs/lua-api.md:%d: %s is a function: write it with its arguments, like `%s(...)`", e.line, n, n)
		case kind != "function" && e.call:
			t.Errorf("docs/lua-api.md:%d: %s is not a function: write it without arguments", e.line, n)
		}
	}
	for _, n := range apiSortedNames(meta) {
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

// testDocEntry is an entry of the section: its line, and whether the name
// is written as a call.
type testDocEntry struct {
	line int
	call bool
}

var (
	testNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)?`)
	testCodeSpanRE = regexp.MustCompile("`([^`]+)`")
	testExampleRE  = regexp.MustCompile("^`[^`]+`$")
)

// parseTestDoc returns the entries of the test section of docs/lua-api.md
// and the problems with its layout.
func parseTestDoc(path string) (map[string]testDocEntry, []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	path = strings.TrimPrefix(path, "../") // as the messages name it
	entries := map[string]testDocEntry{}
	var errs []string
	in, sections := false, 0
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, testDocHeading)
			if in {
				sections++
			}
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
		if len(cells) != 3 {
			errs = append(errs, fmt.Sprintf("%s:%d: an entry has %d cells, want 3 (name, description, example); a | inside a cell must not be there", path, n, len(cells)))
			continue
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		sig := testCodeSpanRE.FindStringSubmatch(cells[0])
		if sig == nil {
			errs = append(errs, fmt.Sprintf("%s:%d: the first cell of an entry must be a code span", path, n))
			continue
		}
		name := testNameRE.FindString(sig[1])
		rest := sig[1][len(name):]
		if name == "" || rest != "" && !strings.ContainsAny(rest[:1], "( [") {
			errs = append(errs, fmt.Sprintf("%s:%d: %q does not start with a Lua name", path, n, sig[1]))
			continue
		}
		if cells[1] == "" {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: the second cell must be a one-line description", path, n, name))
		}
		if !testExampleRE.MatchString(cells[2]) {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: the third cell must be a one-line example in one code span", path, n, name))
		}
		if prev, dup := entries[name]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d: %s is documented twice (first at line %d)", path, n, name, prev.line))
			continue
		}
		entries[name] = testDocEntry{line: n, call: strings.HasPrefix(rest, "(")}
	}
	switch {
	case sections == 0:
		errs = append(errs, fmt.Sprintf("%s: no section starts with %q", path, testDocHeading))
	case sections > 1:
		errs = append(errs, fmt.Sprintf("%s: %d sections start with %q, want one", path, sections, testDocHeading))
	case len(entries) == 0:
		errs = append(errs, fmt.Sprintf("%s: no entries in the section %q", path, testDocHeading))
	}
	return entries, errs
}

var (
	testMetaClassRE = regexp.MustCompile(`^---@class\s+([A-Za-z_][\w.]*)`)
	testMetaFieldRE = regexp.MustCompile(`^---@field\s+([A-Za-z_]\w*)\??\s`)
	testMetaParamRE = regexp.MustCompile(`^---@param\s+([A-Za-z_]\w*|\.\.\.)\??\s`)
	testMetaFuncRE  = regexp.MustCompile(`^function\s+([A-Za-z_]\w*)(?:([.:])([A-Za-z_]\w*))?\s*\(([^)]*)\)`)
	testMetaAssgnRE = regexp.MustCompile(`^([A-Za-z_]\w*)\s*=`)
)

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
	lines := strings.Split(string(src), "\n")
	if !strings.HasPrefix(lines[0], "---@meta") {
		errs = append(errs, path+":1: the file must start with ---@meta")
	}
	names := map[string]int{}
	add := func(name string, n int) {
		if prev, dup := names[name]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d: %s is declared twice (first at line %d)", path, n, name, prev))
			return
		}
		names[name] = n
	}
	var class string    // the class of the comment block
	var params []string // the ---@param names of the comment block
	for i, line := range lines {
		n := i + 1
		line = strings.TrimRight(line, " \t\r")
		if strings.HasPrefix(line, "---") {
			if m := testMetaClassRE.FindStringSubmatch(line); m != nil {
				class = m[1]
				if _, ok := testMetaClasses[class]; !ok && strings.HasPrefix(class, "sluice.") {
					errs = append(errs, fmt.Sprintf("%s:%d: class %s is not in testMetaClasses of engine/testapi_doc_test.go", path, n, class))
				}
			} else if m := testMetaFieldRE.FindStringSubmatch(line); m != nil {
				if class == "" {
					errs = append(errs, fmt.Sprintf("%s:%d: ---@field %s outside a class", path, n, m[1]))
				} else if p := testMetaClasses[class]; p != "" {
					add(p+"."+m[1], n)
				}
			} else if m := testMetaParamRE.FindStringSubmatch(line); m != nil {
				params = append(params, m[1])
			}
			continue
		}
		blockParams := params
		class, params = "", nil // a comment block ends at the first other line
		if m := testMetaFuncRE.FindStringSubmatch(line); m != nil {
			name := m[1]
			if m[2] != "" {
				prefix, ok := testMetaLocals[m[1]]
				if !ok {
					errs = append(errs, fmt.Sprintf("%s:%d: function %s%s%s: %s is not in testMetaLocals of engine/testapi_doc_test.go", path, n, m[1], m[2], m[3], m[1]))
					continue
				}
				if m[2] == ":" {
					errs = append(errs, fmt.Sprintf("%s:%d: declare %s.%s with a dot (t's functions take no self)", path, n, m[1], m[3]))
				}
				name = prefix + "." + m[3]
			}
			add(name, n)
			for _, p := range strings.Split(m[4], ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(blockParams, p) {
					errs = append(errs, fmt.Sprintf("%s:%d: %s: parameter %s has no ---@param", path, n, name, p))
				}
			}
			continue
		}
		if m := testMetaAssgnRE.FindStringSubmatch(line); m != nil {
			add(m[1], n) // a global value
		}
	}
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
	for _, n := range apiSortedNames(cands) {
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
			scope, names := decodeAPIReport(t, js)
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
			t.Errorf("the result of t.run has a table at %q with fields %v: add a prefix for it to testResultScopes and document its fields", path, apiSortedNames(names))
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
	logs := &apiReportLog{}
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
	for _, msg := range logs.messages() {
		if js, ok := strings.CutPrefix(msg, "apidoc "); ok {
			if _, names := decodeAPIReport(t, js); len(names) > 0 {
				return names
			}
		}
	}
	t.Fatal("the stage probe found no globals")
	return nil
}

func decodeAPIReport(t *testing.T, js string) (string, map[string]string) {
	t.Helper()
	var r struct {
		Scope string
		Names map[string]string
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("probe report %q: %v", js, err)
	}
	return r.Scope, r.Names
}

// testCandidates returns the identifier-like string literals of the
// non-test Go files of engine and stdlib.
func testCandidates(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	ident := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, dir := range []string{".", "../stdlib"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var s scanner.Scanner
			fset := token.NewFileSet()
			s.Init(fset.AddFile(name, -1, len(src)), src, nil, 0)
			for {
				_, tok, lit := s.Scan()
				if tok == token.EOF {
					break
				}
				if tok != token.STRING {
					continue
				}
				if v, err := strconv.Unquote(lit); err == nil && ident.MatchString(v) {
					out[v] = true
				}
			}
		}
	}
	return out
}

// apiReportLog is a slog.Handler that keeps the messages of the records.
type apiReportLog struct {
	mu   sync.Mutex
	msgs []string
}

func (h *apiReportLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *apiReportLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *apiReportLog) WithGroup(string) slog.Handler            { return h }

func (h *apiReportLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *apiReportLog) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

func apiSortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
