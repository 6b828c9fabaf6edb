package handoff

// Shared helpers for the tests against the real filter daemons (clamd,
// spamd, rspamd) started by shared/tools/install-filters.sh, and for fake
// daemons on 127.0.0.1:0.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test daemons' addresses, as install-filters.sh sets them up
// (MAILFILTER_RUN_DIR, CLAMD_TCP_PORT, SPAMD_TCP_PORT and RSPAMD_TCP_PORT
// move them, for the script and for these tests alike).
var (
	daemonRunDir   = daemonEnv("MAILFILTER_RUN_DIR", "/tmp/mailfilters")
	clamdUnixAddr  = "unix:" + filepath.Join(daemonRunDir, "clamd.sock")
	clamdTCPAddr   = "127.0.0.1:" + daemonEnv("CLAMD_TCP_PORT", "3310")
	spamdUnixAddr  = "unix:" + filepath.Join(daemonRunDir, "spamd.sock")
	spamdTCPAddr   = "127.0.0.1:" + daemonEnv("SPAMD_TCP_PORT", "7830")
	rspamdUnixAddr = "unix:" + filepath.Join(daemonRunDir, "rspamd.sock")
	rspamdTCPAddr  = "127.0.0.1:" + daemonEnv("RSPAMD_TCP_PORT", "11433")
)

func daemonEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// daemonToolsDir finds shared/tools: $SLUICE_SHARED/tools, else
// ../../shared/tools from the package folder. "" if neither exists.
func daemonToolsDir() string {
	dirs := []string{filepath.Join("..", "..", "shared", "tools")}
	if s := os.Getenv("SLUICE_SHARED"); s != "" {
		dirs = append([]string{filepath.Join(s, "tools")}, dirs...)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "install-filters.sh")); err == nil {
			return d
		}
	}
	return ""
}

// daemonSample reads shared/tools/samples/NAME, or skips the test.
func daemonSample(tb testing.TB, name string) []byte {
	tb.Helper()
	dir := daemonToolsDir()
	if dir == "" {
		tb.Skip("shared/tools not found (set SLUICE_SHARED): no sample messages")
	}
	b, err := os.ReadFile(filepath.Join(dir, "samples", name))
	if err != nil {
		tb.Skipf("sample message: %v (run shared/tools/install-filters.sh)", err)
	}
	return b
}

// daemonPing checks that the daemon of kind answers at addr.
func daemonPing(kind, addr string) error {
	s, err := newScanner(Spec{Kind: kind, Address: addr})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return s.(Pinger).Ping(ctx)
}

var (
	daemonsOnce  sync.Once
	daemonsStart string // what starting the daemons said, for skip messages
)

// daemonAddrs lists the addresses the tests use, per daemon.
var daemonAddrs = map[string][]string{
	"clamd":  {clamdUnixAddr, clamdTCPAddr},
	"spamd":  {spamdUnixAddr, spamdTCPAddr},
	"rspamd": {rspamdTCPAddr, rspamdUnixAddr},
}

// startDaemons runs install-filters.sh --start-daemons, once per test
// binary, for the daemons that do not answer, when running as root and the
// script exists.
func startDaemons() {
	var down []string
	for _, kind := range []string{"clamd", "spamd", "rspamd"} {
		for _, addr := range daemonAddrs[kind] {
			if daemonPing(kind, addr) != nil {
				down = append(down, kind)
				break
			}
		}
	}
	if len(down) == 0 {
		return
	}
	dir := daemonToolsDir()
	switch {
	case dir == "":
		daemonsStart = "install-filters.sh not found (set SLUICE_SHARED)"
		return
	case os.Geteuid() != 0:
		daemonsStart = "not root: cannot start them; run `sudo shared/tools/install-filters.sh --start-daemons --daemons all`"
		return
	}
	args := []string{"--start-daemons", "--no-postfix", "--daemons", strings.Join(down, ",")}
	if !strings.Contains(strings.Join(down, ","), "rspamd") {
		args = append(args, "--no-rspamd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "install-filters.sh"), args...).CombinedOutput()
	daemonsStart = "install-filters.sh " + strings.Join(args, " ")
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		daemonsStart += ": " + err.Error() + ": " + lines[len(lines)-1]
	}
}

// needDaemon skips the test unless the daemon of kind ("clamd", "spamd",
// "rspamd") answers at addr, after trying once to start the test daemons.
func needDaemon(tb testing.TB, kind, addr string) {
	tb.Helper()
	daemonsOnce.Do(startDaemons)
	if err := daemonPing(kind, addr); err != nil {
		note := ""
		if daemonsStart != "" {
			note = " (tried: " + daemonsStart + ")"
		}
		tb.Skipf("%s not answering at %s: %v%s", kind, addr, err, note)
	}
}

// daemonClosedAddr is a TCP address on which nothing listens.
func daemonClosedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakeDaemon listens on 127.0.0.1:0 and runs serve on each connection in
// its own goroutine. Cleanup closes the listener and every connection and
// waits for the goroutines.
func fakeDaemon(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards conns and closed
		conns  []net.Conn
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// checkDaemonResult compares the parts of a Result that a test cares about.
func checkDaemonResult(t *testing.T, got Result, want Verdict, name string) {
	t.Helper()
	if got.Verdict != want || got.Name != name {
		t.Errorf("got verdict %q name %q (err %v), want %q name %q", got.Verdict, got.Name, got.Err, want, name)
	}
	if (got.Err != nil) != (want == Error || want == Timeout) {
		t.Errorf("verdict %q with err %v", got.Verdict, got.Err)
	}
}
