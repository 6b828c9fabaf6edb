package message

import (
	"bytes"
	"mime"
	"strings"
	"testing"

	"github.com/emersion/go-message/charset"
)

func TestHeaderRFC2047(t *testing.T) {
	tests := []struct {
		name, in, want string
		oracle         bool // mime.WordDecoder with go-message/charset agrees
	}{
		{"plain", "hello world", "hello world", true},
		{"q", "=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait", true},
		{"b", "=?UTF-8?B?w6l0w6k=?=", "été", true},
		{"text around", "Re: =?utf-8?q?caf=C3=A9?= now", "Re: café now", true},
		{"adjacent words lose the space", "=?utf-8?q?a?= =?utf-8?q?b?=", "ab", true},
		{"adjacent words over folding", "=?utf-8?q?a?=\t =?utf-8?q?b?=", "ab", true},
		{"latin-1", "=?iso-8859-1?q?J=F6rg?=", "Jörg", true},
		{"koi8-r", "=?koi8-r?b?8NLJ18XU?=", "Привет", true},
		{"iso-2022-jp", "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは", true},
		{"language tag", "=?utf-8*en?q?hi?=", "hi", false},
		{"utf-8 split across words", "=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé", true},
		{"multi-byte split inside a character", "=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "€", false},
		{"unknown charset kept raw", "x =?x-nope?q?abc?= y", "x =?x-nope?q?abc?= y", false},
		{"bad encoding letter kept", "=?utf-8?x?abc?=", "=?utf-8?x?abc?=", true},
		{"unterminated kept", "=?utf-8?q?abc", "=?utf-8?q?abc", true},
		{"no space before word", "caf=?utf-8?q?=C3=A9?=", "café", true},
		{"different charsets adjacent", "=?utf-8?q?=C3=A9?= =?iso-8859-1?q?=E9?=", "éé", true},
	}
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeValue([]byte(tt.in)); got != tt.want {
				t.Errorf("decodeValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if tt.oracle {
				got, err := dec.DecodeHeader(tt.in)
				if err != nil || got != tt.want {
					t.Errorf("oracle: mime.WordDecoder gives %q, %v; want %q", got, err, tt.want)
				}
			}
		})
	}
}

func TestHeaderEncoding(t *testing.T) {
	tests := []struct {
		value   string
		literal string // must appear unencoded in the output
	}{
		{"plain ascii", "plain ascii"},
		{"Grüße aus Köln", ""},
		{"Jörg Müller <jorg@example.org>", "<jorg@example.org>"},
		{`"Müller, Jörg" <jorg@example.org>`, "<jorg@example.org>"},
		{"[SPAM] Привет " + strings.Repeat("очень длинная тема ", 8), "[SPAM]"},
		{"tab\tseparated ü", "tab\tseparated"},
		{strings.Repeat("word ", 40), ""},
		{"ctrl\x01char", ""},
	}
	for _, tt := range tests {
		m := New(crlf("Subject: old\n\nbody\n"), Options{})
		if err := m.SetHeader("Subject", tt.value); err != nil {
			t.Fatal(err)
		}
		out := m.Bytes()
		m2, body := reparse(out)
		want := strings.Join(strings.Fields(tt.value), " ")
		switch tt.value {
		case "ctrl\x01char":
			want = tt.value
		case `"Müller, Jörg" <jorg@example.org>`:
			want = "Müller, Jörg <jorg@example.org>" // the phrase is encoded without its quotes
		}
		if got := strings.Join(strings.Fields(m2.Header("Subject")), " "); got != want {
			t.Errorf("round trip of %q gives %q", tt.value, got)
		}
		if !bytes.Equal(body, []byte("body\r\n")) {
			t.Errorf("body changed: %q", body)
		}
		hdr := string(out[:m2.hdrEnd])
		if !strings.Contains(hdr, tt.literal) {
			t.Errorf("%q not left readable in %q", tt.literal, hdr)
		}
		for _, line := range strings.Split(strings.TrimSuffix(hdr, "\r\n"), "\r\n") {
			if len(line) > 78 && strings.ContainsAny(line[1:], " \t") {
				t.Errorf("line of %d characters not folded: %q", len(line), line)
			}
			if onlyWSP(line) {
				t.Errorf("whitespace-only line in %q", hdr)
			}
		}
		for i := 0; i < len(hdr); i++ {
			if hdr[i] >= 0x80 {
				t.Errorf("raw 8-bit byte in header %q", hdr)
				break
			}
		}
	}
}
