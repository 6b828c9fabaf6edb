package mailstore

import (
	"bytes"
	"io"
	"sync"
)

// LF returns a reader that reads r with every CRLF pair turned into LF, the
// line ending Maildir files use. A CR that is not followed by LF is kept. It
// streams: memory use is one 32 KiB buffer whatever the message size. Errors
// from r are returned after the bytes read before them.
func LF(r io.Reader) io.Reader { return &lfReader{r: r} }

type lfReader struct {
	r   io.Reader
	arr *[1 + chunk]byte // buf's array, from lfBufs
	buf []byte           // buf[0] holds a carried CR, buf[1:] receives reads
	out []byte           // converted bytes not yet returned, inside buf
	cr  bool             // the last byte read was a CR, held back until the next one is known
	err error            // r's error, returned once out is drained
}

func (l *lfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(l.out) == 0 {
		if l.err != nil {
			if l.arr != nil {
				lfBufs.Put(l.arr)
				l.arr, l.buf = nil, nil
			}
			return 0, l.err
		}
		l.fill()
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

// lfBufs recycles the buffers of readers that reached the end of their
// input (or an error); a reader left unfinished leaves its buffer to the GC.
var lfBufs = sync.Pool{New: func() any { return new([1 + chunk]byte) }}

// fill reads one chunk from r and converts it in place into l.out.
func (l *lfReader) fill() {
	if l.buf == nil {
		l.arr = lfBufs.Get().(*[1 + chunk]byte)
		l.buf = l.arr[:]
	}
	start := 1
	if l.cr {
		l.buf[0], start, l.cr = '\r', 0, false
	}
	n, err := l.r.Read(l.buf[1:])
	l.err = err
	src := l.buf[start : 1+n]
	// Move the runs between CRs down over the CRs dropped so far: memmove
	// and IndexByte instead of a loop over every byte.
	w := 0
	for i := 0; i < len(src); {
		j := bytes.IndexByte(src[i:], '\r')
		if j < 0 {
			w += copy(src[w:], src[i:])
			break
		}
		j += i
		w += copy(src[w:], src[i:j])
		i = j + 1
		switch {
		case i < len(src) && src[i] == '\n':
			// CRLF: drop the CR; the LF starts the next run.
		case i == len(src) && err == nil:
			l.cr = true // the next read says whether an LF follows
		default:
			src[w] = '\r'
			w++
		}
	}
	l.out = src[:w]
}
