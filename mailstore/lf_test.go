package mailstore

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\nb\n", "a\nb\n"},
		{"\r", "\r"},
		{"a\r", "a\r"},
		{"a\rb", "a\rb"},
		{"\r\r\n", "\r\n"},
		{"\r\n\r\n", "\n\n"},
		{"\n\r", "\n\r"},
		{strings.Repeat("x", chunk-1) + "\r\n" + "y", strings.Repeat("x", chunk-1) + "\ny"}, // CR ends a chunk
		{strings.Repeat("x", chunk-1) + "\r" + "y", strings.Repeat("x", chunk-1) + "\ry"},
		{strings.Repeat("x", chunk-1) + "\r", strings.Repeat("x", chunk-1) + "\r"},
		{strings.Repeat("ab\r\n", 3*chunk), strings.Repeat("ab\n", 3*chunk)},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"onebyte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"dataerr", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			name := rd.name + "/" + shorten(tt.in)
			t.Run(name, func(t *testing.T) {
				got, err := io.ReadAll(LF(rd.wrap(strings.NewReader(tt.in))))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("got %q, want %q", shorten(string(got)), shorten(tt.want))
				}
			})
		}
		// iotest.TestReader also reads with small buffers, including one byte.
		if err := iotest.TestReader(LF(strings.NewReader(tt.in)), []byte(tt.want)); err != nil {
			t.Errorf("TestReader(%q): %v", shorten(tt.in), err)
		}
	}
}

func TestLFError(t *testing.T) {
	boom := errors.New("boom")
	r := LF(io.MultiReader(strings.NewReader("a\r\nb\r"), iotest.ErrReader(boom)))
	got, err := io.ReadAll(r)
	if !errors.Is(err, boom) {
		t.Errorf("got error %v, want %v", err, boom)
	}
	// The CR before the error is kept: nothing says an LF follows.
	if string(got) != "a\nb\r" {
		t.Errorf("got %q, want %q", got, "a\nb\r")
	}
}

func FuzzLF(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r\r\n", "\r", "\n\r\n\r"} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, how uint8) {
		var r io.Reader = bytes.NewReader(in)
		switch how % 3 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		got, err := io.ReadAll(LF(r))
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")); !bytes.Equal(got, want) {
			t.Errorf("LF(%q) = %q, want %q", in, got, want)
		}
	})
}

func shorten(s string) string {
	if len(s) > 20 {
		return s[:8] + "…" + s[len(s)-8:]
	}
	return s
}
