package apidoc

import (
	"context"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Candidates returns the identifier-like string literals of the non-test
// Go files in dirs. Every name engine and stdlib give Lua is such a
// literal (method tables, field switches, RawSetString keys, allow
// lists), since only they import gopher-lua.
func Candidates(dirs ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("no Go files in %s: %v", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			addLiterals(out, file, src)
		}
	}
	return out, nil
}

// addLiterals adds the identifier-like string literals of the Go source
// src to out.
func addLiterals(out map[string]bool, file string, src []byte) {
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile(file, -1, len(src)), src, nil, 0)
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return
		}
		if tok != token.STRING {
			continue
		}
		if v, err := strconv.Unquote(lit); err == nil && identRE.MatchString(v) {
			out[v] = true
		}
	}
}

// NameParts returns the parts of the keys of m split at "." and ":"
// (msg:header gives msg and header): candidate names the documents use.
func NameParts[V any](m map[string]V) []string {
	var out []string
	for n := range m {
		out = append(out, strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == ':' })...)
	}
	return out
}

// DecodeReport decodes a probe's report, the JSON after "apidoc ": a scope
// and the names found in it with the type of their value.
func DecodeReport(js string) (scope string, names map[string]string, err error) {
	var r struct {
		Scope string
		Names map[string]string
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return "", nil, fmt.Errorf("probe report %q: %v", js, err)
	}
	return r.Scope, r.Names, nil
}

// LogCapture is a slog.Handler that keeps the messages of the records, for
// reading the reports of a probe that logs them.
type LogCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (h *LogCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *LogCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *LogCapture) WithGroup(string) slog.Handler            { return h }

func (h *LogCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

// Messages returns the messages kept so far.
func (h *LogCapture) Messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}
