package message

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// textMessage returns a single-part text/plain message with body in the
// given charset and transfer encoding.
func textMessage(charset, cte string, body []byte) []byte {
	h := "From: a@example.org\r\nContent-Type: text/plain"
	if charset != "" {
		h += "; charset=" + charset
	}
	h += "\r\n"
	if cte != "" {
		h += "Content-Transfer-Encoding: " + cte + "\r\n"
	}
	switch cte {
	case "base64":
		body = encodeBase64(body, "\r\n")
	case "quoted-printable":
		body = encodeQP(body, "\r\n")
	}
	return append([]byte(h+"\r\n"), body...)
}

func TestPartTextCharsets(t *testing.T) {
	tests := []struct {
		charset string
		enc     encoding.Encoding
		text    string
	}{
		{"iso-8859-1", charmap.ISO8859_1, "Grüße, café"},
		{"ISO-8859-15", charmap.ISO8859_15, "Prix: 5 €"},
		{"windows-1252", charmap.Windows1252, "\u201cquoted\u201d"},
		{"koi8-r", charmap.KOI8R, "Привет, мир"},
		{"windows-1251", charmap.Windows1251, "Привет, мир"},
		{"shift_jis", japanese.ShiftJIS, "こんにちは世界"},
		{"iso-2022-jp", japanese.ISO2022JP, "こんにちは世界"},
		{"euc-jp", japanese.EUCJP, "こんにちは世界"},
		{"gb2312", simplifiedchinese.GBK, "你好，世界"},
		{"x-gbk", simplifiedchinese.GBK, "你好，世界"},
		{"gb18030", simplifiedchinese.GB18030, "你好，世界"},
		{"big5", traditionalchinese.Big5, "你好，世界"},
		{"ks_c_5601-1987", korean.EUCKR, "안녕하세요"},
		{"euc-kr", korean.EUCKR, "안녕하세요"},
		{"tis-620", charmap.Windows874, "สวัสดี"},
		{"utf-16", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "UTF-16 without BOM: ü"},
		{"utf-16", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "UTF-16 with BOM: ü"},
		{"utf-8", nil, "ünïcödé"},
		{"\"UTF-8\"", nil, "quoted charset"},
		{"utf-7", nil, "A+ImIDkQ."},
	}
	for _, tt := range tests {
		for _, cte := range []string{"", "base64", "quoted-printable"} {
			if tt.charset == "utf-16" && cte == "quoted-printable" {
				continue // encodeQP reads CR and LF bytes as line breaks
			}
			body := []byte(tt.text + "\r\nline two\r\n")
			if tt.enc != nil {
				var err error
				if body, err = tt.enc.NewEncoder().Bytes(body); err != nil {
					t.Fatal(err)
				}
			}
			m := New(textMessage(tt.charset, cte, body), Options{})
			got, err := m.Text()
			want := tt.text + "\nline two\n"
			if tt.charset == "utf-7" {
				want = "A\u2262\u0391.\nline two\n"
			}
			if err != nil || got != want {
				t.Errorf("%s/%s: Text = %q, %v; want %q", tt.charset, cte, got, err, want)
			}
			if d := m.Defects(); len(d) != 0 {
				t.Errorf("%s/%s: defects %q", tt.charset, cte, d)
			}
		}
	}
}

func TestPartTextUnknownCharset(t *testing.T) {
	m := New(textMessage("x-invented", "", []byte("caf\xc3\xa9 \xff")), Options{})
	got, err := m.Text()
	if err != nil || got != "café \uFFFD" {
		t.Errorf("Text = %q, %v", got, err)
	}
	if !hasDefect(m, `unknown charset "x-invented"`) {
		t.Errorf("defects %q", m.Defects())
	}
}

func TestPartTextUnlabelled(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain ascii", "plain ascii"},
		{"utf-8 \xc3\xa9", "utf-8 é"},
		{"latin-1 \xe9", "latin-1 é"},
		{"\xef\xbb\xbfwith BOM", "with BOM"},
	} {
		m := New(textMessage("", "", []byte(tt.in)), Options{})
		if got, _ := m.Text(); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonCharset(t *testing.T) {
	for in, want := range map[string]string{
		`"UTF-8"`:              "utf-8",
		` Windows-1252 `:       "windows-1252",
		`\"us-ascii\"`:         "us-ascii",
		`charset=us-ascii`:     "us-ascii",
		`utf-8*en`:             "utf-8",
		`ISO-2022-JP`:          "iso-2022-jp",
		strings.Repeat(" ", 3): "",
	} {
		if got := canonCharset(in); got != want {
			t.Errorf("canonCharset(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromUTF8(t *testing.T) {
	tests := []struct {
		cs, s string
		ok    bool
	}{
		{"utf-8", "ü€", true},
		{"us-ascii", "plain", true},
		{"us-ascii", "ü", false},
		{"iso-8859-1", "ü", true},
		{"iso-8859-1", "€", false}, // read as windows-1252, written strictly
		{"windows-1252", "€", true},
		{"koi8-r", "Привет", true},
		{"koi8-r", "ü", false},
		{"iso-2022-jp", "日本", true},
		{"utf-16", "a", false}, // not ASCII-compatible
		{"utf-7", "a", false},
		{"x-unknown-thing", "a", false},
	}
	for _, tt := range tests {
		if _, ok := fromUTF8(tt.cs, tt.s); ok != tt.ok {
			t.Errorf("fromUTF8(%q, %q) ok = %v, want %v", tt.cs, tt.s, ok, tt.ok)
		}
	}
}
