package message

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestBytesUnedited(t *testing.T) {
	raw := []byte("Subject: s\n\nbody")
	m := New(raw, Options{})
	m.Header("Subject")
	m.Parts()
	if out := m.Bytes(); &out[0] != &raw[0] || len(out) != len(raw) {
		t.Errorf("Bytes of an unedited message is not the input")
	}
	if m.Size() != int64(len(raw)) {
		t.Errorf("Size = %d", m.Size())
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	m := New(crlf(mixedMsg), Options{})
	m.AddHeader("X-A", "1")
	m.RemovePart(mustParts(t, m)[1])
	for k := 0; k < 8; k++ {
		if _, err := m.WriteTo(&failWriter{n: k}); err == nil || err.Error() != "disk full" {
			t.Errorf("after %d writes: err = %v, want disk full", k, err)
		}
	}
}

// NewReader reads what Bytes returns, edited or not, and behaves as an
// io.Reader should (testing/iotest) whatever the read sizes.
func TestNewReader(t *testing.T) {
	edits := map[string]func(*Message){
		"none":   func(*Message) {},
		"header": func(m *Message) { m.AddHeader("X-A", "1"); m.SetHeader("Subject", "new") },
		"part removed": func(m *Message) {
			m.AddHeader("X-A", "1")
			m.RemovePart(mustParts(t, m)[1])
		},
		"part replaced": func(m *Message) {
			if err := m.ReplacePart(mustParts(t, m)[0], "replaced text"); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			m := New(crlf(mixedMsg), Options{})
			edit(m)
			want := m.Bytes()
			if err := iotest.TestReader(m.NewReader(), want); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(iotest.OneByteReader(m.NewReader()))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("byte by byte: %q, %v; want %q", got, err, want)
			}
		})
	}
}
