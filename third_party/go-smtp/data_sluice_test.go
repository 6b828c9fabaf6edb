package smtp

// sluice: the fast DATA reader and line counter must behave exactly as the
// byte-at-a-time originals (kept below) on any input, however it is read.

import (
	"bufio"
	"bytes"
	"io"
	"math/rand"
	"strings"
	"testing"
)

type origDataReader struct {
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining
}

func (r *origDataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}

	// Code below is taken from net/textproto with only one modification to
	// not rewrite CRLF -> LF.

	// Run data through a simple state machine to
	// elide leading dots and detect End-of-Data (<CR><LF>.<CR><LF>) line.
	const (
		stateBeginLine = iota // beginning of line; initial state; must be zero
		stateDot              // read . at beginning of line
		stateDotCR            // read .\r at beginning of line
		stateCR               // read \r (possibly at end of line)
		stateData             // reading data in middle of line
		stateEOF              // reached .\r\n end marker line
	)
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}

type origLineLimitReader struct {
	R             io.Reader
	LineLimit     int
	curLineLength int
}

func (r *origLineLimitReader) Read(b []byte) (int, error) {
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
	for _, chr := range b[:n] {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++
		if r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}
	return n, nil
}

// randomData builds SMTP DATA text from pieces that exercise every state:
// dots at line starts, lone CRs and LFs, long lines, the end marker (or
// not), and data after it.
func randomData(rng *rand.Rand) []byte {
	pieces := []string{"a", "hello world", ".", "..", "\r", "\n", "\r\n", ".\r", ".\r\n", "\r\n.\r\n",
		"\r\n..\r\n", strings.Repeat("x", 100), strings.Repeat("y", 5000), "\x00", "\r\r\n"}
	var b bytes.Buffer
	for i, n := 0, rng.Intn(60); i < n; i++ {
		b.WriteString(pieces[rng.Intn(len(pieces))])
	}
	if rng.Intn(4) > 0 {
		b.WriteString("\r\n.\r\nMAIL FROM:<next>\r\n")
	}
	return b.Bytes()
}

// chunky returns at most max bytes per Read, to vary what is buffered.
type chunky struct {
	r   io.Reader
	rng *rand.Rand
	max int
}

func (c *chunky) Read(p []byte) (int, error) {
	if n := 1 + c.rng.Intn(c.max); n < len(p) {
		p = p[:n]
	}
	return c.r.Read(p)
}

type readResult struct {
	data []byte
	err  error
	rest []byte // what is left in the stream for the next command
}

func readAll(rng *rand.Rand, r io.Reader, br *bufio.Reader) readResult {
	var out []byte
	var err error
	buf := make([]byte, 1+rng.Intn(9000))
	for {
		var n int
		n, err = r.Read(buf[:1+rng.Intn(len(buf))])
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	rest, _ := io.ReadAll(br)
	return readResult{out, err, rest}
}

func TestSluiceDataReaderSameAsOriginal(t *testing.T) {
	for seed := int64(0); seed < 3000; seed++ {
		data := randomData(rand.New(rand.NewSource(seed)))
		limit := int64(0)
		if seed%3 == 0 {
			limit = int64(rand.New(rand.NewSource(seed)).Intn(len(data) + 1))
		}
		lineLimit := 0
		if seed%2 == 0 {
			lineLimit = 50 + int(seed%5000)
		}
		run := func(fast bool) readResult {
			rng := rand.New(rand.NewSource(seed))
			var src io.Reader = &chunky{r: bytes.NewReader(data), rng: rng, max: 1 + rng.Intn(7000)}
			if fast {
				src = &lineLimitReader{R: src, LineLimit: lineLimit}
			} else {
				src = &origLineLimitReader{R: src, LineLimit: lineLimit}
			}
			br := bufio.NewReaderSize(src, 16+rng.Intn(8192))
			if fast {
				return readAll(rng, &dataReader{r: br, limited: limit > 0, n: limit}, br)
			}
			return readAll(rng, &origDataReader{r: br, limited: limit > 0, n: limit}, br)
		}
		want, got := run(false), run(true)
		if !bytes.Equal(got.data, want.data) || got.err != want.err || !bytes.Equal(got.rest, want.rest) {
			t.Fatalf("seed %d, %d bytes: fast reader gave %d bytes, err %v, rest %q; original %d bytes, err %v, rest %q",
				seed, len(data), len(got.data), got.err, got.rest, len(want.data), want.err, want.rest)
		}
	}
}

func benchmarkDataReader(b *testing.B, fast bool) {
	line := strings.Repeat("abcdefghij", 7) + "\r\n"
	msg := []byte(strings.Repeat(line, 100<<10/len(line)) + ".\r\n")
	b.SetBytes(int64(len(msg)))
	out := make([]byte, 32<<10)
	for i := 0; i < b.N; i++ {
		br := bufio.NewReaderSize(&lineLimitReader{R: bytes.NewReader(msg), LineLimit: 2000}, 4096)
		var r io.Reader = &dataReader{r: br}
		if !fast {
			br = bufio.NewReaderSize(&origLineLimitReader{R: bytes.NewReader(msg), LineLimit: 2000}, 4096)
			r = &origDataReader{r: br}
		}
		for {
			if _, err := r.Read(out); err != nil {
				break
			}
		}
	}
}

func BenchmarkSluiceDataReader100K(b *testing.B)   { benchmarkDataReader(b, true) }
func BenchmarkOriginalDataReader100K(b *testing.B) { benchmarkDataReader(b, false) }
