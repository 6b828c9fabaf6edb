package handoff

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A hostile filter must give its verdict within its deadline + 1 s, leave
// no process and no file behind, not blow up the server's memory, and the
// filter must keep serving afterwards. The scripts are in
// testdata/hostile; each answers a message with "Subject: normal" normally.

var hostileNormalMsg = []byte("From: a@example.org\r\nTo: b@example.com\r\nSubject: normal\r\n\r\nJust mail.\r\n")

func TestHostile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks processes through /proc")
	}
	const timeout = 500 * time.Millisecond
	for _, tc := range []struct {
		script   string
		output   string
		verdicts map[string]string
		want     Verdict
		slow     bool   // on a loaded machine the output may take longer than the deadline: Timeout is fine too
		err      string // in Err; "" for none
		log      string // in a Log line; "" for no check
		memory   bool   // check the memory used
	}{
		{script: "hang.sh", want: Timeout, err: "no answer within 500ms"},
		{script: "children.sh", want: Timeout, err: "no answer within 500ms"},
		{script: "ignoreterm.sh", want: Timeout, err: "no answer within 500ms"},
		{script: "grandchild.sh", want: Clean},
		{script: "bigout.sh", want: Clean, slow: true, log: "standard output cut: 100000000 bytes written, 65536 kept", memory: true},
		{script: "bigmsg.sh", output: "message", want: Clean, slow: true, log: "rewritten message refused: 1048577 bytes, over max_bytes 1048576", memory: true},
		{script: "signal.sh", want: Error, err: "died: signal: killed"},
		{script: "exit7.sh", verdicts: map[string]string{"0": "clean", "1": "infected"}, want: Error,
			err: "exit status 7 has no verdict: exit7: something odd happened"},
		{script: "garbage.sh", output: "message", want: Clean, log: "rewritten message refused: no header field"},
		{script: "rmself.sh", want: Clean},
		{script: "stderrflood.sh", want: Clean, slow: true, log: "standard error cut: 50000000 bytes written, 65536 kept", memory: true},
		{script: "locked.sh", want: Clean},
	} {
		t.Run(strings.TrimSuffix(tc.script, ".sh"), func(t *testing.T) {
			script, err := filepath.Abs(filepath.Join("testdata", "hostile", tc.script))
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			f, err := New("hostile", Spec{
				Kind:            "exec",
				Command:         []string{"sh", script},
				Output:          tc.output,
				Verdicts:        tc.verdicts,
				Timeout:         timeout,
				MaxOutputBytes:  64 << 10,
				MaxBytes:        1 << 20,
				BreakerFailures: 3,
				WorkDir:         work,
			}, filterLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			var pgid atomic.Int64
			f.scanner.(*execScanner).started = func(pid int) { pgid.Store(int64(pid)) }

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			t0 := time.Now()
			r := f.Scan(t.Context(), filterMsg)
			took := time.Since(t0)
			runtime.ReadMemStats(&after)

			errText := ""
			if r.Err != nil {
				errText = r.Err.Error()
			}
			if tc.slow && r.Verdict == Timeout {
				tc.want, tc.err, tc.log = Timeout, "no answer within 500ms", ""
			}
			t.Logf("%s: verdict %s in %v; err %q; %d log lines", tc.script, r.Verdict, took.Round(time.Millisecond), errText, len(r.Log))
			if r.Verdict != tc.want {
				t.Errorf("verdict %s, want %s (err %v, log %q)", r.Verdict, tc.want, r.Err, hostileLastLines(r.Log))
			}
			if tc.err == "" && r.Err != nil || !strings.Contains(errText, tc.err) {
				t.Errorf("err %q, want %q", errText, tc.err)
			}
			if tc.want == Timeout && !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Errorf("err %v does not wrap context.DeadlineExceeded", r.Err)
			}
			if tc.log != "" && !strings.Contains(strings.Join(r.Log, "\n"), tc.log) {
				t.Errorf("log %q, want a line with %q", hostileLastLines(r.Log), tc.log)
			}
			if r.Modified != nil {
				t.Errorf("a hostile filter's rewrite was accepted: %.40q", r.Modified)
			}
			if len(r.Log) > maxLogLines+10 {
				t.Errorf("%d log lines, want at most %d and a few notes", len(r.Log), maxLogLines)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v, want at most the timeout + 1s", took)
			}
			if grown := after.TotalAlloc - before.TotalAlloc; tc.memory && grown > 8<<20 {
				t.Errorf("allocated %d MiB during the scan, want under 8", grown>>20)
			}
			hostileCheckGroup(t, int(pgid.Load()))
			hostileCheckEmpty(t, work)

			// The same filter still serves.
			r = f.Scan(t.Context(), hostileNormalMsg)
			if r.Verdict != Clean || r.Err != nil || r.Modified != nil {
				t.Errorf("normal scan afterwards: got %s, %v, modified %v; want clean", r.Verdict, r.Err, r.Modified != nil)
			}
			hostileCheckGroup(t, int(pgid.Load()))
			hostileCheckEmpty(t, work)
			if st := f.Stats(); st.Running != 0 || st.Breaker != "closed" || st.Scans != 2 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// hostileCheckGroup checks that no live process is left in process group pgid.
// Killed processes whose parent died end as zombies of PID 1 until it
// reaps them (in some containers, never): they run nothing and hold no
// files, so they count as gone.
func hostileCheckGroup(t *testing.T, pgid int) {
	t.Helper()
	if pgid <= 0 {
		t.Error("the program's process group was not recorded")
		return
	}
	// SIGKILL is delivered asynchronously: give the kernel a moment.
	deadline := time.Now().Add(time.Second)
	for {
		live := hostileGroup(t, pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left in group %d: %s", pgid, strings.Join(live, "; "))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostileGroup lists the processes of group pgid that are not zombies, as
// "pid (comm) state".
func hostileGroup(t *testing.T, pgid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g == pgid && fields[0] != "Z" {
			live = append(live, fmt.Sprintf("%s %s", s[:i+1], fields[0]))
		}
	}
	return live
}

// hostileCheckEmpty checks that dir holds nothing.
func hostileCheckEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in the work folder: %s", e.Name())
	}
}

// hostileLastLines shows the end of a long log.
func hostileLastLines(log []string) []string {
	if len(log) > 5 {
		return log[len(log)-5:]
	}
	return log
}
