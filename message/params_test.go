package message

import (
	"mime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		name, in, value string
		params          map[string]string
		problem         bool
		stdlib          bool // mime.ParseMediaType agrees
	}{
		{"bare", "text/plain", "text/plain", nil, false, true},
		{"token", "Text/Plain; Charset=UTF-8", "text/plain", map[string]string{"charset": "UTF-8"}, false, true},
		{"quoted", `multipart/mixed; boundary="a b;c"`, "multipart/mixed", map[string]string{"boundary": "a b;c"}, false, true},
		{"escaped quote", `a/b; x="say \"hi\""`, "a/b", map[string]string{"x": `say "hi"`}, false, true},
		{"windows path", `a/b; name="C:\TEMP\x.png"`, "a/b", map[string]string{"name": `C:\TEMP\x.png`}, false, false},
		{"escaped backslash", `a/b; name="a\\b"`, "a/b", map[string]string{"name": `a\b`}, false, true},
		{"comments", "text/plain (body) ; charset=us-ascii (Plain text)", "text/plain", map[string]string{"charset": "us-ascii"}, false, false},
		{"folded", "text/plain;\r\n\tcharset=utf-8", "text/plain", map[string]string{"charset": "utf-8"}, false, true},
		{"rfc2231 utf-8", "attachment; filename*=UTF-8''%E2%82%AC%20rates.txt", "attachment", map[string]string{"filename": "€ rates.txt"}, false, true},
		{"rfc2231 latin-1", "attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt", "attachment", map[string]string{"filename": "Grüße.txt"}, false, false},
		{"rfc2231 sections", "attachment; filename*1=\"part2.txt\"; filename*0*=utf-8''%C3%A9t%C3%A9_", "attachment", map[string]string{"filename": "été_part2.txt"}, false, false},
		{"rfc2231 wins", "attachment; filename=\"plain.txt\"; filename*=utf-8''ext.txt", "attachment", map[string]string{"filename": "ext.txt"}, false, false},
		{"missing semicolon", `text/html charset="utf-8"`, "text/html", map[string]string{"charset": "utf-8"}, false, false},
		{"missing closing quote", `text/html; charset="utf-8`, "text/html", map[string]string{"charset": "utf-8"}, true, false},
		{"double semicolon", "text/plain;; charset=us-ascii;", "text/plain", map[string]string{"charset": "us-ascii"}, false, false},
		{"unquoted tspecials", "application/pdf; name=Invoice_(1).pdf", "application/pdf", map[string]string{"name": "Invoice_(1).pdf"}, false, false},
		{"duplicate keeps first", "text/plain; charset=utf-8; charset=latin1", "text/plain", map[string]string{"charset": "utf-8"}, true, false},
		{"parameter without value", "text/plain; junk; charset=utf-8", "text/plain", map[string]string{"charset": "utf-8"}, true, false},
		{"empty", "", "", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, params, problem := parseParams(tt.in)
			if value != tt.value {
				t.Errorf("value = %q, want %q", value, tt.value)
			}
			if diff := cmp.Diff(tt.params, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if (problem != "") != tt.problem {
				t.Errorf("problem = %q, want one: %v", problem, tt.problem)
			}
			if tt.stdlib {
				v, p, err := mime.ParseMediaType(tt.in)
				if len(p) == 0 {
					p = nil
				}
				if err != nil || v != tt.value || !cmp.Equal(p, tt.params) {
					t.Errorf("mime.ParseMediaType = %q, %q, %v; differs", v, p, err)
				}
			}
		})
	}
}

func TestPartFilename(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{"disposition", `Content-Disposition: attachment; filename="a.pdf"`, "a.pdf"},
		{"content-type name", `Content-Type: application/pdf; name="b.pdf"`, "b.pdf"},
		{"disposition wins", "Content-Type: application/pdf; name=\"b.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"", "a.pdf"},
		{"rfc2047 in quotes", `Content-Disposition: attachment; filename="=?utf-8?B?w6l0w6kucGRm?="`, "été.pdf"},
		{"rfc2231", `Content-Disposition: attachment; filename*=utf-8''%C3%A9t%C3%A9.pdf`, "été.pdf"},
		{"raw utf-8", "Content-Disposition: attachment; filename=\"\xe7\xae\xa1\xe7\x90\x86.doc\"", "管理.doc"},
		{"raw latin-1", "Content-Disposition: attachment; filename=\"Gr\xfc\xdfe.txt\"", "Grüße.txt"},
		{"blank disposition name", "Content-Type: application/pdf; name=\"c.pdf\"\nContent-Disposition: attachment; filename=\"\"", "c.pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "Content-Type: multipart/mixed; boundary=b\n\n--b\n" + tt.header + "\n\ndata\n--b--\n"
			m := New([]byte(raw), Options{})
			ps, err := m.Parts()
			if err != nil || len(ps) != 1 {
				t.Fatalf("Parts = %v, %v", ps, err)
			}
			if ps[0].Filename != tt.want {
				t.Errorf("Filename = %q, want %q", ps[0].Filename, tt.want)
			}
			if !ps[0].IsAttachment {
				t.Errorf("not an attachment")
			}
		})
	}
}
