package message

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// partInfo is what the structure tests compare.
type partInfo struct {
	Path, Type, Filename string
	Attachment           bool
	Depth                int
}

func infos(t *testing.T, m *Message) []partInfo {
	t.Helper()
	ps, err := m.Parts()
	if err != nil {
		t.Fatalf("Parts: %v", err)
	}
	var out []partInfo
	for i, p := range ps {
		if p.Index != i && len(m.leaves) == len(ps) {
			t.Errorf("part %s: Index = %d, want %d", p.Path, p.Index, i)
		}
		out = append(out, partInfo{p.Path, p.ContentType, p.Filename, p.IsAttachment, p.Depth})
	}
	return out
}

const nestedMsg = `From: a@example.org
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

plain body
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>html body</p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Disposition: inline

PNG
--rel--
--alt--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: message/rfc822
Content-Disposition: attachment; filename="fwd.eml"

From: b@example.org
Subject: forwarded
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

forwarded text
--inner
Content-Type: application/zip; name="x.zip"
Content-Transfer-Encoding: base64

UEsDBA==
--inner--
--outer--
epilogue
`

func TestPartsNested(t *testing.T) {
	for name, eol := range map[string]string{"LF": "\n", "CRLF": "\r\n", "CR": "\r"} {
		t.Run(name, func(t *testing.T) {
			m := New([]byte(strings.ReplaceAll(nestedMsg, "\n", eol)), Options{})
			want := []partInfo{
				{"1.1", "text/plain", "", false, 0},
				{"1.2.1", "text/html", "", false, 0},
				{"1.2.2", "image/png", "", false, 0},
				{"2", "application/pdf", "report.pdf", true, 0},
				{"3.1", "text/plain", "", true, 1},
				{"3.2", "application/zip", "x.zip", true, 1},
			}
			if diff := cmp.Diff(want, infos(t, m)); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
			if d := m.Defects(); len(d) != 0 {
				t.Errorf("defects: %q", d)
			}
			if got, _ := m.Text(); got != "plain body" {
				t.Errorf("Text = %q", got)
			}
			if got, _ := m.HTML(); got != "<p>html body</p>" {
				t.Errorf("HTML = %q", got)
			}
			ps, _ := m.Parts()
			if ps[2].ContentID != "logo@x" || ps[2].Disposition != "inline" {
				t.Errorf("image: ContentID %q, Disposition %q", ps[2].ContentID, ps[2].Disposition)
			}
			if b, err := m.PartBytes(ps[3]); err != nil || string(b) != "%PDF-1.4\n" {
				t.Errorf("pdf = %q, %v", b, err)
			}
			if ps[3].Encoding != "base64" || ps[3].Size != int64(len("JVBERi0xLjQK")) {
				t.Errorf("pdf: Encoding %q, Size %d", ps[3].Encoding, ps[3].Size)
			}
			if got, _ := m.PartText(ps[4]); got != "forwarded text" {
				t.Errorf("forwarded text = %q", got)
			}
			// Offsets delimit the part's header and body in the input.
			raw := m.raw
			p := ps[0]
			if h := string(raw[p.HeaderStart:p.HeaderEnd]); !strings.HasPrefix(h, "Content-Type: text/plain") {
				t.Errorf("header range = %q", h)
			}
			if b := string(raw[p.BodyStart:p.BodyEnd]); b != "plain body" {
				t.Errorf("body range = %q", b)
			}
		})
	}
}

func TestPartsSinglePart(t *testing.T) {
	m := New(crlf("Subject: x\nContent-Type: text/plain; charset=\"utf-8\"\n\nhello\n"), Options{})
	want := []partInfo{{"1", "text/plain", "", false, 0}}
	if diff := cmp.Diff(want, infos(t, m)); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	ps, _ := m.Parts()
	if ps[0].Charset != "utf-8" || ps[0].HeaderStart != 0 || ps[0].BodyStart != int64(m.bodyStart) {
		t.Errorf("part = %+v", ps[0])
	}
	// Header only: one empty text/plain part.
	m = New([]byte("Subject: x\r\n"), Options{})
	if ps, err := m.Parts(); err != nil || len(ps) != 1 || ps[0].Size != 0 {
		t.Errorf("header-only Parts = %v, %v", ps, err)
	}
}

func TestPartsEmpty(t *testing.T) {
	for _, raw := range []string{"", "\n", " \r\n\r\n"} {
		m := New([]byte(raw), Options{})
		if _, err := m.Parts(); !errors.Is(err, ErrEmpty) {
			t.Errorf("Parts(%q) error = %v, want ErrEmpty", raw, err)
		}
		if s, err := m.Text(); s != "" || err != nil {
			t.Errorf("Text(%q) = %q, %v", raw, s, err)
		}
	}
}

func TestPartsDigest(t *testing.T) {
	raw := `Content-Type: multipart/digest; boundary=d

--d

Subject: one

first
--d
Content-Type: text/plain

not a message
--d--
`
	m := New([]byte(raw), Options{})
	want := []partInfo{{"1.1", "text/plain", "", false, 1}, {"2", "text/plain", "", false, 0}}
	if diff := cmp.Diff(want, infos(t, m)); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

func TestPartsMalformed(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []partInfo
		texts     []string
		defect    string
	}{
		{
			name:   "missing final boundary",
			raw:    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n",
			want:   []partInfo{{"1", "text/plain", "", false, 0}, {"2", "text/plain", "", false, 0}},
			texts:  []string{"one", "two\n"},
			defect: "missing final boundary (multipart: NextPart: EOF)",
		},
		{
			name:   "boundary not found",
			raw:    "Content-Type: multipart/mixed; boundary=b\n\njust text\n",
			want:   []partInfo{{"1", "text/plain", "", false, 0}},
			texts:  []string{"just text\n"},
			defect: `boundary "b" not found, read as text/plain`,
		},
		{
			name:   "no boundary parameter",
			raw:    "Content-Type: multipart/mixed\n\njust text\n",
			want:   []partInfo{{"1", "text/plain", "", false, 0}},
			texts:  []string{"just text\n"},
			defect: "without boundary",
		},
		{
			name:  "similar-looking boundaries",
			raw:   "Content-Type: multipart/mixed; boundary=foo\n\n--foo\nContent-Type: multipart/alternative; boundary=foobar\n\n--foobar\n\ninner\n--foobar--\n--foo\n\nouter\n--foo--\n",
			want:  []partInfo{{"1.1", "text/plain", "", false, 0}, {"2", "text/plain", "", false, 0}},
			texts: []string{"inner", "outer"},
		},
		{
			name:  "transport padding",
			raw:   "Content-Type: multipart/mixed; boundary=b\n\n--b  \t\n\none\n--b-- \n",
			want:  []partInfo{{"1", "text/plain", "", false, 0}},
			texts: []string{"one"},
		},
		{
			name:   "text after boundaries",
			raw:    "Content-Type: multipart/mixed; boundary=b\n\n--b ignored\n\none\n--b-- ignored too\n",
			want:   []partInfo{{"1", "text/plain", "", false, 0}},
			texts:  []string{"one"},
			defect: "boundary lines followed by text",
		},
		{
			name:   "part without header",
			raw:    "Content-Type: multipart/mixed; boundary=b\n\n--b\nno header here\n--b--\n",
			want:   []partInfo{{"1", "text/plain", "", false, 0}},
			texts:  []string{"no header here"},
			defect: "no header",
		},
		{
			name:  "empty parts",
			raw:   "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nx\n--b--\n",
			want:  []partInfo{{"1", "text/plain", "", false, 0}, {"2", "text/plain", "", false, 0}},
			texts: []string{"", "x"},
		},
		{
			name:   "invalid content type",
			raw:    "Content-Type: text\n\nbody",
			want:   []partInfo{{"1", "text/plain", "", false, 0}},
			texts:  []string{"body"},
			defect: `invalid Content-Type "text"`,
		},
		{
			name:   "encoded message/rfc822",
			raw:    "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKYm9keQo=\n",
			want:   []partInfo{{"1", "message/rfc822", "", false, 0}},
			texts:  []string{"Subject: x\n\nbody\n"},
			defect: "in base64 encoding, not descended",
		},
		{
			name:   "nested mbox line",
			raw:    "Content-Type: message/rfc822\n\nFrom x@y Mon Jan  1 00:00:00 2001\nSubject: in\n\nbody",
			want:   []partInfo{{"1.1", "text/plain", "", false, 1}},
			texts:  []string{"body"},
			defect: "attached message: mbox From_ line skipped",
		},
		{
			name:  "nul bytes",
			raw:   "Content-Type: text/plain\n\na\x00b",
			want:  []partInfo{{"1", "text/plain", "", false, 0}},
			texts: []string{"a\x00b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New([]byte(tt.raw), Options{})
			if diff := cmp.Diff(tt.want, infos(t, m)); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
			ps, _ := m.Parts()
			for i, p := range ps {
				if got, err := m.PartText(p); err != nil || i < len(tt.texts) && got != tt.texts[i] {
					t.Errorf("part %s text = %q, %v; want %q", p.Path, got, err, tt.texts[i])
				}
			}
			if tt.defect != "" && !hasDefect(m, tt.defect) {
				t.Errorf("defects %q lack %q", m.Defects(), tt.defect)
			}
			if tt.defect == "" && len(m.Defects()) != 0 {
				t.Errorf("defects: %q", m.Defects())
			}
		})
	}
}

// nestedMessages returns a message/rfc822 nested depth times.
func nestedMessages(depth int) []byte {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i)
	}
	b.WriteString("Subject: bottom\r\n\r\nbottom text\r\n")
	return []byte(b.String())
}

func TestPartsDepthLimit(t *testing.T) {
	m := New(nestedMessages(3000), Options{})
	ps, err := m.Parts()
	if err != nil || len(ps) != 1 {
		t.Fatalf("Parts = %d parts, %v", len(ps), err)
	}
	if ps[0].ContentType != "message/rfc822" || ps[0].Depth != DefaultMaxDepth {
		t.Errorf("leaf = %s at depth %d", ps[0].ContentType, ps[0].Depth)
	}
	if !hasDefect(m, "nested deeper than 64") {
		t.Errorf("defects %q", m.Defects())
	}

	m = New(nestedMessages(3), Options{MaxDepth: 5})
	if ps, _ := m.Parts(); len(ps) != 1 || ps[0].Path != "1.1.1.1" || ps[0].Depth != 3 {
		t.Errorf("shallow: %+v", ps[0])
	}
	if got, _ := m.Text(); got != "bottom text\n" {
		t.Errorf("shallow: Text = %q", got)
	}

	// Nested multiparts count too.
	var b strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("\ninnermost\n")
	m = New([]byte(b.String()), Options{MaxDepth: 4})
	ps, _ = m.Parts()
	if len(ps) != 1 || ps[0].ContentType != "multipart/mixed" || ps[0].Path != "1.1.1.1" {
		t.Errorf("multipart depth: %+v", ps)
	}
}

func TestPartsCountLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "--b\n\npart %d\n", i)
	}
	b.WriteString("--b--\n")
	m := New([]byte(b.String()), Options{MaxParts: 20})
	ps, _ := m.Parts()
	if len(ps) != 1 || ps[0].ContentType != "multipart/mixed" {
		t.Errorf("Parts = %+v", ps)
	}
	if !hasDefect(m, "more than 20 parts") {
		t.Errorf("defects %q", m.Defects())
	}
	m = New([]byte(b.String()), Options{})
	if ps, _ := m.Parts(); len(ps) != 50 {
		t.Errorf("default limit: %d parts", len(ps))
	}
}

func TestIsAttachment(t *testing.T) {
	tests := []struct {
		mt, disp, filename string
		want               bool
	}{
		{"text/plain", "", "", false},
		{"text/html", "", "", false},
		{"text/plain", "attachment", "", true},
		{"text/plain", "", "notes.txt", true},
		{"text/plain", "inline", "notes.txt", false},
		{"text/calendar", "", "invite.ics", true},
		{"image/png", "inline", "logo.png", true},
		{"image/png", "inline", "", false},
		{"image/png", "", "", true},
		{"application/octet-stream", "", "", true},
		{"message/delivery-status", "", "", false},
		{"message/rfc822", "attachment", "", true},
		{"multipart/mixed", "", "", false},
	}
	for _, tt := range tests {
		if got := isAttachment(tt.mt, tt.disp, tt.filename); got != tt.want {
			t.Errorf("isAttachment(%q, %q, %q) = %v, want %v", tt.mt, tt.disp, tt.filename, got, tt.want)
		}
	}
}

func TestTextPreference(t *testing.T) {
	raw := `Content-Type: multipart/mixed; boundary=m

--m
Content-Type: text/plain

--m
Content-Type: text/plain

intro
--m
Content-Type: multipart/alternative; boundary=a

--a
Content-Type: text/plain

main
--a
Content-Type: text/html

<b>main</b>
--a--
--m
Content-Type: text/plain; name=notes.txt

a file
--m--
`
	m := New([]byte(raw), Options{})
	if got, _ := m.Text(); got != "main" {
		t.Errorf("Text = %q, want the non-empty part inside multipart/alternative", got)
	}
	atts, _ := m.Attachments()
	if len(atts) != 1 || atts[0].Filename != "notes.txt" {
		t.Errorf("Attachments = %+v", atts)
	}
	// Without text/plain: "".
	m = New([]byte("Content-Type: text/html\n\n<p>x</p>"), Options{})
	if got, err := m.Text(); got != "" || err != nil {
		t.Errorf("html only: Text = %q, %v", got, err)
	}
}
