package message

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// corpusPath returns the shared test corpus folder: $SLUICE_CORPUS, else
// shared/corpus beside the repository; ok is false when it does not exist.
func corpusPath() (dir string, ok bool) {
	dir = os.Getenv("SLUICE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// corpusDir returns the corpus folder, skipping the test when it is absent.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir, ok := corpusPath()
	if !ok {
		tb.Skipf("mail corpus not found at %s (set SLUICE_CORPUS to its folder)", dir)
	}
	return dir
}

// corpusFiles lists the corpus's *.eml files, relative to dir; stress/ is
// left out under -short.
func corpusFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() && rel == "stress" && testing.Short() {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".eml") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// exercise reads every header, walks every part and decodes every part's
// text, as a script could. ErrTooLarge is not a failure.
func exercise(m *Message) error {
	for _, f := range m.HeaderFields() {
		_ = m.Header(f.Name)
		_ = m.Headers(f.Name)
	}
	parts, err := m.Parts()
	if err != nil {
		return err
	}
	for _, p := range parts {
		_ = p.SafeFilename()
		if _, err := m.PartText(p); err != nil && !errors.Is(err, ErrTooLarge) {
			return fmt.Errorf("part %s: %w", p.Path, err)
		}
	}
	if _, err := m.Text(); err != nil && !errors.Is(err, ErrTooLarge) {
		return err
	}
	if _, err := m.HTML(); err != nil && !errors.Is(err, ErrTooLarge) {
		return err
	}
	return nil
}

// guarded runs fn in a goroutine with a deadline, turning a panic into an
// error. A goroutine that overruns is abandoned: the test fails anyway.
func guarded(timeout time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("no result after %v", timeout)
	}
}

var errFailed = errors.New("failed")

// roundTrip edits a header, writes the message and parses it again: the
// body and the part tree must be unchanged.
func roundTrip(raw []byte) error {
	m := New(raw, Options{})
	ps, _ := m.Parts()
	if err := m.AddHeader("X-Round-Trip", "1"); err != nil {
		return err
	}
	out := m.Bytes()
	m2 := New(out, Options{})
	ps2, _ := m2.Parts()
	if !bytes.Equal(raw[m.bodyStart:], out[m2.bodyStart:]) {
		return errors.New("round trip: body changed")
	}
	if len(ps) != len(ps2) {
		return fmt.Errorf("round trip: %d parts became %d", len(ps), len(ps2))
	}
	for i := range ps {
		a, b := ps[i], ps2[i]
		if a.Path != b.Path || a.ContentType != b.ContentType || a.Filename != b.Filename || a.Size != b.Size {
			return fmt.Errorf("round trip: part %s %s changed", a.Path, a.ContentType)
		}
	}
	return nil
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	var clean, withDefects, hard, failed int
	for _, rel := range corpusFiles(t, dir) {
		t.Run(rel, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			timeout := 2 * time.Second
			if strings.HasPrefix(rel, "stress"+string(filepath.Separator)) {
				timeout = 30 * time.Second
			}
			var m *Message
			var hardErr error
			err = guarded(timeout, func() error {
				m = New(raw, Options{})
				if err := exercise(m); err != nil {
					if errors.Is(err, ErrEmpty) {
						hardErr = err
						return nil
					}
					return fmt.Errorf("%w: %w", errFailed, err)
				}
				return roundTrip(raw)
			})
			switch {
			case err != nil:
				failed++
				t.Errorf("%s: %v", rel, err)
			case hardErr != nil:
				hard++
				t.Logf("hard error: %v", hardErr)
				if strings.HasPrefix(rel, "wellformed") {
					t.Errorf("%s: %v", rel, hardErr)
				}
			case len(m.Defects()) > 0:
				withDefects++
				t.Logf("defects: %q", m.Defects())
			default:
				clean++
			}
		})
	}
	t.Logf("corpus: %d clean, %d with defects, %d hard errors, %d failed", clean, withDefects, hard, failed)
}

// TestCorpusCryptoHeaderEdit adds a header and removes one that is not
// there: everything after the header block must stay byte-identical, and
// the header block must be the new field followed by the old bytes.
func TestCorpusCryptoHeaderEdit(t *testing.T) {
	dir := corpusDir(t)
	for _, rel := range corpusFiles(t, dir) {
		if !strings.HasPrefix(rel, "crypto"+string(filepath.Separator)) {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			m := New(raw, Options{})
			if err := m.AddHeader("X-Sluice-Test", "yes"); err != nil {
				t.Fatal(err)
			}
			if n := m.RemoveHeader("X-Not-There"); n != 0 {
				t.Fatalf("RemoveHeader removed %d fields, want 0", n)
			}
			out := m.Bytes()
			want := string(raw[:m.hdrStart]) + "X-Sluice-Test: yes" + m.eol + string(raw[m.hdrStart:])
			if string(out) != want {
				t.Errorf("output is not the input with one field added on top")
			}
			m2 := New(out, Options{})
			m2.parseHeader()
			if !bytes.Equal(out[m2.bodyStart:], raw[m.bodyStart:]) {
				t.Errorf("body changed by a header edit")
			}
			if got := m2.Header("X-Sluice-Test"); got != "yes" {
				t.Errorf("X-Sluice-Test = %q, want %q", got, "yes")
			}
		})
	}
}
