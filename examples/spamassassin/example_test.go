package spamassassin_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSpamAssassinExample(t *testing.T) {
	if _, err := os.Stat("/tmp/mailfilters/spamd.sock"); err != nil {
		t.Skip("spamd is not running on /tmp/mailfilters/spamd.sock (make test starts it): skipping")
	}
	dir := filepath.Join("..", "..", "..", "shared", "tools", "samples")
	if d := os.Getenv("SLUICE_SHARED"); d != "" {
		dir = filepath.Join(d, "tools", "samples")
	}
	if _, err := os.Stat(filepath.Join(dir, "gtube.eml")); err != nil {
		t.Skipf("no sample messages at %s: skipping", dir)
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		msg, verdict string
		junk         bool
	}{
		{"gtube.eml", "reject", false},
		{"spammy.eml", "accept", true},
		{"clean.eml", "accept", false},
	} {
		out, err := exec.Command(bin, "run", "--json", "--config", "sluice.toml", filepath.Join(dir, tt.msg)).Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.msg, err, out)
		}
		var r struct {
			Verdict string
			Score   float64
			Actions []struct{ Kind, Folder string }
			Headers struct{ Added [][2]string }
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: %v\n%s", tt.msg, err, out)
		}
		junk := false
		for _, a := range r.Actions {
			junk = junk || (a.Kind == "fileinto" && a.Folder == "Junk")
		}
		if r.Verdict != tt.verdict || junk != tt.junk {
			t.Errorf("%s: verdict %s, junk %v (score %.1f); want %s, junk %v", tt.msg, r.Verdict, junk, r.Score, tt.verdict, tt.junk)
		}
		if tt.verdict == "accept" && len(r.Headers.Added) == 0 {
			t.Errorf("%s: no X-Spam-Score header", tt.msg)
		}
	}
}
