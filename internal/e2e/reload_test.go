package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// versionScript is a stage that marks a message with its version in both
// of its hooks: a message that started on one generation and finished on
// another would show two different versions.
func versionScript(v string) string {
	return fmt.Sprintf(`local V = %q
function on_data(msg) msg:set_header("X-Rule-Data", V) end
function on_queue(msg) msg:set_header("X-Rule-Queue", V) end
`, v)
}

const reloadConfig = `
[server]
hostname = "mx.test"
listen = ["127.0.0.1:0"]

[store]
dir = "data"

[domains]
local = ["localhost", "local.test"]

[[stage]]
name = "version"
script = "version.lua"
`

// saveLikeEditor replaces name in dir the way editors save: a new file
// written beside it, then renamed over it.
func saveLikeEditor(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".swp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// rulesStatus is the "rules" part of the control socket's status reply.
type rulesStatus struct {
	Generation int      `json:"generation"`
	Version    string   `json:"version"`
	Error      string   `json:"error"`
	Restart    []string `json:"restart_needed"`
	Took       string   `json:"took"`
	Open       int      `json:"open_generations"`
}

// controlClient speaks to the server's control socket directly, so that
// polling it costs no process start.
type controlClient struct {
	c  net.Conn
	rd *bufio.Reader
}

func (s *Server) control(t testing.TB) *controlClient {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(s.Dir, "data", "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &controlClient{c: c, rd: bufio.NewReader(c)}
}

func (cc *controlClient) rules(t testing.TB) rulesStatus {
	t.Helper()
	cc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := cc.c.Write([]byte(`{"cmd":"status"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	line, err := cc.rd.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Data  struct {
			Rules rulesStatus `json:"rules"`
		} `json:"data"`
	}
	if err := json.Unmarshal(line, &rep); err != nil || !rep.OK {
		t.Fatalf("status: %s (%v)", line, err)
	}
	return rep.Data.Rules
}

// waitGeneration polls until generation gen serves, and returns how long
// that took.
func (cc *controlClient) waitGeneration(t testing.TB, gen int, start time.Time) time.Duration {
	t.Helper()
	for {
		st := cc.rules(t)
		if st.Generation >= gen {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("generation %d not live after 10 s; status %+v", gen, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReloadUnderLoad: while smtp-source keeps 10 sessions busy, the
// script is saved 50 times, alternating two versions. No message is lost
// or refused, every message carries the same version from on_data and
// on_queue (a message finishes on the generation it started with), both
// versions handled mail, and each save went live on its own (the time
// from save to live is logged).
func TestReloadUnderLoad(t *testing.T) {
	src := need(t, "smtp-source")
	s := startWithFiles(t, reloadConfig, map[string]string{"version.lua": versionScript("A")})
	cc := s.control(t)
	if st := cc.rules(t); st.Generation != 1 {
		t.Fatalf("status at start: %+v", st)
	}

	const batch = 100
	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		sent    int
		failure string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := exec.Command(src, "-s", "10", "-m", fmt.Sprint(batch), "-c", "-f", "a@example.org", "-t", "bob@local.test", s.Addr).CombinedOutput()
			mu.Lock()
			if err != nil || strings.Contains(string(out), "error") {
				failure = fmt.Sprintf("smtp-source: %v\n%s", err, out)
				mu.Unlock()
				return
			}
			sent += batch
			mu.Unlock()
		}
	}()

	const reloads = 50
	var took []time.Duration
	for i := 0; i < reloads; i++ {
		v := "B"
		if i%2 == 1 {
			v = "A"
		}
		start := time.Now()
		saveLikeEditor(t, s.Dir, "version.lua", versionScript(v))
		took = append(took, cc.waitGeneration(t, i+2, start))
		time.Sleep(40 * time.Millisecond) // let some mail through on this one
	}
	close(stop)
	wg.Wait()
	if failure != "" {
		t.Fatal(failure)
	}
	if st := cc.rules(t); st.Generation != reloads+1 || st.Error != "" {
		t.Fatalf("status after %d saves: %+v (each save must make exactly one generation)", reloads, st)
	}

	s.WaitMaildir("bob@local.test", "", sent, 60*time.Second)
	time.Sleep(200 * time.Millisecond) // a duplicate would show up now
	files := s.Maildir("bob@local.test", "")
	if len(files) != sent {
		t.Fatalf("%d messages delivered, %d sent\n%s", len(files), sent, tail(s.Log(), 2000))
	}
	dataRE := regexp.MustCompile(`(?m)^X-Rule-Data: (\S+)$`)
	queueRE := regexp.MustCompile(`(?m)^X-Rule-Queue: (\S+)$`)
	count := map[string]int{}
	for _, f := range files {
		b := readFile(t, f)
		d, q := dataRE.FindStringSubmatch(b), queueRE.FindStringSubmatch(b)
		if d == nil || q == nil {
			t.Fatalf("%s: a version header is missing:\n%s", f, b)
		}
		if d[1] != q[1] {
			t.Errorf("%s: on_data ran version %s, on_queue version %s", filepath.Base(f), d[1], q[1])
		}
		count[d[1]]++
	}
	if count["A"] == 0 || count["B"] == 0 {
		t.Errorf("versions seen %v: both should have handled mail", count)
	}
	if strings.Contains(s.Log(), "reload failed") {
		t.Errorf("a reload failed:\n%s", grepLines(s.Log(), "reload failed"))
	}
	// Every old generation closed once its messages were through.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := cc.rules(t)
		if st.Open == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d generations still open after the queue drained, want 1", st.Open)
			break
		}
	}
	slices.Sort(took)
	t.Logf("%d messages over %d reloads: versions %v; save to live p50 %v, p90 %v, max %v",
		sent, reloads, count, took[len(took)/2].Round(time.Millisecond/10),
		took[len(took)*9/10].Round(time.Millisecond/10), took[len(took)-1].Round(time.Millisecond/10))
}

// TestReloadBroken: a broken script or configuration never replaces the
// rules in force. The error, with file:line, is logged, returned by sluice
// reload (exit 1) and shown by sluice status until fixed; mail keeps
// flowing on the last good generation. SIGHUP reloads too, and a changed
// listener is reported as needing a restart.
func TestReloadBroken(t *testing.T) {
	s := startWithFiles(t, reloadConfig, map[string]string{"version.lua": versionScript("A")})
	cc := s.control(t)
	version := func(id string) string {
		t.Helper()
		var f string
		for deadline := time.Now().Add(10 * time.Second); f == "" && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			f = findByID(t, s.Maildir("bob@local.test", ""), id)
		}
		if f == "" {
			t.Fatalf("message %s not delivered", id)
		}
		m := regexp.MustCompile(`(?m)^X-Rule-Data: (\S+)$`).FindStringSubmatch(readFile(t, f))
		if m == nil {
			t.Fatalf("no version header in %s", f)
		}
		return m[1]
	}
	waitLog := func(needle string, n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); strings.Count(s.Log(), needle) < n; {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", needle, tail(s.Log(), 2000))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// A syntax error: the save is refused with file:line, A stays.
	saveLikeEditor(t, s.Dir, "version.lua", "local V = \"B\"\nfunction on_data(msg)\n  msg:set_header(\"X-Rule-Data\", V\nend\n")
	waitLog("reload failed", 1)
	st := cc.rules(t)
	if st.Generation != 1 || !strings.Contains(st.Error, "version.lua:4:") {
		t.Fatalf("after a broken save, status %+v; want generation 1 and the error at version.lua:4", st)
	}
	out, err := s.Sluice("status")
	if exitCode(err) != 1 || !strings.Contains(out, "last reload FAILED") || !strings.Contains(out, "version.lua:4:") {
		t.Errorf("sluice status with a failed reload: exit %d\n%s", exitCode(err), out)
	}
	out, err = s.Sluice("reload")
	if exitCode(err) != 1 || !strings.Contains(out, "version.lua:4:") {
		t.Errorf("sluice reload of a broken script: exit %d\n%s", exitCode(err), out)
	}
	if v := version(sendOne(t, s.Addr, "bob@local.test", "still A")); v != "A" {
		t.Errorf("message after the broken save ran version %s, want A", v)
	}

	// A runtime error at load (not a syntax error) is refused the same way.
	saveLikeEditor(t, s.Dir, "version.lua", "local t = nil\nlocal x = t.field\nfunction on_data(msg) end\n")
	waitLog("reload failed", 3)
	if st := cc.rules(t); st.Generation != 1 || !strings.Contains(st.Error, "version.lua:2") {
		t.Fatalf("after a script failing at load, status %+v", st)
	}

	// A broken configuration: file:line, A stays.
	good := readFile(t, filepath.Join(s.Dir, "sluice.toml"))
	saveLikeEditor(t, s.Dir, "sluice.toml", good+"\n[[stage]]\nname = \"x\"\nscript = \n")
	waitLog("reload failed", 4)
	if st := cc.rules(t); st.Generation != 1 || !strings.Contains(st.Error, "sluice.toml:") {
		t.Fatalf("after a broken configuration, status %+v", st)
	}
	// The broken file still locates the server for status and reload.
	out, err = s.Sluice("status")
	if exitCode(err) != 1 || !strings.Contains(out, "warning: sluice.toml:") || !strings.Contains(out, "last reload FAILED") {
		t.Errorf("sluice status with the configuration broken: exit %d\n%s", exitCode(err), out)
	}
	saveLikeEditor(t, s.Dir, "sluice.toml", good)

	// Fixed: B goes live, the error is gone.
	saveLikeEditor(t, s.Dir, "version.lua", versionScript("B"))
	cc.waitGeneration(t, 2, time.Now())
	if st := cc.rules(t); st.Error != "" {
		t.Errorf("error kept after a good reload: %+v", st)
	}
	if out, err := s.Sluice("status"); err != nil || strings.Contains(out, "FAILED") {
		t.Errorf("sluice status after the fix: %v\n%s", err, out)
	}
	if v := version(sendOne(t, s.Addr, "bob@local.test", "now B")); v != "B" {
		t.Errorf("message after the fix ran version %s, want B", v)
	}

	// SIGHUP and sluice reload make a new generation each.
	before := cc.rules(t).Generation
	s.cmd.Process.Signal(syscall.SIGHUP)
	cc.waitGeneration(t, before+1, time.Now())
	out, err = s.Sluice("reload")
	if err != nil || !strings.Contains(out, fmt.Sprintf("reloaded: generation %d", before+2)) {
		t.Errorf("sluice reload: %v\n%s", err, out)
	}

	// A new local domain is live at once: RCPT to it is accepted.
	d, _ := dial(t, s.Addr)
	d.expect("EHLO client.test", "250")
	d.expect("MAIL FROM:<a@example.org>", "250")
	d.expect("RCPT TO:<bob@new.test>", "550")
	d.cmd("QUIT")
	withDomain := strings.Replace(good, `local = ["localhost", "local.test"]`, `local = ["localhost", "local.test", "new.test"]`, 1)
	saveLikeEditor(t, s.Dir, "sluice.toml", withDomain)
	cc.waitGeneration(t, before+3, time.Now())
	if st := cc.rules(t); len(st.Restart) != 0 {
		t.Errorf("a new local domain reported as needing a restart: %+v", st)
	}
	sendOne(t, s.Addr, "bob@new.test", "new domain")
	if files := s.WaitMaildir("bob@new.test", "", 1, 10*time.Second); len(files) != 1 {
		t.Errorf("bob@new.test got %d messages, want 1", len(files))
	}

	// A listener change is not applied live, and said so.
	saveLikeEditor(t, s.Dir, "sluice.toml", strings.Replace(withDomain, `hostname = "mx.test"`, `hostname = "mx2.test"`, 1))
	cc.waitGeneration(t, before+4, time.Now())
	if st := cc.rules(t); !slices.Contains(st.Restart, "server.hostname: mx.test → mx2.test") {
		t.Errorf("a changed server.hostname is not reported as needing a restart: %+v", st)
	}
	if !s.WaitLog("changed setting needs a restart", 5*time.Second) {
		t.Errorf("no warning in the log about the setting that needs a restart")
	}
}
