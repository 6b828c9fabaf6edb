package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// scriptEnv is a TestEnv that runs RunSpec.Script from its files on a real
// engine, with the filters of the spec; it records the specs it got.
type scriptEnv struct {
	files files
	log   *slog.Logger
	specs []RunSpec
	query func(db, q string, args []any) ([]map[string]any, []string, error)
}

func (e *scriptEnv) Run(ctx context.Context, spec RunSpec) (*Result, error) {
	e.specs = append(e.specs, spec)
	eng, err := New(Options{
		Stages:   []Stage{{Name: "s", Script: spec.Script, Timeout: time.Second}},
		ReadFile: e.files.read,
		Logger:   e.log,
		Services: stdlib.Services{Filters: spec.Filters},
		DryRun:   !spec.Commit,
	})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	m := &stdlib.Msg{ID: "t", From: spec.From, Rcpt: spec.Rcpt, Client: spec.Client, Helo: spec.Helo,
		Vars: spec.Vars, Body: message.New(spec.Message, message.Options{})}
	return eng.Transaction(ctx, nil, m), nil
}

func (e *scriptEnv) Query(ctx context.Context, db, q string, args ...any) ([]map[string]any, []string, error) {
	if e.query == nil {
		return nil, nil, errors.New("no databases here")
	}
	return e.query(db, q, args)
}

func (e *scriptEnv) Close() error { return nil }

// runTests runs the test file "t/x_test.lua" with src, next to the given
// files, and returns the results and the env's specs.
func runTests(t *testing.T, src string, fs files, mod ...func(*TestOptions)) ([]TestResult, *scriptEnv) {
	t.Helper()
	all := files{"t/x_test.lua": src}
	for k, v := range fs {
		all[k] = v
	}
	env := &scriptEnv{files: all}
	opt := TestOptions{
		ReadFile: all.read,
		Timeout:  2 * time.Second,
		NewEnv: func(file string, log *slog.Logger) (TestEnv, error) {
			if file != "t/x_test.lua" {
				t.Errorf("NewEnv for %q", file)
			}
			env.log = log
			return env, nil
		},
	}
	for _, m := range mod {
		m(&opt)
	}
	return RunTestFile(t.Context(), "t/x_test.lua", opt), env
}

// outcome is a TestResult without the times and logs.
type outcome struct {
	Name, Where, Message string
	Failed               bool
}

func outcomes(rs []TestResult) []outcome {
	var out []outcome
	for _, r := range rs {
		out = append(out, outcome{Name: r.Name, Where: r.Where, Message: r.Message, Failed: r.Failed})
	}
	return out
}

const antivirus = `
function on_data(msg)
  local r = plugin.scan("av", msg)
  if r.verdict == "infected" then
    return reject(554, "5.7.1", "virus found: " .. r.name)
  end
  msg:add_header("X-Scanned", r.verdict)
end`

func TestRunTestFile(t *testing.T) {
	src := `-- line 1
test("infected is refused", function(t)
  t.filter("av", {verdict = "infected", name = "Eicar"})
  local r = t.run({script = "av.lua", message = "testdata/m.eml", from = "a@b", rcpt = "c@d"})
  t.eq(r.verdict, "reject")
  t.eq(r.code, 554)
  t.eq(r.text, "virus found: Eicar")
  t.eq(r.stages[1].name, "s")
  t:eq(r.stages[1].verdict, "reject")
end)

test("clean gets a header", function(t)
  t.filter("av", {verdict = "clean"})
  local r = t.run{script = "av.lua", raw = "Subject: x\r\n\r\nhi\r\n"}
  t.eq(r.verdict, "accept")
  t.eq(r.headers.added, {{"X-Scanned", "clean"}})
  t.contains(r.headers.added, {"X-Scanned"})
  t.eq(r.verdict, "reject", "after the clean scan")
end)

test("no filter replaced", function(t)
  local r = t.run{script = "av.lua", raw = "x"}
  t.eq(r.verdict, "tempfail")
  t.match(r.stages[1].error, 'no filter "av"')
end)
`
	fs := files{"t/av.lua": antivirus, "t/testdata/m.eml": testMessage}
	rs, env := runTests(t, src, fs)
	want := []outcome{
		{Name: "infected is refused"},
		{Name: "clean gets a header", Failed: true, Where: "t/x_test.lua:18",
			Message: `after the clean scan: got "accept", want "reject"`},
		{Name: "no filter replaced"},
	}
	if diff := cmp.Diff(want, outcomes(rs)); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	if rs[0].Line != 2 || rs[1].Line != 12 {
		t.Errorf("lines %d, %d; want 2, 12", rs[0].Line, rs[1].Line)
	}
	s := env.specs[0]
	if s.Script != "t/av.lua" || s.From != "a@b" || !cmp.Equal(s.Rcpt, []string{"c@d"}) || string(s.Message) != testMessage {
		t.Errorf("first spec: %+v", s)
	}
	s = env.specs[1]
	if s.From != TestFrom || !cmp.Equal(s.Rcpt, []string{TestRcpt}) || s.Client != TestClient || s.Commit {
		t.Errorf("defaults: %+v", s)
	}
	if len(env.specs[2].Filters) != 0 {
		t.Errorf("t.filter leaked into the next test: %v", env.specs[2].Filters)
	}
}

func TestAssertions(t *testing.T) {
	tests := []struct {
		code, want string // want "" for a pass
	}{
		{`t.eq(1, 1)`, ""},
		{`t.eq({1, {a = "x"}}, {1, {a = "x"}})`, ""},
		{`t.eq({1, 2}, {1, 2, 3})`, `got {1, 2}, want {1, 2, 3}`},
		{`t.eq({a = 1}, {a = 1, b = 2})`, `got {a = 1}, want {a = 1, b = 2}`},
		{`t.eq("a\n", "b")`, `got "a\n", want "b"`},
		{`t.eq(nil, false)`, `got nil, want false`},
		{`t.eq(1)`, `t.eq: give two values: t.eq(got, want [, message])`},
		{`t.ne(1, 2)`, ""},
		{`t.ne({x = 1}, {x = 1}, "tables")`, `tables: got {x = 1}, want anything else`},
		{`t.ok(0)`, ""},
		{`t.ok(nil, "present")`, `present: got nil, want a true value`},
		{`t.contains("hello world", "o w")`, ""},
		{`t.contains("hello", "%a")`, `"hello" does not contain "%a"`},
		{`t.contains({{kind = "fileinto", folder = "Junk", stage = "f"}}, {kind = "fileinto", folder = "Junk"})`, ""},
		{`t.contains({{kind = "fileinto", folder = "Junk"}}, {kind = "fileinto", folder = "Spam"})`,
			`no element of {{folder = "Junk", kind = "fileinto"}} matches {folder = "Spam", kind = "fileinto"}`},
		{`t.contains({"a", "b"}, "b")`, ""},
		{`t.contains(nil, "b")`, `got nil, want a string or a table to look in`},
		{`t.match("5.7.1 virus", "^5%.7%.%d")`, ""},
		{`t.match("abc", "^b")`, `"abc" does not match "^b"`},
		{`t.match(nil, "x")`, `got nil, want a string matching "x"`},
		{`t.fail("no good")`, `no good`},
		{`t.fail()`, `failed`},
		{`t:ok(true) t:eq(2, 3)`, `got 2, want 3`},
		{`error("boom")`, `boom`},
		{`local x = nil; x.y = 1`, `attempt to index a non-table object(nil) with key 'y'`},
		{`os.exit(1)`, `the os library is not available in sluice scripts (sandbox)`},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			rs, _ := runTests(t, "test(\"a\", function(t)\n"+tt.code+"\nend)\n", nil)
			if len(rs) != 1 {
				t.Fatalf("%d results", len(rs))
			}
			r := rs[0]
			if tt.want == "" {
				if r.Failed {
					t.Fatalf("failed at %s: %s", r.Where, r.Message)
				}
				return
			}
			if !r.Failed || r.Message != tt.want || r.Where != "t/x_test.lua:2" {
				t.Errorf("got failed=%v %s: %q\nwant t/x_test.lua:2: %q", r.Failed, r.Where, r.Message, tt.want)
			}
		})
	}
}

func TestTestFileErrors(t *testing.T) {
	tests := []struct {
		src  string
		want []outcome
	}{
		{"test(\"a\", function(t)\n  t.eq(1 1)\nend)\n",
			[]outcome{{Failed: true, Where: "t/x_test.lua:2", Message: "syntax error near '1'"}}},
		{"local x = 1\nerror(\"top\")\n",
			[]outcome{{Failed: true, Where: "t/x_test.lua:2", Message: "top"}}},
		{"test(\"a\", function() end)\ntest(\"a\", function() end)\n",
			[]outcome{{Failed: true, Where: "t/x_test.lua:2", Message: `test "a" is defined twice (first at line 1)`}}},
		{"test(\"a\", function() test(\"b\", function() end) end)\n",
			[]outcome{{Name: "a", Failed: true, Where: "t/x_test.lua:1", Message: "test: call test(name, fn) at the top level of the file, not inside a test"}}},
		{"test(\"a\", function(t)\n  t.eq(1,\n",
			[]outcome{{Failed: true, Where: "t/x_test.lua:2", Message: "syntax error at the end of the file"}}},
		{"-- nothing\n", nil},
	}
	for _, tt := range tests {
		rs, _ := runTests(t, tt.src, nil)
		got := outcomes(rs)
		// gopher-lua words syntax errors its own way; keep the start.
		for i := range got {
			if strings.HasPrefix(got[i].Message, "syntax error") {
				got[i].Message = tt.want[i].Message
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.src, diff)
		}
	}
}

// A test that overruns fails with its deadline; the tests after it run on
// a fresh state.
func TestTestTimeout(t *testing.T) {
	src := `
local loads = (loads or 0) + 1
test("spins", function(t)
  while true do end
end)
test("after", function(t)
  t.eq(1, 1)
end)
`
	start := time.Now()
	rs, _ := runTests(t, src, nil, func(o *TestOptions) { o.Timeout = 100 * time.Millisecond })
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	want := []outcome{
		{Name: "spins", Failed: true, Where: "t/x_test.lua:4", Message: "test timed out after 100ms"},
		{Name: "after"},
	}
	if diff := cmp.Diff(want, outcomes(rs)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestTestMatchAndLog(t *testing.T) {
	src := `
test("one", function(t) t.log("hello", 42, {1}) print("printed") end)
test("two", function(t) t.fail("not run") end)
`
	rs, _ := runTests(t, src, nil, func(o *TestOptions) {
		o.Match = func(name string) bool { return name == "one" }
	})
	if len(rs) != 1 || rs[0].Failed {
		t.Fatalf("results %+v", rs)
	}
	log := strings.Join(rs[0].Log, "\n")
	for _, want := range []string{"t/x_test.lua:2: hello 42 {1}", `msg=printed`} {
		if !strings.Contains(log, want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}
}

func TestTestRunOptions(t *testing.T) {
	tests := []struct{ opts, want string }{
		{`{script = "av.lua"}`, `t.run: no message: give message = "file.eml" or raw = "…"`},
		{`{script = "av.lua", raw = "x", message = "m.eml"}`, `t.run: message and raw exclude each other`},
		{`{script = "av.lua", config = "sluice.toml", raw = "x"}`, `t.run: script and config exclude each other`},
		{`{script = "av.lua", raw = "x", rcpts = "a@b"}`, `t.run: unknown option "rcpts" (script, config, message, raw, from, rcpt, client, helo, vars, commit)`},
		{`{script = "av.lua", message = "missing.eml"}`, `t.run: message: file does not exist`},
		{`{script = "av.lua", raw = "x", rcpt = {1}}`, `t.run: rcpt must be a string, got number`},
		{`{script = "missing.lua", raw = "x"}`, `t.run: engine: script error: t/missing.lua: file does not exist`},
		{`{script = "av.lua", raw = "x", client = "mx.example.org"}`, `t.run: client: "mx.example.org" is not IP or IP:PORT`},
	}
	for _, tt := range tests {
		rs, _ := runTests(t, fmt.Sprintf("test(\"a\", function(t)\n t.run(%s)\nend)\n", tt.opts), files{"t/av.lua": antivirus})
		if len(rs) != 1 || !rs[0].Failed || rs[0].Message != tt.want {
			t.Errorf("%s: got %+v\nwant %q", tt.opts, outcomes(rs), tt.want)
		}
	}
}

// greylist refuses at RCPT time: a test file asserts on the refusals.
const greylist = `
function on_connect(conn)
  if conn.ip == "192.0.2.66" then return reject(554, "5.7.1", "blocked " .. conn.ip) end
end
function on_helo(conn)
  if conn.helo == "localhost" then return reject(550, "5.7.1", "bad helo") end
end
function on_mail(tx)
  if tx.from:match("@spam%.example$") then return reject("5.7.1", "sender refused") end
end
function on_rcpt(tx, rcpt)
  if rcpt:match("^new@") then return tempfail(451, "4.7.1", "greylisted, try again later") end
  if rcpt:match("^nobody@") then return reject(550, "5.1.1", "no such user") end
end
function on_data(msg)
  msg:add_header("X-Rcpt", table.concat(msg.rcpt, ","))
end`

func TestTestRunSessionHooks(t *testing.T) {
	src := `
test("one recipient greylisted", function(t)
  local r = t.run{script = "grey.lua", raw = "Subject: x\r\n\r\nx\r\n", rcpt = {"new@example.com", "bob@example.com"}}
  t.eq(r.verdict, "accept")
  t.eq(r.rcpt_refused, {{rcpt = "new@example.com", verdict = "tempfail", code = 451, enhanced = "4.7.1",
    text = "greylisted, try again later", stage = "s"}})
  t.eq(r.headers.added, {{"X-Rcpt", "bob@example.com"}})
end)
test("every recipient refused", function(t)
  local r = t.run{script = "grey.lua", raw = "x", rcpt = {"nobody@example.com"}}
  t.eq(r.verdict, "reject")
  t.eq(r.code, 550)
  t.eq(#r.rcpt_refused, 1)
  t.eq(r.stages[#r.stages].hook, "on_rcpt")
end)
test("sender refused", function(t)
  local r = t.run{script = "grey.lua", raw = "x", from = "a@spam.example"}
  t.eq({r.verdict, r.text, r.stages[#r.stages].hook}, {"reject", "sender refused", "on_mail"})
  t.eq(r.rcpt_refused, nil)
end)
test("client and helo", function(t)
  local r = t.run{script = "grey.lua", raw = "x", client = "192.0.2.66"}
  t.eq({r.verdict, r.text, #r.stages}, {"reject", "blocked 192.0.2.66", 1})
  r = t.run{script = "grey.lua", raw = "x", client = "192.0.2.1:25", helo = "localhost"}
  t.eq({r.verdict, r.text, r.stages[#r.stages].hook}, {"reject", "bad helo", "on_helo"})
end)
`
	rs, env := runTests(t, src, files{"t/grey.lua": greylist})
	for _, r := range rs {
		if r.Failed {
			t.Errorf("%s: %s: %s\n%s", r.Name, r.Where, r.Message, strings.Join(r.Log, "\n"))
		}
	}
	if len(rs) != 4 {
		t.Errorf("%d results, want 4", len(rs))
	}
	if s := env.specs[len(env.specs)-2]; s.Client != "192.0.2.66:0" {
		t.Errorf("client %q, want 192.0.2.66:0", s.Client)
	}
}

func TestTestFilterAnswer(t *testing.T) {
	src := `
test("answers", function(t)
  t.filter("av", {verdict = "spam", score = 7.5, threshold = 5, symbols = {"B", "A"}, log = "one line"})
  local r = t.run{script = "av.lua", raw = "Subject: x\r\n\r\nx\r\n"}
  t.eq(r.headers.added[1], {"X-Scanned", "spam"})
end)
test("error answer applies on_error", function(t)
  t.filter("av", {error = "clamd down", on_error = "reject"})
  local r = t.run{script = "av.lua", raw = "x"}
  t.eq(r.verdict, "reject")
  t.eq(r.text, "message could not be checked")
  t.filter("av", nil)
  r = t.run{script = "av.lua", raw = "x"}
  t.eq(r.verdict, "tempfail")
end)
test("bad answers", function(t)
  local ok, err = pcall(t.filter, "av", {verdict = "virus"})
  t.ok(not ok)
  t.contains(err, 'verdict "virus" is none of')
  ok, err = pcall(t.filter, "av", {verdit = "clean"})
  t.contains(err, 'unknown field "verdit"')
end)
`
	rs, _ := runTests(t, src, files{"t/av.lua": antivirus})
	for _, r := range rs {
		if r.Failed {
			t.Errorf("%s: %s: %s\n%s", r.Name, r.Where, r.Message, strings.Join(r.Log, "\n"))
		}
	}
	if len(rs) != 3 {
		t.Errorf("%d results", len(rs))
	}
}

func TestTestQuery(t *testing.T) {
	src := `
test("rows", function(t)
  local rows, cols = t.query("orders", "SELECT ?", 7, "x", true, nil)
  t.eq(rows, {{n = 7}})
  t.eq(cols, {"n"})
  local ok, err = pcall(t.query, "orders", "SELECT ?", {})
  t.contains(err, "only strings, numbers, booleans and nil")
end)
`
	var gotArgs []any
	rs, _ := runTests(t, src, nil, func(o *TestOptions) {
		newEnv := o.NewEnv
		o.NewEnv = func(file string, log *slog.Logger) (TestEnv, error) {
			env, _ := newEnv(file, log)
			env.(*scriptEnv).query = func(db, q string, args []any) ([]map[string]any, []string, error) {
				gotArgs = args
				return []map[string]any{{"n": int64(7)}}, []string{"n"}, nil
			}
			return env, nil
		}
	})
	if len(rs) != 1 || rs[0].Failed {
		t.Fatalf("%+v", outcomes(rs))
	}
	if diff := cmp.Diff([]any{int64(7), "x", true, nil}, gotArgs); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}
