package message

import (
	"maps"
	"mime"
	"unicode/utf8"
)

// Body rewrites replace the byte range of one leaf (its header block and
// body) in the output; every other byte of the input is written unchanged.
// For the body of a single-part message, the leaf's header is the message
// header: there only the Content-* fields are changed, through the header
// field list, and MIME-Version is added when missing.

func (m *Message) markEdited(p *Part) {
	if !p.edited {
		p.edited = true
		m.rewrites++
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

// rewriteHead sets p's Content-Type and Content-Transfer-Encoding. With
// dropAll every Content-* field goes (disposition, ID, description ...);
// otherwise only those two are replaced. Other fields keep their bytes.
func (m *Message) rewriteHead(p *Part, ct, cte string, dropAll bool) {
	drop := func(f *field) bool {
		if dropAll {
			return hasPrefixFold(f.name(), "content-")
		}
		return f.is("content-type") || f.is("content-transfer-encoding")
	}
	if p.n == m.root {
		m.edit()
		out := m.fields[:0]
		for _, f := range m.fields {
			if !drop(&f) {
				out = append(out, f)
			} else if f.id != 0 {
				m.forget(f)
			}
		}
		m.fields = out
		if find(m.fields, "mime-version") == nil {
			m.fields = append(m.fields, m.newField("MIME-Version", "1.0"))
		}
		m.fields = append(m.fields, m.newField("Content-Type", ct))
		if cte != "" {
			m.fields = append(m.fields, m.newField("Content-Transfer-Encoding", cte))
		}
		return
	}
	src := p.head
	if src == nil {
		src = m.raw[p.n.hs:p.n.he]
	}
	bl := parseBlock(src, 0, len(src), nil)
	var head []byte
	for _, f := range bl.fields {
		if drop(&f) {
			continue
		}
		head = append(head, f.b...)
		if !endsWithBreak(f.b) {
			head = append(head, m.eol...)
		}
	}
	head = append(head, m.newField("Content-Type", ct).b...)
	if cte != "" {
		head = append(head, m.newField("Content-Transfer-Encoding", cte).b...)
	}
	p.head = append(head, m.eol...)
}

// ReplacePart replaces the leaf p by a text/plain; charset=utf-8 part
// holding text, quoted-printable encoded with the message's line breaks.
// The part's Content-* fields are replaced; other fields of its header (for
// the body of a single-part or attached message: From, Subject ...) are
// kept. p's fields are updated; the other parts and every byte outside p
// are unchanged.
func (m *Message) ReplacePart(p *Part, text string) error {
	if err := m.parseBody(); err != nil {
		return err
	}
	if err := m.check(p); err != nil {
		return err
	}
	m.replace(p, text)
	return nil
}

func (m *Message) replace(p *Part, text string) {
	m.rewriteHead(p, "text/plain; charset=utf-8", "quoted-printable", true)
	p.body = encodeQP([]byte(text), m.eol)
	p.ContentType, p.Params = "text/plain", map[string]string{"charset": "utf-8"}
	p.Charset, p.Encoding = "utf-8", "quoted-printable"
	p.Filename, p.Disposition, p.ContentID = "", "", ""
	p.IsAttachment = p.inAttach
	p.Size = int64(len(p.body))
	m.markEdited(p)
}

// RemovePart removes the leaf p from the message. It goes with its
// delimiter line from the enclosing multipart; when p is the body of an
// attached message, the whole attached message goes. When there is no
// enclosing multipart (p is the message's body) or p is the last part left
// in it, p is replaced by an empty text/plain part instead, so that the
// message stays well formed. Either way p is no longer listed by Parts and
// reading it gives ErrRemoved. Removing a removed part does nothing.
func (m *Message) RemovePart(p *Part) error {
	if err := m.parseBody(); err != nil {
		return err
	}
	if p != nil && p.m == m && p.removed {
		return nil
	}
	if err := m.check(p); err != nil {
		return err
	}
	target := p.n
	for target.parent != nil && target.parent.kind == messageNode {
		target = target.parent
	}
	if parent := target.parent; parent == nil || parent.kind != multipartNode || live(parent) <= 1 {
		m.replace(p, "")
		p.removed = true
		return nil
	}
	target.removed = true
	p.removed, p.cut, p.head, p.body = true, target, nil, nil
	m.markEdited(p)
	return nil
}

// live counts the children of n not cut out by RemovePart.
func live(n *node) int {
	k := 0
	for _, c := range n.children {
		if !c.removed {
			k++
		}
	}
	return k
}

// PrependText puts text, as its own line(s), before the best text/plain
// body: the part Text reads, which is the message's body when the message is
// a single text/plain part. It returns ErrNoText when there is none. A line
// break is added when text does not end with one; line breaks are written
// as the message's.
//
// The body's bytes are kept when possible, so that only the new text is
// inserted:
//   - the text is encoded in the part's charset when it can represent it;
//     an unlabelled or us-ascii part whose content is ASCII or UTF-8 is
//     relabelled charset=utf-8;
//   - otherwise (UTF-16, UTF-7, unknown charsets, characters the charset
//     lacks, uuencoded bodies) the whole part is converted: decoded,
//     prefixed and re-encoded as UTF-8 quoted-printable;
//   - quoted-printable and 8bit bodies get the encoded text inserted;
//     a 7bit body gets ASCII text inserted, or is re-encoded as
//     quoted-printable for other text; a base64 body is re-encoded whole.
func (m *Message) PrependText(text string) error {
	if err := m.parseBody(); err != nil {
		return err
	}
	p := m.bestPart("text/plain")
	if p == nil {
		return ErrNoText
	}
	if text == "" {
		return nil
	}
	if last := text[len(text)-1]; last != '\n' && last != '\r' {
		text += "\n"
	}
	text = string(normalizeBreaks(text, m.eol))
	data, relabel, ok := m.prefixBytes(p, text)
	switch p.Encoding {
	case "x-uuencode", "uuencode", "x-uue":
		ok = false // text before "begin" is not content
	}
	if !ok {
		return m.convertText(p, text)
	}
	cte, ctChanged := p.Encoding, relabel
	var body []byte
	switch p.Encoding {
	case "quoted-printable":
		body = append(encodeQP(data, m.eol), p.body...)
	case "base64":
		old, err := m.PartBytes(p)
		if err != nil {
			return err
		}
		body = encodeBase64(append(data[:len(data):len(data)], old...), m.eol)
	case "", "7bit":
		if !hasNonASCII(data) {
			body = append(data[:len(data):len(data)], p.body...)
			break
		}
		old, err := m.PartBytes(p)
		if err != nil {
			return err
		}
		body = encodeQP(append(data[:len(data):len(data)], old...), m.eol)
		cte, ctChanged = "quoted-printable", true
	default:
		body = append(data[:len(data):len(data)], p.body...)
	}
	if ctChanged {
		params := maps.Clone(p.Params)
		if params == nil {
			params = map[string]string{}
		}
		if relabel {
			params["charset"] = "utf-8"
			p.Charset = "utf-8"
		}
		ct := mime.FormatMediaType(p.ContentType, params)
		if ct == "" {
			ct = p.ContentType + "; charset=" + p.Charset
		}
		m.rewriteHead(p, ct, cte, false)
		p.Params, p.Encoding = params, cte
	}
	p.body = body
	p.Size = int64(len(body))
	m.markEdited(p)
	return nil
}

// prefixBytes encodes text for insertion into p's content as it is: in
// p's charset, or as UTF-8 with relabel set when p is unlabelled or
// us-ascii and its content is valid UTF-8. ok is false when p must be
// converted instead.
func (m *Message) prefixBytes(p *Part, text string) (data []byte, relabel, ok bool) {
	if data, ok := fromUTF8(p.Charset, text); ok {
		return data, false, true
	}
	if kind, _ := lookupCharset(p.Charset); kind != csASCII {
		return nil, false, false
	}
	old, err := m.PartBytes(p)
	if err != nil || !utf8.Valid(old) {
		return nil, false, false
	}
	return []byte(text), true, true
}

// convertText rewrites p as UTF-8 quoted-printable text: text followed by
// p's decoded text. Content-* fields other than the type's charset and the
// transfer encoding are kept.
func (m *Message) convertText(p *Part, text string) error {
	old, err := m.PartText(p)
	if err != nil {
		return err
	}
	params := maps.Clone(p.Params)
	if params == nil {
		params = map[string]string{}
	}
	params["charset"] = "utf-8"
	ct := mime.FormatMediaType(p.ContentType, params)
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	m.rewriteHead(p, ct, "quoted-printable", false)
	p.body = encodeQP([]byte(text+string(normalizeBreaks(old, m.eol))), m.eol)
	p.Params, p.Charset, p.Encoding = params, "utf-8", "quoted-printable"
	p.Size = int64(len(p.body))
	m.markEdited(p)
	return nil
}
