package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// indexLines scans src, a document the TOML decoder accepted, for its keys.
// It never fails: on input that is not TOML it returns what it found.
func indexLines(src string) *keyLines {
	s := &scanner{
		src:    strings.TrimPrefix(src, "\uFEFF"),
		line:   1,
		lines:  &keyLines{first: make(map[lineKey]int)},
		arrays: make(map[lineKey]int),
	}
	s.document()
	return s.lines
}

// scanner walks a TOML document just enough to see its keys: it skips
// strings, comments and scalar values, and descends into tables, arrays and
// inline tables.
type scanner struct {
	src    string
	pos    int
	line   int
	lines  *keyLines
	arrays map[lineKey]int // [[array]] tables → entries so far
}

func (s *scanner) document() {
	var table []string
	var idx []int
	for {
		s.skipBlank()
		if s.pos >= len(s.src) {
			return
		}
		if s.src[s.pos] == '[' {
			table, idx = s.header()
		} else {
			s.keyValue(table, idx)
		}
		s.skipLine()
	}
}

// header reads [a.b] or [[a.b]] and returns the table's key and indexes.
func (s *scanner) header() ([]string, []int) {
	line := s.line
	s.pos++
	isArray := s.peek() == '['
	if isArray {
		s.pos++
	}
	key := s.key()
	var idx []int
	for n := 1; n <= len(key); n++ {
		lk := newLineKey(key[:n], idx)
		if isArray && n == len(key) {
			s.lines.add(key, idx, line) // the array itself
			idx = append(idx, s.arrays[lk])
			s.arrays[lk]++
			s.lines.addElem(key, idx, line, true)
			break
		}
		if count, ok := s.arrays[lk]; ok {
			idx = append(idx, count-1) // a table inside the last entry
			s.lines.addElem(key[:n], idx, line, true)
			continue
		}
		s.lines.add(key[:n], idx, line)
	}
	return key, idx
}

// keyValue reads `key = value` inside the table key with indexes idx.
func (s *scanner) keyValue(table []string, idx []int) {
	line := s.line
	key := concat(table, s.key())
	for n := len(table) + 1; n <= len(key); n++ {
		s.lines.add(key[:n], idx, line)
	}
	s.skipSpace()
	if s.peek() == '=' {
		s.pos++
	}
	s.skipSpace()
	s.value(key, idx)
}

func (s *scanner) value(key []string, idx []int) {
	switch s.peek() {
	case '"':
		s.basicString()
	case '\'':
		s.literalString()
	case '[':
		s.array(key, idx)
	case '{':
		s.inlineTable(key, idx)
	default: // number, boolean, date
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

func (s *scanner) array(key []string, idx []int) {
	s.pos++
	for n := 0; ; n++ {
		s.skipBlank()
		start := s.pos
		switch s.peek() {
		case 0:
			return
		case ']':
			s.pos++
			return
		}
		elem := append(idx[:len(idx):len(idx)], n)
		s.lines.addElem(key, elem, s.line, true)
		s.value(key, elem)
		s.skipBlank()
		if s.peek() == ',' {
			s.pos++
		}
		if s.pos == start { // not TOML; move on
			s.pos++
		}
	}
}

func (s *scanner) inlineTable(key []string, idx []int) {
	s.pos++
	for {
		s.skipBlank()
		start := s.pos
		switch s.peek() {
		case 0:
			return
		case '}':
			s.pos++
			return
		}
		s.keyValue(key, idx)
		s.skipBlank()
		if s.peek() == ',' {
			s.pos++
		}
		if s.pos == start {
			s.pos++
		}
	}
}

// key reads a dotted key and returns its parts, unquoted.
func (s *scanner) key() []string {
	var parts []string
	for {
		s.skipSpace()
		switch s.peek() {
		case '"':
			parts = append(parts, unescape(s.basicString()))
		case '\'':
			parts = append(parts, s.literalString())
		default:
			start := s.pos
			for s.pos < len(s.src) && isBare(s.src[s.pos]) {
				s.pos++
			}
			parts = append(parts, s.src[start:s.pos])
		}
		s.skipSpace()
		if s.peek() != '.' {
			return parts
		}
		s.pos++
	}
}

// basicString reads a "string" or """string""" and returns what is between
// the quotes, escapes left as they are.
func (s *scanner) basicString() string {
	if strings.HasPrefix(s.src[s.pos:], `"""`) {
		return s.multiline(`"""`)
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '"':
			s.pos++
			return s.src[start : s.pos-1]
		case '\n':
			return s.src[start:s.pos]
		case '\\':
			s.skipEscape()
			continue
		}
		s.pos++
	}
	return s.src[start:]
}

// literalString reads a literal string, one-line or multi-line (three
// single quotes), and returns what is between the quotes.
func (s *scanner) literalString() string {
	if strings.HasPrefix(s.src[s.pos:], `'''`) {
		return s.multiline(`'''`)
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] != '\'' && s.src[s.pos] != '\n' {
		s.pos++
	}
	end := s.pos
	if s.peek() == '\'' {
		s.pos++
	}
	return s.src[start:end]
}

// multiline reads a string that starts with delim (three double or three
// single quotes) and may span lines. Up to two quotes just before the
// closing delim belong to the string.
func (s *scanner) multiline(delim string) string {
	s.pos += len(delim)
	start := s.pos
	for s.pos < len(s.src) {
		switch {
		case strings.HasPrefix(s.src[s.pos:], delim):
			end := s.pos
			s.pos += len(delim)
			for i := 0; i < 2 && s.peek() == delim[0]; i++ {
				s.pos++
				end++
			}
			return s.src[start:end]
		case s.src[s.pos] == '\\' && delim[0] == '"':
			s.skipEscape()
			continue
		case s.src[s.pos] == '\n':
			s.line++
		}
		s.pos++
	}
	return s.src[start:]
}

// skipEscape skips a backslash and the byte after it, unless that is a
// newline (a line-ending backslash), which is left to be counted.
func (s *scanner) skipEscape() {
	s.pos++
	if s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// skipSpace skips spaces and tabs.
func (s *scanner) skipSpace() {
	for s.pos < len(s.src) && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// skipBlank skips white space, newlines and comments.
func (s *scanner) skipBlank() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '\n':
			s.line++
		case ' ', '\t', '\r':
		case '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
			continue
		default:
			return
		}
		s.pos++
	}
}

// skipLine skips the rest of the line and its newline.
func (s *scanner) skipLine() {
	for s.pos < len(s.src) {
		s.pos++
		if s.src[s.pos-1] == '\n' {
			s.line++
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// concat returns a new slice holding a and then b.
func concat(a, b []string) []string {
	return append(a[:len(a):len(a)], b...)
}

// unescape decodes the escapes of a TOML basic string.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if r, ok := simpleEscapes[s[i]]; ok {
			b.WriteByte(r)
			continue
		}
		if n := hexEscapes[s[i]]; n > 0 && i+n < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
				b.WriteRune(rune(v))
				i += n
				continue
			}
		}
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}

var (
	simpleEscapes = map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': 0x1b, '"': '"', '\\': '\\'}
	hexEscapes    = map[byte]int{'x': 2, 'u': 4, 'U': 8}
)
