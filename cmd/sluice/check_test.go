package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// warningLines returns the lines of out that are lint warnings.
func warningLines(out string) []string {
	var ws []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, ": warning: ") {
			ws = append(ws, line)
		}
	}
	return ws
}

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	script := `-- a stage with mistakes that still compiles
function on_date(msg)
  seen = true
end

function on_data(msg)
  local n = 0
  for _, p in ipairs(msg:parts()) do
    n = n + 1
    count = n
  end
end
`
	cfg := "[[stage]]\nname = \"rule\"\nscript = \"rule.lua\"\n"
	if err := os.WriteFile(filepath.Join(dir, "rule.lua"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sluice.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rule.lua:2: warning: function 'on_date' is not a hook; did you mean 'on_data'?",
		"rule.lua:3: warning: global 'seen' assigned inside function on_date (line 2); declare it local",
		"rule.lua:10: warning: global 'count' assigned inside function on_data (line 6); declare it local",
	}

	out, errOut, code := sluice(t, dir, "", "check", "--config", "sluice.toml")
	if code != 0 {
		t.Fatalf("exit %d, want 0 with warnings\n%s%s", code, out, errOut)
	}
	if diff := cmp.Diff(want, warningLines(out)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if got, wantOK := lastLine(out), "ok: 1 stages compiled, 0 filters, 3 warnings"; got != wantOK {
		t.Errorf("last line %q, want %q", got, wantOK)
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}

	out, errOut, code = sluice(t, dir, "", "check", "--strict", "--config", "sluice.toml")
	if code != 1 {
		t.Errorf("--strict: exit %d, want 1", code)
	}
	if diff := cmp.Diff(want, warningLines(out)); diff != "" {
		t.Errorf("--strict: warnings (-want +got):\n%s", diff)
	}
	if strings.Contains(out, "ok:") || !strings.Contains(errOut, "check: 3 warnings (--strict)") {
		t.Errorf("--strict: stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestCheckCleanPipelines(t *testing.T) {
	tests := []struct {
		args []string
		ok   string
	}{
		{[]string{"check", "--strict"}, "ok: 3 stages compiled, 0 filters, 0 warnings"},
		{[]string{"check", "--strict", "--config", "examples/clamav/sluice.toml"}, "ok: 1 stages compiled, 2 filters, 0 warnings"},
		{[]string{"check", "--strict", "--config", "examples/spamassassin/sluice.toml"}, "ok: 2 stages compiled, 1 filters, 0 warnings"},
		{[]string{"check", "--strict", "--config", "examples/orders/sluice.toml"}, "ok: 1 stages compiled, 0 filters, 0 warnings"},
	}
	for _, tt := range tests {
		out, errOut, code := sluice(t, repoRoot, "", tt.args...)
		if code != 0 {
			t.Errorf("sluice %v: exit %d\n%s%s", tt.args, code, out, errOut)
			continue
		}
		if ws := warningLines(out); len(ws) != 0 {
			t.Errorf("sluice %v: warnings:\n%s", tt.args, strings.Join(ws, "\n"))
		}
		if got := lastLine(out); got != tt.ok {
			t.Errorf("sluice %v: last line %q, want %q", tt.args, got, tt.ok)
		}
	}
}
