package apidoc

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const testDoc = "# API\n" + // 1
	"| `before` | Before any section. | `before()` |\n" + // 2
	"## Stages\n" + // 3
	"| `msg:header(name)` | The first value. | `msg:header(\"Subject\")` |\n" + // 4
	"| `msg.id` | The queue id. | `local id = msg.id` |\n" + // 5
	"| `msg.id` | Again. | `msg.id` |\n" + // 6
	"| `a|b` | x | `y` | z |\n" + // 7
	"| `3x` | A bad name. | `x` |\n" + // 8
	"| `f [, opt]` | | not code |\n" + // 9
	"**Not available**: `io`, `os`.\n" + // 10
	"## Testing rules (`*_test.lua`)\n" + // 11
	"| `t.eq(got, want)` | Compares. | `t.eq(1, 1)` |\n" + // 12
	"| `t.name` | The name. | `t.log(t.name)` |\n" + // 13
	"## Limits\n" + // 14
	"| `limit` | After. | `limit` |\n" // 15

func TestParseDocOutside(t *testing.T) {
	d, errs := ParseDoc("api.md", []byte(testDoc), "## Testing rules", false)
	want := map[string]Entry{
		"before":     {Line: 2},
		"msg:header": {Line: 4, Call: true},
		"msg.id":     {Line: 5},
		"f":          {Line: 9},
		"limit":      {Line: 15},
	}
	if !reflect.DeepEqual(d.Entries, want) {
		t.Errorf("entries = %v, want %v", d.Entries, want)
	}
	if want := map[string]int{"io": 10, "os": 10}; !reflect.DeepEqual(d.Unavailable, want) {
		t.Errorf("unavailable = %v, want %v", d.Unavailable, want)
	}
	if d.Sections != 1 {
		t.Errorf("sections = %d, want 1", d.Sections)
	}
	wantErrs := []string{
		"api.md:6: msg.id is documented twice (first at line 5)",
		"api.md:7: an entry has 5 cells, want 3 (name, description, example); a | inside a cell must not be there",
		`api.md:8: "3x" does not start with a Lua name`,
		"api.md:9: f: the second cell must be a one-line description",
		"api.md:9: f: the third cell must be a one-line example in one code span",
	}
	if !slices.Equal(errs, wantErrs) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestParseDocInside(t *testing.T) {
	d, errs := ParseDoc("api.md", []byte(testDoc), "## Testing rules", true)
	want := map[string]Entry{"t.eq": {Line: 12, Call: true}, "t.name": {Line: 13}}
	if !reflect.DeepEqual(d.Entries, want) || len(d.Unavailable) != 0 || d.Sections != 1 || len(errs) != 0 {
		t.Errorf("got %+v, %q; want entries %v and no errors", d, errs, want)
	}
	d, _ = ParseDoc("api.md", []byte(testDoc), "## Missing", true)
	if len(d.Entries) != 0 || d.Sections != 0 {
		t.Errorf("a missing section: got %+v, want nothing", d)
	}
}

// testMetaNames maps sluice.Obj to "obj" and sluice.xlib to the library x,
// and refuses other sluice classes and methods declared with a colon.
var testMetaNames = Meta{
	Class: func(class string) (string, string) {
		switch c := strings.TrimPrefix(class, "sluice."); {
		case c == "Obj":
			return "obj", ""
		case strings.HasSuffix(c, "lib"):
			return strings.TrimSuffix(c, "lib"), ""
		case c != class:
			return "", "class " + class + " is unknown"
		}
		return "", ""
	},
	Func: func(table, sep, member string) (string, string) {
		switch {
		case table == "Obj" && sep == ":":
			return "obj:" + member, ""
		case table == "Obj":
			return "obj." + member, "use a colon"
		case table == "x":
			return "x." + member, ""
		}
		return "", table + " is unknown"
	},
}

const testMetaSrc = `---@meta

---@param v any
function accept(v) end

---@class sluice.xlib
x = {}

---@param s string
function x.f(s, n) end

---@class sluice.Obj
---@field id string
---@field size? integer
local Obj = {}

---@param name string
function Obj:header(name) end
function Obj.bad() end
function Other.g() end

---@class sluice.Mystery
---@field m string

---@class Helper
---@field h string

---@field loose string
_VERSION = "Lua 5.1"
accept = nil
`

func TestParseMeta(t *testing.T) {
	names, errs := ParseMeta("x.meta.lua", []byte(testMetaSrc), testMetaNames)
	want := map[string]int{
		"accept":     4,
		"x.f":        10,
		"obj.id":     13,
		"obj.size":   14,
		"obj:header": 18,
		"obj.bad":    19,
		"_VERSION":   29,
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	wantErrs := []string{
		"x.meta.lua:10: x.f: parameter n has no ---@param",
		"x.meta.lua:19: use a colon",
		"x.meta.lua:20: Other is unknown",
		"x.meta.lua:22: class sluice.Mystery is unknown",
		"x.meta.lua:28: ---@field loose outside a class",
		"x.meta.lua:30: accept is declared twice (first at line 4)",
	}
	if !slices.Equal(errs, wantErrs) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(wantErrs, "\n"))
	}

	if _, errs := ParseMeta("y.lua", []byte("function f() end\n"), testMetaNames); !slices.Equal(errs, []string{"y.lua:1: the file must start with ---@meta"}) {
		t.Errorf("no ---@meta: errors %q", errs)
	}
}

func TestCandidates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", "package a\n\nvar m = map[string]int{\"header\": 1, `raw_name`: 2, \"not a name\": 3, \"9x\": 4}\n\n// \"comment\"\nconst c = 'r'\n")
	write("a_test.go", "package a\n\nvar x = \"from_test\"\n")
	got, err := Candidates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"header", "raw_name"}; !slices.Equal(slices.Sorted(maps.Keys(got)), want) {
		t.Errorf("candidates = %v, want %v", slices.Sorted(maps.Keys(got)), want)
	}
	if _, err := Candidates(t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), "no Go files in ") {
		t.Errorf("an empty directory: error %v", err)
	}
}

func TestHelpers(t *testing.T) {
	parts := NameParts(map[string]int{"msg:header": 1})
	if !slices.Equal(parts, []string{"msg", "header"}) {
		t.Errorf("NameParts = %v", parts)
	}
	scope, names, err := DecodeReport(`{"scope":"msg","names":{"id":"string"}}`)
	if err != nil || scope != "msg" || !reflect.DeepEqual(names, map[string]string{"id": "string"}) {
		t.Errorf("DecodeReport = %q, %v, %v", scope, names, err)
	}
	if _, _, err := DecodeReport("{"); err == nil {
		t.Error("DecodeReport of bad JSON: no error")
	}
	var logs LogCapture
	l := slog.New(&logs).With("k", 1).WithGroup("g")
	l.Info("one")
	l.Debug("two")
	if got := logs.Messages(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("messages = %q", got)
	}
}
