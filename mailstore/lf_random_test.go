package mailstore

import (
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// TestLFRandom compares LF with strings.ReplaceAll on random mixes of CR,
// LF and text, read whole, one byte at a time and in halves, with CRs at
// every chunk boundary.
func TestLFRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"\r", "\n", "\r\n", "a", "bc", "\r\r"}
	for i := range 300 {
		var b strings.Builder
		n := rnd.IntN(200)
		if i%10 == 0 {
			b.WriteString(strings.Repeat("x", chunk-1-rnd.IntN(3)))
		}
		for range n {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		in := b.String()
		want := strings.ReplaceAll(in, "\r\n", "\n")
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
			iotest.DataErrReader,
		} {
			got, err := io.ReadAll(LF(wrap(strings.NewReader(in))))
			if err != nil || string(got) != want {
				t.Fatalf("LF(%q) = %q, %v; want %q", shorten(in), shorten(string(got)), err, shorten(want))
			}
		}
	}
}
