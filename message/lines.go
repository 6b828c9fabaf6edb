package message

import "bytes"

// lineWindow bounds the search for '\n' before a lone '\r' is looked for, so
// that CR-only input does not make every line search run to the end of the
// message.
const lineWindow = 4096

// nextLine finds the line that starts at b[i] within b[:end]. It returns the
// end of the line's content and the start of the next line. A line ends at
// CRLF, LF or a lone CR; the last line may have no line break, in which case
// le == next == end.
func nextLine(b []byte, i, end int) (le, next int) {
	w := i
	for {
		lim := min(w+lineWindow, end)
		seg := b[w:lim]
		n := bytes.IndexByte(seg, '\n')
		if n >= 0 {
			seg = seg[:n]
		}
		if c := bytes.IndexByte(seg, '\r'); c >= 0 {
			cr := w + c
			switch {
			case n >= 0 && c == n-1:
				return cr, cr + 2 // CRLF
			case cr+1 < lim || lim == end:
				return cr, cr + 1 // lone CR
			}
			w = cr // a CR at the window's edge may start a CRLF
			continue
		}
		if n >= 0 {
			return w + n, w + n + 1
		}
		if lim == end {
			return end, end
		}
		w = lim
	}
}

// lineBreak returns the line break that ends at next (as returned by
// nextLine for a line ending at le), or "" when there is none.
func lineBreak(b []byte, le, next int) string {
	switch string(b[le:next]) {
	case "\r\n":
		return "\r\n"
	case "\n":
		return "\n"
	case "\r":
		return "\r"
	}
	return ""
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// onlyWSP reports whether b is empty or made of spaces and tabs only.
func onlyWSP[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if !isWSP(b[i]) {
			return false
		}
	}
	return true
}

// trimWSP trims spaces, tabs and line break characters at both ends.
func trimWSP(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (isWSP(b[i]) || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j > i && (isWSP(b[j-1]) || b[j-1] == '\r' || b[j-1] == '\n') {
		j--
	}
	return b[i:j]
}

// endsWithBreak reports whether b ends with a line break.
func endsWithBreak(b []byte) bool {
	return len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r')
}

// normalizeBreaks returns s with every CRLF, LF and lone CR replaced by eol.
func normalizeBreaks(s, eol string) []byte {
	out := make([]byte, 0, len(s)+len(s)/32)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			out = append(out, eol...)
		case '\n':
			out = append(out, eol...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// toLF turns CRLF and lone CR into LF in place and returns the shortened
// slice.
func toLF(b []byte) []byte {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return b
	}
	w := i
	for i < len(b) {
		// b[i] is a CR.
		if i+1 < len(b) && b[i+1] == '\n' {
			i++ // drop the CR; the LF is copied below
		} else {
			b[i] = '\n'
		}
		n := bytes.IndexByte(b[i+1:], '\r')
		if n < 0 {
			n = len(b) - i - 1
		}
		w += copy(b[w:], b[i:i+1+n])
		i += 1 + n
	}
	return b[:w]
}
