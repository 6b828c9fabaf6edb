package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The contract of an exec filter program:
//
//   - It runs without a shell, with Command as its argv. "{file}" in any
//     argument is replaced by the path of the message; with input "file" and
//     no "{file}", the path is the last argument. With input "stdin" the
//     message is also its standard input (otherwise /dev/null).
//   - Its working directory is a private 0700 folder that holds only the
//     message, "message.eml" (0600); the folder is removed after the scan,
//     so the program may write or delete files there.
//   - Its environment is PATH=/usr/local/bin:/usr/bin:/bin, HOME and TMPDIR
//     set to the private folder, LANG=C and SLUICE_FILE, the message's path.
//     Command[0] is looked up in that PATH.
//   - Its exit status is mapped to a verdict by Verdicts; death by a signal
//     is an error.
//   - Its standard error, and its standard output unless Output is
//     "message", are log text: kept up to MaxOutputBytes each, then counted
//     and discarded. With Output "message" a non-empty standard output
//     (up to MaxBytes) is the rewritten message.
//   - It runs in a process group of its own. When the deadline passes the
//     whole group is killed with SIGKILL, and when the program exits,
//     whatever it left running in its group is killed too. A process that
//     leaves the group (setsid) escapes this; its hold on the output pipes
//     is cut execWaitDelay after the program exits.

// execPath is the PATH of a filter program, and where Command[0] is found.
const execPath = "/usr/local/bin:/usr/bin:/bin"

// execWaitDelay bounds how long the output pipes are read after the
// program exited (or was killed) while something else still holds them.
const execWaitDelay = 500 * time.Millisecond

// maxLogLines caps the lines of output copied into Result.Log.
const maxLogLines = 1000

// maxNameLen caps Result.Name.
const maxNameLen = 200

// fileArg is replaced by the message's path in Command.
const fileArg = "{file}"

// execScanner runs a program per message.
type execScanner struct {
	argv     []string
	stdin    bool            // the message is also standard input
	outMsg   bool            // standard output is the rewritten message
	verdicts map[int]Verdict // exit status → verdict; empty: 0 clean, others error
	nameRe   *regexp.Regexp  // nil: no name
	maxOut   int64           // cap of log output (stderr, stdout unless outMsg)
	maxMsg   int64           // cap of stdout when outMsg
	workDir  string          // where the private folders are made; "" for os.TempDir
	started  func(pgid int)  // test hook: called with the group's id once it runs
}

// newExec builds the exec scanner of spec.
func newExec(spec Spec) (Scanner, error) {
	spec = spec.withDefaults()
	e := &execScanner{
		maxOut:  spec.MaxOutputBytes,
		maxMsg:  spec.MaxBytes,
		workDir: spec.WorkDir,
	}
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return nil, errors.New("handoff: exec: command is required, with the program first")
	}
	e.argv = append([]string(nil), spec.Command...)
	if prog := e.argv[0]; strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		abs, err := filepath.Abs(prog)
		if err != nil {
			return nil, fmt.Errorf("handoff: exec: %w", err)
		}
		e.argv[0] = abs
	}
	switch spec.Input {
	case "", "file":
		if !anyContains(e.argv[1:], fileArg) {
			e.argv = append(e.argv, fileArg)
		}
	case "stdin":
		e.stdin = true
	default:
		return nil, fmt.Errorf("handoff: exec: input %q: want \"file\" or \"stdin\"", spec.Input)
	}
	switch spec.Output {
	case "":
	case "message":
		e.outMsg = true
	default:
		return nil, fmt.Errorf("handoff: exec: output %q: want \"\" or \"message\"", spec.Output)
	}
	v, err := parseVerdicts(spec.Verdicts)
	if err != nil {
		return nil, fmt.Errorf("handoff: exec: %w", err)
	}
	e.verdicts = v
	if spec.NameRegex != "" {
		re, err := regexp.Compile(spec.NameRegex)
		if err != nil {
			return nil, fmt.Errorf("handoff: exec: name_regex: %w", err)
		}
		e.nameRe = re
	}
	return e, nil
}

// anyContains reports whether an element of args contains sub.
func anyContains(args []string, sub string) bool {
	for _, a := range args {
		if strings.Contains(a, sub) {
			return true
		}
	}
	return false
}

// parseVerdicts reads the exit status → verdict table.
func parseVerdicts(m map[string]string) (map[int]Verdict, error) {
	out := make(map[int]Verdict, len(m))
	for code, verdict := range m {
		n, err := strconv.Atoi(code)
		if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != code {
			return nil, fmt.Errorf("verdicts: %q is not an exit status from 0 to 255", code)
		}
		switch v := Verdict(verdict); v {
		case Clean, Infected, Spam, Ham, Error:
			out[n] = v
		default:
			return nil, fmt.Errorf("verdicts: %s = %q: want clean, infected, spam, ham or error", code, verdict)
		}
	}
	return out, nil
}

// Scan runs the program on a private copy of msg.
func (e *execScanner) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	r := e.scan(ctx, msg)
	r.Duration = time.Since(start)
	return r
}

func (e *execScanner) scan(ctx context.Context, msg []byte) (r Result) {
	dir, err := os.MkdirTemp(e.workDir, "sluice-exec-")
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("exec: make work folder: %w", err)}
	}
	defer func() {
		// Runs after the program's group is dead: nothing writes here any
		// more.
		if err := removeDir(dir); err != nil {
			r.Log = append(r.Log, "work folder not removed: "+err.Error())
		}
	}()
	path := filepath.Join(dir, "message.eml")
	if err := os.WriteFile(path, msg, 0o600); err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("exec: write message: %w", err)}
	}
	run, err := e.run(ctx, dir, path)
	if err != nil {
		return Result{Verdict: Error, Err: err}
	}
	return e.result(ctx, run)
}

// execRun is what one run of the program left.
type execRun struct {
	state          *os.ProcessState
	stdout, stderr capBuffer
	waitErr        error // from Wait, other than the exit status
}

// run starts the program in the private folder dir and waits for it and its
// process group.
func (e *execScanner) run(ctx context.Context, dir, path string) (*execRun, error) {
	prog, err := lookPath(e.argv[0])
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	args := make([]string, len(e.argv)-1)
	for i, a := range e.argv[1:] {
		args[i] = strings.ReplaceAll(a, fileArg, path)
	}
	run := &execRun{stdout: capBuffer{max: e.maxOut}, stderr: capBuffer{max: e.maxOut}}
	if e.outMsg {
		// One byte over the limit, so that a message too large is
		// refused rather than cut.
		run.stdout.max = e.maxMsg + 1
	}

	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Args[0] = e.argv[0]
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + execPath, "HOME=" + dir, "TMPDIR=" + dir, "LANG=C", "SLUICE_FILE=" + path}
	cmd.Stdout, cmd.Stderr = &run.stdout, &run.stderr
	cmd.WaitDelay = execWaitDelay
	if e.stdin {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("exec: open message: %w", err)
		}
		defer f.Close()
		cmd.Stdin = f // a file: the child reads it directly, no copying goroutine
	}
	var g procGroup
	if err := g.setup(cmd); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec: start %s: %w", e.argv[0], err)
	}
	if e.started != nil {
		e.started(cmd.Process.Pid)
	}
	g.waitLeader(cmd.Process.Pid)
	err = cmd.Wait()
	g.reaped()
	run.state = cmd.ProcessState
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		run.waitErr = err
	}
	return run, nil
}

// result maps a finished run to a Result.
func (e *execScanner) result(ctx context.Context, run *execRun) Result {
	r := Result{Log: e.logLines(run)}
	status := run.state.ExitCode()
	switch {
	case ctx.Err() != nil:
		r.Verdict = Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.Verdict = Timeout
		}
		r.Err = fmt.Errorf("exec: %s killed: %w", e.argv[0], ctx.Err())
		return r
	case status < 0:
		r.Verdict, r.Err = Error, fmt.Errorf("exec: %s died: %s%s", e.argv[0], run.state, e.hint(run))
		return r
	}
	r.Verdict, r.Err = e.verdict(status, run)
	if r.Verdict == Error {
		return r
	}
	r.Name = e.name(run)
	if e.outMsg && len(run.stdout.buf) > 0 {
		r.Modified = run.stdout.buf
	}
	return r
}

// verdict maps an exit status.
func (e *execScanner) verdict(status int, run *execRun) (Verdict, error) {
	if len(e.verdicts) == 0 {
		if status == 0 {
			return Clean, nil
		}
		return Error, fmt.Errorf("exec: %s: exit status %d%s", e.argv[0], status, e.hint(run))
	}
	v, ok := e.verdicts[status]
	switch {
	case !ok:
		return Error, fmt.Errorf("exec: %s: exit status %d has no verdict%s", e.argv[0], status, e.hint(run))
	case v == Error:
		return Error, fmt.Errorf("exec: %s: exit status %d means error%s", e.argv[0], status, e.hint(run))
	}
	return v, nil
}

// hint quotes the first line of standard error for an error message.
func (e *execScanner) hint(run *execRun) string {
	for line := range bytes.Lines(run.stderr.buf) {
		if s := cleanLine(line, maxNameLen); s != "" {
			return ": " + s
		}
	}
	return ""
}

// name finds what the program named in its output.
func (e *execScanner) name(run *execRun) string {
	if e.nameRe == nil {
		return ""
	}
	outs := [][]byte{run.stdout.buf, run.stderr.buf}
	if e.outMsg {
		// Standard output is the message, whose text the sender chose.
		outs = outs[1:]
	}
	for _, out := range outs {
		if m := e.nameRe.FindSubmatch(out); m != nil {
			if len(m) > 1 && m[1] != nil {
				return cleanLine(m[1], maxNameLen)
			}
			return cleanLine(m[0], maxNameLen)
		}
	}
	return ""
}

// logLines turns the program's log output into Result.Log lines, with the
// hand-off's own notes after them.
func (e *execScanner) logLines(run *execRun) []string {
	var log []string
	dropped := 0
	add := func(b []byte) {
		for line := range bytes.Lines(b) {
			if s := cleanLine(line, 0); s != "" {
				if len(log) < maxLogLines {
					log = append(log, s)
				} else {
					dropped++
				}
			}
		}
	}
	if !e.outMsg {
		add(run.stdout.buf)
	}
	add(run.stderr.buf)
	if dropped > 0 {
		log = append(log, fmt.Sprintf("%d more log lines dropped", dropped))
	}
	if run.stdout.truncated() {
		log = append(log, fmt.Sprintf("standard output cut: %d bytes written, %d kept", run.stdout.n, run.stdout.max))
	}
	if run.stderr.truncated() {
		log = append(log, fmt.Sprintf("standard error cut: %d bytes written, %d kept", run.stderr.n, run.stderr.max))
	}
	if errors.Is(run.waitErr, exec.ErrWaitDelay) {
		log = append(log, "output still held open after the program exited: closed")
	} else if run.waitErr != nil {
		log = append(log, "wait: "+run.waitErr.Error())
	}
	return log
}

// cleanLine returns line as valid UTF-8 without control characters or
// surrounding space, cut to max bytes when max > 0.
func cleanLine(line []byte, max int) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(line), "\uFFFD"))
	s = strings.TrimSpace(s)
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// lookPath finds a program in execPath, unless its name has a slash.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(execPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, execPath)
}

// capBuffer keeps the first max bytes written to it and counts the rest,
// which it discards: a program that prints 100 MB costs no memory.
type capBuffer struct {
	max int64
	buf []byte
	n   int64 // bytes written in all
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if room := c.max - int64(len(c.buf)); room > 0 {
		c.buf = append(c.buf, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}

// truncated reports whether bytes were discarded.
func (c *capBuffer) truncated() bool { return c.n > int64(len(c.buf)) }

// removeDir removes a private folder, first giving back the permissions a
// filter may have taken away from its sub-folders.
func removeDir(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil {
		return nil
	}
	// WalkDir does not follow symbolic links: only real folders are
	// changed.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
