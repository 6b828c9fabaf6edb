// Package message is a lazily parsed, lenient view of one raw RFC 5322 /
// MIME message, and the basis of the Lua msg object.
//
// A Message wraps the raw bytes it was given and never copies them: headers
// and parts are recorded as byte offsets into the input. Work is done on
// demand, once:
//
//   - New only stores the slice and the options;
//   - the first header access parses the top-level header block;
//   - the first body access (Parts, Text, HTML, a rewrite) walks the MIME
//     structure: boundaries are found by scanning the raw bytes, and
//     message/rfc822 parts are descended into as nested messages;
//   - decoding (base64, quoted-printable, uuencode, charsets) happens per
//     part, when a caller asks for its bytes or text.
//
// # Leniency
//
// Real mail is often broken. The parser accepts CRLF, bare LF, CR-only and
// mixed line endings; a leading UTF-8 BOM, BSMTP envelope, mbox "From "
// line or whitespace-only line (all skipped, and kept in the output); a
// first header line that starts with white space; field names with spaces;
// broken folding; a missing header/body separator; missing, misplaced and
// similar-looking boundaries; missing final boundaries; broken Content-Type
// parameters; unknown charsets and transfer encodings; truncated base64.
// Each problem is recorded as a defect (see Message.Defects) and parsing
// goes on with a best-effort result. Malformed input never panics; the only
// hard error is ErrEmpty, for input with nothing but white space.
//
// Limits bound the work on hostile input: Options.MaxDepth (nesting of
// multiparts and attached messages), Options.MaxParts (entities per message)
// and Options.MaxPartBytes (decoded bytes handed out per part). A container
// past a limit is listed as a leaf of its own type, with a defect.
//
// # Editing
//
// Header edits (SetHeader, AddHeader, RemoveHeader) rewrite only the header
// block: every byte after it is written out unchanged, so DKIM body hashes,
// S/MIME and PGP signatures stay valid; untouched fields keep their bytes.
// New lines use the input's line break. Body rewrites (ReplacePart,
// RemovePart, PrependText) splice byte ranges of the input: everything
// outside the rewritten part is written out byte for byte. Parts keep
// describing the input's structure; a rewrite updates the fields of the
// *Part it changed, and removed parts drop out of Parts. WriteTo, Bytes and
// Size give the current output; without edits, Bytes is the input itself.
//
// A Message is not safe for concurrent use; give each goroutine its own.
//
// Implemented: RFC 5322 (with the obsolete syntax of its section 4),
// RFC 2045-2047 (MIME, encoded words), RFC 2183 (Content-Disposition),
// RFC 2231 (parameter continuations, charsets and languages), RFC 2152
// (UTF-7), RFC 6532 (raw UTF-8 headers).
package message
