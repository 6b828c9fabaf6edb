package main

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestRewrite(t *testing.T) {
	for _, tt := range []struct {
		name, msg, nl string
	}{
		{"multipart, LF", "From: a@example.org\nSubject: report\nMIME-Version: 1.0\nContent-Type: multipart/mixed;\n boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nhi\n--b1--\n", "\n"},
		{"CRLF", "From: a@example.org\r\nSubject: report\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n", "\r\n"},
		{"forged X-Virus", "From: a@example.org\r\nX-Virus: none\r\nSubject: report\r\n\r\nbody\r\n", "\r\n"},
		{"header only", "From: a@example.org\nSubject: report\n", "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rewrite([]byte(tt.msg), "Test.Virus")
			m, err := mail.ReadMessage(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("rewritten message does not parse: %v\n%s", err, got)
			}
			for field, want := range map[string]string{
				"From":                      "a@example.org",
				"Subject":                   "report",
				"X-Virus":                   "Test.Virus",
				"MIME-Version":              "1.0",
				"Content-Transfer-Encoding": "7bit",
			} {
				if v := m.Header[textproto.CanonicalMIMEHeaderKey(field)]; len(v) != 1 || v[0] != want {
					t.Errorf("%s: got %q, want [%q]", field, v, want)
				}
			}
			if ct, _, err := mime.ParseMediaType(m.Header.Get("Content-Type")); ct != "text/plain" || err != nil {
				t.Errorf("Content-Type %q (%v), want text/plain", m.Header.Get("Content-Type"), err)
			}
			if bytes.Contains(got, []byte("boundary")) || bytes.Contains(got, []byte("AAAA")) {
				t.Errorf("the original content is still there:\n%s", got)
			}
			lf := bytes.Count(got, []byte("\n"))
			if crlf := bytes.Count(got, []byte("\r\n")); (tt.nl == "\r\n") != (crlf == lf) || (tt.nl == "\n" && crlf != 0) {
				t.Errorf("line endings: %d CRLF of %d lines, want all %q:\n%q", crlf, lf, tt.nl, got)
			}
		})
	}
}

// stubClamscan stands in for clamscan, with its exit codes and output:
// a message with "X-Test: infected" is infected, one with "X-Test: broken"
// cannot be scanned.
const stubClamscan = `#!/bin/sh
for f; do :; done
if grep -q '^X-Test: infected' "$f"; then echo "$f: Stub-Test-Virus FOUND"; exit 1; fi
if grep -q '^X-Test: broken' "$f"; then echo "ERROR: cannot scan $f" >&2; exit 2; fi
echo "$f: OK"
`

// logLine is a well-formed entry of the log file.
var logLine = regexp.MustCompile(`^[0-9A-F]{8} [0-9A-F]{8} \S.*$`)

// TestFolderFilter runs the program with a stand-in for clamscan: the
// protocol, from the filter's side.
func TestFolderFilter(t *testing.T) {
	stub := filepath.Join(t.TempDir(), "clamscan")
	if err := os.WriteFile(stub, []byte(stubClamscan), 0o755); err != nil {
		t.Fatal(err)
	}
	in, out := start(t, "-clamscan", stub)

	clean := []byte("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n")
	drop(t, in, "clean.eml", clean)
	if got := answer(t, out, "clean.eml"); !bytes.Equal(got, clean) {
		t.Errorf("clean message came back as %q, want it unchanged", got)
	}

	drop(t, in, "bad.eml", []byte("From: a@example.org\r\nX-Test: infected\r\nContent-Type: text/plain\r\n\r\nbad\r\n"))
	got := answer(t, out, "bad.eml")
	if !bytes.Contains(got, []byte("\r\nX-Virus: Stub-Test-Virus\r\n")) || bytes.Contains(got, []byte("\r\nbad\r\n")) {
		t.Errorf("infected message came back as %q, want the notice", got)
	}

	// No answer for a message that cannot be scanned: it leaves in, and the
	// log says why.
	drop(t, in, "broken.eml", []byte("From: a@example.org\r\nX-Test: broken\r\n\r\nx\r\n"))
	waitFor(t, out, func() bool { return bytes.Contains(readLog(t, out), []byte("scan failed broken.eml")) })
	waitFor(t, in, func() bool { return !exists(filepath.Join(in, "broken.eml")) })
	if exists(filepath.Join(out, "broken.eml")) {
		t.Error("a message that could not be scanned was answered")
	}

	lines := strings.Split(strings.TrimSuffix(string(readLog(t, out)), "\n"), "\n")
	want := []string{"scanned clean.eml: clean", "scanned bad.eml: infected (Stub-Test-Virus)", "scan failed broken.eml: "}
	if len(lines) != len(want) {
		t.Fatalf("log %q, want %d lines", lines, len(want))
	}
	for i, l := range lines {
		if !logLine.MatchString(l) || !strings.Contains(l, want[i]) {
			t.Errorf("log line %q, want 00000HEX 00000HEX %s…", l, want[i])
		}
	}
}

// TestFolderFilterClamscan runs the program with the real clamscan on the
// EICAR and clean samples.
func TestFolderFilterClamscan(t *testing.T) {
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
	dir := filepath.Join("..", "..", "..", "shared", "tools", "samples")
	if s := os.Getenv("SLUICE_SHARED"); s != "" {
		dir = filepath.Join(s, "tools", "samples")
	}
	eicar, err := os.ReadFile(filepath.Join(dir, "eicar.eml"))
	if err != nil {
		t.Skipf("sample messages: %v", err)
	}
	clean, err := os.ReadFile(filepath.Join(dir, "clean.eml"))
	if err != nil {
		t.Skipf("sample messages: %v", err)
	}
	in, out := start(t, "-clamscan-db", db)

	begin := time.Now()
	drop(t, in, "sluice-eicar.eml", eicar)
	got := answer(t, out, "sluice-eicar.eml")
	t.Logf("EICAR answered in %v", time.Since(begin))
	m, err := mail.ReadMessage(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, got)
	}
	if v := m.Header.Get("X-Virus"); !strings.HasPrefix(v, "Eicar-Test-Signature") {
		t.Errorf("X-Virus %q, want Eicar-Test-Signature…", v)
	}
	if m.Header.Get("Message-ID") != "<eicar-sample-1@example.org>" || bytes.Contains(got, []byte("eicar.com")) {
		t.Errorf("rewritten message:\n%s", got)
	}

	begin = time.Now()
	drop(t, in, "sluice-clean.eml", clean)
	if got := answer(t, out, "sluice-clean.eml"); !bytes.Equal(got, clean) {
		t.Errorf("clean message came back changed:\n%s", got)
	}
	t.Logf("clean answered in %v", time.Since(begin))
	log := string(readLog(t, out))
	if !strings.Contains(log, "scanned sluice-eicar.eml: infected (Eicar-Test-Signature") || !strings.Contains(log, "scanned sluice-clean.eml: clean") {
		t.Errorf("log:\n%s", log)
	}
}

// start builds the program and runs it on two new folders with args until
// the end of the test, when it is stopped with SIGTERM; it returns once
// in/.active exists.
func start(t *testing.T, args ...string) (in, out string) {
	t.Helper()
	dir := t.TempDir()
	in, out = filepath.Join(dir, "in"), filepath.Join(dir, "out")
	bin := filepath.Join(t.TempDir(), "folder-filter")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	os.Mkdir(in, 0o700)
	cmd := exec.Command(bin, append([]string{"-in", in, "-out", out}, args...)...)
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
		if exists(filepath.Join(in, ".active")) {
			t.Error("in/.active is still there after the filter stopped")
		}
	})
	waitFor(t, in, func() bool { return exists(filepath.Join(in, ".active")) })
	return in, out
}

// drop hands msg over as sluice does: a dot-file, then a rename.
func drop(t *testing.T, in, name string, msg []byte) {
	t.Helper()
	tmp := filepath.Join(in, "."+name+".tmp")
	if err := os.WriteFile(tmp, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(in, name)); err != nil {
		t.Fatal(err)
	}
}

// answer waits for out/name and returns its content.
func answer(t *testing.T, out, name string) []byte {
	t.Helper()
	waitFor(t, out, func() bool { return exists(filepath.Join(out, name)) })
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLog(t *testing.T, out string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, logName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitFor waits, with fsnotify on dir, until cond holds (10 s at most).
func waitFor(t *testing.T, dir string, cond func() bool) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for !cond() {
		select {
		case <-w.Events:
		case <-timer.C:
			t.Fatalf("waited 10 s in %s", dir)
		}
	}
}
