package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sluiceBin is the binary built once for the tests in this file.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-o", sluiceBin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sluice runs the built binary in dir and returns stdout, stderr and the
// exit status.
func sluice(t *testing.T, dir string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// repoRoot is where the examples live, relative to this package.
const repoRoot = "../.."

type runJSON struct {
	Verdict  string `json:"verdict"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	Stages   []struct {
		Name, Hook, Verdict, Error string
		Ms                         float64
	} `json:"stages"`
	Score   float64 `json:"score"`
	Symbols []struct {
		Name   string  `json:"name"`
		Points float64 `json:"points"`
	} `json:"symbols"`
	Actions []map[string]any `json:"actions"`
	Headers struct {
		Added   [][2]string `json:"added"`
		Removed []string    `json:"removed"`
	} `json:"headers"`
}

func runJSONOf(t *testing.T, stdout string) runJSON {
	t.Helper()
	var r runJSON
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("output is not the JSON object: %v\n%s", err, stdout)
	}
	return r
}

func TestRunDefaultPipeline(t *testing.T) {
	out, errOut, code := sluice(t, repoRoot, "", "run", "--json", "--rcpt", "bob@localhost", "examples/messages/hello.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r := runJSONOf(t, out)
	if r.Verdict != "accept" || r.Code != 250 {
		t.Errorf("verdict %s %d, want accept 250", r.Verdict, r.Code)
	}
	var trace []string
	for _, s := range r.Stages {
		trace = append(trace, s.Hook+" "+s.Name+" "+s.Verdict)
	}
	want := []string{"on_data attachments continue", "on_data score continue", "on_queue filing continue"}
	if diff := cmp.Diff(want, trace); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	added := map[string]string{}
	for _, h := range r.Headers.Added {
		added[h[0]] = h[1]
	}
	if added["X-Sluice-Stages"] != "attachments score filing" {
		t.Errorf("X-Sluice-Stages = %q", added["X-Sluice-Stages"])
	}
}

func TestRunRejectsExecutable(t *testing.T) {
	out, _, code := sluice(t, repoRoot, "", "run", "--json", "examples/messages/malware.eml")
	if code != 0 {
		t.Fatalf("exit %d, want 0 whatever the verdict", code)
	}
	r := runJSONOf(t, out)
	if r.Verdict != "reject" || r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "invoice.pdf.exe") {
		t.Errorf("got %s %d %s %q", r.Verdict, r.Code, r.Enhanced, r.Text)
	}
	if len(r.Stages) != 1 {
		t.Errorf("%d stages ran, want only attachments", len(r.Stages))
	}
}

func TestRunHumanTrace(t *testing.T) {
	out, _, code := sluice(t, repoRoot, "", "run", "examples/messages/malware.eml")
	if code != 0 || !strings.Contains(out, "verdict: reject  550 5.7.1") || strings.Contains(out, "\x1b[") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestRunScriptFromStdin(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "rule.lua")
	os.WriteFile(script, []byte(`function on_data(msg)
  msg:score(3, "GREETING", "says hello")
  msg:fileinto("Greetings")
  msg:add_header("X-Rule", "hit")
  if msg:subject() == "hello" then return quarantine("greeting") end
end`), 0o644)
	out, errOut, code := sluice(t, dir, "Subject: hello\r\n\r\nhi\r\n", "run", "--json", "--script", script, "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r := runJSONOf(t, out)
	if r.Verdict != "quarantine" || r.Text != "greeting" || r.Score != 3 || len(r.Symbols) != 1 {
		t.Errorf("got %+v", r)
	}
	if len(r.Actions) != 1 || r.Actions[0]["kind"] != "fileinto" || r.Actions[0]["folder"] != "Greetings" {
		t.Errorf("actions = %v", r.Actions)
	}
	if diff := cmp.Diff([][2]string{{"X-Rule", "hit"}}, r.Headers.Added); diff != "" {
		t.Errorf("headers added (-want +got):\n%s", diff)
	}
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.lua"), []byte("function on_data(msg)\n  if then\nend\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "err.lua"), []byte("function on_data(msg)\n  error('boom')\nend\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "m.eml"), []byte("Subject: x\r\n\r\nx\r\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("[server]\nlisen = 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "stages.toml"), []byte("[[stage]]\nname = \"x\"\nscript = \"bad.lua\"\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string // in stderr (or stdout for 0)
	}{
		{[]string{}, 2, "usage"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"run"}, 2, "exactly one message"},
		{[]string{"run", "missing.eml"}, 2, "missing.eml"},
		{[]string{"run", "--script", "bad.lua", "m.eml"}, 2, "bad.lua:2:"},
		{[]string{"run", "--config", "bad.toml", "m.eml"}, 2, "bad.toml:2"},
		{[]string{"run", "--script", "err.lua", "m.eml"}, 0, "bad.lua"},
		{[]string{"check", "--config", "stages.toml"}, 2, "bad.lua:2:"},
		{[]string{"check"}, 0, "ok: 3 stages compiled"},
		{[]string{"version"}, 0, "sluice"},
	}
	for _, tt := range tests {
		out, errOut, code := sluice(t, dir, "", tt.args...)
		if code != tt.code {
			t.Errorf("sluice %v: exit %d, want %d\n%s%s", tt.args, code, tt.code, out, errOut)
			continue
		}
		text := errOut
		if tt.code == 0 {
			text = out
		}
		if tt.code != 0 || tt.args[0] != "run" {
			if !strings.Contains(text, tt.want) {
				t.Errorf("sluice %v: output %q does not contain %q", tt.args, text, tt.want)
			}
		}
	}
	// A script error at run time is a verdict (tempfail), with script:line in the trace.
	out, _, _ := sluice(t, dir, "", "run", "--script", "err.lua", "m.eml")
	if !strings.Contains(out, "err.lua:2: boom") || !strings.Contains(out, "verdict: tempfail") {
		t.Errorf("trace:\n%s", out)
	}
}
