package mailstore

import (
	"bytes"
	"testing"
)

// BenchmarkDeliver measures one 4 KiB delivery into an existing INBOX, with
// the fsyncs of file and folder and without them.
func BenchmarkDeliver(b *testing.B) {
	msg := append([]byte("Subject: bench\n\n"), bytes.Repeat([]byte("0123456789abcde\n"), 4096/16-1)...)
	for _, bc := range []struct {
		name string
		opt  Options
	}{
		{"fsync", Options{}},
		{"nofsync", Options{NoFsync: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := newStore(b, bc.opt)
			if err := s.Create("bob@localhost", "INBOX"); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Deliver(b.Context(), "bob@localhost", "INBOX", bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLF measures the CRLF → LF conversion of a 100 KiB message with
// 64-byte lines, as Deliver reads it.
func BenchmarkLF(b *testing.B) {
	msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 100<<10/64)
	buf := make([]byte, chunk)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r := LF(bytes.NewReader(msg))
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
}
