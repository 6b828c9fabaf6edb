package message

import (
	"bytes"
	"strconv"
)

// Field is one header field.
type Field struct {
	// Name is the field name as written in the message.
	Name string
	// Value is the unfolded value with RFC 2047 encoded words decoded and
	// raw 8-bit text converted to UTF-8 (kept when valid UTF-8, read as
	// windows-1252 otherwise). Leading and trailing white space is trimmed.
	Value string
	// Raw is the field exactly as in the message: name, colon, value,
	// folding and the final line break.
	Raw string
}

// field is a header field held as a slice of the input (or of a new
// buffer, for fields added by edits).
type field struct {
	b    []byte // the whole field, including its line break(s)
	nlen int    // b[:nlen] is the name
	vpos int    // b[vpos:] is the raw value, after the colon
	id   int    // 0 for fields of the input, else the edit serial
}

func (f *field) name() []byte { return f.b[:f.nlen] }

// is reports whether the field's name is name, ignoring ASCII case.
func (f *field) is(name string) bool {
	return f.nlen == len(name) && equalFold(f.b[:f.nlen], name)
}

// value returns the unfolded raw value, trimmed; it aliases f.b unless the
// value was folded.
func (f *field) value() []byte { return unfold(f.b[f.vpos:]) }

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x != y && lower(x) != lower(y) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// unfold removes the line breaks of a folded value and trims white space.
// A line break before a character other than white space (a broken fold)
// becomes a space.
func unfold(v []byte) []byte {
	v = trimWSP(v)
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\r' && c != '\n' {
			out = append(out, c)
			continue
		}
		if c == '\r' && i+1 < len(v) && v[i+1] == '\n' {
			i++
		}
		if i+1 < len(v) && !isWSP(v[i+1]) {
			out = append(out, ' ')
		}
	}
	return out
}

// isFtext reports whether c may appear in a field name (RFC 5322 ftext).
func isFtext(c byte) bool { return c > ' ' && c < 0x7f && c != ':' }

// fieldName parses "name WSP* :" at the start of line. The name starts
// with ftext; leniently, it may also hold spaces and tabs (some messages
// have such names). It returns the length of the name (without trailing
// white space) and the index of the colon, or ok false.
func fieldName(line []byte) (nlen, colon int, ok bool) {
	if len(line) == 0 || !isFtext(line[0]) {
		return 0, 0, false
	}
	i := 1
	for i < len(line) && (isFtext(line[i]) || isWSP(line[i])) {
		if !isWSP(line[i]) {
			nlen = i
		}
		i++
	}
	if i == len(line) || line[i] != ':' {
		return 0, 0, false
	}
	return nlen + 1, i, true
}

// isMboxFrom reports whether line is an mbox "From " envelope line rather
// than an obsolete-syntax "From : ..." field.
func isMboxFrom(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	rest := bytes.TrimLeft(line[5:], " \t")
	return len(rest) > 0 && rest[0] != ':'
}

// isField reports whether line starts a header field: a field name and a
// colon, and not a boundary line ("--...").
func isField(line []byte) bool {
	if len(line) >= 2 && line[0] == '-' && line[1] == '-' {
		return false
	}
	_, _, ok := fieldName(line)
	return ok
}

// block is the result of parsing one header block.
type block struct {
	fields  []field
	start   int    // first byte of the first field
	end     int    // end of the last field: the separator starts here
	body    int    // first byte of the body
	eol     string // the first line break seen, "" if none
	problem string // a defect, "" if none
}

// parseBlock parses the header block at raw[start:end] leniently, appending
// the fields to fields. The block ends at an empty or whitespace-only line
// (the separator), at a line that is not a header field (the body starts
// there; a defect), or at end.
func parseBlock(raw []byte, start, end int, fields []field) block {
	bl := block{start: start}
	i := start
	for i < end {
		le, next := nextLine(raw, i, end)
		if bl.eol == "" {
			bl.eol = lineBreak(raw, le, next)
		}
		line := raw[i:le]
		if onlyWSP(line) {
			if len(line) > 0 {
				bl.problem = "whitespace-only line taken as the header/body separator"
			}
			bl.fields, bl.end, bl.body = fields, i, next
			return bl
		}
		if isWSP(line[0]) {
			if n := len(fields); n > 0 {
				f := &fields[n-1]
				f.b = f.b[:len(f.b)+next-i] // continuation: extend in place
				i = next
				continue
			}
			// The first line starts with white space: drop it, and read
			// what follows as a field if it is one.
			k := 0
			for isWSP(line[k]) {
				k++
			}
			if isField(line[k:]) {
				bl.problem = "first header line starts with white space"
				i += k
				bl.start = i
				line = raw[i:le]
			}
		}
		nlen, colon, ok := fieldName(line)
		if ok && !isField(line) {
			ok = false
		}
		if !ok && len(fields) > 0 && next < end && !bytes.HasPrefix(line, []byte("--")) {
			// A broken fold: a line that is no field, followed by a field
			// or a continuation line. It is kept with the previous field.
			nle, _ := nextLine(raw, next, end)
			if nl := raw[next:nle]; isField(nl) || len(nl) > 0 && isWSP(nl[0]) && !onlyWSP(nl) {
				bl.problem = "line " + strconv.Itoa(1+bytes.Count(raw[bl.start:i], bl.eolBytes())) +
					" is not a header field; read as part of the field before"
				f := &fields[len(fields)-1]
				f.b = f.b[:len(f.b)+next-i]
				i = next
				continue
			}
		}
		if !ok {
			if len(fields) == 0 && i == start {
				bl.problem = "no header: the message starts with its body"
			} else {
				bl.problem = "line " + strconv.Itoa(1+bytes.Count(raw[bl.start:i], bl.eolBytes())) +
					" is not a header field; the body starts there (no header/body separator)"
			}
			bl.fields, bl.end, bl.body = fields, i, i
			return bl
		}
		fields = append(fields, field{b: raw[i:next], nlen: nlen, vpos: colon + 1})
		i = next
	}
	bl.fields, bl.end, bl.body = fields, end, end
	return bl
}

func (bl *block) eolBytes() []byte {
	if bl.eol == "\r" {
		return []byte{'\r'}
	}
	return []byte{'\n'}
}

// find returns the first field named name, or nil.
func find(fields []field, name string) *field {
	for i := range fields {
		if fields[i].is(name) {
			return &fields[i]
		}
	}
	return nil
}

// parseHeader parses the top-level header block once. It skips what may
// precede the header: a UTF-8 BOM, a BSMTP envelope, an mbox "From " line
// and a whitespace-only line followed by a header field.
func (m *Message) parseHeader() {
	if m.hdrDone {
		return
	}
	m.hdrDone = true
	raw := m.raw
	i := m.skipPrefix()
	bl := parseBlock(raw, i, len(raw), m.fieldBuf[:0])
	if bl.problem != "" {
		m.defect("header: %s", bl.problem)
	}
	m.hdrStart, m.hdrEnd, m.bodyStart = bl.start, bl.end, bl.body
	m.orig, m.fields = bl.fields, bl.fields
	m.eol = bl.eol
	if m.eol == "" {
		m.eol = "\r\n"
	}
}

// skipPrefix returns where the header block starts, recording what it
// skipped as defects.
func (m *Message) skipPrefix() int {
	raw := m.raw
	i := 0
	if bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		i = 3
		m.defect("header: UTF-8 byte order mark skipped")
	}
	if j := skipBSMTP(raw, i); j > i {
		i = j
		m.defect("header: BSMTP envelope skipped")
	}
	if j := skipMboxFrom(raw, i, len(raw)); j > i {
		i = j
		m.defect("header: mbox From_ line skipped")
	}
	if le, next := nextLine(raw, i, len(raw)); le < len(raw) && onlyWSP(raw[i:le]) {
		if nle, _ := nextLine(raw, next, len(raw)); isField(raw[next:nle]) {
			i = next
			m.defect("header: leading whitespace-only line skipped")
		}
	}
	return i
}

// skipMboxFrom returns the end of an mbox From_ line at raw[i], or i. The
// line must end with a line break.
func skipMboxFrom(raw []byte, i, end int) int {
	le, next := nextLine(raw, i, end)
	if next > le && isMboxFrom(raw[i:le]) {
		return next
	}
	return i
}

// skipBSMTP returns the end of a batch SMTP envelope (HELO ... DATA) that
// starts at raw[i], or i when there is none.
func skipBSMTP(raw []byte, i int) int {
	if len(raw)-i < 5 || !equalFold(raw[i:i+5], "helo ") && !equalFold(raw[i:i+5], "ehlo ") {
		return i
	}
	for j, n := i, 0; j < len(raw) && n < 1000; n++ {
		le, next := nextLine(raw, j, len(raw))
		if equalFold(trimWSP(raw[j:le]), "data") {
			return next
		}
		j = next
	}
	return i
}

// Header returns the first value of the named field (case-insensitive),
// unfolded and decoded to UTF-8, or "" when the message has no such field.
// It reflects header edits.
func (m *Message) Header(name string) string {
	m.parseHeader()
	if f := find(m.fields, name); f != nil {
		return decodeValue(f.value())
	}
	return ""
}

// Headers returns every value of the named field (case-insensitive) in
// order, decoded as for Header, or nil.
func (m *Message) Headers(name string) []string {
	m.parseHeader()
	var vs []string
	for i := range m.fields {
		if m.fields[i].is(name) {
			vs = append(vs, decodeValue(m.fields[i].value()))
		}
	}
	return vs
}

// HeaderFields returns all header fields in order, reflecting edits.
func (m *Message) HeaderFields() []Field {
	m.parseHeader()
	fs := make([]Field, len(m.fields))
	for i := range m.fields {
		f := &m.fields[i]
		fs[i] = Field{Name: string(f.name()), Value: decodeValue(f.value()), Raw: string(f.b)}
	}
	return fs
}
