package queue

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a helper process (see TestMain)
// instead of running tests, as os/exec's tests do.
const helperEnv = "SLUICE_QUEUE_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		os.Exit(crashHelper(os.Getenv("SLUICE_QUEUE_DIR")))
	case "diskfull":
		os.Exit(diskFullHelper(os.Getenv("SLUICE_QUEUE_DIR")))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperCommand returns a command that runs this test binary as helper.
func helperCommand(t *testing.T, helper, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+helper, "SLUICE_QUEUE_DIR="+dir)
	return cmd
}

// mailboxHandler "delivers" each pending recipient by appending "ID RCPT"
// to the file mbox (fsync'd, like a Maildir delivery), then records it.
func mailboxHandler(mbox string) Handler {
	return HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		f, err := os.OpenFile(mbox, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return Retry(err)
		}
		defer f.Close()
		for _, r := range it.Pending() {
			if _, err := f.WriteString(it.ID + " " + r + "\n"); err != nil {
				return Retry(err)
			}
			if err := f.Sync(); err != nil {
				return Retry(err)
			}
			if err := it.Record(ctx, r, Delivered, "mbox"); err != nil {
				return Retry(err)
			}
		}
		return Done()
	})
}

var crashBody = strings.Repeat("Subject: crash test\r\n", 200) // about 4 KiB

// crashHelper accepts messages from 8 goroutines and delivers them with 4
// workers, printing "ACK ID" for each acknowledged message, until it is
// killed (or after 30 s).
func crashHelper(dir string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := OpenDir(filepath.Join(dir, "queue"), DirOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	q, err := Open(s, mailboxHandler(filepath.Join(dir, "mailbox")), Options{
		Workers: 4, RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Logger: log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	q.Start(context.Background())
	var out sync.Mutex
	for range 8 {
		go func() {
			for {
				id, err := q.Accept(context.Background(), testEnv, nil, strings.NewReader(crashBody))
				if err != nil {
					fmt.Fprintln(os.Stderr, "accept:", err)
					continue
				}
				out.Lock()
				os.Stdout.WriteString("ACK " + id + "\n") // the "250 queued as ID"
				out.Unlock()
			}
		}()
	}
	time.Sleep(30 * time.Second) // stop by ourselves if nobody kills us
	return 0
}

// runAndKill starts the crash helper, SIGKILLs it at a random moment after
// its first acknowledgement, and returns the acknowledged IDs.
func runAndKill(t *testing.T, dir string) (acked []string, stderr string) {
	cmd := helperCommand(t, "crash", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return // a line cut by the kill was not acknowledged
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	var kill <-chan time.Time
	killed := false
	guard := time.After(time.Minute)
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			id, ok := strings.CutPrefix(l, "ACK ")
			if !ok || !ValidID(id) {
				t.Errorf("helper printed %q", l)
				continue
			}
			acked = append(acked, id)
			if kill == nil && !killed {
				kill = time.After(time.Duration(10+rand.IntN(400)) * time.Millisecond)
			}
		case <-kill:
			cmd.Process.Kill() // SIGKILL; lines already written still arrive
			kill, killed = nil, true
		case <-guard:
			cmd.Process.Kill()
			t.Error("helper did not acknowledge in time")
		}
	}
	cmd.Wait()
	if len(acked) == 0 {
		t.Fatalf("helper acknowledged nothing; stderr:\n%s", errOut.String())
	}
	return acked, errOut.String()
}

// TestCrashKill runs a helper process that accepts and delivers messages,
// SIGKILLs it at random moments several times, and checks that every
// acknowledged message was delivered to every recipient in the end.
func TestCrashKill(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	dir := t.TempDir()
	var acked []string
	cleaned := 0
	for i := range rounds {
		ids, stderr := runAndKill(t, dir)
		n := strings.Count(stderr, "never acknowledged")
		cleaned += n
		t.Logf("round %d: %d acknowledged before the kill; recovery removed %d partial files", i+1, len(ids), n)
		for l := range strings.Lines(stderr) {
			if !strings.Contains(l, "never acknowledged") && !strings.Contains(l, "temporary file") {
				t.Errorf("helper: %s", l)
			}
		}
		acked = append(acked, ids...)
	}

	// The final restart, in this process: deliver what is left.
	var logs logBuffer
	s := openDir(t, filepath.Join(dir, "queue"), DirOptions{Logger: logs.logger()})
	finished := make(chan string, 1)
	inner := mailboxHandler(filepath.Join(dir, "mailbox"))
	q := startQueue(t, s, HandlerFunc(func(ctx context.Context, it *Item) Outcome {
		out := inner.Handle(ctx, it)
		if out.kind == outcomeDone {
			finished <- it.ID
		}
		return out
	}), Options{Workers: 4, RetryInitial: 10 * time.Millisecond})
	left := q.Stats().Queued
	for range left {
		recv(t, finished)
	}
	if err := q.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.List(); len(ids) != 0 {
		t.Errorf("spool not empty after the final run: %d messages", len(ids))
	}

	f, err := os.Open(filepath.Join(dir, "mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	delivered := map[string]int{}
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		delivered[sc.Text()]++
		lines++
	}
	lost, dups := 0, 0
	for _, id := range acked {
		for _, r := range testEnv.Rcpt {
			if delivered[id+" "+r] == 0 {
				lost++
				t.Errorf("acknowledged message %s never delivered to %s", id, r)
			}
		}
	}
	for _, n := range delivered {
		dups += n - 1
	}
	cleaned += strings.Count(logs.String(), "never acknowledged")
	t.Logf("%d rounds: %d messages acknowledged, %d left for the final run, %d deliveries (%d distinct), "+
		"%d duplicate deliveries, %d lost; recovery removed %d partial files",
		rounds, len(acked), left, lines, len(delivered), dups, lost, cleaned)
}
