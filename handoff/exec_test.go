package handoff

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execFilter builds an exec filter working in a fresh folder, and checks
// after the test that every private folder was removed.
func execFilter(t testing.TB, spec Spec) *Filter {
	t.Helper()
	spec.Kind = "exec"
	if spec.WorkDir == "" {
		work := t.TempDir()
		spec.WorkDir = work
		t.Cleanup(func() {
			if ents, _ := os.ReadDir(work); len(ents) > 0 {
				t.Errorf("%d private folders left in %s", len(ents), work)
			}
		})
	}
	var log *slog.Logger // benchmarks: discarded
	if tt, ok := t.(*testing.T); ok {
		log = filterLogger(tt)
	}
	f, err := New("exec-test", spec, log)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func logText(r Result) string { return strings.Join(r.Log, "\n") }

func TestExecArgsAndEnv(t *testing.T) {
	t.Setenv("SLUICE_TEST_SECRET", "must not leak")
	script := `echo "arg=$1"; echo "pwd=$(pwd)"; stat -c "modes=%a $(stat -c %a "$SLUICE_FILE")" .; env | sort`
	f := execFilter(t, Spec{Command: []string{"sh", "-c", script, "sh"}})
	r := f.Scan(t.Context(), filterMsg)
	if r.Verdict != Clean || r.Err != nil {
		t.Fatalf("got %s, %v", r.Verdict, r.Err)
	}
	vars := map[string]string{}
	var dir string
	for _, l := range r.Log {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "arg":
			dir = filepath.Dir(v)
			if filepath.Base(v) != "message.eml" {
				t.Errorf("argument %q, want the path of message.eml", v)
			}
		case "pwd", "modes":
			vars[k] = v
		default:
			if k == strings.ToUpper(k) {
				vars[k] = v
			}
		}
	}
	want := map[string]string{
		"pwd":         dir,
		"modes":       "700 600",
		"PATH":        "/usr/local/bin:/usr/bin:/bin",
		"HOME":        dir,
		"TMPDIR":      dir,
		"LANG":        "C",
		"SLUICE_FILE": filepath.Join(dir, "message.eml"),
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s=%q, want %q", k, vars[k], v)
		}
	}
	for k := range vars {
		if _, ok := want[k]; !ok && k != "PWD" && k != "SHLVL" && k != "_" {
			t.Errorf("unexpected variable %s in the environment", k)
		}
	}
}

func TestExecInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"file placeholder", Spec{Command: []string{"sh", "-c", `echo "$1"`, "sh", "--scan={file}"}}, "--scan=/"},
		{"file appended", Spec{Command: []string{"sh", "-c", `wc -c < "$1"`, "sh"}}, strconv.Itoa(len(filterMsg))},
		{"stdin", Spec{Command: []string{"wc", "-c"}, Input: "stdin"}, strconv.Itoa(len(filterMsg))},
		{"stdin and placeholder", Spec{Command: []string{"sh", "-c", `cat | cmp - "$1" && echo same`, "sh", "{file}"}, Input: "stdin"}, "same"},
		{"no stdin by default", Spec{Command: []string{"sh", "-c", `wc -c; true`, "sh"}}, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execFilter(t, tc.spec).Scan(t.Context(), filterMsg)
			if r.Verdict != Clean || !strings.Contains(logText(r), tc.want) {
				t.Errorf("got %s, %v, log %q; want clean with %q", r.Verdict, r.Err, r.Log, tc.want)
			}
		})
	}
}

func TestExecVerdicts(t *testing.T) {
	av := map[string]string{"0": "clean", "1": "infected", "2": "error"}
	for _, tc := range []struct {
		name     string
		script   string
		verdicts map[string]string
		regex    string
		want     Verdict
		wantName string
		err      string
	}{
		{"default clean", "exit 0", nil, "", Clean, "", ""},
		{"default error", "echo 'cannot read db' >&2; exit 3", nil, "", Error, "", "exec: sh: exit status 3: cannot read db"},
		{"mapped", "echo 'x: Bad.Virus FOUND'; exit 1", av, `: (\S+) FOUND`, Infected, "Bad.Virus", ""},
		{"whole match", "echo 'found Worm.X'; exit 1", av, `Worm\.\w+`, Infected, "Worm.X", ""},
		{"name on stderr", "echo 'x: Bad.Virus FOUND' >&2; exit 1", av, `: (\S+) FOUND`, Infected, "Bad.Virus", ""},
		{"mapped error", "echo 'ERROR: no database' >&2; exit 2", av, "", Error, "", "exit status 2 means error: ERROR: no database"},
		{"unknown", "exit 7", av, "", Error, "", "exit status 7 has no verdict"},
		{"signal", "kill -TERM $$", av, "", Error, "", "died: signal: terminated"},
		{"missing program", "", nil, "", Error, "", "no-such-filter-program: not found in /usr/local/bin:/usr/bin:/bin"},
		{"name cleaned", "printf 'x: A\\033[1mB FOUND'; exit 1", av, `: (.+) FOUND`, Infected, "A [1mB", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := []string{"sh", "-c", tc.script, "sh"}
			if tc.script == "" {
				cmd = []string{"no-such-filter-program"}
			}
			f := execFilter(t, Spec{Command: cmd, Verdicts: tc.verdicts, NameRegex: tc.regex})
			r := f.Scan(t.Context(), filterMsg)
			errText := ""
			if r.Err != nil {
				errText = r.Err.Error()
			}
			if r.Verdict != tc.want || r.Name != tc.wantName || !strings.Contains(errText, tc.err) || (tc.err == "") != (r.Err == nil) {
				t.Errorf("got %s %q, err %q; want %s %q, err %q", r.Verdict, r.Name, errText, tc.want, tc.wantName, tc.err)
			}
		})
	}
}

func TestExecOutputMessage(t *testing.T) {
	// sed rewrites: a header is added.
	f := execFilter(t, Spec{Command: []string{"sed", "1i X-Scanned: yes\r"}, Input: "stdin", Output: "message",
		NameRegex: `(Hello)`})
	r := f.Scan(t.Context(), filterMsg)
	want := append([]byte("X-Scanned: yes\r\n"), filterMsg...)
	if r.Verdict != Clean || !bytes.Equal(r.Modified, want) {
		t.Errorf("got %s, %v, modified %q; want clean, %q", r.Verdict, r.Err, r.Modified, want)
	}
	// The message's own text never names a finding.
	if r.Name != "" {
		t.Errorf("Name %q taken from the message", r.Name)
	}
	// cat gives the message back unchanged: no rewrite.
	r = execFilter(t, Spec{Command: []string{"cat"}, Output: "message"}).Scan(t.Context(), filterMsg)
	if r.Verdict != Clean || r.Modified != nil || len(r.Log) > 0 {
		t.Errorf("cat: got %s, %v, modified %q, log %q; want clean, unchanged", r.Verdict, r.Err, r.Modified, r.Log)
	}
	// Nothing printed: no rewrite.
	r = execFilter(t, Spec{Command: []string{"true"}, Output: "message"}).Scan(t.Context(), filterMsg)
	if r.Verdict != Clean || r.Modified != nil {
		t.Errorf("true: got %s, modified %q", r.Verdict, r.Modified)
	}
}

func TestExecLogCaps(t *testing.T) {
	f := execFilter(t, Spec{Command: []string{"sh", "-c", "seq 1 5000; seq 1 3 >&2"}, MaxOutputBytes: 100})
	r := f.Scan(t.Context(), filterMsg)
	got := logText(r)
	for _, want := range []string{"standard output cut: 23893 bytes written, 100 kept", "\n1\n2\n3\nstandard output cut"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q: want %q", got, want)
		}
	}
	f = execFilter(t, Spec{Command: []string{"seq", "1", "5000"}, Input: "stdin"})
	r = f.Scan(t.Context(), filterMsg)
	if len(r.Log) != maxLogLines+1 || r.Log[maxLogLines] != "4000 more log lines dropped" {
		t.Errorf("%d log lines ending %q; want %d and a note", len(r.Log), r.Log[len(r.Log)-1], maxLogLines+1)
	}
}

func TestExecCancel(t *testing.T) {
	f := execFilter(t, Spec{Command: []string{"sleep", "3600"}, Input: "stdin"})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	r := f.Scan(ctx, filterMsg)
	if r.Verdict != Error || !errors.Is(r.Err, context.Canceled) || time.Since(t0) > time.Second {
		t.Errorf("got %s, %v after %v; want error, context.Canceled, at once", r.Verdict, r.Err, time.Since(t0))
	}
}

// TestExecClamscan runs the real ClamAV command-line scanner with the
// EICAR-only database of shared/tools/install-filters.sh.
func TestExecClamscan(t *testing.T) {
	t.Parallel()
	execNeed(t, "clamscan")
	db := os.Getenv("CLAMAV_TEST_DB")
	if db == "" {
		db = "/var/lib/clamav-test"
	}
	if _, err := os.Stat(filepath.Join(db, "eicar.ndb")); err != nil {
		t.Skipf("no EICAR database: %v (run shared/tools/install-filters.sh --no-rspamd as root)", err)
	}
	spec := Spec{
		Command:   []string{"clamscan", "--no-summary", "-d", db, "{file}"},
		Verdicts:  map[string]string{"0": "clean", "1": "infected"},
		NameRegex: `: (\S+) FOUND`,
	}
	f := execFilter(t, spec)
	r := f.Scan(t.Context(), execSample(t, "eicar.eml"))
	if r.Verdict != Infected || r.Name != "Eicar-Test-Signature.UNOFFICIAL" {
		t.Errorf("eicar.eml: got %s %q, %v, log %q; want infected Eicar-Test-Signature.UNOFFICIAL", r.Verdict, r.Name, r.Err, r.Log)
	}
	t.Logf("eicar.eml: %s %s in %v", r.Verdict, r.Name, r.Duration)
	r = f.Scan(t.Context(), execSample(t, "clean.eml"))
	if r.Verdict != Clean || r.Name != "" {
		t.Errorf("clean.eml: got %s %q, %v, log %q; want clean", r.Verdict, r.Name, r.Err, r.Log)
	}
	t.Logf("clean.eml: %s in %v", r.Verdict, r.Duration)

	// A missing database: clamscan exits 2, which has no verdict.
	spec.Command = []string{"clamscan", "--no-summary", "-d", filepath.Join(t.TempDir(), "none"), "{file}"}
	r = execFilter(t, spec).Scan(t.Context(), execSample(t, "clean.eml"))
	if r.Verdict != Error || r.Err == nil || !strings.Contains(r.Err.Error(), "exit status 2 has no verdict") {
		t.Errorf("no database: got %s, %v; want error, exit status 2", r.Verdict, r.Err)
	}
}

// TestExecSpamassassin runs the real standalone SpamAssassin, offline
// (-L), which prints the message with its X-Spam-* headers and exits 5 for
// spam (-e).
func TestExecSpamassassin(t *testing.T) {
	t.Parallel()
	execNeed(t, "spamassassin")
	f := execFilter(t, Spec{
		Command:  []string{"spamassassin", "-L", "-e"},
		Input:    "stdin",
		Output:   "message",
		Verdicts: map[string]string{"0": "ham", "5": "spam"},
		Timeout:  60 * time.Second,
	})
	for _, tc := range []struct {
		sample string
		want   Verdict
		header string
	}{
		{"gtube.eml", Spam, "X-Spam-Flag: YES"},
		{"clean.eml", Ham, "X-Spam-Status: No"},
	} {
		r := f.Scan(t.Context(), execSample(t, tc.sample))
		if r.Verdict != tc.want || r.Err != nil {
			t.Errorf("%s: got %s, %v, log %q; want %s", tc.sample, r.Verdict, r.Err, r.Log, tc.want)
		}
		if !bytes.Contains(r.Modified, []byte(tc.header)) {
			t.Errorf("%s: rewritten message without %q: %.300q", tc.sample, tc.header, r.Modified)
		}
		t.Logf("%s: %s in %v, %d bytes back", tc.sample, r.Verdict, r.Duration, len(r.Modified))
	}
}

// BenchmarkExecCat measures the cost of an exec hand-off: private folder,
// message file, process group, pipes, wait, clean-up and the Filter's
// checks, with cat giving a 4 KiB message back unchanged.
func BenchmarkExecCat(b *testing.B) {
	msg := execBenchMessage(4 << 10)
	f := execFilter(b, Spec{Command: []string{"cat"}, Output: "message"})
	for b.Loop() {
		if r := f.Scan(b.Context(), msg); r.Verdict != Clean || r.Err != nil {
			b.Fatalf("got %s, %v", r.Verdict, r.Err)
		}
	}
}

// execBenchMessage is a plain message of about size bytes.
func execBenchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\nMessage-ID: <bench@example.org>\r\n\r\n")
	for b.Len() < size {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	return b.Bytes()[:size]
}

// execNeed skips the test when program is not installed.
func execNeed(t *testing.T, program string) {
	t.Helper()
	if _, err := lookPath(program); err != nil {
		t.Skipf("%v (run shared/tools/install-filters.sh --no-rspamd as root)", err)
	}
}

// execSample reads shared/tools/samples/NAME ($SLUICE_SHARED/tools, else
// ../../shared/tools), or skips the test.
func execSample(t *testing.T, name string) []byte {
	t.Helper()
	dirs := []string{filepath.Join("..", "..", "shared", "tools")}
	if s := os.Getenv("SLUICE_SHARED"); s != "" {
		dirs = append([]string{filepath.Join(s, "tools")}, dirs...)
	}
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "samples", name)); err == nil {
			return b
		}
	}
	t.Skipf("sample %s not found in %v (set SLUICE_SHARED)", name, dirs)
	return nil
}
