package message

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxFilename is the longest name SafeFilename returns, in bytes.
const maxFilename = 255

// SafeFilename returns p.Filename made safe to use as the last element of
// a path: only the part after the last "/" or "\" is kept (so "../x",
// "C:\dir\x" and "php://x" give "x"); control and Unicode format characters
// (such as the right-to-left override) are dropped; characters Windows
// forbids (<>:"|?*) become "_"; leading dots and spaces and trailing dots
// and spaces go (no hidden files, no "." or ".."); invalid UTF-8 becomes
// "_"; the name is cut to 255 bytes, keeping a short extension. It returns
// "" when nothing is left: the caller chooses a default name.
func (p *Part) SafeFilename() string { return safeFilename(p.Filename) }

func safeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte('_')
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.TrimRight(strings.TrimLeft(b.String(), ". \t"), ". \t")
	if len(name) <= maxFilename {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
	}
	stem := name[:maxFilename-len(ext)]
	for len(stem) > 0 && !utf8.ValidString(stem) {
		stem = stem[:len(stem)-1]
	}
	return stem + ext
}
