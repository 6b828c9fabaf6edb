package message

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"
)

const mixedMsg = `From: a@example.org
Subject: three parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

first
--b
Content-Type: application/pdf; name="x.pdf"
Content-Disposition: attachment; filename="x.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b
Content-Type: text/plain

third
--b--
`

func mustParts(t *testing.T, m *Message) []*Part {
	t.Helper()
	ps, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func texts(t *testing.T, raw []byte) []string {
	t.Helper()
	m := New(raw, Options{})
	var out []string
	for _, p := range mustParts(t, m) {
		s, err := m.PartText(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.ContentType+": "+s)
	}
	return out
}

func TestReplacePart(t *testing.T) {
	raw := crlf(mixedMsg)
	m := New(raw, Options{})
	ps := mustParts(t, m)
	pdf := ps[1]
	text := "Removed: x.pdf was infected. Ünïcödé and a long line " + strings.Repeat("x", 100)
	if err := m.ReplacePart(pdf, text); err != nil {
		t.Fatal(err)
	}
	out := m.Bytes()
	// Untouched bytes before and after the part.
	if !bytes.HasPrefix(out, raw[:pdf.HeaderStart]) || !bytes.HasSuffix(out, raw[pdf.BodyEnd:]) {
		t.Errorf("bytes outside the part changed:\n%s", out)
	}
	want := []string{"text/plain: first", "text/plain: " + text, "text/plain: third"}
	if diff := cmp.Diff(want, texts(t, out)); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
	if pdf.ContentType != "text/plain" || pdf.Charset != "utf-8" || pdf.Encoding != "quoted-printable" ||
		pdf.IsAttachment || pdf.Filename != "" {
		t.Errorf("part fields not updated: %+v", pdf)
	}
	if got, _ := m.PartText(pdf); got != text {
		t.Errorf("PartText after replace = %q", got)
	}
	for _, line := range strings.Split(string(out), "\r\n") {
		if len(line) > 76 {
			t.Errorf("long line %q", line)
		}
	}
	if a, r := m.Edits(); len(a)+len(r) != 0 {
		t.Errorf("Edits = %v, %v", a, r)
	}
}

func TestReplaceSinglePart(t *testing.T) {
	raw := crlf("From: a@example.org\nSubject: s\nContent-Type: application/octet-stream\n" +
		"Content-Disposition: attachment; filename=x.bin\nContent-Transfer-Encoding: base64\n\nAAAA\n")
	m := New(raw, Options{})
	ps := mustParts(t, m)
	if err := m.ReplacePart(ps[0], "gone"); err != nil {
		t.Fatal(err)
	}
	want := crlf("From: a@example.org\nSubject: s\nMIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ngone")
	if got := m.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("Bytes =\n%q\nwant\n%q", got, want)
	}
	if a, r := m.Edits(); len(a)+len(r) != 0 {
		t.Errorf("Edits = %v, %v", a, r)
	}
	if m.Header("Content-Disposition") != "" || m.Header("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("headers not updated")
	}
}

func TestReplaceAttachedMessageBody(t *testing.T) {
	raw := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nouter\n--b\nContent-Type: message/rfc822\n\n" +
		"From: inner@example.org\nSubject: inner\nContent-Type: text/html\n\n<p>inner</p>\n--b--\n")
	m := New(raw, Options{})
	ps := mustParts(t, m)
	if err := m.ReplacePart(ps[1], "text now"); err != nil {
		t.Fatal(err)
	}
	m2 := New(m.Bytes(), Options{})
	ps2 := mustParts(t, m2)
	if len(ps2) != 2 || ps2[1].ContentType != "text/plain" || ps2[1].Path != "2.1" {
		t.Fatalf("parts after replace: %+v", ps2)
	}
	head := string(m2.raw[ps2[1].HeaderStart:ps2[1].HeaderEnd])
	if !strings.Contains(head, "From: inner@example.org\r\nSubject: inner\r\n") || strings.Contains(head, "text/html") {
		t.Errorf("attached message header = %q", head)
	}
}

func TestRemovePart(t *testing.T) {
	raw := crlf(mixedMsg)
	tests := []struct {
		name   string
		remove []int
		want   []string
	}{
		{"middle", []int{1}, []string{"text/plain: first", "text/plain: third"}},
		{"first", []int{0}, []string{"application/pdf: %PDF-1.4\n", "text/plain: third"}},
		{"last", []int{2}, []string{"text/plain: first", "application/pdf: %PDF-1.4\n"}},
		{"two", []int{2, 0}, []string{"application/pdf: %PDF-1.4\n"}},
		{"all", []int{0, 1, 2}, []string{"text/plain: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(raw, Options{})
			ps := mustParts(t, m)
			for _, i := range tt.remove {
				if err := m.RemovePart(ps[i]); err != nil {
					t.Fatal(err)
				}
			}
			out := m.Bytes()
			if diff := cmp.Diff(tt.want, texts(t, out)); diff != "" {
				t.Errorf("texts (-want +got):\n%s\n%s", diff, out)
			}
			if len(mustParts(t, m)) != 3-len(tt.remove) {
				t.Errorf("Parts lists removed parts")
			}
			if m2 := New(out, Options{}); len(m2.Defects()) != 0 {
				t.Errorf("defects after removal: %q", m2.Defects())
			}
		})
	}
	// The removal range is the delimiter line and the part.
	m := New(raw, Options{})
	ps := mustParts(t, m)
	m.RemovePart(ps[1])
	start, end := ps[1].span()
	if got := string(raw[start:end]); !strings.HasPrefix(got, "\r\n--b\r\nContent-Type: application/pdf") || !strings.HasSuffix(got, "JVBERi0xLjQK") {
		t.Errorf("removed range = %q", got)
	}
	if !bytes.Equal(m.Bytes(), append(append([]byte{}, raw[:start]...), raw[end:]...)) {
		t.Errorf("output is not the input without the range")
	}
}

func TestRemovePartErrors(t *testing.T) {
	m := New(crlf(mixedMsg), Options{})
	ps := mustParts(t, m)
	if err := m.RemovePart(ps[1]); err != nil {
		t.Fatal(err)
	}
	if err := m.RemovePart(ps[1]); err != nil {
		t.Errorf("second RemovePart = %v", err)
	}
	if _, err := m.PartBytes(ps[1]); !errors.Is(err, ErrRemoved) {
		t.Errorf("PartBytes(removed) = %v", err)
	}
	if err := m.ReplacePart(ps[1], "x"); !errors.Is(err, ErrRemoved) {
		t.Errorf("ReplacePart(removed) = %v", err)
	}
	other := New(crlf(mixedMsg), Options{})
	if _, err := other.PartBytes(ps[0]); !errors.Is(err, ErrNotPart) {
		t.Errorf("PartBytes(foreign) = %v", err)
	}
	if err := other.RemovePart(nil); !errors.Is(err, ErrNotPart) {
		t.Errorf("RemovePart(nil) = %v", err)
	}
}

func TestRemoveAttachedMessage(t *testing.T) {
	raw := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nkeep\n--b\nContent-Type: message/rfc822\n\n" +
		"Subject: inner\n\ninner body\n--b--\n")
	m := New(raw, Options{})
	ps := mustParts(t, m)
	if err := m.RemovePart(ps[1]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"text/plain: keep"}, texts(t, m.Bytes())); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
	// The body of a single-part message becomes an empty text.
	m = New(crlf("Subject: s\nContent-Type: application/zip\n\nPK"), Options{})
	ps = mustParts(t, m)
	if err := m.RemovePart(ps[0]); err != nil {
		t.Fatal(err)
	}
	m2 := New(m.Bytes(), Options{})
	if m2.Header("Subject") != "s" || len(mustParts(t, m2)) != 1 || mustParts(t, m2)[0].Size != 0 {
		t.Errorf("single part removal gave %q", m.Bytes())
	}
}

func TestPrependText(t *testing.T) {
	latin := func(s string) string { b, _ := charmap.ISO8859_1.NewEncoder().String(s); return b }
	koi := func(s string) string { b, _ := charmap.KOI8R.NewEncoder().String(s); return b }
	tests := []struct {
		name, charset, cte, body, text string
		wantCharset, wantCTE           string
		keepsBody                      bool // the encoded body is a suffix of the new one
	}{
		{"utf-8 qp", "utf-8", "quoted-printable", "caf=C3=A9\r\n", "Warnung: extern ü", "utf-8", "quoted-printable", true},
		{"ascii 7bit", "us-ascii", "7bit", "hello\r\n", "[EXTERNAL]", "us-ascii", "7bit", true},
		{"unlabelled 7bit, ascii text", "", "", "hello\r\n", "[EXTERNAL]", "", "", true},
		{"ascii 7bit, non-ascii text", "us-ascii", "7bit", "hello = x\r\n", "Grüße", "utf-8", "quoted-printable", false},
		{"unlabelled 8bit, non-ascii text", "", "8bit", "h\xc3\xa9llo\r\n", "Grüße", "utf-8", "8bit", true},
		{"latin-1 qp", "iso-8859-1", "quoted-printable", "caf=E9\r\n", "Grüße", "iso-8859-1", "quoted-printable", true},
		{"latin-1 8bit", "iso-8859-1", "8bit", latin("café\r\n"), "Grüße", "iso-8859-1", "8bit", true},
		{"koi8-r, representable", "koi8-r", "8bit", koi("Привет\r\n"), "Внимание", "koi8-r", "8bit", true},
		{"koi8-r, not representable", "koi8-r", "8bit", koi("Привет\r\n"), "Grüße", "utf-8", "quoted-printable", false},
		{"utf-8 base64", "utf-8", "base64", "aMOpbGxvDQo=\r\n", "ü", "utf-8", "base64", false},
		{"unknown charset", "x-nope", "7bit", "hello = x\r\n", "ü", "utf-8", "quoted-printable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := "From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain; format=flowed"
			if tt.charset != "" {
				h += "; charset=" + tt.charset
			}
			h += "\r\n"
			if tt.cte != "" {
				h += "Content-Transfer-Encoding: " + tt.cte + "\r\n"
			}
			raw := []byte(h + "\r\n" + tt.body)
			m := New(raw, Options{})
			before, _ := m.Text()
			if err := m.PrependText(tt.text); err != nil {
				t.Fatal(err)
			}
			out := m.Bytes()
			m2 := New(out, Options{})
			got, err := m2.Text()
			if want := tt.text + "\n" + before; err != nil || got != want {
				t.Errorf("Text after prepend = %q, %v; want %q\n%s", got, err, want, out)
			}
			ps := mustParts(t, m2)
			if ps[0].Charset != tt.wantCharset || ps[0].Encoding != tt.wantCTE || ps[0].Params["format"] != "flowed" {
				t.Errorf("charset %q, encoding %q, params %v; want %q, %q", ps[0].Charset, ps[0].Encoding, ps[0].Params, tt.wantCharset, tt.wantCTE)
			}
			if tt.keepsBody != bytes.HasSuffix(out, []byte(tt.body)) {
				t.Errorf("original body kept as suffix: %v, want %v", !tt.keepsBody, tt.keepsBody)
			}
			if m2.Header("From") != "a@example.org" || m2.Header("Subject") != "s" {
				t.Errorf("other fields lost: %q", out)
			}
			if p := mustParts(t, m)[0]; p.Charset != ps[0].Charset || p.Encoding != ps[0].Encoding {
				t.Errorf("part fields not updated: %q %q", p.Charset, p.Encoding)
			}
			if a, r := m.Edits(); len(a)+len(r) != 0 {
				t.Errorf("Edits = %v, %v", a, r)
			}
		})
	}
}

func TestPrependTextMultipart(t *testing.T) {
	raw := crlf(nestedMsg)
	m := New(raw, Options{})
	html, _ := m.HTML()
	if err := m.PrependText("first line"); err != nil {
		t.Fatal(err)
	}
	if err := m.PrependText("second\nline"); err != nil {
		t.Fatal(err)
	}
	out := m.Bytes()
	m2 := New(out, Options{})
	if got, _ := m2.Text(); got != "second\nline\nfirst line\nplain body" {
		t.Errorf("Text = %q", got)
	}
	if got, _ := m2.HTML(); got != html {
		t.Errorf("HTML changed to %q", got)
	}
	// Everything after the text part is untouched.
	p := mustParts(t, m)[0]
	if !bytes.HasSuffix(out, raw[p.BodyEnd:]) || !bytes.HasPrefix(out, raw[:p.BodyStart]) {
		t.Errorf("bytes around the text part changed")
	}

	// After ReplacePart, prepending goes before the new text.
	m = New(raw, Options{})
	m.ReplacePart(mustParts(t, m)[0], "replaced")
	m.PrependText("note")
	if got, _ := New(m.Bytes(), Options{}).Text(); got != "note\nreplaced" {
		t.Errorf("Text = %q", got)
	}

	// CR-only line breaks stay CR-only.
	m = New([]byte("Subject: s\r\rbody\r"), Options{})
	m.PrependText("a\nb")
	if got := string(m.Bytes()); got != "Subject: s\r\ra\rb\rbody\r" {
		t.Errorf("CR message = %q", got)
	}
}

func TestPrependTextNoText(t *testing.T) {
	m := New([]byte("Content-Type: text/html\n\n<p>x</p>"), Options{})
	if err := m.PrependText("x"); !errors.Is(err, ErrNoText) {
		t.Errorf("PrependText = %v, want ErrNoText", err)
	}
	if err := New(nil, Options{}).PrependText("x"); !errors.Is(err, ErrEmpty) {
		t.Errorf("PrependText(empty message) = %v, want ErrEmpty", err)
	}
}

func TestReplaceHeaderOnly(t *testing.T) {
	m := New([]byte("Subject: s"), Options{})
	ps := mustParts(t, m)
	if err := m.ReplacePart(ps[0], "Looks: like a field"); err != nil {
		t.Fatal(err)
	}
	m2 := New(m.Bytes(), Options{})
	if got, _ := m2.Text(); got != "Looks: like a field" || m2.Header("Looks") != "" {
		t.Errorf("Text = %q in %q", got, m.Bytes())
	}
}
