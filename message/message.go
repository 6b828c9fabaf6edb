package message

import (
	"errors"
	"fmt"
)

// Default limits, used for zero or negative Options fields.
const (
	DefaultMaxDepth     = 64
	DefaultMaxParts     = 1000
	DefaultMaxPartBytes = 10 << 20
)

// Errors returned by Message methods. Tests and callers match them with
// errors.Is; the returned errors usually wrap them with details.
var (
	// ErrEmpty is returned by Parts (and everything that needs the body)
	// when the input holds nothing but whitespace: no header, no body.
	ErrEmpty = errors.New("message: empty message")

	// ErrTooLarge is returned by PartBytes, PartText, Text and HTML when a
	// part's decoded content exceeds Options.MaxPartBytes. The wrapping error
	// gives the sizes.
	ErrTooLarge = errors.New("message: part too large")

	// ErrInvalidHeader is returned by SetHeader and AddHeader for a field
	// name that is not RFC 5322 ftext (printable ASCII except ':') or a value
	// that contains CR, LF or NUL.
	ErrInvalidHeader = errors.New("message: invalid header")

	// ErrNotPart is returned when a *Part does not come from this Message's
	// Parts.
	ErrNotPart = errors.New("message: part of another message")

	// ErrRemoved is returned when a part removed by RemovePart is read or
	// rewritten.
	ErrRemoved = errors.New("message: part removed")

	// ErrNoText is returned by PrependText when the message has no
	// text/plain body to prepend to.
	ErrNoText = errors.New("message: no text/plain body")
)

// Options limits the work done on one message. The zero value gives the
// defaults.
type Options struct {
	// MaxDepth is how deep multiparts and attached messages (message/rfc822)
	// may nest. A container deeper than this is not descended into: it is
	// listed as a leaf part and a defect is recorded. Default 64.
	MaxDepth int

	// MaxParts caps the number of MIME entities (containers and leaves) per
	// message. A multipart whose children would exceed it is listed as a leaf
	// and a defect is recorded. Default 1000.
	MaxParts int

	// MaxPartBytes caps the decoded content handed out by PartBytes,
	// PartText, Text and HTML; larger parts give ErrTooLarge. Default 10 MiB.
	MaxPartBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.MaxPartBytes <= 0 {
		o.MaxPartBytes = DefaultMaxPartBytes
	}
	return o
}

// Message is a lazily parsed view of one raw message. Create it with New.
// It is not safe for concurrent use.
type Message struct {
	raw []byte
	opt Options

	// Header state, valid once hdrDone is set (see header.go).
	hdrDone   bool
	hdrStart  int       // first byte of the first header field
	hdrEnd    int       // end of the header block: the separator starts here
	bodyStart int       // first byte of the body
	eol       string    // line break for lines the package writes
	orig      []field   // the header fields of the input
	fieldBuf  [16]field // orig's first backing array, saving an allocation
	fields    []field   // current fields; shares orig until the first edit
	hdrEdited bool      // fields differs from orig
	serial    int       // last edit serial handed to an added field
	added     []addedField
	removed   []string

	// Body state, valid once bodyDone is set (see parts.go).
	bodyDone bool
	bodyErr  error
	root     *node
	leaves   []*Part
	nodes    int // entities created, against MaxParts
	rewrites int // leaves with a body rewrite (see rewrite.go)

	defects []string
}

// New returns a view of raw. It does no parsing: the header block is parsed
// on the first header access and the MIME structure on the first body
// access. raw is not copied and must not be modified while the Message is in
// use; it may be read-only memory such as an mmap'ed spool file. Zero or
// negative Options fields take the defaults.
func New(raw []byte, opt Options) *Message {
	return &Message{raw: raw, opt: opt.withDefaults()}
}

// Defects returns the soft problems found so far, in the order they were
// found: header problems after the first header access, structure problems
// after the first body access, decoding problems as parts are decoded. Each
// is one short sentence prefixed with where it was found: "header: " (the
// message header), "body: " (the message's top-level entity) or "part 2.1: "
// (a part, by its Path).
func (m *Message) Defects() []string {
	m.parseHeader()
	return append([]string(nil), m.defects...)
}

func (m *Message) defect(format string, args ...any) {
	m.defects = append(m.defects, fmt.Sprintf(format, args...))
}

// partDefect records a defect about p once per kind.
func (m *Message) partDefect(p *Part, kind uint8, format string, args ...any) {
	if p.reported&kind != 0 {
		return
	}
	p.reported |= kind
	m.defects = append(m.defects, "part "+p.Path+": "+fmt.Sprintf(format, args...))
}
