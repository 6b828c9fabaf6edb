package engine

// The runner of `sluice test`: the tests of one *_test.lua file.
//
// A test file runs in a sandboxed state like a stage script (the same
// libraries, require from the test file's folder) with one extra global,
// test(name, fn), which registers a test. When the file has loaded, each
// test runs in order with its own deadline: fn(t), where t (see testlib.go)
// runs the pipeline on fixture messages (t.run), replaces filters with
// fixed answers (t.filter) and asserts (t.eq, t.ok …). A failed assertion
// stops its test. What the pipeline needs that the engine does not know
// (the configuration, filters, databases) comes from TestOptions.NewEnv.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/stdlib"
)

// TestEnv is what the tests of one test get from the program that runs
// them: the pipeline on throw-away databases, and those databases. One env
// serves one test and is closed when the test ends.
type TestEnv interface {
	// Run runs the transaction — session hooks, then the pipeline (see
	// Engine.Transaction) — or one script on a message as spec says,
	// as a dry run unless spec.Commit, and returns the result in the shape
	// of `sluice run --json`. An error (a script that does not compile, a
	// configuration that does not load, a filter that is needed and cannot
	// be built) fails the test.
	Run(ctx context.Context, spec RunSpec) (*Result, error)
	// Query runs one statement on the test's copy of [database.NAME] and
	// returns its rows and columns (as the db module's h:query does).
	Query(ctx context.Context, db, query string, args ...any) ([]map[string]any, []string, error)
	// Close removes what the test made (its databases, its temporary folder).
	Close() error
}

// RunSpec is one t.run: which pipeline, which message, which envelope.
// Paths are already resolved against the test file's folder.
type RunSpec struct {
	// Script, when set, is the one script to run as the only stage.
	Script string
	// Config, when set, is the configuration file to run. With neither,
	// the env picks the configuration (see `sluice test -h`).
	Config string
	// Message is the raw message.
	Message []byte
	// From and Rcpt are the envelope; Client ("ip:port") and Helo the
	// SMTP client's.
	From         string
	Rcpt         []string
	Client, Helo string
	// Vars is msg.vars when the pipeline starts (nil: empty).
	Vars map[string]any
	// Filters replace the configured [filter.NAME] of the same name (or add
	// one). A Filter whose OnError is "" takes the configured filter's.
	Filters map[string]stdlib.Filter
	// Commit does the side effects (on the test's throw-away databases and
	// mail store) instead of recording them.
	Commit bool
}

// Defaults of a t.run that does not give them; the same as `sluice run`.
const (
	TestFrom   = "sender@example.org"
	TestRcpt   = "postmaster@localhost"
	TestClient = "127.0.0.1:0"
)

// TestOptions configure RunTestFile. The zero value of each field is a safe
// default.
type TestOptions struct {
	// NewEnv makes the environment of one test of file, on first use by
	// t.run or t.query; log is where the test's log goes. nil: t.run and
	// t.query fail.
	NewEnv func(file string, log *slog.Logger) (TestEnv, error)
	// Timeout is the deadline of each test (and of loading the file);
	// default 30s.
	Timeout time.Duration
	// Match selects the tests to run by name; nil runs all.
	Match func(name string) bool
	// LogLevel is the lowest level kept in a test's log; default info.
	LogLevel slog.Level
	// Report is called as each test ends (and for a file that does not
	// load), in order.
	Report func(TestResult)
	// ReadFile reads the test file, the modules it requires and the
	// messages of t.run; default: regular files only, up to 64 MiB (a FIFO
	// or a device named by a test must not hang or exhaust the run).
	ReadFile func(name string) ([]byte, error)
	// Limits cap what the test file can build, as for scripts.
	Limits stdlib.Limits
}

// TestResult is the outcome of one test, or of loading a file (Name "").
type TestResult struct {
	// File is the test file, as given to RunTestFile.
	File string
	// Name is the test's name; "" when the file did not load.
	Name string
	// Line is where test() registered the test (0 for a load failure).
	Line int
	// Failed is set when the test failed; Where is then "file:line" of the
	// failure (the assertion, the error) and Message says what failed.
	Failed  bool
	Where   string
	Message string
	// Duration is how long the test ran.
	Duration time.Duration
	// Log holds the lines the test and its runs logged (t.log, print, the
	// scripts' log module, the engine), oldest first.
	Log []string
}

// RunTestFile loads the test file file, runs its tests in order and returns
// their results (also given to opt.Report one by one). A file that does not
// compile or load gives one failed result with Name "". A file without
// tests gives none. A test that overruns its deadline fails, and the file
// is loaded again on a fresh state for the tests after it.
func RunTestFile(ctx context.Context, file string, opt TestOptions) []TestResult {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.ReadFile == nil {
		opt.ReadFile = readRegular
	}
	var out []TestResult
	report := func(r TestResult) {
		out = append(out, r)
		if opt.Report != nil {
			opt.Report(r)
		}
	}
	fail := func(err error, log *testLog) {
		r := TestResult{File: file, Failed: true}
		r.Where, r.Message = splitWhere(err.Error(), file)
		if log != nil {
			r.Log = log.Lines()
		}
		report(r)
	}
	src, err := opt.ReadFile(file)
	if err != nil {
		fail(err, nil)
		return out
	}
	proto, err := compileSource(file, src)
	if err != nil {
		if rest, ok := strings.CutPrefix(err.Error(), file+": at end of file: "); ok {
			// Point at the last line rather than at no line.
			err = fmt.Errorf("%s:%d: %s at the end of the file", file, bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n"))+1, rest)
		}
		fail(err, nil)
		return out
	}
	for next := 0; ; {
		log := newTestLog(opt.LogLevel)
		tf, err := loadTestFile(ctx, file, proto, opt, log)
		if err != nil {
			fail(err, log)
			return out
		}
		reload := false
		for ; next < len(tf.tests) && !reload; next++ {
			lt := tf.tests[next]
			if opt.Match != nil && !opt.Match(lt.name) {
				continue
			}
			r, broken := tf.run(ctx, lt)
			report(r)
			if ctx.Err() != nil {
				tf.close()
				return out
			}
			reload = broken
		}
		tf.close()
		if !reload || next >= len(tf.tests) {
			return out
		}
	}
}

// testFile is a loaded test file: its state and its tests.
type testFile struct {
	file, dir string
	opt       TestOptions
	eng       *Engine
	s         *state
	tests     []*luaTest
	// loading is set while the file's main chunk runs (test() works then).
	loading bool
}

// luaTest is one test(name, fn).
type luaTest struct {
	name string
	line int
	fn   *lua.LFunction
}

// loadTestFile runs the main chunk of a test file on a new sandboxed state
// and collects its tests.
func loadTestFile(ctx context.Context, file string, proto *lua.FunctionProto, opt TestOptions, log *testLog) (*testFile, error) {
	dir := filepath.Dir(file)
	eng, err := New(Options{ReadFile: opt.ReadFile, ModuleRoot: dir, Limits: opt.Limits,
		Logger: log.logger, States: 1, MemoryLimit: -1})
	if err != nil {
		return nil, err
	}
	s, err := eng.newState()
	if err != nil {
		eng.Close()
		return nil, err
	}
	tf := &testFile{file: file, dir: dir, opt: opt, eng: eng, s: s}
	env := s.newEnv()
	env.RawSetString("test", s.L.NewFunction(tf.register))

	lctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	s.L.SetContext(lctx)
	s.call.Ctx = lctx
	tf.loading = true
	_, err = s.load(proto, env)
	tf.loading = false
	s.L.RemoveContext()
	s.call.Ctx = nil
	s.L.SetTop(0)
	if err != nil {
		tf.close()
		msg := scriptError(err)
		if lctx.Err() != nil {
			msg = timeoutText(msg, opt.Timeout)
		}
		return nil, errors.New(msg)
	}
	return tf, nil
}

// register is test(name, fn).
func (tf *testFile) register(L *lua.LState) int {
	name := L.CheckString(1)
	fn := L.CheckFunction(2)
	if !tf.loading {
		L.RaiseError("test: call test(name, fn) at the top level of the file, not inside a test")
	}
	if strings.TrimSpace(name) == "" {
		L.ArgError(1, "a test needs a name")
	}
	line := 0
	if m := whereRE.FindStringSubmatch(L.Where(1)); m != nil {
		line, _ = strconv.Atoi(m[2])
	}
	for _, t := range tf.tests {
		if t.name == name {
			L.RaiseError("test %q is defined twice (first at line %d)", name, t.line)
		}
	}
	tf.tests = append(tf.tests, &luaTest{name: name, line: line, fn: fn})
	return 0
}

// run runs one test with its deadline. broken reports that the state must
// not be used again (the test overran, or a Go function panicked).
func (tf *testFile) run(parent context.Context, lt *luaTest) (r TestResult, broken bool) {
	ctx, cancel := context.WithTimeout(parent, tf.opt.Timeout)
	defer cancel()
	log := newTestLog(tf.opt.LogLevel)
	tc := &testCtx{tf: tf, ctx: ctx, log: log, name: lt.name, filters: map[string]stdlib.Filter{}}
	L := tf.s.L
	t := tc.table(L)
	tf.s.call.Ctx, tf.s.call.Logger = ctx, log.logger
	L.SetContext(ctx)

	start := time.Now()
	L.Push(lt.fn)
	L.Push(t)
	err := L.PCall(1, 0, nil)
	r = TestResult{File: tf.file, Name: lt.name, Line: lt.line, Duration: time.Since(start)}

	L.RemoveContext()
	L.SetTop(0)
	tf.s.call.Ctx = nil
	tc.ended = true // a t kept by the script is refused from now on
	if cerr := tc.closeEnv(); cerr != nil {
		log.add("closing the test's environment: " + cerr.Error())
	}
	if err != nil {
		r.Failed = true
		msg := scriptError(err)
		var ae *lua.ApiError
		if errors.As(err, &ae) && ae.Type == lua.ApiErrorPanic {
			broken = true
		}
		if ctx.Err() != nil && parent.Err() == nil {
			msg = timeoutText(msg, tf.opt.Timeout)
			broken = true
		}
		r.Where, r.Message = splitWhere(msg, tf.file+":"+strconv.Itoa(lt.line))
	}
	r.Log = log.Lines()
	return r, broken
}

// close stops the state and its (empty) engine.
func (tf *testFile) close() {
	tf.s.close()
	tf.eng.Close()
}

// timeoutText rewrites the error of a test stopped by its deadline,
// keeping where it was stopped.
func timeoutText(msg string, d time.Duration) string {
	where := scriptLocation(msg)
	text := fmt.Sprintf("test timed out after %v", d)
	if where != "" {
		return where + ": " + text
	}
	return text
}

// columnRE is the column that follows the line in a syntax error.
var columnRE = regexp.MustCompile(`^\d+:\s*`)

// splitWhere splits "file:line: message" into "file:line" and message;
// without a location, where is def.
func splitWhere(msg, def string) (where, text string) {
	if m := whereRE.FindStringSubmatch(msg); m != nil {
		rest := msg[len(m[0]):]
		if c := columnRE.FindString(rest); c != "" { // a syntax error's "line:col:"
			rest = rest[len(c):]
		}
		return m[1] + ":" + m[2], strings.TrimSpace(rest)
	}
	return def, msg
}

// testLog collects the log lines of one test. The engine may log from the
// goroutines of its states, so it is locked.
type testLog struct {
	logger *slog.Logger

	mu      sync.Mutex // guards lines and dropped
	lines   []string
	dropped int // lines over maxLogLines
}

func newTestLog(level slog.Level) *testLog {
	l := &testLog{}
	l.logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	return l
}

// Write takes one record of the text handler.
func (l *testLog) Write(p []byte) (int, error) {
	l.add(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Caps of a test's log: a test that logs in a loop must not take the
// process's memory.
const (
	maxLogLines = 1000
	maxLogLine  = 4096
)

func (l *testLog) add(line string) {
	if len(line) > maxLogLine {
		line = line[:maxLogLine] + "…"
	}
	l.mu.Lock()
	switch {
	case len(l.lines) < maxLogLines:
		l.lines = append(l.lines, line)
	default:
		l.dropped++
	}
	l.mu.Unlock()
}

// Lines returns a copy of the lines so far.
func (l *testLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.lines...)
	if l.dropped > 0 {
		out = append(out, fmt.Sprintf("… %d more lines dropped", l.dropped))
	}
	return out
}

// maxFixture caps what readRegular reads.
const maxFixture = 64 << 20

// readRegular reads a regular file of at most maxFixture bytes.
func readRegular(name string) ([]byte, error) {
	// Stat first: opening a FIFO for reading blocks until a writer comes.
	if fi, err := os.Stat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if fi.Size() > maxFixture {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a test reads", name, fi.Size(), maxFixture)
	}
	return io.ReadAll(io.LimitReader(f, maxFixture))
}
