package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sluiceBin is the binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "../../cmd/sluice")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a running `sluice serve` in its own folder.
type Server struct {
	t    testing.TB
	Dir  string // working folder: sluice.toml, data/
	Addr string // SMTP address, host:port
	LMTP string // LMTP address when configured
	cmd  *exec.Cmd

	mu  sync.Mutex
	log strings.Builder
}

// Config is the sluice.toml template; {{dir}} is replaced by the folder.
// Listen on 127.0.0.1:0: the harness reads the real port from the log.
const DefaultConfig = `
[server]
hostname = "mx.test"
listen = ["127.0.0.1:0"]

[store]
dir = "data"

[domains]
local = ["localhost", "local.test"]
`

// Start writes cfg as sluice.toml in a new folder and starts the server.
func Start(t testing.TB, cfg string) *Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sluice.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Dir: dir}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

var listenRE = regexp.MustCompile(`msg=listening proto=(smtp|lmtp) addr=(\S+)`)

// start runs the binary in s.Dir and waits until it listens.
func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(sluiceBin, "serve", "--config", "sluice.toml")
	s.cmd.Dir = s.Dir
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				if m[1] == "smtp" {
					s.Addr = m[2]
				} else {
					s.LMTP = m[2]
				}
			}
			if !signalled && strings.Contains(line, "sluice serving") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		s.t.Fatalf("sluice did not start:\n%s", s.Log())
	}
}

// Log returns what the server logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop ends the server with SIGTERM (and SIGKILL after 10 s).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again in the same folder (after Kill or Stop).
func (s *Server) Restart() {
	s.t.Helper()
	s.Addr, s.LMTP = "", ""
	s.start()
}

// Sluice runs another sluice command (queue list, quarantine …) in s.Dir.
func (s *Server) Sluice(args ...string) (string, error) {
	cmd := exec.Command(sluiceBin, append(args[:1:1], append([]string{"--config", "sluice.toml"}, args[1:]...)...)...)
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Maildir returns the files delivered to addr's folder ("" = INBOX),
// in new/ and cur/.
func (s *Server) Maildir(addr, folder string) []string {
	at := strings.LastIndexByte(addr, '@')
	base := filepath.Join(s.Dir, "data", "mail", addr[at+1:], addr[:at])
	if folder != "" && !strings.EqualFold(folder, "INBOX") {
		base = filepath.Join(base, "."+folder)
	}
	var files []string
	for _, sub := range []string{"new", "cur"} {
		m, _ := filepath.Glob(filepath.Join(base, sub, "*"))
		files = append(files, m...)
	}
	return files
}

// WaitLog waits until the server's log holds substr: what the server
// wrote reaches the log through a pipe, a moment after it wrote it.
func (s *Server) WaitLog(substr string, timeout time.Duration) bool {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.Log(), substr) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// WaitMaildir waits until addr's folder holds at least n messages.
func (s *Server) WaitMaildir(addr, folder string, n int, timeout time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		files := s.Maildir(addr, folder)
		if len(files) >= n || time.Now().After(deadline) {
			return files
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// need skips the test when a program is missing.
func need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
			if _, err := os.Stat(filepath.Join(dir, prog)); err == nil {
				return filepath.Join(dir, prog)
			}
		}
		t.Skipf("%s is not installed (make test installs it on Debian): skipping", prog)
	}
	return p
}
