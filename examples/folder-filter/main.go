// Command folder-filter is a reference filter for sluice's folder hand-off,
// the InQueue/OutQueue protocol of Mailtraq-style filters: it scans each
// message that appears in -in with clamscan, and puts it into -out —
// unchanged when clean, rewritten into a short notice with an "X-Virus:
// NAME" header when infected. It writes one log line per message to
// -out/.folder-filter.log. README.md describes the protocol.
//
// Usage:
//
//	folder-filter -in DIR -out DIR [-clamscan-db DB] [-clamscan PATH] [-jobs N] [-timeout D]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// logName is the log file in the out folder; sluice imports and removes it.
const logName = ".folder-filter.log"

// filter is one running instance of the program.
type filter struct {
	in, out  string
	clamscan string        // the program
	db       string        // clamscan -d, or "" for its default database
	timeout  time.Duration // of one clamscan run
	sem      chan struct{} // one token per message being scanned
	wg       sync.WaitGroup
	seq      atomic.Uint32 // log line numbers

	mu      sync.Mutex // guards pending
	pending map[string]bool
}

func main() {
	in := flag.String("in", "", "the InQueue folder sluice drops messages into (required)")
	out := flag.String("out", "", "the OutQueue folder sluice takes them back from (required)")
	db := flag.String("clamscan-db", "", "clamscan's signature database (-d); empty for its default")
	prog := flag.String("clamscan", "clamscan", "the clamscan program")
	jobs := flag.Int("jobs", 2, "messages scanned at once")
	timeout := flag.Duration("timeout", time.Minute, "deadline of one clamscan run")
	flag.Parse()
	if *in == "" || *out == "" || *jobs < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetPrefix("folder-filter: ")
	log.SetFlags(0)
	f := &filter{in: *in, out: *out, clamscan: *prog, db: *db, timeout: *timeout,
		sem: make(chan struct{}, *jobs), pending: make(map[string]bool)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.run(ctx); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run watches the in folder and scans every message until ctx ends. The
// filter is active (in/.active exists) only while run is running; at the
// end it waits for the scans in progress.
func (f *filter) run(ctx context.Context) error {
	if _, err := exec.LookPath(f.clamscan); err != nil {
		return err
	}
	for _, dir := range []string{f.in, f.out} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(f.in); err != nil {
		return err
	}
	defer f.wg.Wait()
	f.backlog()
	active := filepath.Join(f.in, ".active")
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := os.WriteFile(active, pid, 0o600); err != nil {
		return err
	}
	// Only our own .active is removed: another instance may have taken over.
	defer func() {
		if b, err := os.ReadFile(active); err == nil && bytes.Equal(b, pid) {
			os.Remove(active)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watcher closed")
			}
			if ev.Has(fsnotify.Create) {
				f.start(filepath.Base(ev.Name))
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watcher closed")
			}
			log.Printf("watch %s: %v; looking again", f.in, err)
			f.backlog()
		}
	}
}

// backlog starts the messages already in the in folder.
func (f *filter) backlog() {
	entries, err := os.ReadDir(f.in)
	if err != nil {
		log.Print(err)
		return
	}
	for _, e := range entries {
		f.start(e.Name())
	}
}

// start scans the message name in its own goroutine, unless the name is
// not a message or is being scanned already.
func (f *filter) start(name string) {
	if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".eml") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending[name] {
		return
	}
	f.pending[name] = true
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.sem <- struct{}{}
		f.process(name)
		<-f.sem
		f.mu.Lock()
		delete(f.pending, name)
		f.mu.Unlock()
	}()
}

// process scans in/name and answers in out/name. A message that cannot be
// scanned gets no answer: sluice then applies the filter's on_error at the
// deadline, so nothing passes unchecked.
func (f *filter) process(name string) {
	src := filepath.Join(f.in, name)
	if _, err := os.Stat(src); err != nil {
		return // sluice took it back, or a duplicate event
	}
	virus, err := f.scan(src)
	switch {
	case err != nil:
		f.logf("scan failed %s: %v", name, err)
		os.Remove(src)
	case virus == "":
		f.logf("scanned %s: clean", name)
		if err := move(src, f.out, name); err != nil {
			f.logf("deliver %s: %v", name, err)
		}
	default:
		f.logf("scanned %s: infected (%s)", name, virus)
		msg, err := os.ReadFile(src)
		if err == nil {
			err = writeAtomic(f.out, name, rewrite(msg, virus))
		}
		if err != nil {
			f.logf("deliver %s: %v", name, err)
		}
		os.Remove(src)
	}
}

// found is clamscan's report of a virus: "FILE: NAME FOUND".
var found = regexp.MustCompile(`: (\S+) FOUND\s*$`)

// scan runs clamscan on path: the virus's name, "" when clean, or an
// error (clamscan exits 0 clean, 1 infected, 2 on errors).
func (f *filter) scan(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	args := []string{"--no-summary"}
	if f.db != "" {
		args = append(args, "-d", f.db)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var stdout, stderr capped
	cmd := exec.CommandContext(ctx, f.clamscan, append(args, abs)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		for _, line := range strings.Split(stdout.String(), "\n") {
			if m := found.FindStringSubmatch(line); m != nil {
				return m[1], nil
			}
		}
		return "", fmt.Errorf("clamscan exited 1 without naming a virus: %q", stdout.String())
	}
	return "", fmt.Errorf("clamscan: %v: %s", err, strings.TrimSpace(stderr.String()))
}

// capped keeps the first 64 KiB written to it.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := 64<<10 - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// logf appends one entry to the log file: "PID SEQ text", the two numbers
// in 8 hex digits. Each entry is one write to a file opened for it, so
// sluice can take the file away between entries.
func (f *filter) logf(format string, args ...any) {
	text := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	line := fmt.Sprintf("%08X %08X %s\n", os.Getpid(), f.seq.Add(1), text)
	fh, err := os.OpenFile(filepath.Join(f.out, logName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = fh.WriteString(line)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Printf("log: %v (%s)", err, text)
	}
}

// move puts src into dir as name atomically: a rename, or, when dir is on
// another file system, a copy to a temporary name then a rename.
func move(src, dir, name string) error {
	err := os.Rename(src, filepath.Join(dir, name))
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	fh, err := os.Open(src)
	if err != nil {
		return err
	}
	defer fh.Close()
	if err := writeAtomicFrom(dir, name, fh); err != nil {
		return err
	}
	return os.Remove(src)
}

// writeAtomic writes b into dir as name: first under ".NAME.tmp" (a name
// sluice leaves alone), synced, then renamed.
func writeAtomic(dir, name string, b []byte) error {
	return writeAtomicFrom(dir, name, bytes.NewReader(b))
}

func writeAtomicFrom(dir, name string, r io.Reader) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(fh, r)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// rewrite replaces an infected message by a notice: the original header
// fields except the MIME ones, then "X-Virus: NAME" and a text/plain body.
// The line endings of the original are kept.
func rewrite(msg []byte, virus string) []byte {
	nl := "\n"
	head := msg
	if i := headerEnd(msg); i >= 0 {
		head = msg[:i]
	}
	if bytes.Contains(head, []byte("\r\n")) {
		nl = "\r\n"
	}
	var b strings.Builder
	keep := false
	for _, line := range strings.Split(strings.TrimRight(string(head), "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			// A new field; a continuation line goes with the field before.
			name, _, _ := strings.Cut(line, ":")
			name = strings.ToLower(strings.TrimSpace(name))
			keep = !strings.HasPrefix(name, "content-") && name != "mime-version" && name != "x-virus"
		}
		if keep {
			b.WriteString(line + nl)
		}
	}
	for _, field := range []string{
		"MIME-Version: 1.0",
		"X-Virus: " + virus,
		"Content-Type: text/plain; charset=us-ascii",
		"Content-Transfer-Encoding: 7bit",
		"",
		"This message contained a virus (" + virus + ").",
		"folder-filter removed its content; the header fields above are the",
		"original ones.",
	} {
		b.WriteString(field + nl)
	}
	return []byte(b.String())
}

// headerEnd returns where the header of msg ends (before its blank line),
// or -1 when msg has no body.
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\n")) || bytes.HasPrefix(msg, []byte("\r\n")) {
		return 0
	}
	i := bytes.Index(msg, []byte("\n\n"))
	j := bytes.Index(msg, []byte("\n\r\n"))
	switch {
	case i < 0:
		i = j
	case j >= 0 && j < i:
		i = j
	}
	if i < 0 {
		return -1
	}
	return i + 1
}
