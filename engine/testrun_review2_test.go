package engine

// Regression tests from the second review of the `sluice test` runner. Each
// failed when written; see the report of that review.

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runReview2 runs src as t/x_test.lua with a scriptEnv and timeout d, and
// fails t when RunTestFile is still busy after limit.
func runReview2(t *testing.T, src string, d, limit time.Duration) []TestResult {
	t.Helper()
	fs := files{"t/x_test.lua": src}
	done := make(chan []TestResult, 1)
	go func() {
		done <- RunTestFile(context.Background(), "t/x_test.lua", TestOptions{ReadFile: fs.read, Timeout: d,
			NewEnv: func(string, *slog.Logger) (TestEnv, error) { return &scriptEnv{files: fs}, nil }})
	}()
	select {
	case rs := <-done:
		return rs
	case <-time.After(limit):
		t.Fatalf("RunTestFile still busy %v after a %v test deadline", limit, d)
		return nil
	}
}

// t.eq compares tables by content however deep they are.
func TestReview2EqDeepTables(t *testing.T) {
	src := `local function list(n) local l = nil for i = 1, n do l = {next = l} end return l end
test("deep", function(t) t.eq(list(60), list(60)) end)`
	rs := runReview2(t, src, 2*time.Second, 10*time.Second)
	if len(rs) != 1 || rs[0].Failed {
		t.Errorf("two equal 60-deep lists: %+v", outcomes(rs))
	}
}

// Comparing two tables that share subtables (a DAG, 2^n paths) must not
// outlive the test's deadline: luaEqual runs in Go and never looks at it.
func TestReview2EqSharedSubtablesHonourTimeout(t *testing.T) {
	src := `local function build() local x = {} for i = 1, 24 do x = {x, x} end return x end
test("dag", function(t) t.eq(build(), build()) end)`
	start := time.Now()
	rs := runReview2(t, src, 100*time.Millisecond, 30*time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("t.eq on shared subtables took %v with a 100ms deadline (depth 50 would take years): %+v", d, outcomes(rs))
	}
}

// closeCount is a TestEnv that counts its Close calls.
type closeCount struct {
	scriptEnv
	closed *int
}

func (c *closeCount) Close() error { *c.closed++; return nil }

// A t kept from an earlier test must not make an env that is never closed.
func TestReview2StaleTEnvClosed(t *testing.T) {
	src := `local saved
test("a", function(t) saved = t end)
test("b", function(t) pcall(saved.query, "db", "SELECT 1") end)`
	fs := files{"t/x_test.lua": src}
	made, closed := 0, 0
	RunTestFile(context.Background(), "t/x_test.lua", TestOptions{ReadFile: fs.read, Timeout: time.Second,
		NewEnv: func(string, *slog.Logger) (TestEnv, error) { made++; return &closeCount{closed: &closed}, nil }})
	if made != closed {
		t.Errorf("%d envs made, %d closed (a t used after its test leaks its temporary folder and databases)", made, closed)
	}
}

// error(table) names the value, not a pointer.
func TestReview2ErrorTableMessage(t *testing.T) {
	rs := runReview2(t, `test("e", function(t) error({code = 1}) end)`, time.Second, 10*time.Second)
	if len(rs) != 1 || !rs[0].Failed || strings.Contains(rs[0].Message, "0x") || !strings.Contains(rs[0].Message, "error {code = 1}") {
		t.Errorf("error({code = 1}): %+v", outcomes(rs))
	}
}

// t.run{message = F} where F never ends (a FIFO, /dev/zero) must not hang
// past the deadline.
func TestReview2MessageFIFOHonoursTimeout(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m.eml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	file := filepath.Join(dir, "x_test.lua")
	if err := os.WriteFile(file, []byte(`test("fifo", function(t) t.run{script = "s.lua", message = "m.eml"} end)`), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan []TestResult, 1)
	go func() {
		done <- RunTestFile(context.Background(), file, TestOptions{Timeout: 200 * time.Millisecond,
			NewEnv: func(string, *slog.Logger) (TestEnv, error) { return &scriptEnv{}, nil }})
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Errorf("RunTestFile blocked reading a FIFO 3s after a 200ms deadline")
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close() // let the reader go
		}
		<-done
	}
}

// A test that logs in a loop keeps a bounded log (here it kept ~1 GB/s).
func TestReview2LogBounded(t *testing.T) {
	rs := runReview2(t, `test("flood", function(t)
  local s = string.rep("x", 1000000)
  while true do t.log(s) end
end)`, 300*time.Millisecond, 10*time.Second)
	n := 0
	for _, l := range rs[0].Log {
		n += len(l)
	}
	if n > 16<<20 {
		t.Errorf("the log of one test kept %d MB (%d lines)", n>>20, len(rs[0].Log))
	}
}
