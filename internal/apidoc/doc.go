// Package apidoc serves the two tests that keep the Lua API documents in
// step with the code: TestAPIDoc (stdlib/apidoc_test.go), which checks
// docs/lua-api.md and docs/sluice.meta.lua against what stage scripts can
// reach, and TestTestAPIDoc (engine/testapi_doc_test.go), which checks the
// "Testing rules" section of docs/lua-api.md and
// docs/sluice-test.meta.lua against what test files can reach.
//
// It holds what the two share and what needs no Lua state: the parser of
// the Markdown tables of docs/lua-api.md (ParseDoc), the parser of the
// LuaLS meta files (ParseMeta), the gathering of candidate names from Go
// string literals (Candidates), and small helpers for the probes' reports.
// It must not import gopher-lua: only engine and stdlib do.
package apidoc

import (
	"fmt"
	"regexp"
	"strings"
)

// Entry is an entry of docs/lua-api.md: its line, and whether the name is
// written as a call (its code span goes on with "(").
type Entry struct {
	Line int
	Call bool
}

// Doc is what ParseDoc reads from docs/lua-api.md.
type Doc struct {
	// Entries are the table rows whose first cell is a code span, by the
	// name at the start of that code span.
	Entries map[string]Entry
	// Unavailable are the code spans of the lines that start with
	// "**Not available**", with their line numbers.
	Unavailable map[string]int
	// Sections is how many "## " sections start with the heading.
	Sections int
}

var (
	// nameRE is a documented name at the start of a code span.
	nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)?`)
	// codeSpanRE finds the code spans of a line; exampleRE is a cell that
	// is one code span.
	codeSpanRE = regexp.MustCompile("`([^`]+)`")
	exampleRE  = regexp.MustCompile("^`[^`]+`$")
)

// ParseDoc reads the entries of src, the text of docs/lua-api.md: with
// inside, only those of the "## " sections whose heading starts with
// heading; without, all but those. Lines before the first "## " heading
// are outside every section. It returns the problems with the layout of
// the entries read, each starting with "file:line: ".
//
// An entry is a table row of exactly three cells whose first cell is a
// code span that starts with a Lua name (up to a "(", space or "["), whose
// second cell is a description and whose third is one code span.
func ParseDoc(file string, src []byte, heading string, inside bool) (Doc, []string) {
	d := Doc{Entries: map[string]Entry{}, Unavailable: map[string]int{}}
	var errs []string
	in := false // in a section of heading
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, heading)
			if in {
				d.Sections++
			}
			continue
		}
		if in != inside {
			continue
		}
		if strings.HasPrefix(line, "**Not available**") {
			for _, m := range codeSpanRE.FindAllStringSubmatch(line, -1) {
				d.Unavailable[m[1]] = n
			}
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
		if len(cells) != 3 {
			errs = append(errs, fmt.Sprintf("%s:%d: an entry has %d cells, want 3 (name, description, example); a | inside a cell must not be there", file, n, len(cells)))
			continue
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		sig := codeSpanRE.FindStringSubmatch(cells[0])
		if sig == nil {
			errs = append(errs, fmt.Sprintf("%s:%d: the first cell of an entry must be a code span", file, n))
			continue
		}
		name := nameRE.FindString(sig[1])
		rest := sig[1][len(name):]
		if name == "" || rest != "" && !strings.ContainsAny(rest[:1], "( [") {
			errs = append(errs, fmt.Sprintf("%s:%d: %q does not start with a Lua name", file, n, sig[1]))
			continue
		}
		if cells[1] == "" {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: the second cell must be a one-line description", file, n, name))
		}
		if !exampleRE.MatchString(cells[2]) {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: the third cell must be a one-line example in one code span", file, n, name))
		}
		if prev, dup := d.Entries[name]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d: %s is documented twice (first at line %d)", file, n, name, prev.Line))
			continue
		}
		d.Entries[name] = Entry{Line: n, Call: strings.HasPrefix(rest, "(")}
	}
	return d, errs
}
