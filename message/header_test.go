package message

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/charset"
	"github.com/google/go-cmp/cmp"
)

// crlf turns the LF line breaks of an inline test message into CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func hasDefect(m *Message, substr string) bool {
	for _, d := range m.Defects() {
		if strings.Contains(d, substr) {
			return true
		}
	}
	return false
}

func TestHeader(t *testing.T) {
	raw := crlf("Received: from a\n" +
		"\tby b; Tue, 3 Jun 2025 10:00:00 +0200\n" +
		"Received: from c\n" +
		"From: Alice <alice@example.org>\n" +
		"Subject : obsolete spacing  \n" +
		"X-Empty:\n" +
		"x-lower: yes\n" +
		"\n" +
		"Body\n")
	m := New(raw, Options{})
	tests := []struct{ name, want string }{
		{"Received", "from a\tby b; Tue, 3 Jun 2025 10:00:00 +0200"},
		{"received", "from a\tby b; Tue, 3 Jun 2025 10:00:00 +0200"},
		{"FROM", "Alice <alice@example.org>"},
		{"Subject", "obsolete spacing"},
		{"X-Empty", ""},
		{"X-Lower", "yes"},
		{"Missing", ""},
	}
	for _, tt := range tests {
		if got := m.Header(tt.name); got != tt.want {
			t.Errorf("Header(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	want := []string{"from a\tby b; Tue, 3 Jun 2025 10:00:00 +0200", "from c"}
	if diff := cmp.Diff(want, m.Headers("received")); diff != "" {
		t.Errorf("Headers(received) (-want +got):\n%s", diff)
	}
	if got := m.Headers("Missing"); got != nil {
		t.Errorf("Headers(Missing) = %q, want nil", got)
	}
	if d := m.Defects(); len(d) != 0 {
		t.Errorf("defects: %q", d)
	}
}

func TestHeaderFields(t *testing.T) {
	raw := crlf("A: 1\nB: two\n  lines\nSubject: =?utf-8?q?caf=C3=A9?=\n\nbody")
	m := New(raw, Options{})
	want := []Field{
		{Name: "A", Value: "1", Raw: "A: 1\r\n"},
		{Name: "B", Value: "two  lines", Raw: "B: two\r\n  lines\r\n"},
		{Name: "Subject", Value: "café", Raw: "Subject: =?utf-8?q?caf=C3=A9?=\r\n"},
	}
	if diff := cmp.Diff(want, m.HeaderFields()); diff != "" {
		t.Errorf("HeaderFields (-want +got):\n%s", diff)
	}
}

func TestHeader8bit(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"utf-8", []byte("Grüße"), "Grüße"},
		{"latin-1", []byte("Gr\xfc\xdfe"), "Grüße"},
		{"windows-1252 quote", []byte("\x93hi\x94"), "\u201chi\u201d"},
		{"truncated utf-8", []byte("Gr\xc3\xbc\xc3\x9fe \xd0"), "Grüße \uFFFD"},
	}
	for _, tt := range tests {
		raw := append(append([]byte("Subject: "), tt.in...), "\r\n\r\n"...)
		if got := New(raw, Options{}).Header("Subject"); got != tt.want {
			t.Errorf("%s: Subject = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHeaderPrefix(t *testing.T) {
	tests := []struct {
		name, raw, defect string
	}{
		{"mbox", "From alice@example.org Mon Jun  2 10:00:00 2025\nSubject: s\n\nbody", "mbox From_ line skipped"},
		{"bom", "\xef\xbb\xbfSubject: s\n\nbody", "byte order mark skipped"},
		{"bsmtp", "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: s\r\n\r\nbody", "BSMTP envelope skipped"},
		{"whitespace line", "     \nSubject: s\n\nbody", "leading whitespace-only line skipped"},
		{"indented first field", " Subject: s\n\nbody", "first header line starts with white space"},
		{"obsolete From field", "From : s\nSubject: s\n\nbody", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]byte(tt.raw), Options{})
			if got := m.Header("Subject"); got != "s" {
				t.Errorf("Subject = %q, want %q", got, "s")
			}
			if tt.defect != "" && !hasDefect(m, tt.defect) {
				t.Errorf("defects %q lack %q", m.Defects(), tt.defect)
			}
			if tt.defect == "" && len(m.Defects()) != 0 {
				t.Errorf("defects: %q", m.Defects())
			}
			if got, _ := m.Text(); got != "body" {
				t.Errorf("Text = %q, want %q", got, "body")
			}
		})
	}
}

func TestHeaderLineEndings(t *testing.T) {
	const msg = "Subject: line\n endings\nTo: bob@example.net\n\nfirst\nsecond\n"
	for name, eol := range map[string]string{"LF": "\n", "CRLF": "\r\n", "CR": "\r"} {
		t.Run(name, func(t *testing.T) {
			raw := []byte(strings.ReplaceAll(msg, "\n", eol))
			m := New(raw, Options{})
			if got := m.Header("Subject"); got != "line endings" {
				t.Errorf("Subject = %q", got)
			}
			if got := m.Header("To"); got != "bob@example.net" {
				t.Errorf("To = %q", got)
			}
			if got, _ := m.Text(); got != "first\nsecond\n" {
				t.Errorf("Text = %q", got)
			}
			if m.eol != eol {
				t.Errorf("eol = %q, want %q", m.eol, eol)
			}
		})
	}
	// Mixed: the first line break sets the style.
	m := New([]byte("A: 1\r\nB: 2\nC: 3\r\rbody"), Options{})
	if m.Header("B") != "2" || m.Header("C") != "3" || m.eol != "\r\n" {
		t.Errorf("mixed: B=%q C=%q eol=%q", m.Header("B"), m.Header("C"), m.eol)
	}
	if got, _ := m.Text(); got != "body" {
		t.Errorf("mixed: Text = %q", got)
	}
}

func TestHeaderBlockEnd(t *testing.T) {
	tests := []struct {
		name, raw, text, defect string
		fields                  int
	}{
		{"separator", "A: 1\n\nbody\n", "body\n", "", 1},
		{"no separator", "A: 1\nThis is the body\n", "This is the body\n", "no header/body separator", 1},
		{"no header", "Just a body line\nand more\n", "Just a body line\nand more\n", "no header", 0},
		{"whitespace separator", "A: 1\n \nbody\n", "body\n", "whitespace-only line", 1},
		{"broken fold", "A: 1\nnot a field\nB: 2\n\nbody", "body", "read as part of the field before", 2},
		{"header only", "A: 1\nB: 2", "", "", 2},
		{"boundary line", "A: 1\n--b\nC: 3\n\nx", "--b\nC: 3\n\nx", "no header/body separator", 1},
		{"empty header", "\nbody", "body", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]byte(tt.raw), Options{})
			if got := len(m.HeaderFields()); got != tt.fields {
				t.Errorf("%d fields, want %d", got, tt.fields)
			}
			if got, err := m.Text(); got != tt.text || err != nil {
				t.Errorf("Text = %q, %v; want %q", got, err, tt.text)
			}
			if tt.defect != "" && !hasDefect(m, tt.defect) {
				t.Errorf("defects %q lack %q", m.Defects(), tt.defect)
			}
		})
	}
}

func TestHeaderOddNames(t *testing.T) {
	// Field names with every printable character but ':' (and a tab).
	raw := []byte("X-Script/function/\t !\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~: TEST\n VALUE\nSubject: s\n\nbody")
	m := New(raw, Options{})
	if got := m.Header("Subject"); got != "s" {
		t.Errorf("Subject = %q", got)
	}
	if got := m.Header("X-Script/function/\t !\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~"); got != "TEST VALUE" {
		t.Errorf("odd field = %q", got)
	}
}

func TestLongHeader(t *testing.T) {
	// A 200 KB folded header must parse in linear time, whatever the line
	// breaks.
	for _, eol := range []string{"\r\n", "\r"} {
		var b strings.Builder
		b.WriteString("X-Long: start")
		for b.Len() < 200<<10 {
			b.WriteString(eol + " continued")
		}
		b.WriteString(eol + "Subject: s" + eol + eol + "body")
		m := New([]byte(b.String()), Options{})
		if m.Header("Subject") != "s" || len(m.Header("X-Long")) < 100<<10 {
			t.Errorf("eol %q: long header misparsed", eol)
		}
	}
}

// Header decoding must agree with the standard library for every charset
// go-message/charset knows, on well-formed words.
func TestHeaderCharsetOracle(t *testing.T) {
	for _, cs := range []string{"iso-8859-2", "windows-1251", "koi8-r", "shift_jis", "euc-kr", "big5", "gb2312"} {
		r, err := charset.Reader(cs, strings.NewReader("A"))
		if err != nil {
			t.Fatalf("%s: %v", cs, err)
		}
		if b, _ := io.ReadAll(r); string(b) != "A" {
			t.Fatalf("%s: oracle broken", cs)
		}
		if kind, _ := lookupCharset(cs); kind == csUnknown {
			t.Errorf("charset %s unknown", cs)
		}
	}
}
