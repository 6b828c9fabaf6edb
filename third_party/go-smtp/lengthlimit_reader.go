package smtp

import (
	"bytes"
	"errors"
	"io"
)

var ErrTooLongLine = errors.New("smtp: too long a line in input stream")

// lineLimitReader reads from the underlying Reader but restricts
// line length of lines in input stream to a certain length.
//
// If line length exceeds the limit - Read returns ErrTooLongLine
type lineLimitReader struct {
	R         io.Reader
	LineLimit int

	curLineLength int
}

func (r *lineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}

	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}

	if r.LineLimit == 0 {
		return n, nil
	}

	// sluice: the same count as a loop over every byte (a newline starts
	// a line of length 1), by the newlines only.
	chunk := b[:n]
	for {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			r.curLineLength += len(chunk)
			if r.curLineLength > r.LineLimit {
				return 0, ErrTooLongLine
			}
			break
		}
		if r.curLineLength += i; r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine // and every Read after
		}
		r.curLineLength = 1
		chunk = chunk[i+1:]
	}

	return n, nil
}
