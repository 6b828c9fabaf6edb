package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse checks that Parse never panics, that what it accepts passes
// Validate, and that what it refuses gets errors sorted by line that match
// ErrInvalid. On any document the decoder accepts, it also checks that the
// line index finds every key the decoder saw.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.toml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse accepted a configuration that Validate refuses: %v", err)
			}
		} else {
			checkErrors(t, err)
		}
		var v map[string]any
		md, err := toml.Decode(string(data), &v)
		if err != nil {
			return
		}
		found := make(map[string]bool)
		for _, kl := range indexLines(string(data)).list {
			found[newLineKey(kl.key.key, nil).key] = true
		}
		for _, k := range md.Keys() {
			if !found[k.String()] {
				t.Errorf("key %q not found by indexLines", k.String())
			}
		}
	})
}

// checkErrors checks an error of Parse: each part is an *Error from
// "fuzz.toml", matches ErrInvalid, and the parts are sorted by line.
func checkErrors(t *testing.T, err error) {
	t.Helper()
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok && !isConfigError(err) {
		parts = j.Unwrap()
	}
	last := 0
	for _, p := range parts {
		e, ok := p.(*Error)
		if !ok {
			t.Fatalf("error %T %v, want *Error", p, p)
		}
		if !errors.Is(e, ErrInvalid) || !strings.HasPrefix(e.Error(), "fuzz.toml") {
			t.Errorf("error %q does not match ErrInvalid or does not name the file", e)
		}
		line := sortLine(e.Line)
		if line < last {
			t.Errorf("errors not sorted by line: %v", err)
		}
		last = line
	}
}

func isConfigError(err error) bool {
	_, ok := err.(*Error)
	return ok
}
