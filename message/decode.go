package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// check reports whether p is a live part of m.
func (m *Message) check(p *Part) error {
	if p == nil || p.m != m {
		return ErrNotPart
	}
	if p.removed {
		return fmt.Errorf("%w: part %s", ErrRemoved, p.Path)
	}
	return nil
}

func (m *Message) tooLarge(p *Part, what string, n int64) error {
	return fmt.Errorf("%w: part %s %s %d bytes, limit %d", ErrTooLarge, p.Path, what, n, m.opt.MaxPartBytes)
}

// PartBytes returns the decoded content of p: base64, quoted-printable and
// uuencode (x-uuencode, uuencode, x-uue) are decoded; 7bit, 8bit, binary,
// absent and unknown encodings give the body as is (an unknown encoding is
// a defect). Decoding is lenient: bad base64 characters are skipped and a
// truncated end is decoded as far as it goes, with a defect, not an error.
//
// The result may alias the input: do not modify it. Content past
// Options.MaxPartBytes gives an error wrapping ErrTooLarge.
func (m *Message) PartBytes(p *Part) ([]byte, error) {
	if err := m.check(p); err != nil {
		return nil, err
	}
	body, limit := p.body, m.opt.MaxPartBytes
	switch p.Encoding {
	case "", "7bit", "8bit", "binary":
	case "base64":
		if int64(len(body))/4*3 > limit+3 && base64Len(body) > limit {
			return nil, m.tooLarge(p, "decodes to more than", limit)
		}
		out, problem := decodeBase64Lenient(body)
		if problem != "" {
			m.partDefect(p, reportedDecode, "base64: %s", problem)
		}
		body = out
	case "quoted-printable":
		out, problem := decodeQP(body)
		if problem != "" {
			m.partDefect(p, reportedDecode, "quoted-printable: %s", problem)
		}
		body = out
	case "x-uuencode", "uuencode", "x-uue":
		out, problem := decodeUU(body)
		if problem != "" {
			m.partDefect(p, reportedDecode, "uuencode: %s", problem)
		}
		body = out
	default:
		m.partDefect(p, reportedEncoding, "unknown transfer encoding %q, read as 8bit", p.Encoding)
	}
	if int64(len(body)) > limit {
		return nil, m.tooLarge(p, "is", int64(len(body)))
	}
	return body, nil
}

// PartText returns the content of p as UTF-8 text: decoded as PartBytes
// does, converted from the part's charset, with a leading byte order mark
// dropped and line breaks (CRLF, CR) turned into "\n". Without a charset, or
// with us-ascii, 8-bit text is kept when it is valid UTF-8 and read as
// windows-1252 otherwise. An unknown charset gives the bytes as UTF-8 with
// invalid sequences replaced by U+FFFD, and a defect. The text, too, is
// capped by Options.MaxPartBytes.
func (m *Message) PartText(p *Part) (string, error) {
	b, err := m.PartBytes(p)
	if err != nil {
		return "", err
	}
	kind, _ := lookupCharset(p.Charset)
	if (kind == csASCII || kind == csUTF8) && bytes.IndexByte(b, '\r') < 0 &&
		!bytes.HasPrefix(b, []byte("\uFEFF")) && utf8.Valid(b) {
		return string(b), nil // the common case: one copy
	}
	out, ok := appendUTF8(make([]byte, 0, len(b)+len(b)/8), p.Charset, b)
	if !ok {
		m.partDefect(p, reportedCharset, "unknown charset %q", p.Charset)
	}
	out = toLF(bytes.TrimPrefix(out, []byte("\uFEFF")))
	if int64(len(out)) > m.opt.MaxPartBytes {
		return "", m.tooLarge(p, "text is", int64(len(out)))
	}
	return ownedString(out), nil
}

// base64Len counts the base64 alphabet characters of b, times 3/4.
func base64Len(b []byte) int64 {
	n := int64(0)
	for _, c := range b {
		if b64val(c) >= 0 {
			n++
		}
	}
	return n * 3 / 4
}

// decodeBase64Lenient decodes base64, first strictly (fast, ignoring line
// breaks), then leniently: characters outside the alphabet are skipped,
// padding ends a group anywhere, and a truncated final group is decoded as
// far as it goes. problem describes what was wrong, "" if nothing.
func decodeBase64Lenient(b []byte) ([]byte, string) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	if n, err := base64.StdEncoding.Decode(out, b); err == nil {
		return out[:n], ""
	}
	out = out[:0]
	var acc uint32
	var n, bad int
	padded := false
	flush := func() {
		switch n {
		case 2:
			out = append(out, byte(acc>>4))
		case 3:
			out = append(out, byte(acc>>10), byte(acc>>2))
		}
		acc, n = 0, 0
	}
	for _, c := range b {
		v := b64val(c)
		switch {
		case v >= 0:
			acc = acc<<6 | uint32(v)
			if n++; n == 4 {
				out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, n = 0, 0
			}
		case c == '=':
			padded = true
			flush()
		case c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			bad++
		}
	}
	var problems []string
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d invalid characters skipped", bad))
	}
	if n == 1 {
		problems = append(problems, "truncated: a dangling character dropped")
	} else if n > 1 && !padded {
		problems = append(problems, "truncated or unpadded final group")
	}
	flush()
	return out, strings.Join(problems, "; ")
}

// decodeQP decodes quoted-printable leniently: "=" followed by a line break
// (possibly after white space) is a soft break, "=XX" with upper- or
// lower-case hex a byte, any other "=" is kept as is (a problem); white space
// before a line break is dropped. Line breaks are kept as they are.
func decodeQP(b []byte) ([]byte, string) {
	out := make([]byte, 0, len(b))
	bad := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '=':
			if i+2 < len(b) && unhex(b[i+1]) >= 0 && unhex(b[i+2]) >= 0 {
				out = append(out, byte(unhex(b[i+1])<<4|unhex(b[i+2])))
				i += 2
				continue
			}
			j := i + 1
			for j < len(b) && isWSP(b[j]) {
				j++
			}
			if j == len(b) {
				i = j - 1 // soft break at the very end
				continue
			}
			if b[j] == '\r' || b[j] == '\n' {
				if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
					j++
				}
				i = j
				continue
			}
			bad++
			out = append(out, c)
		case isWSP(c):
			j := i
			for j < len(b) && isWSP(b[j]) {
				j++
			}
			if j == len(b) || b[j] == '\r' || b[j] == '\n' {
				i = j - 1 // trailing white space: dropped
				continue
			}
			out = append(out, b[i:j]...)
			i = j - 1
		default:
			out = append(out, c)
		}
	}
	if bad > 0 {
		return out, fmt.Sprintf("%d bad escapes kept as is", bad)
	}
	return out, ""
}

// decodeUU decodes uuencoded data: text before the "begin" line is
// skipped, decoding stops at "end". Lines are decoded leniently.
func decodeUU(b []byte) ([]byte, string) {
	out := make([]byte, 0, len(b)*3/4)
	i, begun, problem := 0, false, ""
	for i < len(b) {
		le, next := nextLine(b, i, len(b))
		line := b[i:le]
		i = next
		if !begun {
			begun = bytes.HasPrefix(line, []byte("begin "))
			continue
		}
		if bytes.Equal(trimWSP(line), []byte("end")) {
			return out, problem
		}
		if len(line) == 0 {
			continue
		}
		n := int((line[0] - ' ') & 0x3f)
		data := line[1:]
		var group [4]byte
		got := 0
		for k := 0; k < len(data) && got < n; k += 4 {
			for g := range group {
				group[g] = 0
				if k+g < len(data) {
					group[g] = (data[k+g] - ' ') & 0x3f
				}
			}
			v := uint32(group[0])<<18 | uint32(group[1])<<12 | uint32(group[2])<<6 | uint32(group[3])
			for _, x := range []byte{byte(v >> 16), byte(v >> 8), byte(v)} {
				if got < n {
					out = append(out, x)
					got++
				}
			}
			if k+4 >= len(data) && got < n {
				problem = "short line"
				break
			}
		}
	}
	if !begun {
		return b, "no begin line, read as is"
	}
	if problem == "" {
		problem = "no end line"
	}
	return out, problem
}

// hasNonASCII reports whether b contains a byte of 0x80 or above.
func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}
