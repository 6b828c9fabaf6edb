package message

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// decodeValue turns a raw, unfolded header value into UTF-8 text: raw 8-bit
// bytes are kept when valid UTF-8 and read as windows-1252 otherwise, and
// RFC 2047 encoded words are decoded.
func decodeValue(v []byte) string {
	ascii := true
	for _, c := range v {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !bytes.Contains(v, []byte("=?")) {
		if ascii {
			return string(v)
		}
		return lenientUTF8(v)
	}
	if ascii {
		// decodeWords copies what it keeps: a view of v is enough.
		return decodeWords(unsafe.String(unsafe.SliceData(v), len(v)))
	}
	return decodeWords(lenientUTF8(v))
}

// encodedWord is one parsed "=?charset?enc?text?=".
type encodedWord struct {
	charset string // canonical
	enc     byte   // 'b' or 'q'
	text    string
	end     int // index just after "?="
}

// parseWord parses an encoded word at s[i:], which starts with "=?". more
// is false when no word can start at or after i, for want of a "?"
// followed by "?=": the caller stops looking, so that hostile values cost
// linear time.
func parseWord(s string, i int) (w encodedWord, ok, more bool) {
	j := i + 2
	q := strings.IndexByte(s[j:], '?')
	if q < 0 {
		return w, false, false
	}
	if q == 0 || strings.ContainsAny(s[j:j+q], " \t\"()<>") {
		return w, false, true
	}
	w.charset = canonCharset(s[j : j+q])
	j += q + 1
	if j+2 > len(s) || s[j+1] != '?' {
		return w, false, true
	}
	switch s[j] {
	case 'b', 'B':
		w.enc = 'b'
	case 'q', 'Q':
		w.enc = 'q'
	default:
		return w, false, true
	}
	j += 2
	e := strings.Index(s[j:], "?=")
	if e < 0 {
		return w, false, false
	}
	w.text, w.end = s[j:j+e], j+e+2
	return w, true, true
}

// decodeWords decodes the RFC 2047 encoded words in s. White space between
// adjacent encoded words is dropped; adjacent words in one charset are
// joined before conversion, so that a character split across words survives.
// Words that cannot be decoded (unknown charset) are kept as written. The
// result does not alias s.
func decodeWords(s string) string {
	out := make([]byte, 0, len(s))
	var run struct {
		active     bool
		charset    string
		bytes      []byte
		start, end int // the run's span in s, for keeping it raw
	}
	flush := func() {
		if !run.active {
			return
		}
		if kind, _ := lookupCharset(run.charset); kind == csUnknown {
			out = append(out, s[run.start:run.end]...)
		} else {
			out, _ = appendUTF8(out, run.charset, run.bytes)
		}
		run.active, run.bytes = false, run.bytes[:0]
	}
	i := 0
	for i < len(s) {
		k := strings.Index(s[i:], "=?")
		if k < 0 {
			break
		}
		start := i + k
		w, ok, more := parseWord(s, start)
		if !more {
			break
		}
		if !ok {
			flush()
			out = append(out, s[i:start+2]...)
			i = start + 2
			continue
		}
		between := s[i:start]
		switch {
		case run.active && onlyWSP(between) && run.charset == w.charset:
			run.end = w.end // joined to the run
		case run.active && onlyWSP(between):
			flush() // adjacent word in another charset: the space goes
			run.active, run.charset, run.start, run.end = true, w.charset, start, w.end
		default:
			flush()
			out = append(out, between...)
			run.active, run.charset, run.start, run.end = true, w.charset, start, w.end
		}
		run.bytes = appendWordText(run.bytes, w)
		i = w.end
	}
	flush()
	out = append(out, s[i:]...)
	return ownedString(out)
}

// appendWordText appends the decoded text of an encoded word to dst.
func appendWordText(dst []byte, w encodedWord) []byte {
	if w.enc == 'b' {
		b, _ := decodeBase64Lenient([]byte(w.text))
		return append(dst, b...)
	}
	for i := 0; i < len(w.text); i++ {
		switch c := w.text[i]; {
		case c == '_':
			dst = append(dst, ' ')
		case c == '=' && i+2 < len(w.text) && unhex(w.text[i+1]) >= 0 && unhex(w.text[i+2]) >= 0:
			dst = append(dst, byte(unhex(w.text[i+1])<<4|unhex(w.text[i+2])))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// needsEncoding reports whether s has bytes that may not appear raw in a
// header: non-ASCII and control characters other than tab.
func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x7f || c < ' ' && c != '\t' {
			return true
		}
	}
	return false
}

// headerWords splits a value into words and the white space between them;
// a quoted string is one word even when it holds spaces.
func headerWords(v string) []string {
	var out []string
	for i := 0; i < len(v); {
		j := i
		if isWSP(v[i]) {
			for j < len(v) && isWSP(v[j]) {
				j++
			}
		} else {
			for j < len(v) && !isWSP(v[j]) {
				if v[j] == '"' {
					_, next, _ := quotedString(v, j)
					j = next
					continue
				}
				j++
			}
		}
		out = append(out, v[i:j])
		i = j
	}
	return out
}

// encodeValue RFC 2047-encodes the words of v that need it, as UTF-8. Runs
// of such words (with the spaces between them) become one encoded text; a
// quoted string is encoded without its quotes. The rest is left as is, so
// that addresses in "Jörg <j@example.org>" stay readable.
func encodeValue(v string) string {
	if !needsEncoding(v) {
		return v
	}
	words := headerWords(v)
	var b strings.Builder
	for i := 0; i < len(words); {
		if !needsEncoding(words[i]) {
			b.WriteString(words[i])
			i++
			continue
		}
		// Extend the run over following words that need encoding.
		j, end := i+1, i+1
		for j < len(words) {
			if isWSP(words[j][0]) {
				j++
				continue
			}
			if !needsEncoding(words[j]) {
				break
			}
			j++
			end = j
		}
		var run strings.Builder
		for _, w := range words[i:end] {
			if len(w) >= 2 && w[0] == '"' && w[len(w)-1] == '"' {
				w, _, _ = quotedString(w, 0)
			}
			run.WriteString(w)
		}
		b.WriteString(encodeWord(run.String()))
		i = end
	}
	return b.String()
}

// encodeWord encodes s as UTF-8 encoded words: Q when it is mostly ASCII
// and holds no characters special in address fields, B otherwise.
func encodeWord(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	high := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			high++
		}
	}
	if high*3 > len(s) || strings.ContainsAny(s, "\"(),.:;<>@[\\]") {
		return mime.BEncoding.Encode("utf-8", s)
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// fold folds a header line at white space so that lines stay within 78
// characters where possible. Continuation lines start with the white space
// they were folded at; no line is left with white space only.
func fold(line, eol string) string {
	if len(line) <= 78 {
		return line
	}
	var b strings.Builder
	cur := 0
	for i := 0; i < len(line); {
		j := i
		for j < len(line) && isWSP(line[j]) {
			j++
		}
		ws := j > i
		for j < len(line) && !isWSP(line[j]) {
			j++
		}
		seg := line[i:j]
		if cur > 0 && ws && cur+len(seg) > 78 && !onlyWSP(seg) {
			b.WriteString(eol)
			cur = 0
		}
		b.WriteString(seg)
		cur += len(seg)
		i = j
	}
	return b.String()
}
