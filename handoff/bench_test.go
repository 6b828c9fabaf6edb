package handoff

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// The clamd hand-off's cost over raw INSTREAM (target: at most 1 ms more
// per 4 KiB message). Compare
//
//	go test ./handoff -run '^$' -bench 'Clamd(Raw|Scanner)' -count 5
//
// BenchmarkClamdRaw is the floor: a prebuilt INSTREAM frame written to a
// fresh connection and the reply read, with no handoff code at all.

// benchMessage is a clean message padded to exactly 4 KiB.
func benchMessage(b *testing.B) []byte {
	msg := daemonSample(b, "clean.eml")
	msg = bytes.TrimRight(msg, "\n")
	pad := "\nLorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
	for len(msg) < 4096 {
		msg = append(msg, pad...)
	}
	return append(msg[:4095:4095], '\n')
}

// benchClamdAddrs are the sockets benchmarked, by sub-benchmark name.
var benchClamdAddrs = []struct{ name, addr string }{
	{"unix", clamdUnixAddr},
	{"tcp", clamdTCPAddr},
}

// clamdRawFrame is msg as one prebuilt INSTREAM frame.
func clamdRawFrame(msg []byte) []byte {
	frame := []byte("zINSTREAM\x00")
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(msg)))
	frame = append(frame, msg...)
	return append(frame, 0, 0, 0, 0)
}

// clamdRawScan writes frame to a new connection and reads the reply into
// buf: the least a client can do.
func clamdRawScan(b *testing.B, addr string, frame, buf []byte) {
	network, address := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", p
	}
	c, err := net.Dial(network, address)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(frame); err != nil {
		b.Fatal(err)
	}
	n := 0
	for n == 0 || buf[n-1] != 0 {
		m, err := c.Read(buf[n:])
		if err != nil {
			b.Fatal(err)
		}
		n += m
	}
	if string(buf[:n]) != "stream: OK\x00" {
		b.Fatalf("reply %q", buf[:n])
	}
}

func BenchmarkClamdRaw(b *testing.B) {
	msg := benchMessage(b)
	frame, buf := clamdRawFrame(msg), make([]byte, 256)
	for _, a := range benchClamdAddrs {
		b.Run(a.name, func(b *testing.B) {
			needDaemon(b, "clamd", a.addr)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				clamdRawScan(b, a.addr, frame, buf)
			}
		})
	}
}

func newBenchClamd(b *testing.B, addr string) Scanner {
	// with a deadline, as a configured filter has
	s, err := newClamd(Spec{Kind: "clamd", Address: addr, Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkClamdScanner(b *testing.B) {
	msg := benchMessage(b)
	for _, a := range benchClamdAddrs {
		b.Run(a.name, func(b *testing.B) {
			needDaemon(b, "clamd", a.addr)
			s := newBenchClamd(b, a.addr)
			ctx := context.Background()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if r := s.Scan(ctx, msg); r.Verdict != Clean {
					b.Fatalf("verdict %q, err %v", r.Verdict, r.Err)
				}
			}
		})
	}
}

// BenchmarkClamdOverhead alternates a raw scan and a Scanner scan in each
// iteration, so that the load of a shared machine weighs on both alike,
// and reports their times and the difference (extra-ns/op, the target
// being under 1e6).
func BenchmarkClamdOverhead(b *testing.B) {
	msg := benchMessage(b)
	frame, buf := clamdRawFrame(msg), make([]byte, 256)
	for _, a := range benchClamdAddrs {
		b.Run(a.name, func(b *testing.B) {
			needDaemon(b, "clamd", a.addr)
			s := newBenchClamd(b, a.addr)
			ctx := context.Background()
			var raw, scanner time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				clamdRawScan(b, a.addr, frame, buf)
				t1 := time.Now()
				if r := s.Scan(ctx, msg); r.Verdict != Clean {
					b.Fatalf("verdict %q, err %v", r.Verdict, r.Err)
				}
				raw += t1.Sub(t0)
				scanner += time.Since(t1)
				n++
			}
			b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
			b.ReportMetric(float64(scanner.Nanoseconds())/float64(n), "scanner-ns/op")
			b.ReportMetric(float64((scanner-raw).Nanoseconds())/float64(n), "extra-ns/op")
		})
	}
}
