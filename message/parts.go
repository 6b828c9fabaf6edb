package message

import "strings"

// Part is one leaf of a message's MIME tree: a part that is neither a
// multipart nor an attached message that was descended into. Its fields
// describe it; treat them as read-only. Rewrites (ReplacePart, PrependText)
// update them; offsets always refer to the original input.
type Part struct {
	// Index is the part's position among the leaves of the original
	// message, from 0. Removing a part does not renumber the others.
	Index int
	// Path is the part's IMAP section number: "1" for the body of a
	// single-part message, "2", "2.1", ... inside multiparts and attached
	// messages.
	Path string
	// Depth counts the attached messages (message/rfc822) the part is in;
	// 0 for parts of the message itself.
	Depth int

	// ContentType is the lower-case media type, "text/plain" when absent or
	// invalid ("message/rfc822" inside multipart/digest). A multipart or
	// message that was not descended into (limits, encoded message) keeps its
	// type; a multipart without a usable boundary is read as text/plain.
	ContentType string
	// Params are the Content-Type parameters, names lower-cased, RFC 2231
	// continuations joined and decoded to UTF-8; nil when there are none.
	Params map[string]string
	// Filename is the Content-Disposition filename, else the Content-Type
	// name, RFC 2231 and RFC 2047 decoded. It is not sanitised: see
	// SafeFilename.
	Filename string
	// Charset is the lower-case charset parameter, "" when absent.
	Charset string
	// Encoding is the lower-case Content-Transfer-Encoding, "" when absent
	// (meaning 7bit).
	Encoding string
	// Disposition is the lower-case Content-Disposition type ("inline",
	// "attachment"), "" when absent.
	Disposition string
	// IsAttachment reports whether the part is a file rather than body text:
	//   - Content-Disposition attachment: yes;
	//   - a filename: yes, except for an inline text/plain or text/html part;
	//   - otherwise no for disposition inline and for text/*, message/* and
	//     multipart/* parts, yes for every other type (application/*,
	//     image/* ... without disposition);
	//   - every part of an attached message that is itself an attachment
	//     (by the rules above) is an attachment.
	IsAttachment bool
	// Size is the size of the encoded body in bytes.
	Size int64
	// ContentID is the Content-ID without angle brackets, "" when absent.
	ContentID string

	// Offsets into the original input: the part's header block (for the
	// body of a single-part message, the message header) and its body.
	HeaderStart, HeaderEnd, BodyStart, BodyEnd int64

	m        *Message
	n        *node
	body     []byte // current encoded body: a slice of the input until rewritten
	head     []byte // rewritten header block with its separator; nil if unchanged
	inAlt    bool   // inside a multipart/alternative
	inAttach bool   // inside an attached message that is an attachment
	removed  bool
	edited   bool  // head and body replace the input's range (see span)
	cut      *node // the entity cut out by RemovePart, nil if replaced
	reported uint8 // defect kinds already recorded
}

// Defect kinds recorded once per part.
const (
	reportedDecode uint8 = 1 << iota
	reportedCharset
	reportedEncoding
)

// contentID returns the Content-ID without angle brackets.
func contentID(f *field) string {
	if f == nil {
		return ""
	}
	return strings.Trim(headerString(f), "<> \t")
}

// filename picks the Content-Disposition filename, else the Content-Type
// name, and decodes RFC 2047 words in it.
func filename(params, dparams map[string]string) string {
	fn := dparams["filename"]
	if strings.TrimSpace(fn) == "" {
		fn = params["name"]
	}
	fn = strings.TrimSpace(fn)
	if strings.Contains(fn, "=?") {
		fn = decodeWords(fn)
	}
	return fn
}

// isAttachment applies the rules documented on Part.IsAttachment.
func isAttachment(mt, disp, filename string) bool {
	switch {
	case disp == "attachment":
		return true
	case filename != "":
		return disp != "inline" || mt != "text/plain" && mt != "text/html"
	case disp == "inline":
		return false
	}
	return !strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/") &&
		!strings.HasPrefix(mt, "multipart/")
}

// Parts returns the leaf parts in document order, without the parts removed
// by RemovePart. The MIME structure is that of the input: header edits do
// not change it. The error is ErrEmpty for an empty message; malformed
// structure gives a best-effort list and defects, not an error.
func (m *Message) Parts() ([]*Part, error) {
	if err := m.parseBody(); err != nil {
		return nil, err
	}
	ps := make([]*Part, 0, len(m.leaves))
	for _, p := range m.leaves {
		if !p.removed {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// Attachments returns the parts whose IsAttachment is set, in order.
func (m *Message) Attachments() ([]*Part, error) {
	ps, err := m.Parts()
	out := ps[:0]
	for _, p := range ps {
		if p.IsAttachment {
			out = append(out, p)
		}
	}
	return out, err
}

// bestPart returns the best body part of media type mt: the first
// non-attachment leaf of that type, preferring non-empty parts, then parts
// of the message itself over parts of attached messages, then parts inside a
// multipart/alternative.
func (m *Message) bestPart(mt string) *Part {
	if m.parseBody() != nil {
		return nil
	}
	var best *Part
	bestScore := -1
	for _, p := range m.leaves {
		if p.removed || p.IsAttachment || p.ContentType != mt {
			continue
		}
		score := 0
		if len(trimWSP(p.body)) > 0 {
			score += 4
		}
		if p.Depth == 0 {
			score += 2
		}
		if p.inAlt {
			score++
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}

// Text returns the text of the best text/plain body, decoded as PartText
// does, or "" when there is none. The best is the first text/plain leaf
// that is not an attachment, preferring, in this order: a non-empty part; a
// part of the message itself over one of an attached message; a part inside
// a multipart/alternative.
func (m *Message) Text() (string, error) {
	p := m.bestPart("text/plain")
	if p == nil {
		return "", nil
	}
	return m.PartText(p)
}

// HTML is Text for text/html.
func (m *Message) HTML() (string, error) {
	p := m.bestPart("text/html")
	if p == nil {
		return "", nil
	}
	return m.PartText(p)
}
