package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The Accept benchmarks measure durable acceptance (what happens between
// the end of DATA and "250 queued"): serial, and with 20 concurrent
// connections, for each SyncMode. Compare modes with benchstat over
// -count=10; the package documentation has the numbers.
//
// With SLUICE_BENCH_BLOCKDEV set to the block device that holds TMPDIR
// (e.g. loop0, nvme0n1), they also report the cache flushes the device
// received per message (Linux, /sys/block/DEV/stat): the measure of how
// well syncs are grouped, whatever the disk's latency.

func BenchmarkAccept4K(b *testing.B)   { benchAccept(b, 4<<10) }
func BenchmarkAccept100K(b *testing.B) { benchAccept(b, 100<<10) }

func benchAccept(b *testing.B, size int) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), size/64)
	for _, mode := range []SyncMode{SyncFS, SyncBatch, SyncEach, SyncNone} {
		for _, conns := range []int{1, 20} {
			b.Run(fmt.Sprintf("sync=%s/conns=%d", mode, conns), func(b *testing.B) {
				s, err := OpenDir(filepath.Join(b.TempDir(), "queue"), DirOptions{Sync: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				q, err := Open(s, nil, Options{}) // not started: acceptance only
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				cpu0, flush0 := cpuTime(), flushes(b)
				if conns == 1 {
					for b.Loop() {
						if _, err := q.Accept(ctx, testEnv, nil, bytes.NewReader(body)); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := q.Accept(ctx, testEnv, nil, bytes.NewReader(body)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
				if flush0 >= 0 {
					b.ReportMetric(float64(flushes(b)-flush0)/float64(b.N), "flushes/op")
				}
			})
		}
	}
}

// flushes returns the number of flush requests the device named by
// SLUICE_BENCH_BLOCKDEV completed, or -1.
func flushes(b *testing.B) int64 {
	dev := os.Getenv("SLUICE_BENCH_BLOCKDEV")
	if dev == "" {
		return -1
	}
	data, err := os.ReadFile(filepath.Join("/sys/block", dev, "stat"))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) < 17 {
		b.Fatalf("%s/stat has no flush counts", dev)
	}
	n, err := strconv.ParseInt(f[15], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkCapture64K reads a message of maxCapture bytes (the largest kept)
// through capture in the 4 KiB reads go-smtp's DATA reader makes, as
// Receive does.
func BenchmarkCapture64K(b *testing.B) {
	msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), maxCapture/64)
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		c := &capture{r: bytes.NewReader(msg)}
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if len(c.bytes()) != len(msg) {
			b.Fatal("short copy")
		}
	}
}
