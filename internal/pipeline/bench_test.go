package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicemail/sluice/delivery"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/queue"
)

// The Path benchmarks measure what a message costs sluice after the SMTP
// protocol and before the Lua stages: the durable two-step acceptance the
// SMTP server makes (Receive, Commit), and the queue worker's attempt with
// an empty on_queue stage and a Maildir delivery, durable (SyncAuto, fsync
// on), until the spool is empty again. 20 goroutines send, as 20 SMTP
// sessions would. Run it with TMPDIR on the file system to measure and
// -cpu 1 for the server's one core (bench/load.sh):
//
//	TMPDIR=/mnt/ext4 go test -run '^$' -bench Path -cpu 1 ./internal/pipeline
//
// msgs/s is the rate until every message was delivered; cpu-µs/op the
// process's CPU time (user and system) per message.

func BenchmarkPath4K(b *testing.B)   { benchPath(b, 4<<10) }
func BenchmarkPath100K(b *testing.B) { benchPath(b, 100<<10) }

func benchPath(b *testing.B, size int) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), size/64)
	dir := b.TempDir()
	st, err := mailstore.New(dir, mailstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	eng := noopEngine(b)
	log := slog.New(slog.DiscardHandler)
	p := &Pipeline{
		Engine:  func(string, string) *engine.Engine { eng.Acquire(); return eng },
		Local:   &delivery.Local{Store: st},
		IsLocal: func(d string) bool { return d == "local.test" },
		Logger:  log,
	}
	sp, err := queue.OpenDir(filepath.Join(dir, "queue"), queue.DirOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	q, err := queue.Open(sp, p, queue.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	p.Queue = q
	if err := q.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer q.Close(context.Background())
	env := queue.Envelope{From: "alice@example.org", Rcpt: []string{"bob@local.test"}}
	ctx := context.Background()

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	const conns = 20
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for range work {
				pend, err := q.Receive(ctx, env, bytes.NewReader(body))
				if err == nil {
					_, err = pend.Bytes() // as on_data would
				}
				if err == nil {
					err = pend.Commit(ctx, nil, nil)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	for q.Stats().Done < int64(n) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e3, "cpu-µs/op")
	if s := q.Stats(); s.Retried > 0 || s.Failed > 0 {
		b.Errorf("stats %+v", s)
	}
}
