package message

import (
	"bytes"
	"strings"
	"testing"
)

func TestNextLine(t *testing.T) {
	long := strings.Repeat("x", lineWindow*2+3)
	tests := []struct {
		in       string
		le, next int
	}{
		{"", 0, 0},
		{"abc", 3, 3},
		{"abc\n", 3, 4},
		{"abc\r\nd", 3, 5},
		{"abc\rd", 3, 4},
		{"abc\r", 3, 4},
		{"a\rb\nc", 1, 2},
		{long + "\r\n", len(long), len(long) + 2},
		{long + "\r" + long, len(long), len(long) + 1},
		{long, len(long), len(long)},
		{strings.Repeat("y", lineWindow-1) + "\r\n", lineWindow - 1, lineWindow + 1},
	}
	for _, tt := range tests {
		le, next := nextLine([]byte(tt.in), 0, len(tt.in))
		if le != tt.le || next != tt.next {
			t.Errorf("nextLine(%.12q... len %d) = %d, %d; want %d, %d", tt.in, len(tt.in), le, next, tt.le, tt.next)
		}
	}
}

func TestToLF(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"a":            "a",
		"a\r\nb":       "a\nb",
		"a\rb\r":       "a\nb\n",
		"\r\n\r\n":     "\n\n",
		"a\r\r\nb\n\r": "a\n\nb\n\n",
	} {
		if got := toLF([]byte(in)); !bytes.Equal(got, []byte(want)) {
			t.Errorf("toLF(%q) = %q, want %q", in, got, want)
		}
	}
}
