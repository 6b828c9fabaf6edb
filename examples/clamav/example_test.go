package clamav_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// samples are the shared test messages (EICAR, clean).
func samples(t *testing.T) string {
	dir := filepath.Join("..", "..", "..", "shared", "tools", "samples")
	if d := os.Getenv("SLUICE_SHARED"); d != "" {
		dir = filepath.Join(d, "tools", "samples")
	}
	if _, err := os.Stat(filepath.Join(dir, "eicar.eml")); err != nil {
		t.Skipf("no sample messages at %s: skipping", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestClamAVExample(t *testing.T) {
	if _, err := os.Stat("/tmp/mailfilters/clamd.sock"); err != nil {
		t.Skip("clamd is not running on /tmp/mailfilters/clamd.sock (make test starts it): skipping")
	}
	dir := samples(t)
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, filter := range []string{"clamav", "clamscan"} {
		if filter == "clamscan" {
			if _, err := exec.LookPath("clamscan"); err != nil {
				continue
			}
		}
		// Run a copy of the script with the chosen filter.
		work := t.TempDir()
		src, _ := os.ReadFile("scripts/antivirus.lua")
		os.MkdirAll(filepath.Join(work, "scripts"), 0o755)
		os.WriteFile(filepath.Join(work, "scripts", "antivirus.lua"),
			[]byte(strings.Replace(string(src), `local FILTER = "clamav"`, `local FILTER = "`+filter+`"`, 1)), 0o644)
		cfg, _ := os.ReadFile("sluice.toml")
		os.WriteFile(filepath.Join(work, "sluice.toml"), cfg, 0o644)
		for _, tt := range []struct{ msg, verdict, text string }{
			{"eicar.eml", "reject", "virus found: Eicar-Test-Signature.UNOFFICIAL"},
			{"clean.eml", "accept", ""},
		} {
			cmd := exec.Command(bin, "run", "--json", "--config", "sluice.toml", filepath.Join(dir, tt.msg))
			cmd.Dir = work
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", filter, tt.msg, err, out)
			}
			var r struct {
				Verdict, Text string
				Code          int
				Headers       struct{ Added [][2]string }
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%s: %v\n%s", tt.msg, err, out)
			}
			if r.Verdict != tt.verdict || !strings.Contains(r.Text, tt.text) {
				t.Errorf("%s %s: %s %d %q, want %s %q", filter, tt.msg, r.Verdict, r.Code, r.Text, tt.verdict, tt.text)
			}
			if tt.verdict == "accept" && (len(r.Headers.Added) == 0 || r.Headers.Added[0][1] != "sluice+"+filter+" (clean)") {
				t.Errorf("%s %s: headers added %v, want X-Virus-Scanned", filter, tt.msg, r.Headers.Added)
			}
		}
	}
}
