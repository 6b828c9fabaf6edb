package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Lua tests of the default scripts and of every example pass.
func TestLuaTests(t *testing.T) {
	for _, dir := range []string{"scripts", "examples/clamav", "examples/spamassassin", "examples/orders"} {
		t.Run(dir, func(t *testing.T) {
			out, errOut, code := sluice(t, repoRoot, "", "test", dir)
			if code != 0 {
				t.Fatalf("sluice test %s: exit %d\n%s%s", dir, code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !regexp.MustCompile(`^[1-9][0-9]* passed, 0 failed$`).MatchString(last) {
				t.Errorf("last line %q\n%s", last, out)
			}
			for _, l := range lines[:len(lines)-1] {
				if !strings.HasPrefix(l, "ok   "+dir+"/") {
					t.Errorf("line %q", l)
				}
			}
		})
	}
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
}

// writeFile writes content to dir/name, making the folders it needs.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLuaTestFailures(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"sluice.toml": `
[[stage]]
name = "av"
script = "rules/av.lua"

[filter.scanner]
kind = "folder"
in = "missing/in"
out = "missing/out"
`,
		"rules/av.lua": `function on_data(msg)
  local r = plugin.scan("scanner", msg)
  if r.verdict == "infected" then return reject("virus") end
end`,
		"rules/av_test.lua": `
test("passes", function(t)
  t.filter("scanner", {verdict = "infected"})
  t.eq(t.run({raw = "Subject: x\r\n\r\nx\r\n"}).verdict, "reject")
end)

test("wrong verdict", function(t)
  t.filter("scanner", {verdict = "clean"})
  local r = t.run({script = "av.lua", raw = "Subject: x\r\n\r\nx\r\n"})
  t.log("the verdict is", r.verdict)
  t.eq(r.verdict, "reject")
end)

test("scanner not replaced", function(t)
  t.run({script = "av.lua", raw = "x"})
end)

test("spins", function(t)
  while true do end
end)
`,
		"rules/broken_test.lua":           "test(\"x\", function(t)\n  t.eq(1 2)\nend)\n",
		"rules/testdata/skipped_test.lua": `test("never", function(t) t.fail() end)`,
	})
	out, errOut, code := sluice(t, dir, "", "test", "--timeout", "300ms", "--config", "sluice.toml")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^ok   rules/av_test\.lua  passes  \(\d+\.\d ms\)$`),
		regexp.MustCompile(`^FAIL rules/av_test\.lua:11  wrong verdict: got "accept", want "reject"$`),
		regexp.MustCompile(`^       rules/av_test\.lua:10: the verdict is accept$`),
		regexp.MustCompile(`^FAIL rules/av_test\.lua:15  scanner not replaced: t\.run: filter "scanner" could not be built \(.*missing/in.*\); replace it in the test with t\.filter\("scanner", \{verdict = …\}\)$`),
		regexp.MustCompile(`^       level=WARN msg="filter failed"`),
		regexp.MustCompile(`^FAIL rules/av_test\.lua:19  spins: test timed out after 300ms$`),
		regexp.MustCompile(`^FAIL rules/broken_test\.lua:2  \(loading the file\): syntax error near '2'$`),
		regexp.MustCompile(`^1 passed, 4 failed$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, lines[i], re)
		}
	}
	if !strings.Contains(errOut, "test: 4 of 5 tests failed") {
		t.Errorf("stderr %q", errOut)
	}

	// --run selects tests; a file given by name is taken as it is.
	out, _, code = sluice(t, dir, "", "test", "--run", "^pass", "rules/av_test.lua")
	if code != 0 || !strings.HasSuffix(out, "1 passed, 0 failed\n") {
		t.Errorf("--run: exit %d\n%s", code, out)
	}
}

func TestLuaTestUsage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"empty/x.lua": "", "a_test.lua": `test("a", function() end)`})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "missing"}, "no such file"},
		{[]string{"test", "empty"}, "no *_test.lua files in empty"},
		{[]string{"test", "--run", "("}, "--run"},
		{[]string{"test", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"test", "--config", "missing.toml"}, "missing.toml"},
	} {
		_, errOut, code := sluice(t, dir, "", tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("sluice %v: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
	out, _, code := sluice(t, dir, "", "test", "-h")
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	_ = out
}
