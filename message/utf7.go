package message

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeUTF7 decodes UTF-7 (RFC 2152) leniently: bad sequences become
// U+FFFD, bytes outside ASCII are read as windows-1252.
func decodeUTF7(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '+' {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(cp1252.DecodeByte(c))
			}
			i++
			continue
		}
		i++
		if i < len(b) && b[i] == '-' {
			sb.WriteByte('+')
			i++
			continue
		}
		var units []uint16
		var acc uint32
		var nbits uint
		for i < len(b) && b64val(b[i]) >= 0 {
			acc = acc<<6 | uint32(b64val(b[i]))
			nbits += 6
			if nbits >= 16 {
				nbits -= 16
				units = append(units, uint16(acc>>nbits))
				acc &= 1<<nbits - 1
			}
			i++
		}
		for _, r := range utf16.Decode(units) {
			sb.WriteRune(r)
		}
		if i < len(b) && b[i] == '-' {
			i++
		}
	}
	return sb.String()
}

// b64val returns the value of a base64 alphabet character, or -1.
func b64val(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
