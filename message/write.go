package message

import (
	"bytes"
	"io"
)

// edited reports whether the output differs from the input.
func (m *Message) edited() bool { return m.hdrEdited || m.rewrites > 0 }

// emit passes the current output, piece by piece, to fn. Untouched ranges
// are slices of the input.
func (m *Message) emit(fn func([]byte) error) error {
	if !m.edited() {
		return fn(m.raw)
	}
	raw := m.raw
	if err := fn(raw[:m.hdrStart]); err != nil {
		return err
	}
	if err := m.emitHeader(fn); err != nil {
		return err
	}
	pos := m.bodyStart
	for _, p := range m.leaves {
		if !p.edited {
			continue
		}
		start, end := p.span()
		if err := fn(raw[pos:start]); err != nil {
			return err
		}
		if err := fn(p.head); err != nil {
			return err
		}
		if err := fn(p.body); err != nil {
			return err
		}
		pos = end
	}
	return fn(raw[pos:])
}

// emitHeader writes the header block and the separator.
func (m *Message) emitHeader(fn func([]byte) error) error {
	raw := m.raw
	if !m.hdrEdited {
		return fn(raw[m.hdrStart:m.bodyStart])
	}
	eol := []byte(m.eol)
	for i := range m.fields {
		f := m.fields[i].b
		if err := fn(f); err != nil {
			return err
		}
		if !endsWithBreak(f) && i < len(m.fields)-1 {
			if err := fn(eol); err != nil {
				return err
			}
		}
	}
	sep := raw[m.hdrEnd:m.bodyStart]
	if len(sep) == 0 && m.hasBody() {
		// The header ended at a line that is not a field (or at the end):
		// the new header gets a separator, and the body still starts at the
		// same byte.
		sep = eol
	}
	return fn(sep)
}

// hasBody reports whether the output has a body.
func (m *Message) hasBody() bool {
	if m.root != nil && m.root.kind == leafNode && len(m.leaves) == 1 && m.leaves[0].edited {
		return len(m.leaves[0].body) > 0
	}
	return m.bodyStart < len(m.raw)
}

// span is the input range that p's rewrite replaces.
func (p *Part) span() (start, end int) {
	n := p.n
	switch {
	case p.removed && p.cut != nil:
		return p.cut.ds, p.cut.be
	case n == p.m.root || p.head == nil:
		return n.bs, n.be // header unchanged, or rewritten through the fields
	}
	return n.hs, n.be
}

// WriteTo writes the current message: the input with the header and body
// edits applied. With no body rewrite, every byte after the header block is
// the input's. New header lines use the line break of the input's header
// (CRLF when it has none). A leading mbox From_ line or other skipped
// prefix is written unchanged.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := m.emit(func(b []byte) error {
		k, err := w.Write(b)
		n += int64(k)
		return err
	})
	return n, err
}

// Bytes returns the current message as WriteTo writes it. Without edits it
// is the input slice itself: do not modify it.
func (m *Message) Bytes() []byte {
	if !m.edited() {
		return m.raw
	}
	out := make([]byte, 0, m.Size())
	_ = m.emit(func(b []byte) error {
		out = append(out, b...)
		return nil
	})
	return out
}

// Size returns the size in bytes of the current message.
func (m *Message) Size() int64 {
	var n int64
	_ = m.emit(func(b []byte) error {
		n += int64(len(b))
		return nil
	})
	return n
}

// NewReader returns a reader of the current message, the bytes WriteTo
// writes, without joining them as Bytes does for an edited message: its
// pieces are the edits and slices of the input. Each Read fills p as far
// as the message goes. The reader shows the message as it is at the call;
// do not edit the message while it is read.
func (m *Message) NewReader() io.Reader {
	if !m.edited() {
		return bytes.NewReader(m.raw)
	}
	r := &piecesReader{}
	_ = m.emit(func(b []byte) error {
		if len(b) > 0 {
			r.pieces = append(r.pieces, b)
		}
		return nil
	})
	return r
}

// piecesReader reads a list of byte slices as one stream.
type piecesReader struct {
	pieces [][]byte
}

func (r *piecesReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.pieces) > 0 {
		k := copy(p[n:], r.pieces[0])
		n += k
		if k == len(r.pieces[0]) {
			r.pieces = r.pieces[1:]
		} else {
			r.pieces[0] = r.pieces[0][k:]
		}
	}
	if n == 0 && len(r.pieces) == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
