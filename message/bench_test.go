package message

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchMessage builds a multipart/mixed message of about size bytes: a
// typical header, a text/plain part and a base64 attachment filling the rest.
func benchMessage(size int) []byte {
	var b strings.Builder
	b.WriteString("Return-Path: <alice@example.org>\r\n" +
		"Received: from mail.example.org (mail.example.org [192.0.2.1])\r\n" +
		"\tby mx.example.net (Postfix) with ESMTPS id 4ABC123\r\n" +
		"\tfor <bob@example.net>; Tue, 3 Jun 2025 10:00:00 +0200 (CEST)\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\r\n" +
		"\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n" +
		"\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n" +
		"From: Alice Example <alice@example.org>\r\n" +
		"To: Bob Example <bob@example.net>\r\n" +
		"Subject: =?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?=\r\n" +
		"Date: Tue, 3 Jun 2025 10:00:00 +0200\r\n" +
		"Message-ID: <20250603100000.12345@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1_abcdef\"\r\n" +
		"\r\n" +
		"This is a multi-part message in MIME format.\r\n" +
		"--b1_abcdef\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n")
	for i := 0; i < 8; i++ {
		b.WriteString("Hello Bob, here are the numbers for this quarter. Caf=C3=A9 on me.\r\n")
	}
	b.WriteString("\r\n--b1_abcdef\r\n" +
		"Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n")
	rest := size - b.Len() - 40
	data := make([]byte, max(rest, 0)*57/78) // 57 bytes per 78-byte line
	for i := range data {
		data[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1_abcdef--\r\n")
	return []byte(b.String())
}

func BenchmarkHeader(b *testing.B) {
	raw := benchMessage(4 << 10)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		m := New(raw, Options{})
		if m.Header("Subject") == "" || m.Header("From") == "" {
			b.Fatal("missing header")
		}
	}
}

func benchWalk(b *testing.B, size int) {
	raw := benchMessage(size)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		m := New(raw, Options{})
		parts, err := m.Parts()
		if err != nil || len(parts) != 2 {
			b.Fatalf("Parts = %d, %v", len(parts), err)
		}
		for _, p := range parts {
			if _, err := m.PartText(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWalk4K(b *testing.B)   { benchWalk(b, 4<<10) }
func BenchmarkWalk100K(b *testing.B) { benchWalk(b, 100<<10) }

// BenchmarkHeaderEdit is a header-only rewrite of a 100 KiB message: add a
// trace field and write the result.
func BenchmarkHeaderEdit(b *testing.B) {
	raw := benchMessage(100 << 10)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		m := New(raw, Options{})
		if err := m.AddHeader("X-Spam-Score", "1.5"); err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestBenchMessage(t *testing.T) {
	for _, size := range []int{4 << 10, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			raw := benchMessage(size)
			if d := len(raw) - size; d < -200 || d > 200 {
				t.Errorf("len = %d, want about %d", len(raw), size)
			}
			m := New(raw, Options{})
			parts, err := m.Parts()
			if err != nil || len(parts) != 2 || !parts[1].IsAttachment {
				t.Fatalf("Parts = %v, %v", parts, err)
			}
			if len(m.Defects()) != 0 {
				t.Errorf("defects: %q", m.Defects())
			}
		})
	}
}
