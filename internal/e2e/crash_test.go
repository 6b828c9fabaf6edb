package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The crash test's knobs: a load of concurrent clients, SIGKILLs at random
// moments while it runs.
const (
	crashClients  = 20
	crashKills    = 5
	crashMinGap   = 300 * time.Millisecond
	crashMaxGap   = 1500 * time.Millisecond
	crashPerConn  = 5                // messages per connection before QUIT
	crashLoadMax  = 25 * time.Second // the load never runs longer than this
	crashDrainMax = 90 * time.Second
)

// TestCrashLosesNothing checks the first guarantee of DESIGN.md: after
// kill -9 at any moment, every message acknowledged with 250 is delivered
// (at least once). Clients record a Message-ID only when DATA got 250;
// after the last restart and a drained queue, every recorded Message-ID
// must be in the Maildir, and once only: a delivery made again because a
// kill came between the Maildir rename and its record finds its first copy
// (mailstore.Store.DeliverOnce). Duplicates are reported, and fail the test.
//
// A SIGKILL ends the process, not the machine: the page cache survives, so
// this checks that 250 never comes before the message is committed, and
// that recovery resumes everything committed; it cannot check the fsyncs
// themselves (that takes a power cut: a VM reset or dm-flakey).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped under -short")
	}
	s := Start(t, DefaultConfig)
	var addr atomic.Pointer[string] // where clients connect now
	first := s.Addr
	addr.Store(&first)

	ctx, stop := context.WithTimeout(t.Context(), crashLoadMax)
	defer stop()
	run := fmt.Sprintf("%x", rand.Uint32())
	results := make([]crashClient, crashClients)
	var wg sync.WaitGroup
	for i := range results {
		c := &results[i]
		c.name = fmt.Sprintf("%s-%02d", run, i)
		wg.Go(func() { c.load(ctx, &addr) })
	}

	start := time.Now()
	kills := 0
	time.Sleep(time.Second) // let the load build up
	for range crashKills {
		if ctx.Err() != nil {
			break
		}
		time.Sleep(crashMinGap + rand.N(crashMaxGap-crashMinGap))
		s.Kill()
		kills++
		s.Restart()
		a := s.Addr
		addr.Store(&a)
	}
	time.Sleep(time.Second) // and on the last generation
	stop()
	wg.Wait()
	loadTime := time.Since(start)

	// One more crash with nothing in flight, then the final restart.
	s.Kill()
	kills++
	s.Restart()
	drained := waitDrained(t, s, crashDrainMax)

	acked := map[string]string{} // Message-ID → queue id
	var attempts, refused, failed int
	for _, c := range results {
		attempts += c.attempts
		refused += c.refused
		failed += c.failed
		for mid, qid := range c.acked {
			acked[mid] = qid
		}
	}
	got := readMessageIDs(t, filepath.Join(s.Dir, "data", "mail"))
	var missing, dups []string
	copies, unacked := 0, 0
	for mid, n := range got {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", mid, n))
			copies += n - 1
		}
		if _, ok := acked[mid]; !ok {
			unacked++
		}
	}
	for mid, qid := range acked {
		if got[mid] == 0 {
			missing = append(missing, mid+" (queued as "+qid+")")
		}
	}
	slices.Sort(missing)
	slices.Sort(dups)
	files := 0
	for _, n := range got {
		files += n
	}

	t.Logf("load %v, %d kills: %d DATA attempts, %d acknowledged (250), %d refused (non-250 reply), %d connection errors",
		loadTime.Round(time.Millisecond), kills, attempts, len(acked), refused, failed)
	t.Logf("delivered: %d files, %d distinct Message-IDs, %d of them never acknowledged (in flight at a kill)",
		files, len(got), unacked)
	t.Logf("duplicates: %d Message-IDs delivered more than once, %d extra copies %s", len(dups), copies, firstFew(dups, 10))
	if !drained {
		t.Errorf("the queue did not drain within %v:\n%s", crashDrainMax, queueList(s))
	}
	if len(acked) == 0 {
		t.Fatalf("no message was acknowledged: the load did not run\n%s", lastLines(s.Log(), 40))
	}
	if len(dups) > 0 {
		t.Errorf("%d messages delivered more than once: %s", len(dups), firstFew(dups, 10))
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged messages lost (of %d):\n%s", len(missing), len(acked), strings.Join(missing, "\n"))
		for _, m := range firstFew(missing, 5) {
			qid := m[strings.LastIndexByte(m, ' ')+1 : len(m)-1]
			t.Logf("server log for %s:\n%s", qid, grepLines(s.Log(), qid))
		}
	}
}

// crashClient is one load goroutine and what it saw.
type crashClient struct {
	name     string
	seq      int
	acked    map[string]string // Message-ID → queue id, 250 only
	attempts int               // DATA transfers started
	refused  int               // a reply other than 250
	failed   int               // the connection broke (no reply at all)
}

// load runs sessions against the current address until ctx is done.
// Errors are expected (the server is killed under it) and only counted.
func (c *crashClient) load(ctx context.Context, addr *atomic.Pointer[string]) {
	c.acked = map[string]string{}
	for ctx.Err() == nil {
		if err := c.session(ctx, *addr.Load()); err != nil {
			// The server is down or restarting: try again shortly.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
			}
		}
	}
}

var queuedAsRE = regexp.MustCompile(`queued as (\S+)`)

// session sends up to crashPerConn messages over one connection.
func (c *crashClient) session(ctx context.Context, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	cl := smtp.NewClient(conn)
	defer cl.Close()
	cl.CommandTimeout = 10 * time.Second
	cl.SubmissionTimeout = 10 * time.Second
	if err := cl.Hello("client.test"); err != nil {
		return err
	}
	for range crashPerConn {
		if ctx.Err() != nil {
			break
		}
		if err := c.send(cl); err != nil {
			return err
		}
	}
	return cl.Quit()
}

// send transfers one message and records its Message-ID if it got 250.
func (c *crashClient) send(cl *smtp.Client) error {
	c.seq++
	mid := fmt.Sprintf("<crash-%s-%d@example.org>", c.name, c.seq)
	if err := cl.Mail("alice@example.org", nil); err != nil {
		return c.count(err)
	}
	if err := cl.Rcpt("bob@local.test", nil); err != nil {
		return c.count(err)
	}
	w, err := cl.Data()
	if err != nil {
		return c.count(err)
	}
	c.attempts++
	fmt.Fprintf(w, "From: Alice <alice@example.org>\r\nTo: bob@local.test\r\nSubject: crash %d\r\n"+
		"Date: %s\r\nMessage-ID: %s\r\n\r\n", c.seq, time.Now().Format(time.RFC1123Z), mid)
	for i := range 20 + rand.IntN(60) {
		fmt.Fprintf(w, "line %d of a message that must survive kill -9 at any moment\r\n", i)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return c.count(err)
	}
	qid := "?"
	if m := queuedAsRE.FindStringSubmatch(resp.StatusText); m != nil {
		qid = m[1]
	}
	c.acked[mid] = qid
	return nil
}

// count sorts an error: a reply from the server or a broken connection.
func (c *crashClient) count(err error) error {
	if _, ok := err.(*smtp.SMTPError); ok {
		c.refused++
	} else {
		c.failed++
	}
	return err
}

// waitDrained polls "sluice queue list" until the queue is empty.
func waitDrained(t *testing.T, s *Server, max time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		out, err := s.Sluice("queue", "list")
		if err == nil && strings.HasSuffix(strings.TrimSpace(out), "\n0 messages") {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func queueList(s *Server) string {
	out, err := s.Sluice("queue", "list")
	if err != nil {
		return fmt.Sprintf("queue list: %v\n%s", err, out)
	}
	return lastLines(out, 20)
}

// readMessageIDs counts the Message-IDs of every message in every Maildir
// folder (new/ and cur/) under root.
func readMessageIDs(t *testing.T, root string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if dir := filepath.Base(filepath.Dir(path)); dir != "new" && dir != "cur" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := mail.ReadMessage(f)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		mid := m.Header.Get("Message-Id")
		if mid == "" {
			t.Errorf("%s: no Message-ID", path)
		}
		ids[mid]++
		return nil
	})
	if err != nil {
		t.Fatalf("read the Maildirs: %v", err)
	}
	return ids
}

func firstFew(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grepLines(s, needle string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, needle) {
			b.WriteString(line)
		}
	}
	return b.String()
}
