package message

import (
	"fmt"
	"strconv"
	"strings"
)

// addedField records a field added by SetHeader or AddHeader, for Edits.
type addedField struct {
	id          int
	name, value string
}

// checkField validates a field name and value for an edit.
func checkField(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: empty field name", ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if !isFtext(name[i]) {
			return fmt.Errorf("%w: field name %s", ErrInvalidHeader, strconv.Quote(name))
		}
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("%w: %s value contains CR, LF or NUL", ErrInvalidHeader, name)
	}
	return nil
}

// edit makes fields writable: the first edit copies the field list (never
// the field bytes).
func (m *Message) edit() {
	m.parseHeader()
	if !m.hdrEdited {
		m.fields = append(make([]field, 0, len(m.orig)+4), m.orig...)
		m.hdrEdited = true
	}
}

// newField builds a field "Name: value" with value RFC 2047-encoded when
// needed and folded at 78 characters, ending with the message's line break.
func (m *Message) newField(name, value string) field {
	m.serial++
	line := name + ": " + encodeValue(value)
	b := []byte(fold(line, m.eol) + m.eol)
	return field{b: b, nlen: len(name), vpos: len(name) + 1, id: m.serial}
}

// SetHeader replaces every field called name (case-insensitive) by one
// field "name: value", at the position of the first; without such a field
// it appends the new one at the end of the header. A value with non-ASCII
// text is RFC 2047-encoded (UTF-8, Q or B, word by word, so addresses stay
// readable) and the line is folded at 78 characters. It returns an error
// wrapping ErrInvalidHeader for a bad name or a value with CR, LF or NUL.
func (m *Message) SetHeader(name, value string) error {
	if err := checkField(name, value); err != nil {
		return err
	}
	m.edit()
	nf := m.newField(name, value)
	out := m.fields[:0]
	placed := false
	for _, f := range m.fields {
		if !f.is(name) {
			out = append(out, f)
			continue
		}
		m.forget(f)
		if !placed {
			out = append(out, nf)
			placed = true
		}
	}
	if !placed {
		out = append(out, nf)
	}
	m.fields = out
	m.added = append(m.added, addedField{nf.id, name, value})
	return nil
}

// AddHeader inserts the field "name: value" at the top of the header
// block, above every other field, where trace fields go (Received,
// Authentication-Results, X-Spam-*). Existing fields of that name stay.
// Encoding, folding and errors are as for SetHeader.
func (m *Message) AddHeader(name, value string) error {
	if err := checkField(name, value); err != nil {
		return err
	}
	m.edit()
	nf := m.newField(name, value)
	m.fields = append(m.fields, field{})
	copy(m.fields[1:], m.fields)
	m.fields[0] = nf
	m.added = append(m.added, addedField{nf.id, name, value})
	return nil
}

// RemoveHeader removes every field called name (case-insensitive) and
// returns how many it removed.
func (m *Message) RemoveHeader(name string) int {
	m.parseHeader()
	if find(m.fields, name) == nil {
		return 0
	}
	m.edit()
	out := m.fields[:0]
	n := 0
	for _, f := range m.fields {
		if f.is(name) {
			m.forget(f)
			n++
			continue
		}
		out = append(out, f)
	}
	m.fields = out
	return n
}

// forget notes the removal of f for Edits: a field added by an edit is
// dropped from the added list, a field of the input is listed as removed.
func (m *Message) forget(f field) {
	if f.id != 0 {
		for i, a := range m.added {
			if a.id == f.id {
				m.added = append(m.added[:i], m.added[i+1:]...)
				return
			}
		}
		return
	}
	name := string(f.name())
	for _, r := range m.removed {
		if strings.EqualFold(r, name) {
			return
		}
	}
	m.removed = append(m.removed, name)
}

// Edits returns the net effect of the header edits: the fields added (name
// and value as given, in the order added; a field added then removed is not
// listed) and the names of the input's fields that were removed or replaced
// (each once, as written in the message). Changes that body rewrites make to
// the top-level Content-* fields are not listed.
func (m *Message) Edits() (added [][2]string, removed []string) {
	for _, a := range m.added {
		added = append(added, [2]string{a.name, a.value})
	}
	return added, append([]string(nil), m.removed...)
}
