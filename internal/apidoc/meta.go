package apidoc

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Meta says how ParseMeta names what a LuaLS meta file declares; the two
// meta files differ in their classes and in how their functions are
// written.
type Meta struct {
	// Class returns the prefix of the names the ---@field lines of class
	// declare, or "" for a helper type whose fields are not checked, and a
	// problem with the class ("" for none).
	Class func(class string) (prefix, problem string)
	// Func returns the name "function table.member" (sep ".") or
	// "function table:member" (sep ":") declares, and a problem with it
	// ("" for none); name "" leaves the function out.
	Func func(table, sep, member string) (name, problem string)
}

var (
	metaClassRE = regexp.MustCompile(`^---@class\s+([A-Za-z_][\w.]*)`)
	metaFieldRE = regexp.MustCompile(`^---@field\s+([A-Za-z_]\w*)\??\s`)
	metaParamRE = regexp.MustCompile(`^---@param\s+([A-Za-z_]\w*|\.\.\.)\??\s`)
	metaFuncRE  = regexp.MustCompile(`^function\s+([A-Za-z_]\w*)(?:([.:])([A-Za-z_]\w*))?\s*\(([^)]*)\)`)
	metaAssgnRE = regexp.MustCompile(`^([A-Za-z_]\w*)\s*=`)
)

// ParseMeta returns the names src, the text of the LuaLS meta file file,
// declares, with their line numbers, and the problems with it, each
// starting with "file:line: ". The file starts with "---@meta". Names come
// from:
//
//	function f(a) end        a global function f
//	function T.f(a) end      the name m.Func("T", ".", "f") gives (T:f:
//	                         m.Func("T", ":", "f"))
//	NAME = value             a global NAME, unless NAME is the prefix of
//	                         the class of the comment block before it (a
//	                         library table, whose members are declared on
//	                         their own)
//	---@field x string       prefix.x, prefix being m.Class of the class
//	                         of the comment block
//
// Every parameter of a declared function must have a ---@param in the
// comment block before it.
func ParseMeta(file string, src []byte, m Meta) (names map[string]int, errs []string) {
	lines := strings.Split(string(src), "\n")
	if !strings.HasPrefix(lines[0], "---@meta") {
		errs = append(errs, file+":1: the file must start with ---@meta")
	}
	names = map[string]int{}
	add := func(name string, n int) {
		if prev, dup := names[name]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d: %s is declared twice (first at line %d)", file, n, name, prev))
			return
		}
		names[name] = n
	}
	problem := func(n int, p string) {
		if p != "" {
			errs = append(errs, fmt.Sprintf("%s:%d: %s", file, n, p))
		}
	}
	var class, prefix string // the class of the comment block, and its prefix
	var params []string      // the ---@param names of the comment block
	for i, line := range lines {
		n := i + 1
		line = strings.TrimRight(line, " \t\r")
		if strings.HasPrefix(line, "---") {
			if sm := metaClassRE.FindStringSubmatch(line); sm != nil {
				var p string
				class = sm[1]
				prefix, p = m.Class(class)
				problem(n, p)
			} else if sm := metaFieldRE.FindStringSubmatch(line); sm != nil {
				if class == "" {
					problem(n, "---@field "+sm[1]+" outside a class")
				} else if prefix != "" {
					add(prefix+"."+sm[1], n)
				}
			} else if sm := metaParamRE.FindStringSubmatch(line); sm != nil {
				params = append(params, sm[1])
			}
			continue
		}
		blockPrefix, blockParams := prefix, params
		class, prefix, params = "", "", nil // a comment block ends at the first other line
		if sm := metaFuncRE.FindStringSubmatch(line); sm != nil {
			name := sm[1]
			if sm[2] != "" {
				var p string
				name, p = m.Func(sm[1], sm[2], sm[3])
				problem(n, p)
				if name == "" {
					continue
				}
			}
			add(name, n)
			for _, p := range strings.Split(sm[4], ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(blockParams, p) {
					problem(n, name+": parameter "+p+" has no ---@param")
				}
			}
			continue
		}
		if sm := metaAssgnRE.FindStringSubmatch(line); sm != nil {
			if blockPrefix == sm[1] {
				continue // a library table; its members are declared on their own
			}
			add(sm[1], n)
		}
	}
	return names, errs
}
