package e2e

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// chainConfig runs ClamAV (clamd), then SpamAssassin (spamd), then a
// Mailtraq-style folder filter (examples/folder-filter around clamscan).
const chainConfig = DefaultConfig + `
[[stage]]
name = "antivirus"
script = "av.lua"

[[stage]]
name = "spam"
script = "spam.lua"

[[stage]]
name = "folder"
script = "folder.lua"

[filter.clamav]
kind = "clamd"
address = "unix:/tmp/mailfilters/clamd.sock"

[filter.spamassassin]
kind = "spamd"
address = "unix:/tmp/mailfilters/spamd.sock"

[filter.avfolder]
kind = "folder"
in = "in"
out = "out"
timeout = "20s"
`

var chainScripts = map[string]string{
	"av.lua": `function on_data(msg)
  local r = plugin.scan("clamav", msg)
  if r.verdict == "infected" then return reject(554, "5.7.1", "virus found: " .. r.name) end
  msg:add_header("X-Chain-AV", r.verdict)
end`,
	"spam.lua": `function on_data(msg)
  local r = plugin.scan("spamassassin", msg)
  if r.verdict == "spam" and r.score >= 100 then return reject(550, "5.7.1", "spam") end
  msg:add_header("X-Chain-Spam", string.format("%s %.1f", r.verdict, r.score))
end`,
	"folder.lua": `function on_data(msg)
  local r = plugin.scan("avfolder", msg)
  msg:add_header("X-Chain-Folder", r.verdict)
end`,
}

// startChain prepares a folder with the configuration, the scripts and a
// running folder filter, or skips when the real filters are missing.
func startChain(t *testing.T) string {
	t.Helper()
	for _, sock := range []string{"/tmp/mailfilters/clamd.sock", "/tmp/mailfilters/spamd.sock"} {
		if _, err := os.Stat(sock); err != nil {
			t.Skipf("%s missing (install-filters.sh --start-daemons): skipping", sock)
		}
	}
	need(t, "clamscan")
	if _, err := os.Stat("/var/lib/clamav-test"); err != nil {
		t.Skip("no EICAR test database at /var/lib/clamav-test: skipping")
	}
	dir := t.TempDir()
	for name, src := range chainScripts {
		os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "sluice.toml"), []byte(chainConfig), 0o644)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.Mkdir(in, 0o700)
	os.Mkdir(out, 0o700)
	bin := filepath.Join(t.TempDir(), "folder-filter")
	if b, err := exec.Command("go", "build", "-o", bin, "../../examples/folder-filter").CombinedOutput(); err != nil {
		t.Fatalf("build folder-filter: %v\n%s", err, b)
	}
	ff := exec.Command(bin, "-in", in, "-out", out, "-clamscan-db", "/var/lib/clamav-test")
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ff.Process.Kill(); ff.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(in, ".active")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("folder filter did not create in/.active")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return dir
}

func samplePath(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "tools", "samples")
	if d := os.Getenv("SLUICE_SHARED"); d != "" {
		dir = filepath.Join(d, "tools", "samples")
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("sample %s missing: skipping", p)
	}
	return p
}

// The three filters chained, through sluice run.
func TestChainedFiltersRun(t *testing.T) {
	dir := startChain(t)
	for _, tt := range []struct {
		sample, verdict string
		headers         []string
	}{
		{"clean.eml", "accept", []string{"X-Chain-AV=clean", "X-Chain-Spam=ham", "X-Chain-Folder=clean"}},
		{"eicar.eml", "reject", nil},
		{"gtube.eml", "reject", nil},
	} {
		cmd := exec.Command(sluiceBin, "run", "--json", "--config", "sluice.toml", samplePath(t, tt.sample))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.sample, err, out)
		}
		var r struct {
			Verdict string
			Text    string
			Stages  []struct{ Name, Verdict, Error string }
			Headers struct{ Added [][2]string }
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if r.Verdict != tt.verdict {
			t.Errorf("%s: verdict %s (%s), want %s; stages %+v", tt.sample, r.Verdict, r.Text, tt.verdict, r.Stages)
		}
		got := map[string]string{}
		for _, h := range r.Headers.Added {
			got[h[0]] = h[1]
		}
		for _, h := range tt.headers {
			name, want, _ := strings.Cut(h, "=")
			if !strings.HasPrefix(got[name], want) {
				t.Errorf("%s: %s = %q, want %q…", tt.sample, name, got[name], want)
			}
		}
	}
}

// The same chain behind the real server.
func TestChainedFiltersServe(t *testing.T) {
	dir := startChain(t)
	cfg := strings.ReplaceAll(chainConfig, `in = "in"`, `in = "`+filepath.Join(dir, "in")+`"`)
	cfg = strings.ReplaceAll(cfg, `out = "out"`, `out = "`+filepath.Join(dir, "out")+`"`)
	s := startWithFiles(t, cfg, chainScripts)

	send := func(sample string) error {
		raw, err := os.ReadFile(samplePath(t, sample))
		if err != nil {
			t.Fatal(err)
		}
		raw = []byte(strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n"))
		c, err := smtp.Dial(s.Addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.SendMail("alice@example.org", []string{"bob@local.test"}, strings.NewReader(string(raw)))
	}
	if err := send("clean.eml"); err != nil {
		t.Fatalf("clean: %v\n%s", err, s.Log())
	}
	for _, bad := range []string{"eicar.eml", "gtube.eml"} {
		err := send(bad)
		se, ok := err.(*smtp.SMTPError)
		if !ok || se.Code/100 != 5 {
			t.Errorf("%s: got %v, want a 5xx refusal", bad, err)
		}
	}
	files := s.WaitMaildir("bob@local.test", "", 1, 20*time.Second)
	if len(files) != 1 {
		t.Fatalf("%d delivered, want only the clean message\n%s", len(files), s.Log())
	}
	f, _ := os.Open(files[0])
	b, _ := io.ReadAll(f)
	f.Close()
	for _, want := range []string{"X-Chain-AV: clean", "X-Chain-Spam: ham", "X-Chain-Folder: clean"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("delivered message lacks %q:\n%s", want, b)
		}
	}
}

// startWithFiles is Start with more files (scripts) written beside the
// configuration before the server starts.
func startWithFiles(t *testing.T, cfg string, files map[string]string) *Server {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sluice.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Dir: dir}
	s.start()
	t.Cleanup(s.Stop)
	return s
}
