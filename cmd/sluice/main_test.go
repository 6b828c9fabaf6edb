package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	RcptRefused []rcptRefusedJSON `json:"rcpt_refused"`
}

type rcptRefusedJSON struct {
	Rcpt     string `json:"rcpt"`
	Verdict  string `json:"verdict"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	Stage    string `json:"stage"`
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
	want := []string{"on_data attachments continue", "on_queue score continue", "on_queue filing continue"}
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

// sessionRule refuses at every SMTP-time hook, depending on the envelope.
const sessionRule = `function on_connect(conn)
  if conn.ip == "192.0.2.66" then return reject(554, "5.7.1", "blocked " .. conn.ip .. ":" .. conn.port) end
end
function on_helo(conn)
  if conn.helo == "localhost" then return reject(550, "5.7.1", "bad helo") end
end
function on_mail(tx)
  if tx.from:match("@spam%.example$") then return reject("5.7.1", "sender refused") end
end
function on_rcpt(tx, rcpt)
  if rcpt:match("^nobody@") then return reject(550, "5.1.1", "no such user") end
end
function on_data(msg)
  msg:add_header("X-Rcpt", table.concat(msg.rcpt, ","))
end
`

func TestRunSessionHooks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"rule.lua": sessionRule, "m.eml": "Subject: x\r\n\r\nx\r\n"})
	type summary struct {
		Verdict, Reply string
		Stages         []string
		Refused        []rcptRefusedJSON
		Added          [][2]string
	}
	session := []string{"on_connect rule continue", "on_helo rule continue", "on_mail rule continue"}
	tests := []struct {
		name string
		args []string
		want summary
	}{
		{"one recipient refused", []string{"--rcpt", "nobody@example.com", "--rcpt", "bob@example.com"}, summary{
			Verdict: "accept", Reply: "250 2.0.0 ok",
			Stages: append(session, "on_rcpt rule reject", "on_rcpt rule continue", "on_data rule continue"),
			Refused: []rcptRefusedJSON{{Rcpt: "nobody@example.com", Verdict: "reject", Code: 550, Enhanced: "5.1.1",
				Text: "no such user", Stage: "rule"}},
			Added: [][2]string{{"X-Rcpt", "bob@example.com"}},
		}},
		{"every recipient refused", []string{"--rcpt", "nobody@example.com"}, summary{
			Verdict: "reject", Reply: "550 5.1.1 no such user",
			Stages: append(session, "on_rcpt rule reject"),
			Refused: []rcptRefusedJSON{{Rcpt: "nobody@example.com", Verdict: "reject", Code: 550, Enhanced: "5.1.1",
				Text: "no such user", Stage: "rule"}},
			Added: [][2]string{},
		}},
		{"sender refused", []string{"--from", "a@spam.example"}, summary{
			Verdict: "reject", Reply: "550 5.7.1 sender refused",
			Stages: append(session[:2:2], "on_mail rule reject"), Added: [][2]string{},
		}},
		{"helo refused", []string{"--helo", "localhost"}, summary{
			Verdict: "reject", Reply: "550 5.7.1 bad helo",
			Stages: []string{"on_connect rule continue", "on_helo rule reject"}, Added: [][2]string{},
		}},
		{"client refused", []string{"--client", "192.0.2.66:2525"}, summary{
			Verdict: "reject", Reply: "554 5.7.1 blocked 192.0.2.66:2525",
			Stages: []string{"on_connect rule reject"}, Added: [][2]string{},
		}},
		{"client without port", []string{"--client", "192.0.2.66"}, summary{
			Verdict: "reject", Reply: "554 5.7.1 blocked 192.0.2.66:0",
			Stages: []string{"on_connect rule reject"}, Added: [][2]string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "--json", "--script", "rule.lua"}, tt.args...)
			out, errOut, code := sluice(t, dir, "", append(args, "m.eml")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			r := runJSONOf(t, out)
			got := summary{Verdict: r.Verdict, Reply: fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text),
				Refused: r.RcptRefused, Added: r.Headers.Added}
			for _, s := range r.Stages {
				got.Stages = append(got.Stages, s.Hook+" "+s.Name+" "+s.Verdict)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// Without a refused recipient there is no rcpt_refused key, as before.
func TestRunJSONWithoutRefusals(t *testing.T) {
	out, errOut, code := sluice(t, repoRoot, "", "run", "--json", "examples/messages/hello.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["rcpt_refused"]; ok {
		t.Errorf("rcpt_refused present:\n%s", out)
	}
}

func TestRunSessionHooksTrace(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"rule.lua": sessionRule, "m.eml": "Subject: x\r\n\r\nx\r\n"})
	out, errOut, code := sluice(t, dir, "", "run", "--script", "rule.lua", "--rcpt", "nobody@example.com", "--rcpt", "bob@example.com", "m.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		// Drop the timings, which change from run to run.
		if i := strings.LastIndex(l, "  "); strings.HasSuffix(l, " ms") && i > 0 {
			l = strings.TrimRight(l[:i], " ")
		}
		lines = append(lines, l)
	}
	want := []string{
		"m.eml  42 bytes  from <sender@example.org> to <nobody@example.com> <bob@example.com>",
		"  on_connect rule           continue",
		"  on_helo    rule           continue",
		"  on_mail    rule           continue",
		"  on_rcpt    rule           reject",
		"      refused <nobody@example.com>: 550 5.1.1 no such user",
		"  on_rcpt    rule           continue",
		"  on_data    rule           continue",
		"  +header X-Rcpt: bob@example.com",
		"verdict: accept  250 2.0.0 ok",
		"",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
}

// sluice test runs the session hooks too.
func TestLuaTestSessionHooks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"rule.lua": sessionRule,
		"rule_test.lua": `test("recipient refused", function(t)
  local r = t.run{script = "rule.lua", raw = "x", rcpt = {"nobody@example.com", "bob@example.com"}}
  t.eq(r.verdict, "accept")
  t.eq(r.rcpt_refused[1].rcpt, "nobody@example.com")
  t.eq(r.rcpt_refused[1].stage, "rule")
end)
test("sender refused", function(t)
  local r = t.run{script = "rule.lua", raw = "x", from = "a@spam.example"}
  t.eq({r.verdict, r.stages[#r.stages].hook}, {"reject", "on_mail"})
end)
`,
	})
	out, errOut, code := sluice(t, dir, "", "test", ".")
	if code != 0 || !strings.Contains(out, "2 passed, 0 failed") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
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
		{[]string{"run", "--client", "mx.example.org", "m.eml"}, 2, `--client: "mx.example.org" is not IP or IP:PORT`},
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

// sluice serve runs with two Ps on one core, unless GOMAXPROCS says
// otherwise, and leaves a larger default alone.
func TestSetMinProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "") // restored after the test
	os.Unsetenv("GOMAXPROCS")

	runtime.GOMAXPROCS(1)
	setMinProcs()
	if n := runtime.GOMAXPROCS(0); n != minProcs {
		t.Errorf("one P: GOMAXPROCS = %d after setMinProcs, want %d", n, minProcs)
	}
	runtime.GOMAXPROCS(minProcs + 2)
	setMinProcs()
	if n := runtime.GOMAXPROCS(0); n != minProcs+2 {
		t.Errorf("GOMAXPROCS = %d after setMinProcs, want %d kept", n, minProcs+2)
	}
	os.Setenv("GOMAXPROCS", "1")
	runtime.GOMAXPROCS(1)
	setMinProcs()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS=1 in the environment: GOMAXPROCS = %d, want 1", n)
	}
}
