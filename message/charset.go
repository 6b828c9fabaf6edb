package message

import (
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// charsetAliases maps names that neither the WHATWG nor the IANA index
// resolve, or resolve badly for mail, to a name they do resolve.
var charsetAliases = map[string]string{
	"cp932":          "shift_jis",
	"x-ms-cp932":     "shift_jis",
	"ms932":          "shift_jis",
	"x-euc-jp":       "euc-jp",
	"ks_c_5601":      "euc-kr",
	"ks_c_5601-1989": "euc-kr",
	"x-x-big5":       "big5",
	"gb_2312-80":     "gbk",
	"cp936":          "gbk",
	"ucs-2":          "utf-16",
	"ucs2":           "utf-16",
	"utf-8bit":       "utf-8",
	"iso8859-1":      "iso-8859-1",
	"iso8859-15":     "iso-8859-15",
	"latin-1":        "iso-8859-1",
	"cp-1252":        "windows-1252",
	"win-1252":       "windows-1252",
}

// Encodings resolved here rather than through the indexes.
var (
	// utf16BE follows RFC 2781: big-endian unless a byte order mark says
	// otherwise (the WHATWG index says little-endian).
	utf16BE = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	// cp1252 is the best guess for unlabelled 8-bit text.
	cp1252 = charmap.Windows1252
)

// canonCharset lower-cases a charset name and strips quotes, backslashes,
// white space, an RFC 2231 language suffix ("utf-8*en") and a doubled
// "charset=".
func canonCharset(name string) string {
	name = strings.ToLower(strings.Trim(name, " \t\"'\\"))
	if i := strings.IndexByte(name, '*'); i >= 0 {
		name = name[:i]
	}
	if rest, ok := strings.CutPrefix(name, "charset="); ok {
		name = strings.Trim(rest, " \t\"'\\") // charset="charset=us-ascii"
	}
	return name
}

// charsetKind says how to decode a charset.
type charsetKind uint8

const (
	csUnknown charsetKind = iota // no decoder: bytes as UTF-8, invalid replaced
	csASCII                      // us-ascii or unlabelled: UTF-8 if valid, else windows-1252
	csUTF8
	csUTF7
	csOther // decoded with enc
)

// lookupCharset resolves a charset name, already canonical.
func lookupCharset(cs string) (charsetKind, encoding.Encoding) {
	switch cs {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us", "cp367", "ibm367", "csascii",
		"unknown-8bit", "x-unknown", "unknown", "8bit", "default":
		return csASCII, nil
	case "utf-8", "utf8", "x-utf_8j", "unicode-1-1-utf-8":
		return csUTF8, nil
	case "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7":
		return csUTF7, nil
	case "utf-16", "utf16", "csunicode":
		return csOther, utf16BE
	}
	if a, ok := charsetAliases[cs]; ok {
		cs = a
	}
	if e, err := htmlindex.Get(cs); err == nil && e != nil && e != encoding.Replacement {
		return csOther, e
	}
	if e, err := ianaindex.MIME.Encoding(cs); err == nil && e != nil {
		return csOther, e
	}
	if e, err := ianaindex.MIME.Encoding("cs" + cs); err == nil && e != nil {
		return csOther, e
	}
	return csUnknown, nil
}

// toUTF8 decodes b from charset cs (canonical) to UTF-8. ok is false when
// the charset is unknown; b is then returned as UTF-8 with invalid
// sequences replaced by U+FFFD.
func toUTF8(cs string, b []byte) (s string, ok bool) {
	out, ok := appendUTF8(nil, cs, b)
	return ownedString(out), ok
}

// appendUTF8 appends b, decoded from charset cs (canonical), to dst as
// UTF-8; see toUTF8. The result never aliases b.
func appendUTF8(dst []byte, cs string, b []byte) ([]byte, bool) {
	kind, enc := lookupCharset(cs)
	switch kind {
	case csASCII:
		return appendLenient(dst, b), true
	case csUTF8:
		return appendValid(dst, b), true
	case csUTF7:
		return append(dst, decodeUTF7(b)...), true
	case csOther:
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			return appendLenient(dst, b), true
		}
		if len(dst) == 0 && utf8.Valid(out) {
			return out, true
		}
		return appendValid(dst, out), true
	}
	return appendValid(dst, b), false
}

// lenientUTF8 returns b as text: see appendLenient.
func lenientUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return ownedString(appendLenient(make([]byte, 0, len(b)+len(b)/2), b))
}

// appendLenient appends b to dst as it is when valid UTF-8; as UTF-8 with
// bad bytes replaced by U+FFFD when mostly UTF-8 (more well-formed
// multi-byte sequences than bad bytes in its first 4 KiB, or until one side
// leads by 16); else decoded as
// windows-1252 (a superset of the printable part of latin-1).
func appendLenient(dst, b []byte) []byte {
	if utf8.Valid(b) || mostlyUTF8(b) {
		return appendValid(dst, b)
	}
	dst = slices.Grow(dst, len(b)+len(b)/2)
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = append(dst, cp1252UTF8[c-0x80]...)
		}
	}
	return dst
}

// cp1252UTF8 holds the UTF-8 encoding of windows-1252 bytes 0x80 to 0xFF.
var cp1252UTF8 = func() (t [128]string) {
	for i := range t {
		t[i] = string(cp1252.DecodeByte(byte(0x80 + i)))
	}
	return t
}()

func mostlyUTF8(b []byte) bool {
	good, bad := 0, 0
	for i := 0; i < len(b) && i < 4096; {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			bad++
		} else {
			good++
		}
		if bad > good+16 || good > bad+16 {
			break // clear enough
		}
		i += size
	}
	return good > bad
}

// appendValid appends b to dst, replacing invalid UTF-8 by U+FFFD.
func appendValid(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}

// ownedString returns b as a string without copying. b must not be
// modified afterwards: only for buffers the caller made and drops.
func ownedString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// asciiCompatible reports whether ASCII text is encoded as itself in the
// charset cs (canonical), so ASCII may be inserted into such text as is.
// UTF-16 and UTF-7 are not.
func asciiCompatible(cs string) bool {
	kind, enc := lookupCharset(cs)
	switch kind {
	case csASCII, csUTF8:
		return true
	case csOther:
		const probe = "Az09 +-=.\n"
		out, err := enc.NewEncoder().Bytes([]byte(probe))
		return err == nil && string(out) == probe
	}
	return false
}

// fromUTF8 encodes s into charset cs (canonical). ok is false when the
// charset has no encoder, is not ASCII-compatible, or cannot represent s.
// Encoding is strict: iso-8859-1 text gets no windows-1252 characters,
// although reading is lenient.
func fromUTF8(cs, s string) (b []byte, ok bool) {
	kind, enc := lookupCharset(cs)
	switch kind {
	case csUTF8:
		return []byte(s), true
	case csASCII:
		if !isASCII(s) {
			return nil, false
		}
		return []byte(s), true
	case csOther:
		if !asciiCompatible(cs) {
			return nil, false
		}
		if exact, err := ianaindex.MIME.Encoding(cs); err == nil && exact != nil {
			enc = exact
		}
		out, err := enc.NewEncoder().Bytes([]byte(s))
		if err != nil {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
