package handoff

// The folder kind: the InQueue/OutQueue protocol of Mailtraq-style filters.
//
// The contract for filter programs (examples/folder-filter/README.md shows
// it from the filter's side):
//
//   - The filter is enabled only while the file ".active" exists in the in
//     folder. Without it a scan returns Disabled with ErrNotActive and
//     nothing is written.
//   - Each message is written into in under a unique name
//     "sluice-<32 hex digits>.eml", mode 0600 (run the filter as the same
//     user as sluice): first under a name starting with ".", synced, then
//     renamed, so a file whose name does not start with "." is complete.
//     The filter ignores names starting with ".".
//   - When it is done the filter puts a file of the same name into out,
//     atomically: it renames the finished file there, from in or from a
//     temporary name in out that starts with "." and ends in ".tmp". sluice
//     reads the file as soon as it appears, so it must never be written in
//     place under its final name. The file may be the message unchanged or
//     rewritten; either way sluice removes it from out (and the input from
//     in, if the filter left it there).
//   - The protocol carries no verdict: a message that comes back is Clean,
//     with Result.Modified set when its bytes changed. A message that never
//     comes back (the filter is stuck, or deleted it) is a Timeout at the
//     deadline: that is how a filter says "could not check this".
//   - Every other file in out whose name starts with "." and does not end
//     in ".tmp" is a log file: one entry per line, "XXXXXXXX XXXXXXXX text"
//     (two fields of 8 hex digits, then text). At the end of each scan sluice
//     renames each log file to a private name (".sluice-log-…"), imports its
//     lines into Result.Log and removes it. A filter should append one line
//     per write, opening and closing the file each time, so that a line is
//     never split and a renamed file is never written to again.
//
// Clean-up: a timed-out scan removes its message from in if the filter
// never took it; its output, should it arrive later, is removed by the
// watcher. Files of the "sluice-" pattern older than an hour (or twice the
// timeout) that nobody waits for — left over by a crash — are removed by a
// sweep that runs at most once a minute, at the start of a scan.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// folderActive is the file whose presence in in enables the filter.
	folderActive = ".active"
	// folderLogClaim starts the private name a log file is renamed to
	// before it is imported.
	folderLogClaim = ".sluice-log-"
	// folderStaleAfter is how old a file of ours must be before the sweep
	// treats it as left over from an earlier run.
	folderStaleAfter = time.Hour
	// folderSweepEvery is how often the sweep runs at most.
	folderSweepEvery = time.Minute
	// Defaults when the Spec leaves the limits at zero (the configuration's
	// defaults).
	folderMaxBytes = 25 << 20
	folderMaxLog   = 1 << 20
)

var (
	// folderMsgName matches the names of the messages sluice hands over.
	folderMsgName = regexp.MustCompile(`^sluice-[0-9a-f]{32}\.eml$`)
	// folderTmpName matches sluice's temporary names in in.
	folderTmpName = regexp.MustCompile(`^\.sluice-[0-9a-f]{32}\.tmp$`)
	// folderLogLine is a well-formed log entry: two 8-hex-digit fields,
	// then the text.
	folderLogLine = regexp.MustCompile(`^[0-9A-Fa-f]{8} [0-9A-Fa-f]{8}(?:[ \t](.*))?$`)
)

// errFolderClosed is the error of scans that run into a closed scanner.
var errFolderClosed = errors.New("handoff: folder filter closed")

// folder speaks the InQueue/OutQueue protocol with a filter program through
// two folders. One fsnotify watcher on out, started by the first scan and
// stopped by Close, serves all the scans in progress.
type folder struct {
	in, out    string // absolute, cleaned
	timeout    time.Duration
	maxBytes   int64
	maxLog     int64
	staleAfter time.Duration

	// logMu serialises log imports, so two scans never claim the same
	// log file.
	logMu sync.Mutex

	// watchMu guards w and watched; the watcher's goroutine never takes it.
	watchMu  sync.Mutex
	w        *fsnotify.Watcher
	watched  os.FileInfo // the folder out was when it was added to w
	watching atomic.Bool // out is watched (cleared when out is removed or renamed)
	wg       sync.WaitGroup

	// mu guards waiters, abandoned, swept and closed.
	mu        sync.Mutex
	waiters   map[string]chan struct{} // name → woken when out/name may exist
	abandoned map[string]time.Time     // names of timed-out scans → when to forget them
	swept     time.Time
	closed    bool
	done      chan struct{} // closed by Close
}

// newFolder builds the folder scanner of spec: spec.In and spec.Out must
// be two different, existing folders (the filter program's; sluice does not
// create them).
func newFolder(spec Spec) (Scanner, error) {
	in, inInfo, err := folderDir("in", spec.In)
	if err != nil {
		return nil, err
	}
	out, outInfo, err := folderDir("out", spec.Out)
	if err != nil {
		return nil, err
	}
	if os.SameFile(inInfo, outInfo) {
		return nil, fmt.Errorf("handoff: folder: in and out are the same folder (%s)", in)
	}
	f := &folder{
		in:         in,
		out:        out,
		timeout:    spec.Timeout,
		maxBytes:   spec.MaxBytes,
		maxLog:     spec.MaxOutputBytes,
		staleAfter: max(folderStaleAfter, 2*spec.Timeout),
		waiters:    make(map[string]chan struct{}),
		abandoned:  make(map[string]time.Time),
		done:       make(chan struct{}),
	}
	if f.maxBytes <= 0 {
		f.maxBytes = folderMaxBytes
	}
	if f.maxLog <= 0 {
		f.maxLog = folderMaxLog
	}
	return f, nil
}

// folderDir checks that dir, the filter's key folder, exists.
func folderDir(key, dir string) (string, os.FileInfo, error) {
	if dir == "" {
		return "", nil, fmt.Errorf("handoff: folder: %s is required", key)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("handoff: folder: %s %s: %w", key, dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", nil, fmt.Errorf("handoff: folder: %s folder must exist (the filter's, not created by sluice): %w", key, err)
	}
	if !fi.IsDir() {
		return "", nil, fmt.Errorf("handoff: folder: %s %s is not a folder", key, abs)
	}
	return abs, fi, nil
}

// Scan hands msg to the filter through in and waits for it in out: Clean
// (with Modified when the filter changed it), Disabled with ErrNotActive
// when in/.active is missing, Timeout when ctx's deadline passes first,
// Error otherwise (wrapping ErrBadOutput when the answer is over max_bytes
// or not a regular file). The filter's log files are imported into Log.
func (f *folder) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	r := f.scan(ctx, msg)
	if !errors.Is(r.Err, errFolderClosed) {
		r.Log = append(r.Log, f.importLogs()...)
	}
	r.Duration = time.Since(start)
	return r
}

func (f *folder) scan(ctx context.Context, msg []byte) Result {
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return folderFailed("before hand-over", err)
	}
	if _, err := os.Stat(filepath.Join(f.in, folderActive)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Result{Verdict: Disabled, Err: fmt.Errorf("handoff: folder %s: %w", f.in, ErrNotActive)}
		}
		return Result{Verdict: Error, Err: fmt.Errorf("handoff: folder: %w", err)}
	}
	f.sweep()
	name := "sluice-" + folderRandom(16) + ".eml"
	ready, err := f.await(name)
	if err != nil {
		return Result{Verdict: Error, Err: err}
	}
	if err := f.handOver(name, msg); err != nil {
		f.forget(name, false)
		return Result{Verdict: Error, Err: err}
	}
	for {
		// The first pass checks once before waiting: the answer may have
		// come before the watch saw it.
		if r, ok := f.take(name, msg); ok {
			f.forget(name, false)
			return r
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return f.abandon(name, ctx.Err())
		case <-f.done:
			return f.abandon(name, errFolderClosed)
		}
	}
}

// handOver writes msg into in as name: a dot-file first, synced, then
// renamed, so the filter only ever sees a complete file.
func (f *folder) handOver(name string, msg []byte) error {
	tmp := filepath.Join(f.in, "."+strings.TrimSuffix(name, ".eml")+".tmp")
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("handoff: folder: hand over: %w", err)
	}
	_, err = fh.Write(msg)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(f.in, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("handoff: folder: hand over %s: %w", name, err)
	}
	return nil
}

// take reads the answer out/name if it is there (ok false when not), and
// removes it and what is left of the input.
func (f *folder) take(name string, msg []byte) (r Result, ok bool) {
	path := filepath.Join(f.out, name)
	b, err := folderRead(path, f.maxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, false
	}
	os.Remove(path)
	os.Remove(filepath.Join(f.in, name)) // a filter that copied instead of moving
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("handoff: folder: answer %s: %w", name, err)}, true
	}
	if bytes.Equal(b, msg) {
		return Result{Verdict: Clean}, true
	}
	return Result{Verdict: Clean, Modified: b}, true
}

// abandon ends a scan that got no answer before cause (ctx's error, or
// errFolderClosed): the input is taken back if the filter never took it,
// and a late answer will be removed.
func (f *folder) abandon(name string, cause error) Result {
	f.forget(name, true)
	// The answer may have come between the last look and forget.
	os.Remove(filepath.Join(f.out, name))
	what := "the filter took the message but put nothing into out"
	if err := os.Remove(filepath.Join(f.in, name)); err == nil {
		what = "the filter never took the message"
	}
	return folderFailed(what, cause)
}

// folderFailed reports a scan that ended without an answer: Timeout when
// the deadline passed, Error otherwise.
func folderFailed(what string, err error) Result {
	v := Error
	if errors.Is(err, context.DeadlineExceeded) {
		v = Timeout
	}
	return Result{Verdict: v, Err: fmt.Errorf("handoff: folder: %s: %w", what, err)}
}

// await registers a waiter for out/name, starting the watcher if needed.
func (f *folder) await(name string) (<-chan struct{}, error) {
	if err := f.watch(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errFolderClosed
	}
	ch := make(chan struct{}, 1)
	f.waiters[name] = ch
	return ch, nil
}

// forget removes the waiter of name; abandoned marks its answer as one to
// remove should it still come.
func (f *folder) forget(name string, abandoned bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.waiters, name)
	if abandoned {
		f.abandoned[name] = time.Now().Add(f.staleAfter)
	}
}

// watch starts the watcher on out, or watches out again when it is no
// longer the folder watched (removed, or replaced by another).
func (f *folder) watch() error {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return errFolderClosed
	}
	fi, err := os.Stat(f.out)
	if err != nil {
		return fmt.Errorf("handoff: folder: out folder: %w", err)
	}
	if f.w == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("handoff: folder: watch %s: %w", f.out, err)
		}
		f.w = w
		f.wg.Add(1)
		go f.run(w)
	}
	if f.watching.Load() && f.watched != nil && os.SameFile(fi, f.watched) {
		return nil
	}
	f.w.Remove(f.out) // the old folder's watch, if it is still there
	if err := f.w.Add(f.out); err != nil {
		return fmt.Errorf("handoff: folder: watch %s: %w", f.out, err)
	}
	f.watched = fi
	f.watching.Store(true)
	return nil
}

// run dispatches the watcher's events until it is closed.
func (f *folder) run(w *fsnotify.Watcher) {
	defer f.wg.Done()
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			f.event(ev)
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			// Events may have been lost (queue overflow): look again.
			f.recheck()
		}
	}
}

// event wakes the waiter of a file created in out, or removes the late
// answer of an abandoned scan. Other names belong to someone else.
func (f *folder) event(ev fsnotify.Event) {
	if filepath.Clean(ev.Name) == f.out {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			f.watching.Store(false)
		}
		return
	}
	if !ev.Has(fsnotify.Create) {
		return
	}
	name := filepath.Base(ev.Name)
	f.mu.Lock()
	ch, waiting := f.waiters[name]
	_, late := f.abandoned[name]
	if late {
		delete(f.abandoned, name)
	}
	f.mu.Unlock()
	switch {
	case waiting:
		folderWake(ch)
	case late:
		os.Remove(filepath.Join(f.out, name))
	}
}

// recheck wakes every waiter and removes every abandoned answer, after the
// watcher reported an error.
func (f *folder) recheck() {
	f.mu.Lock()
	var late []string
	for _, ch := range f.waiters {
		folderWake(ch)
	}
	for name := range f.abandoned {
		late = append(late, name)
	}
	f.mu.Unlock()
	for _, name := range late {
		os.Remove(filepath.Join(f.out, name))
	}
}

func folderWake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sweep removes, at most once every folderSweepEvery, the answers of
// abandoned scans that the watcher missed and sluice's own files that are
// older than staleAfter and that no scan waits for (left over by a crash
// or an earlier run).
func (f *folder) sweep() {
	now := time.Now()
	f.mu.Lock()
	if now.Sub(f.swept) < folderSweepEvery {
		f.mu.Unlock()
		return
	}
	f.swept = now
	var late []string
	for name, until := range f.abandoned {
		if now.After(until) {
			delete(f.abandoned, name)
		} else {
			late = append(late, name)
		}
	}
	f.mu.Unlock()
	for _, name := range late {
		os.Remove(filepath.Join(f.out, name))
	}
	f.sweepDir(f.in, now, true)
	f.sweepDir(f.out, now, false)
}

func (f *folder) sweepDir(dir string, now time.Time, in bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		ours := folderMsgName.MatchString(name) || (in && folderTmpName.MatchString(name))
		if !ours {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < f.staleAfter {
			continue
		}
		f.mu.Lock()
		_, waiting := f.waiters[name]
		f.mu.Unlock()
		if !waiting {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// Close stops the watcher and waits for its goroutine. Scans still waiting
// return an Error, later ones too. Close may be called more than once.
func (f *folder) Close() error {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
	f.mu.Unlock()
	f.watchMu.Lock()
	w := f.w
	f.w = nil
	f.watchMu.Unlock()
	var err error
	if w != nil {
		err = w.Close()
	}
	f.wg.Wait()
	return err
}

// importLogs imports and removes the filter's log files in out, within the
// max_output_bytes budget of one scan.
func (f *folder) importLogs() []string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	entries, err := os.ReadDir(f.out)
	if err != nil {
		return []string{fmt.Sprintf("handoff: folder: logs: %v", err)}
	}
	imp := folderLogImport{budget: f.maxLog}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && !strings.HasSuffix(name, ".tmp") && e.Type().IsRegular() {
			imp.file(f.out, name)
		}
	}
	if imp.dropped > 0 {
		imp.lines = append(imp.lines, fmt.Sprintf(
			"handoff: folder: filter log over max_output_bytes (%d): %d bytes discarded", f.maxLog, imp.dropped))
	}
	return imp.lines
}

// folderLogImport gathers log entries within a byte budget.
type folderLogImport struct {
	lines   []string
	budget  int64 // bytes left to read
	dropped int64 // bytes removed unread
}

// file claims the log file dir/name by renaming it, imports what the
// budget allows and removes it.
func (imp *folderLogImport) file(dir, name string) {
	path := filepath.Join(dir, name)
	if !strings.HasPrefix(name, folderLogClaim) {
		claim := filepath.Join(dir, folderLogClaim+folderRandom(8))
		if err := os.Rename(path, claim); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				imp.lines = append(imp.lines, fmt.Sprintf("handoff: folder: log %s: %v", name, err))
			}
			return
		}
		path = claim
	}
	defer os.Remove(path)
	fh, err := folderOpen(path)
	if err != nil {
		imp.lines = append(imp.lines, fmt.Sprintf("handoff: folder: log %s: %v", name, err))
		return
	}
	defer fh.Close()
	var size int64
	if fi, err := fh.Stat(); err == nil {
		size = fi.Size()
	}
	lr := &io.LimitedReader{R: fh, N: imp.budget}
	br := bufio.NewReader(lr)
	var read int64 // bytes imported
	for {
		line, err := br.ReadString('\n')
		if err != nil && lr.N == 0 && read+int64(len(line)) < size {
			break // cut by the budget: drop the partial line
		}
		read += int64(len(line))
		if entry, ok := folderLogEntry(line); ok {
			imp.lines = append(imp.lines, entry)
		}
		if err != nil {
			break
		}
	}
	imp.budget = lr.N
	if size > read {
		imp.dropped += size - read
	}
}

// folderLogEntry turns one line of a log file into an entry: the text of a
// well-formed line, trimmed, or a malformed line as it is, marked.
func folderLogEntry(line string) (string, bool) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return "", false
	}
	line = strings.ToValidUTF8(line, "\uFFFD")
	if m := folderLogLine.FindStringSubmatch(line); m != nil {
		text := strings.TrimSpace(m[1])
		return text, text != ""
	}
	return "malformed: " + line, true
}

// folderOpen opens path for reading only if it is a regular file: not a
// symbolic link (to a file the filter could not read itself), nor a FIFO or
// device that would block. The file opened must be the one looked at, so
// swapping it in between does not help.
func folderOpen(path string) (*os.File, error) {
	li, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !li.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): %w", filepath.Base(path), li.Mode().Type(), ErrBadOutput)
	}
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err == nil && !(fi.Mode().IsRegular() && os.SameFile(li, fi)) {
		err = fmt.Errorf("%s was replaced while opened: %w", filepath.Base(path), ErrBadOutput)
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// folderRead reads the regular file path, failing with ErrBadOutput when
// it is larger than limit bytes.
func folderRead(path string, limit int64) ([]byte, error) {
	fh, err := folderOpen(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than max_bytes (%d): %w", limit, ErrBadOutput)
	}
	return b, nil
}

// folderRandom returns n random bytes in hex.
func folderRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
