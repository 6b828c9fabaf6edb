package message

import "encoding/base64"

const upperhex = "0123456789ABCDEF"

// encodeQP encodes b as quoted-printable with lines of at most 76
// characters. CRLF, LF and lone CR in b are hard line breaks, written as
// eol; trailing white space and a leading "From " are escaped.
func encodeQP(b []byte, eol string) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	col := 0
	put := func(tok ...byte) {
		if col+len(tok) > 75 {
			out = append(out, '=')
			out = append(out, eol...)
			col = 0
		}
		out = append(out, tok...)
		col += len(tok)
	}
	esc := func(c byte) { put('=', upperhex[c>>4], upperhex[c&15]) }
	for i := 0; i < len(b); i++ {
		c := b[i]
		atEOL := i+1 == len(b) || b[i+1] == '\r' || b[i+1] == '\n'
		switch {
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, eol...)
			col = 0
		case c == ' ' || c == '\t':
			if atEOL {
				esc(c)
			} else {
				put(c)
			}
		case c == 'F' && col == 0 && len(b)-i >= 5 && string(b[i:i+5]) == "From ":
			esc(c)
		case c == '.' && col == 0 && atEOL:
			esc(c)
		case c == '=' || c < ' ' || c > '~':
			esc(c)
		default:
			put(c)
		}
	}
	return out
}

// encodeBase64 encodes b as base64 in lines of 76 characters, each ended
// by eol.
func encodeBase64(b []byte, eol string) []byte {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(enc, b)
	out := make([]byte, 0, len(enc)+(len(enc)/76+1)*len(eol))
	for len(enc) > 76 {
		out = append(append(out, enc[:76]...), eol...)
		enc = enc[76:]
	}
	if len(enc) > 0 {
		out = append(append(out, enc...), eol...)
	}
	return out
}
