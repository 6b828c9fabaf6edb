package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"
)

// newTestFolder makes in and out folders in a temporary folder (with
// in/.active when active) and a folder scanner on them, closed at the end
// of the test.
func newTestFolder(t *testing.T, spec Spec, active bool) (f *folder, in, out string) {
	t.Helper()
	dir := t.TempDir()
	in, out = filepath.Join(dir, "in"), filepath.Join(dir, "out")
	for _, d := range []string{in, out} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if active {
		if err := os.WriteFile(filepath.Join(in, folderActive), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec.Kind, spec.In, spec.Out = "folder", in, out
	s, err := newFolder(spec)
	if err != nil {
		t.Fatal(err)
	}
	f = s.(*folder)
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f, in, out
}

// runFake runs a fake filter program on in until the end of the test:
// answer is called, in a goroutine of its own, with the name of each
// message that appears there.
func runFake(t *testing.T, in string, answer func(name string)) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(in); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range w.Events {
			name := filepath.Base(ev.Name)
			if !ev.Has(fsnotify.Create) || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".eml") {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				answer(name)
			}()
		}
	}()
	t.Cleanup(func() {
		w.Close()
		wg.Wait()
	})
}

// deliver puts b into dir as name the way the protocol wants it: under a
// ".NAME.tmp" name first, then renamed.
func deliver(t *testing.T, dir, name string, b []byte) {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Error(err)
	}
}

// appendLog appends lines to the log file dir/name, one write each.
func appendLog(t *testing.T, dir, name string, lines ...string) {
	for _, l := range lines {
		fh, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			t.Error(err)
			return
		}
		fh.WriteString(l + "\n")
		fh.Close()
	}
}

// leftovers lists what is in dir, but in/.active.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != folderActive {
			names = append(names, e.Name())
		}
	}
	return names
}

func checkEmpty(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if l := leftovers(t, d); len(l) > 0 {
			t.Errorf("%s: left behind %v", filepath.Base(d), l)
		}
	}
}

// waitGone waits, with fsnotify, until dir/name does not exist.
func waitGone(t *testing.T, dir, name string, limit time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			return
		}
		select {
		case <-w.Events:
		case <-timer.C:
			t.Fatalf("%s still in %s after %v", name, filepath.Base(dir), limit)
		}
	}
}

func testMessage(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nTo: b@example.com\r\nSubject: test %d\r\n\r\nbody %d\r\n", i, i)
}

func scanCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFolderPassThrough(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	runFake(t, in, func(name string) {
		if err := os.Rename(filepath.Join(in, name), filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	})
	msg := testMessage(1)
	r := f.Scan(scanCtx(t, 10*time.Second), msg)
	if r.Verdict != Clean || r.Err != nil || r.Modified != nil {
		t.Fatalf("got %s %v modified=%q, want clean, unmodified", r.Verdict, r.Err, r.Modified)
	}
	if r.Duration <= 0 {
		t.Errorf("got duration %v, want > 0", r.Duration)
	}
	t.Logf("hand-off round trip: %v", r.Duration)
	checkEmpty(t, in, out)
}

func TestFolderRewrite(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	runFake(t, in, func(name string) {
		b, err := os.ReadFile(filepath.Join(in, name))
		if err != nil {
			t.Error(err)
			return
		}
		os.Remove(filepath.Join(in, name))
		deliver(t, out, name, append([]byte("X-Rewritten: yes\r\n"), b...))
	})
	msg := testMessage(2)
	r := f.Scan(scanCtx(t, 10*time.Second), msg)
	want := append([]byte("X-Rewritten: yes\r\n"), msg...)
	if r.Verdict != Clean || r.Err != nil || !bytes.Equal(r.Modified, want) {
		t.Fatalf("got %s %v modified=%q, want clean, modified %q", r.Verdict, r.Err, r.Modified, want)
	}
	checkEmpty(t, in, out)
}

func TestFolderCopyingFilter(t *testing.T) {
	// A filter that copies its input instead of moving it: the input is
	// removed all the same.
	f, in, out := newTestFolder(t, Spec{}, true)
	runFake(t, in, func(name string) {
		b, err := os.ReadFile(filepath.Join(in, name))
		if err == nil {
			deliver(t, out, name, b)
		}
	})
	r := f.Scan(scanCtx(t, 10*time.Second), testMessage(3))
	if r.Verdict != Clean || r.Modified != nil {
		t.Fatalf("got %s %v modified=%v, want clean, unmodified", r.Verdict, r.Err, r.Modified != nil)
	}
	checkEmpty(t, in, out)
}

func TestFolderLog(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	mixed, err := os.ReadFile("testdata/folder/mixed.log")
	if err != nil {
		t.Fatal(err)
	}
	wantText, err := os.ReadFile("testdata/folder/mixed.want")
	if err != nil {
		t.Fatal(err)
	}
	// A log file left by an earlier run's claim is imported too; the
	// filter's temporary files are left alone.
	if err := os.WriteFile(filepath.Join(out, folderLogClaim+"0123456789abcdef"), []byte("00000001 00000001 left over\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, ".half-written.tmp"), []byte("00000001 00000001 not a log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runFake(t, in, func(name string) {
		// The filter logs before it answers, so the lines are there when
		// the scan ends.
		if err := os.WriteFile(filepath.Join(out, ".mixed.log"), mixed, 0o600); err != nil {
			t.Error(err)
		}
		appendLog(t, out, ".fake.log", "0000002A 00000001 scanned "+name+": clean")
		os.Rename(filepath.Join(in, name), filepath.Join(out, name))
	})
	r := f.Scan(scanCtx(t, 10*time.Second), testMessage(4))
	if r.Verdict != Clean {
		t.Fatalf("got %s %v, want clean", r.Verdict, r.Err)
	}
	want := strings.Split(strings.TrimSuffix(string(wantText), "\n"), "\n")
	want = append(want, "left over")
	// The files are imported in name order: .fake.log, .mixed.log,
	// then .sluice-log-….
	got := r.Log
	if len(got) > 0 && strings.HasPrefix(got[0], "scanned sluice-") && strings.HasSuffix(got[0], ": clean") {
		got = got[1:]
	} else {
		t.Errorf("first entry %q, want the fake's \"scanned NAME: clean\"", got)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".half-written.tmp"}, leftovers(t, out)); diff != "" {
		t.Errorf("out (-want +got):\n%s", diff)
	}
	checkEmpty(t, in)
}

func TestFolderLogFlood(t *testing.T) {
	const budget = 4096
	f, in, out := newTestFolder(t, Spec{MaxOutputBytes: budget}, true)
	line := "0000002A 00000001 " + strings.Repeat("flood ", 10) + "\n"
	flood := bytes.Repeat([]byte(line), (5<<20)/len(line))
	runFake(t, in, func(name string) {
		if err := os.WriteFile(filepath.Join(out, ".flood.log"), flood, 0o600); err != nil {
			t.Error(err)
		}
		appendLog(t, out, ".second.log", "0000002A 00000002 after the flood")
		os.Rename(filepath.Join(in, name), filepath.Join(out, name))
	})
	r := f.Scan(scanCtx(t, 10*time.Second), testMessage(5))
	if r.Verdict != Clean {
		t.Fatalf("got %s %v, want clean", r.Verdict, r.Err)
	}
	if len(r.Log) < 2 {
		t.Fatalf("got %d log entries, want the budget's worth and a note", len(r.Log))
	}
	note := r.Log[len(r.Log)-1]
	if !strings.Contains(note, "max_output_bytes (4096)") || !strings.Contains(note, "discarded") {
		t.Errorf("last entry %q, want a note about the cap", note)
	}
	total := 0
	for _, l := range r.Log[:len(r.Log)-1] {
		total += len(l)
		if l != strings.TrimSpace(line[18:]) {
			t.Errorf("entry %q, want the flood's text", l)
			break
		}
	}
	if total > budget {
		t.Errorf("imported %d bytes, want at most %d", total, budget)
	}
	checkEmpty(t, in, out)
}

func TestFolderNotActive(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, false)
	r := f.Scan(scanCtx(t, 10*time.Second), testMessage(6))
	if r.Verdict != Disabled || !errors.Is(r.Err, ErrNotActive) {
		t.Fatalf("got %s %v, want disabled, ErrNotActive", r.Verdict, r.Err)
	}
	checkEmpty(t, in, out)
}

// TestFolderNoAnswer covers the filters that never answer: each must give
// Timeout within the deadline + 1 s, and leave nothing behind.
func TestFolderNoAnswer(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, tt := range []struct {
		name   string
		answer func(in, name string) // nil: no filter at all, only .active
		why    string
	}{
		{"never takes the message", nil, "never took"},
		{"deletes its input", func(in, name string) { os.Remove(filepath.Join(in, name)) }, "took the message"},
		{"takes the message and hangs", func(in, name string) {
			os.Rename(filepath.Join(in, name), filepath.Join(filepath.Dir(in), name))
		}, "took the message"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, in, out := newTestFolder(t, Spec{}, true)
			if tt.answer != nil {
				runFake(t, in, func(name string) { tt.answer(in, name) })
			}
			start := time.Now()
			r := f.Scan(scanCtx(t, deadline), testMessage(7))
			took := time.Since(start)
			if r.Verdict != Timeout || !errors.Is(r.Err, context.DeadlineExceeded) || !strings.Contains(r.Err.Error(), tt.why) {
				t.Fatalf("got %s %v, want timeout (%s)", r.Verdict, r.Err, tt.why)
			}
			if took > deadline+time.Second {
				t.Errorf("took %v, want at most the deadline %v + 1 s", took, deadline)
			}
			t.Logf("timeout after %v (deadline %v)", took, deadline)
			checkEmpty(t, in, out)
		})
	}
}

func TestFolderSpecTimeout(t *testing.T) {
	f, _, _ := newTestFolder(t, Spec{Timeout: 200 * time.Millisecond}, true)
	r := f.Scan(t.Context(), testMessage(8))
	if r.Verdict != Timeout || r.Duration > 1200*time.Millisecond {
		t.Fatalf("got %s %v after %v, want timeout after 200ms", r.Verdict, r.Err, r.Duration)
	}
}

func TestFolderCancel(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := f.Scan(ctx, testMessage(9))
	if r.Verdict != Error || !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("got %s %v, want error, context.Canceled", r.Verdict, r.Err)
	}
	checkEmpty(t, in, out)
}

func TestFolderLateAnswer(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	hold := t.TempDir()
	taken := make(chan string, 1)
	runFake(t, in, func(name string) {
		if err := os.Rename(filepath.Join(in, name), filepath.Join(hold, name)); err != nil {
			t.Error(err)
		}
		taken <- name
	})
	r := f.Scan(scanCtx(t, 300*time.Millisecond), testMessage(10))
	if r.Verdict != Timeout {
		t.Fatalf("got %s %v, want timeout", r.Verdict, r.Err)
	}
	name := <-taken
	// The filter answers after the deadline: the watcher removes it.
	if err := os.Rename(filepath.Join(hold, name), filepath.Join(out, name)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, out, name, 5*time.Second)
	checkEmpty(t, in, out)
}

func TestFolderSweep(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	old := time.Now().Add(-2 * time.Hour)
	files := map[string]bool{ // path → removed by the sweep
		filepath.Join(in, "sluice-0123456789abcdef0123456789abcdef.eml"):   true,
		filepath.Join(in, ".sluice-0123456789abcdef0123456789abcdef.tmp"):  true,
		filepath.Join(out, "sluice-00000000000000000000000000000000.eml"):  true,
		filepath.Join(out, "sluice-11111111111111111111111111111111.eml"):  false, // recent
		filepath.Join(in, "other.eml"):                                     false, // not ours
		filepath.Join(out, ".sluice-00000000000000000000000000000000.tmp"): false, // ours only in in
	}
	for p := range files {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p, "1111") {
			os.Chtimes(p, old, old)
		}
	}
	// The answer of an abandoned scan that the watcher missed.
	late := "sluice-22222222222222222222222222222222.eml"
	os.WriteFile(filepath.Join(out, late), nil, 0o600)
	files[filepath.Join(out, late)] = true
	f.forget(late, true)

	f.sweep()
	for p, removed := range files {
		_, err := os.Stat(p)
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v", p, gone, removed)
		}
	}
}

func TestFolderConcurrent(t *testing.T) {
	const n = 20
	f, in, out := newTestFolder(t, Spec{}, true)
	runFake(t, in, func(name string) {
		b, err := os.ReadFile(filepath.Join(in, name))
		if err != nil {
			t.Error(err)
			return
		}
		// Answer out of order.
		time.Sleep(time.Duration(name[len("sluice-")]%5) * 10 * time.Millisecond)
		os.Remove(filepath.Join(in, name))
		deliver(t, out, name, append([]byte("X-Seen: yes\r\n"), b...))
	})
	var wg sync.WaitGroup
	results := make([]Result, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() { results[i] = f.Scan(scanCtx(t, 20*time.Second), testMessage(100+i)) })
	}
	wg.Wait()
	t.Logf("%d concurrent scans: %v", n, time.Since(start))
	for i, r := range results {
		want := append([]byte("X-Seen: yes\r\n"), testMessage(100+i)...)
		if r.Verdict != Clean || !bytes.Equal(r.Modified, want) {
			t.Errorf("scan %d: got %s %v %q, want its own message back", i, r.Verdict, r.Err, r.Modified)
		}
	}
	checkEmpty(t, in, out)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) != 0 {
		t.Errorf("%d waiters left", len(f.waiters))
	}
}

func TestFolderBadAnswer(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("From: root\r\n\r\nsecret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		answer func(t *testing.T, out, name string)
	}{
		{"over max_bytes", func(t *testing.T, out, name string) {
			deliver(t, out, name, bytes.Repeat([]byte("x"), 1001))
		}},
		{"symbolic link", func(t *testing.T, out, name string) {
			if err := os.Symlink(secret, filepath.Join(out, name)); err != nil {
				t.Error(err)
			}
		}},
		{"fifo (mkfifo)", func(t *testing.T, out, name string) {
			// mkfifo(1) rather than syscall.Mkfifo, which Windows lacks.
			tmp := filepath.Join(out, ".fifo.tmp")
			if b, err := exec.Command("mkfifo", tmp).CombinedOutput(); err != nil {
				t.Errorf("mkfifo: %v %s", err, b)
			}
			os.Rename(tmp, filepath.Join(out, name))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasSuffix(tt.name, "(mkfifo)") {
				if _, err := exec.LookPath("mkfifo"); err != nil {
					t.Skip("no mkfifo")
				}
			}
			f, in, out := newTestFolder(t, Spec{MaxBytes: 1000}, true)
			runFake(t, in, func(name string) {
				os.Remove(filepath.Join(in, name))
				tt.answer(t, out, name)
			})
			r := f.Scan(scanCtx(t, 5*time.Second), testMessage(11))
			if r.Verdict != Error || !errors.Is(r.Err, ErrBadOutput) || r.Modified != nil {
				t.Fatalf("got %s %v, want error, ErrBadOutput", r.Verdict, r.Err)
			}
			checkEmpty(t, in, out)
		})
	}
	if b, err := os.ReadFile(secret); err != nil || !bytes.Contains(b, []byte("secret")) {
		t.Errorf("the link's target was touched: %q %v", b, err)
	}
}

func TestFolderClose(t *testing.T) {
	f, in, out := newTestFolder(t, Spec{}, true)
	done := make(chan Result, 1)
	go func() { done <- f.Scan(scanCtx(t, 10*time.Second), testMessage(12)) }()
	// Close once the scan waits.
	waitFile(t, in, 5*time.Second)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.Verdict != Error || !errors.Is(r.Err, errFolderClosed) {
			t.Errorf("waiting scan: got %s %v, want error, closed", r.Verdict, r.Err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a waiting scan did not end at Close")
	}
	if r := f.Scan(t.Context(), testMessage(13)); r.Verdict != Error || !errors.Is(r.Err, errFolderClosed) {
		t.Errorf("scan after Close: got %s %v, want error, closed", r.Verdict, r.Err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkEmpty(t, in, out)
}

// waitFile waits, with fsnotify, until dir holds a message (a name that
// does not start with ".").
func waitFile(t *testing.T, dir string, limit time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		for _, name := range leftovers(t, dir) {
			if !strings.HasPrefix(name, ".") {
				return
			}
		}
		select {
		case <-w.Events:
		case <-timer.C:
			t.Fatalf("no message in %s after %v", dir, limit)
		}
	}
}

func TestNewFolderErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o700)
	os.Mkdir(b, 0o700)
	for _, tt := range []struct {
		in, out, want string
	}{
		{"", b, "in is required"},
		{a, "", "out is required"},
		{filepath.Join(dir, "missing"), b, "in folder must exist"},
		{a, filepath.Join(dir, "missing"), "out folder must exist"},
		{file, b, "is not a folder"},
		{a, a + "/.", "the same folder"},
	} {
		_, err := newFolder(Spec{Kind: "folder", In: tt.in, Out: tt.out})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "handoff: folder: ") {
			t.Errorf("in %q out %q: got %v, want %q", tt.in, tt.out, err, tt.want)
		}
	}
	s, err := newScanner(Spec{Kind: "folder", In: a, Out: b})
	if err != nil {
		t.Fatalf("newScanner: %v", err)
	}
	if _, ok := s.(interface{ Close() error }); !ok {
		t.Error("the folder scanner is no io.Closer")
	}
}

func TestFolderLogEntry(t *testing.T) {
	for _, tt := range []struct {
		line, want string
		ok         bool
	}{
		{"0000162A 00000001 scanned x: clean\n", "scanned x: clean", true},
		{"0000162A 00000001 crlf\r\n", "crlf", true},
		{"0000162a 0000abcd   spaced  \n", "spaced", true},
		{"0000162A 00000001\n", "", false},
		{"0000162A 00000001   \n", "", false},
		{"  \r\n", "", false},
		{"free text\n", "malformed: free text", true},
		{"0000162A 0000001 seven digits\n", "malformed: 0000162A 0000001 seven digits", true},
		{"0000162A 000000012 nine digits\n", "malformed: 0000162A 000000012 nine digits", true},
		{"bad \xff utf-8\n", "malformed: bad \uFFFD utf-8", true},
	} {
		got, ok := folderLogEntry(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("folderLogEntry(%q) = %q, %v, want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// folderSample reads shared/tools/samples/NAME, or skips the test.
func folderSample(t *testing.T, name string) []byte {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "tools", "samples")
	if s := os.Getenv("SLUICE_SHARED"); s != "" {
		dir = filepath.Join(s, "tools", "samples")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Skipf("sample message: %v (set SLUICE_SHARED)", err)
	}
	return b
}

// TestFolderRealFilter runs examples/folder-filter, with the real
// clamscan, against the scanner.
func TestFolderRealFilter(t *testing.T) {
	if _, err := exec.LookPath("clamscan"); err != nil {
		t.Skip("clamscan not installed (shared/tools/install-filters.sh): skipping")
	}
	db := os.Getenv("CLAMAV_TEST_DB")
	if db == "" {
		db = "/var/lib/clamav-test"
	}
	if _, err := os.Stat(db); err != nil {
		t.Skipf("no EICAR test database: %v", err)
	}
	eicar, clean := folderSample(t, "eicar.eml"), folderSample(t, "clean.eml")
	bin := filepath.Join(t.TempDir(), "folder-filter")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/folder-filter").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, in, out := newTestFolder(t, Spec{Timeout: 30 * time.Second}, false)
	cmd := exec.Command(bin, "-in", in, "-out", out, "-clamscan-db", db)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("folder-filter: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("folder-filter did not stop on SIGTERM")
		}
		if _, err := os.Stat(filepath.Join(in, folderActive)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("in/.active after the filter stopped: %v", err)
		}
	})
	waitActive(t, in, 10*time.Second)

	r := f.Scan(t.Context(), eicar)
	t.Logf("EICAR through folder-filter + clamscan: %v", r.Duration)
	if r.Verdict != Clean || r.Modified == nil {
		t.Fatalf("EICAR: got %s %v modified=%v, want a rewritten message", r.Verdict, r.Err, r.Modified != nil)
	}
	if !bytes.Contains(r.Modified, []byte("X-Virus: Eicar-Test-Signature")) || bytes.Contains(r.Modified, []byte("eicar.com")) {
		t.Errorf("EICAR rewritten into:\n%s", r.Modified)
	}
	if !logHas(r.Log, ": infected (Eicar-Test-Signature") {
		t.Errorf("EICAR log %q, want the filter's line", r.Log)
	}
	m, err := mail.ReadMessage(bytes.NewReader(r.Modified))
	if err != nil {
		t.Fatalf("the rewritten message does not parse: %v", err)
	}
	if ct, _, err := mime.ParseMediaType(m.Header.Get("Content-Type")); ct != "text/plain" || err != nil {
		t.Errorf("rewritten Content-Type %q (%v), want text/plain", m.Header.Get("Content-Type"), err)
	}
	if got := m.Header.Get("Subject"); got != "Quarterly report attached" {
		t.Errorf("rewritten Subject %q, want the original", got)
	}

	r = f.Scan(t.Context(), clean)
	t.Logf("clean message through folder-filter + clamscan: %v", r.Duration)
	if r.Verdict != Clean || r.Modified != nil || r.Err != nil {
		t.Fatalf("clean: got %s %v modified=%v, want clean, unchanged", r.Verdict, r.Err, r.Modified != nil)
	}
	if !logHas(r.Log, ": clean") {
		t.Errorf("clean log %q, want the filter's line", r.Log)
	}
	checkEmpty(t, in, out)
}

func logHas(log []string, s string) bool {
	for _, l := range log {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// waitActive waits, with fsnotify, for in/.active.
func waitActive(t *testing.T, in string, limit time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(in); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		if _, err := os.Stat(filepath.Join(in, folderActive)); err == nil {
			return
		}
		select {
		case <-w.Events:
		case <-timer.C:
			t.Fatalf("no %s after %v", folderActive, limit)
		}
	}
}

func TestFolderOutReplaced(t *testing.T) {
	// An operator replaces the out folder by a new one: the next scans
	// watch the new one.
	f, in, out := newTestFolder(t, Spec{}, true)
	runFake(t, in, func(name string) {
		os.Rename(filepath.Join(in, name), filepath.Join(out, name))
	})
	if r := f.Scan(scanCtx(t, 5*time.Second), testMessage(14)); r.Verdict != Clean {
		t.Fatalf("first scan: got %s %v, want clean", r.Verdict, r.Err)
	}
	old := out + ".old"
	if err := os.Rename(out, old); err != nil {
		t.Fatal(err)
	}
	// While out is missing, scans fail at once.
	if r := f.Scan(scanCtx(t, 5*time.Second), testMessage(15)); r.Verdict != Error || !strings.Contains(r.Err.Error(), "out folder") {
		t.Errorf("scan without out: got %s %v, want error about out", r.Verdict, r.Err)
	}
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	if r := f.Scan(scanCtx(t, 5*time.Second), testMessage(16)); r.Verdict != Clean {
		t.Fatalf("scan after out was replaced: got %s %v, want clean", r.Verdict, r.Err)
	}
	checkEmpty(t, in, out)
}
