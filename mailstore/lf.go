package mailstore

import "io"

// LF returns a reader that reads r with every CRLF pair turned into LF, the
// line ending Maildir files use. A CR that is not followed by LF is kept. It
// streams: memory use is one 32 KiB buffer whatever the message size. Errors
// from r are returned after the bytes read before them.
func LF(r io.Reader) io.Reader { return &lfReader{r: r} }

type lfReader struct {
	r   io.Reader
	buf []byte // buf[0] holds a carried CR, buf[1:] receives reads
	out []byte // converted bytes not yet returned, inside buf
	cr  bool   // the last byte read was a CR, held back until the next one is known
	err error  // r's error, returned once out is drained
}

func (l *lfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(l.out) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		l.fill()
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

// fill reads one chunk from r and converts it in place into l.out.
func (l *lfReader) fill() {
	if l.buf == nil {
		l.buf = make([]byte, 1+chunk)
	}
	start := 1
	if l.cr {
		l.buf[0], start, l.cr = '\r', 0, false
	}
	n, err := l.r.Read(l.buf[1:])
	l.err = err
	src := l.buf[start : 1+n]
	w := 0
	for i, c := range src {
		if c == '\r' {
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
			if i+1 == len(src) && err == nil {
				l.cr = true
				continue
			}
		}
		src[w] = c
		w++
	}
	l.out = src[:w]
}
