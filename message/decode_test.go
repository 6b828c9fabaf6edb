package message

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeBase64Lenient(t *testing.T) {
	tests := []struct {
		name, in, want string
		problem        bool
	}{
		{"strict", "aGVsbG8gd29ybGQ=", "hello world", false},
		{"line breaks", "aGVsbG8g\r\nd29ybGQ=\r\n", "hello world", false},
		{"spaces", "aGVs bG8g\td29y bGQ= ", "hello world", false},
		{"unpadded", "aGVsbG8gd29ybGQ", "hello world", true},
		{"junk characters", "aGVs*bG8!gd29ybGQ=", "hello world", true},
		{"truncated", "aGVsbG8gd29yb", "hello wor", true},
		{"padding mid-stream", "aGk=aGk=", "hihi", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		got, problem := decodeBase64Lenient([]byte(tt.in))
		if string(got) != tt.want || (problem != "") != tt.problem {
			t.Errorf("%s: decodeBase64Lenient(%q) = %q, %q; want %q, problem %v", tt.name, tt.in, got, problem, tt.want, tt.problem)
		}
	}
}

func TestDecodeQP(t *testing.T) {
	tests := []struct {
		name, in, want string
		problem        bool
	}{
		{"plain", "hello", "hello", false},
		{"escapes", "caf=C3=A9 =3D", "café =", false},
		{"lower-case hex", "caf=c3=a9", "café", false},
		{"soft break", "long=\r\nline", "longline", false},
		{"soft break LF", "long=\nline", "longline", false},
		{"soft break with spaces", "long=  \r\nline", "longline", false},
		{"soft break at end", "end=", "end", false},
		{"trailing spaces dropped", "a  \r\nb\t\n", "a\r\nb\n", false},
		{"bad escape kept", "a=ZZb", "a=ZZb", true},
		{"inner spaces kept", "a  b", "a  b", false},
	}
	for _, tt := range tests {
		got, problem := decodeQP([]byte(tt.in))
		if string(got) != tt.want || (problem != "") != tt.problem {
			t.Errorf("%s: decodeQP(%q) = %q, %q; want %q, problem %v", tt.name, tt.in, got, problem, tt.want, tt.problem)
		}
	}
}

func TestDecodeUU(t *testing.T) {
	in := "some text\nbegin 644 cat.txt\n#0V%T\n`\nend\n"
	got, problem := decodeUU([]byte(in))
	if string(got) != "Cat" || problem != "" {
		t.Errorf("decodeUU = %q, %q", got, problem)
	}
	if _, problem := decodeUU([]byte("no begin")); problem == "" {
		t.Errorf("no problem reported without begin")
	}
}

func TestPartBytesEncodings(t *testing.T) {
	tests := []struct {
		cte, body, want string
	}{
		{"", "as is=41", "as is=41"},
		{"7bit", "as is", "as is"},
		{"8bit", "caf\xc3\xa9", "caf\xc3\xa9"},
		{"binary", "\x00\x01", "\x00\x01"},
		{"base64", "AAE=", "\x00\x01"},
		{"Quoted-Printable", "=41", "A"},
		{"x-uuencode", "begin 644 a\n#0V%T\n`\nend\n", "Cat"},
		{"x-invented", "raw", "raw"},
	}
	for _, tt := range tests {
		raw := "Content-Type: application/octet-stream\nContent-Transfer-Encoding: " + tt.cte + "\n\n" + tt.body
		m := New([]byte(raw), Options{})
		ps, _ := m.Parts()
		got, err := m.PartBytes(ps[0])
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: PartBytes = %q, %v; want %q", tt.cte, got, err, tt.want)
		}
	}
	m := New([]byte("Content-Transfer-Encoding: x-invented\n\nraw"), Options{})
	m.Text()
	if !hasDefect(m, `unknown transfer encoding "x-invented"`) {
		t.Errorf("defects %q", m.Defects())
	}
}

func TestPartBytesNoCopy(t *testing.T) {
	raw := []byte("Content-Type: text/plain\n\nbody bytes")
	m := New(raw, Options{})
	ps, _ := m.Parts()
	b, _ := m.PartBytes(ps[0])
	if &b[0] != &raw[len(raw)-len(b)] {
		t.Errorf("PartBytes copied an identity-encoded body")
	}
}

func TestTooLarge(t *testing.T) {
	big := strings.Repeat("A", 4000)
	tests := []struct{ cte, body string }{
		{"7bit", big},
		{"base64", encodeLines(big)},
		{"quoted-printable", big},
	}
	for _, tt := range tests {
		raw := "Content-Type: text/plain\nContent-Transfer-Encoding: " + tt.cte + "\n\n" + tt.body
		m := New([]byte(raw), Options{MaxPartBytes: 1000})
		ps, _ := m.Parts()
		_, err := m.PartBytes(ps[0])
		if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "message: part too large: part 1 ") ||
			!strings.Contains(err.Error(), "limit 1000") {
			t.Errorf("%s: PartBytes error = %v", tt.cte, err)
		}
		if _, err := m.PartText(ps[0]); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: PartText error = %v", tt.cte, err)
		}
		if _, err := m.Text(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Text error = %v", tt.cte, err)
		}
		m = New([]byte(raw), Options{MaxPartBytes: 4000})
		ps, _ = m.Parts()
		if b, err := m.PartBytes(ps[0]); err != nil || len(b) != 4000 {
			t.Errorf("%s: at the limit: %d bytes, %v", tt.cte, len(b), err)
		}
	}
	// Text that grows past the limit in conversion to UTF-8.
	latin := strings.Repeat("\xe9", 800)
	m := New(textMessage("iso-8859-1", "", []byte(latin)), Options{MaxPartBytes: 1000})
	if _, err := m.Text(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("converted text: %v", err)
	}
}

func encodeLines(s string) string { return string(encodeBase64([]byte(s), "\n")) }

func TestTruncatedBase64Defect(t *testing.T) {
	raw := "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29yb"
	m := New([]byte(raw), Options{})
	ps, _ := m.Parts()
	b, err := m.PartBytes(ps[0])
	if err != nil || string(b) != "hello wor" {
		t.Errorf("PartBytes = %q, %v", b, err)
	}
	m.PartBytes(ps[0])
	if d := m.Defects(); len(d) != 1 || !strings.Contains(d[0], "part 1: base64: truncated") {
		t.Errorf("defects %q, want one truncated base64", d)
	}
}
