package message

import (
	"bytes"
	"strconv"
	"strings"
)

// The walk: parseBody classifies each entity from its header, scans a
// multipart's body for its delimiter lines, descends into multiparts and
// attached messages within the limits, and records leaves as Parts. Every
// entity is a pair of byte ranges of the input; nothing is copied.

type nodeKind uint8

const (
	leafNode nodeKind = iota
	multipartNode
	messageNode // message/rfc822 descended into: one child, the nested message
)

// node is one MIME entity; a leaf's node is its Part's n.
type node struct {
	kind     nodeKind
	parent   *node
	children []*node
	hs, he   int // header block
	bs, be   int // body
	ds       int // in a multipart: start of the delimiter line before it (with its line break); -1 otherwise
	removed  bool
}

// ctx is what the walk knows about an entity from its ancestors.
type ctx struct {
	path     string // the entity's own section number
	prefix   string // prefix for its children's section numbers
	depth    int    // containers above
	msgDepth int    // attached messages above
	inAlt    bool
	attach   bool // inside an attached message that is an attachment
	digest   bool // child of multipart/digest
}

type walker struct {
	m       *Message
	scratch []field
}

// parseBody walks the MIME structure once.
func (m *Message) parseBody() error {
	if m.bodyDone {
		return m.bodyErr
	}
	m.bodyDone = true
	m.parseHeader()
	if len(trimWSP(m.raw)) == 0 {
		m.bodyErr = ErrEmpty
		return m.bodyErr
	}
	m.root = &node{hs: m.hdrStart, he: m.hdrEnd, bs: m.bodyStart, be: len(m.raw), ds: -1}
	m.nodes = 1
	w := walker{m: m}
	w.entity(m.root, m.orig, ctx{})
	return nil
}

func joinPath(prefix string, k int) string {
	if prefix == "" {
		return strconv.Itoa(k)
	}
	return prefix + "." + strconv.Itoa(k)
}

// headerString returns a field's unfolded value as text for parameter
// parsing: raw 8-bit bytes are read as UTF-8 or windows-1252, encoded words
// are not decoded.
func headerString(f *field) string {
	if f == nil {
		return ""
	}
	return lenientUTF8(f.value())
}

// token returns the first token of a header value, lower-cased: comments,
// parameters and junk after it are dropped. Common values cost no
// allocation.
func token(f *field) string {
	if f == nil {
		return ""
	}
	v := f.value()
	i := 0
	for i < len(v) && (isWSP(v[i]) || v[i] == '\r' || v[i] == '\n') {
		i++
	}
	if i < len(v) && v[i] == '(' {
		s := headerString(f)
		i = skipCFWS(s, 0)
		v = []byte(s)
	}
	j := i
	for j < len(v) && v[j] != ';' && v[j] != '(' && !isWSP(v[j]) {
		j++
	}
	for _, known := range [...]string{"7bit", "8bit", "base64", "quoted-printable", "binary"} {
		if equalFold(v[i:j], known) {
			return known
		}
	}
	return strings.ToLower(lenientUTF8(v[i:j]))
}

func validMediaType(mt string) bool {
	i := strings.IndexByte(mt, '/')
	if i <= 0 || i == len(mt)-1 || strings.IndexByte(mt[i+1:], '/') >= 0 {
		return false
	}
	for k := 0; k < len(mt); k++ {
		if c := mt[k]; c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

func (w *walker) defect(c ctx, format string, args ...any) {
	if c.path == "" {
		w.m.defect("body: "+format, args...)
		return
	}
	w.m.defect("part "+c.path+": "+format, args...)
}

// entity classifies node n from its header fields and descends into it or
// makes it a leaf.
func (w *walker) entity(n *node, fields []field, c ctx) {
	mt, params, problem := parseParams(headerString(find(fields, "content-type")))
	if problem != "" {
		w.defect(c, "Content-Type: %s", problem)
	}
	switch {
	case mt == "" && c.digest:
		mt = "message/rfc822"
	case mt == "":
		mt = "text/plain"
	case !validMediaType(mt):
		w.defect(c, "invalid Content-Type %q, read as text/plain", mt)
		mt = "text/plain"
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		w.multipart(n, fields, mt, params, c)
	case mt == "message/rfc822" || mt == "message/global":
		w.message(n, fields, mt, params, c)
	default:
		w.leaf(n, fields, mt, params, c)
	}
}

func (w *walker) multipart(n *node, fields []field, mt string, params map[string]string, c ctx) {
	m := w.m
	boundary := params["boundary"]
	if boundary == "" {
		w.defect(c, "%s without boundary, read as text/plain", mt)
		w.leaf(n, fields, "text/plain", params, c)
		return
	}
	if c.depth >= m.opt.MaxDepth {
		w.defect(c, "nested deeper than %d, not descended", m.opt.MaxDepth)
		w.leaf(n, fields, mt, params, c)
		return
	}
	budget := m.opt.MaxParts - m.nodes
	ds, closeAt, overflow := scanDelims(m.raw, n.bs, n.be, boundary, budget, false)
	if len(ds) == 0 && !overflow {
		if lds, lclose, lover := scanDelims(m.raw, n.bs, n.be, boundary, budget, true); len(lds) > 0 || lover {
			w.defect(c, "%s boundary lines followed by text", mt)
			ds, closeAt, overflow = lds, lclose, lover
		}
	}
	switch {
	case overflow:
		w.defect(c, "more than %d parts, not descended", m.opt.MaxParts)
		w.leaf(n, fields, mt, params, c)
		return
	case len(ds) == 0:
		w.defect(c, "%s boundary %q not found, read as text/plain", mt, boundary)
		w.leaf(n, fields, "text/plain", params, c)
		return
	case closeAt < 0:
		w.defect(c, "%s: missing final boundary (multipart: NextPart: EOF)", mt)
	}
	n.kind = multipartNode
	n.children = make([]*node, len(ds))
	m.nodes += len(ds)
	child := c
	child.depth++
	child.inAlt = c.inAlt || mt == "multipart/alternative"
	child.digest = mt == "multipart/digest"
	for k, d := range ds {
		end := n.be
		switch {
		case k+1 < len(ds):
			end = ds[k+1].start
		case closeAt >= 0:
			end = closeAt
		}
		cn := &node{parent: n, hs: d.content, be: end, ds: d.start}
		n.children[k] = cn
		bl := parseBlock(m.raw, d.content, end, w.scratch[:0])
		w.scratch = bl.fields
		cn.he, cn.bs = bl.end, bl.body
		child.path = joinPath(c.prefix, k+1)
		child.prefix = child.path
		if bl.problem != "" {
			w.defect(child, "header: %s", bl.problem)
		}
		w.entity(cn, bl.fields, child)
	}
}

func (w *walker) message(n *node, fields []field, mt string, params map[string]string, c ctx) {
	m := w.m
	cte := token(find(fields, "content-transfer-encoding"))
	switch {
	case cte != "" && cte != "7bit" && cte != "8bit" && cte != "binary":
		w.defect(c, "%s in %s encoding, not descended", mt, cte)
		w.leaf(n, fields, mt, params, c)
		return
	case c.depth >= m.opt.MaxDepth:
		w.defect(c, "nested deeper than %d, not descended", m.opt.MaxDepth)
		w.leaf(n, fields, mt, params, c)
		return
	case m.nodes >= m.opt.MaxParts:
		w.defect(c, "more than %d parts, not descended", m.opt.MaxParts)
		w.leaf(n, fields, mt, params, c)
		return
	case len(trimWSP(m.raw[n.bs:n.be])) == 0:
		w.leaf(n, fields, mt, params, c)
		return
	}
	disp, dparams, _ := parseParams(headerString(find(fields, "content-disposition")))
	attach := c.attach || isAttachment(mt, disp, filename(params, dparams))
	n.kind = messageNode
	m.nodes++
	hs := skipMboxFrom(m.raw, n.bs, n.be)
	if hs > n.bs {
		w.defect(c, "attached message: mbox From_ line skipped")
	}
	cn := &node{parent: n, hs: hs, be: n.be, ds: -1}
	n.children = []*node{cn}
	bl := parseBlock(m.raw, hs, n.be, w.scratch[:0])
	w.scratch = bl.fields
	cn.he, cn.bs = bl.end, bl.body
	own := c.path
	if own == "" {
		own = "1"
	}
	child := ctx{
		path:     own + ".1",
		prefix:   own,
		depth:    c.depth + 1,
		msgDepth: c.msgDepth + 1,
		attach:   attach,
	}
	if bl.problem != "" {
		w.defect(c, "attached message header: %s", bl.problem)
	}
	w.entity(cn, bl.fields, child)
}

func (w *walker) leaf(n *node, fields []field, mt string, params map[string]string, c ctx) {
	m := w.m
	n.kind = leafNode
	disp, dparams, problem := parseParams(headerString(find(fields, "content-disposition")))
	if problem != "" {
		w.defect(c, "Content-Disposition: %s", problem)
	}
	fn := filename(params, dparams)
	if c.path == "" {
		c.path = "1" // the body of a single-part message
	}
	p := &Part{
		Index:        len(m.leaves),
		Path:         c.path,
		Depth:        c.msgDepth,
		ContentType:  mt,
		Params:       params,
		Filename:     fn,
		Charset:      canonCharset(params["charset"]),
		Encoding:     token(find(fields, "content-transfer-encoding")),
		Disposition:  disp,
		IsAttachment: c.attach || isAttachment(mt, disp, fn),
		Size:         int64(n.be - n.bs),
		ContentID:    contentID(find(fields, "content-id")),
		HeaderStart:  int64(n.hs),
		HeaderEnd:    int64(n.he),
		BodyStart:    int64(n.bs),
		BodyEnd:      int64(n.be),
		m:            m,
		n:            n,
		body:         m.raw[n.bs:n.be],
		inAlt:        c.inAlt,
		inAttach:     c.attach,
	}
	m.leaves = append(m.leaves, p)
}

// delim is one opening delimiter line of a multipart.
type delim struct {
	start   int // the line break before "--boundary" (or "--" at the body start)
	content int // first byte after the delimiter line
}

// scanDelims finds the delimiter lines of boundary in raw[bs:be]: "--"
// boundary at the start of a line, then optional "--" (the close
// delimiter), optional spaces and tabs, and a line break or the end. In
// loose mode (RFC 2046's prefix rule, a fallback for broken messages) any
// text may follow on the line. It returns the opening delimiters before the
// close delimiter, the start of the close delimiter (-1 when missing), and
// overflow when there are more than max opening delimiters. What follows the
// close delimiter (the epilogue) is not scanned.
func scanDelims(raw []byte, bs, be int, boundary string, max int, loose bool) (ds []delim, closeAt int, overflow bool) {
	d := make([]byte, 0, 2+len(boundary))
	d = append(append(d, "--"...), boundary...)
	lo := bs // the previous delimiter's content start: no line break before it belongs to this one
	for pos := bs; pos < be; {
		j := bytes.Index(raw[pos:be], d)
		if j < 0 {
			break
		}
		at := pos + j
		pos = at + 1
		if at > bs && raw[at-1] != '\n' && raw[at-1] != '\r' {
			continue
		}
		k := at + len(d)
		isClose := k+1 < be && raw[k] == '-' && raw[k+1] == '-'
		if isClose {
			k += 2
		}
		for k < be && isWSP(raw[k]) {
			k++
		}
		if k < be && raw[k] != '\r' && raw[k] != '\n' && !loose {
			continue
		}
		start := at
		if at > lo {
			start = at - 1
			if raw[start] == '\n' && start > lo && raw[start-1] == '\r' {
				start--
			}
		}
		if isClose {
			return ds, start, false
		}
		_, k = nextLine(raw, k, be)
		if len(ds) >= max {
			return ds, -1, true
		}
		ds = append(ds, delim{start: start, content: k})
		pos, lo = k, k
	}
	return ds, -1, false
}
