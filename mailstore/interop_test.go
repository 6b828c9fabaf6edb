package mailstore

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// interopMailbox delivers a small mailbox for real Maildir readers: two
// messages in INBOX (one of them read, in cur/ with ":2,S"), one in each of
// two sub-folders (the one in Orders under a keyed name, as the queue
// delivers), all given with CRLF line endings and converted with LF.
// It returns the mailbox folder and the subjects per folder.
func interopMailbox(t *testing.T) (string, map[string][]string) {
	t.Helper()
	s, dir := newStore(t, Options{})
	want := map[string][]string{
		"INBOX":    {"Hello", "Read already"},
		"Lists.Go": {"[golang-nuts] Maildir"},
		"Orders":   {"Order 42"},
	}
	for folder, subjects := range want {
		for _, subj := range subjects {
			msg := fmt.Sprintf("From: alice@example.org\r\nTo: bob@localhost\r\nSubject: %s\r\n\r\nBody of %s.\r\n", subj, subj)
			var p string
			var err error
			if folder == "Orders" { // the queue's keyed name (DeliverOnce)
				p, _, err = s.DeliverOnce(t.Context(), "bob@localhost", folder, "q42-3ih7nkyl57u1d", time.Now(), LF(strings.NewReader(msg)), nil)
			} else {
				p, err = s.Deliver(t.Context(), "bob@localhost", folder, LF(strings.NewReader(msg)))
			}
			if err != nil {
				t.Fatal(err)
			}
			if subj == "Read already" {
				cur := filepath.Join(filepath.Dir(filepath.Dir(p)), "cur", filepath.Base(p)+":2,S")
				if err := os.Rename(p, cur); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return filepath.Join(dir, "mail/localhost/bob"), want
}

const pythonReader = `
import json, mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
def subjects(box):
    out = []
    for key, m in box.iteritems():
        if b"\r" in box.get_bytes(key):
            sys.exit("CR in message " + key)
        out.append(m["Subject"])
    return sorted(out)
folders = md.list_folders()
res = {"INBOX": subjects(md)}
for f in folders:
    res[f] = subjects(md.get_folder(f))
flags = sorted(m.get_flags() for m in md)
print(json.dumps({"folders": sorted(folders), "subjects": res, "flags": flags}))
`

func TestPythonMaildirReads(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: skipping the check with Python's mailbox.Maildir")
	}
	root, want := interopMailbox(t)
	out, err := exec.CommandContext(t.Context(), python, "-c", pythonReader, root).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python3: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python3: %v", err)
	}
	var got struct {
		Folders  []string
		Subjects map[string][]string
		Flags    []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	if want := []string{"Lists.Go", "Orders"}; !reflect.DeepEqual(got.Folders, want) {
		t.Errorf("list_folders(): got %q, want %q", got.Folders, want)
	}
	if !reflect.DeepEqual(got.Subjects, want) {
		t.Errorf("subjects: got %q, want %q", got.Subjects, want)
	}
	if want := []string{"", "S"}; !reflect.DeepEqual(got.Flags, want) {
		t.Errorf("INBOX flags: got %q, want %q", got.Flags, want)
	}
}

// TestDovecotReads reads the mailbox with doveadm, run without a
// configuration file (-O): every folder's messages by subject, and the
// \Seen flag of the one in cur/. Dovecot 2.3 takes mail_location, 2.4
// mail_driver and mail_path; a doveadm that cannot run standalone with
// either is skipped, not failed. Dovecot refuses to read mail as root, so
// under root (CI) the mailbox is given to nobody and doveadm runs as it.
func TestDovecotReads(t *testing.T) {
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		t.Skip("doveadm is not installed: skipping the check with Dovecot")
	}
	root, want := interopMailbox(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid, name, home := me.Uid, me.Gid, me.Username, t.TempDir()
	if os.Geteuid() == 0 {
		uid, gid, name = "65534", "65534", "nobody"
		giveToNobody(t, root, home)
	}
	ids := []string{"-o", "mail_uid=" + uid, "-o", "mail_gid=" + gid}
	settings := [][]string{
		append([]string{"-o", "mail_location=maildir:" + root + ":LAYOUT=maildir++:UTF-8:INDEX=MEMORY"}, ids...),
		append([]string{"-o", "mail_driver=maildir", "-o", "mail_path=" + root}, ids...),
	}
	var tried []string
	for _, set := range settings {
		args := append([]string{"-O"}, set...)
		args = append(args, "-f", "tab", "fetch", "mailbox flags hdr.subject", "all")
		cmd := exec.CommandContext(t.Context(), doveadm, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "USER="+name)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			tried = append(tried, fmt.Sprintf("doveadm %s: %v: %s", strings.Join(args, " "), err, stderr.String()))
			continue
		}
		// A header line, then "INBOX\t\\Seen\tRead already" and so on.
		got := map[string][]string{}
		seen := map[string]bool{}
		for line := range strings.Lines(string(out)) {
			f := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
			if len(f) != 3 || f[0] == "mailbox" { // the header line
				continue
			}
			got[f[0]] = append(got[f[0]], f[2])
			seen[f[2]] = strings.Contains(f[1], `\Seen`)
		}
		for folder := range got {
			slices.Sort(got[folder])
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("doveadm read %v, want %v (output %q)", got, want, out)
		}
		for subj, s := range seen {
			if s != (subj == "Read already") {
				t.Errorf("doveadm: %q has \\Seen %v, want %v", subj, s, !s)
			}
		}
		return
	}
	t.Skipf("doveadm could not run standalone:\n%s", strings.Join(tried, "\n"))
}

// giveToNobody makes the mailbox root and the folder home nobody's, and
// the folders above them (the test's temporary folders) passable.
func giveToNobody(t *testing.T, root, home string) {
	t.Helper()
	for _, top := range []string{root, home} {
		err := filepath.WalkDir(top, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, 65534, 65534)
		})
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Clean(os.TempDir())
		for d := filepath.Dir(top); d != filepath.Dir(d) && strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for d := tmp; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("nobody cannot pass %s, above the temporary folder: skipping the check with Dovecot", d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
}

// TestMuttReads opens every folder of the mailbox in mutt, in a terminal
// that tmux keeps off screen, and reads its index: each folder's subjects,
// the new-message flag on the messages in new/, and none on the one in cur/
// with the seen flag.
func TestMuttReads(t *testing.T) {
	mutt, err := exec.LookPath("mutt")
	if err != nil {
		t.Skip("mutt is not installed: skipping the check with mutt")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: mutt needs a terminal; skipping the check with mutt")
	}
	root, want := interopMailbox(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "muttrc")
	conf := "set folder=" + root + "\nset spoolfile=" + root + "\nset mbox_type=Maildir\n" +
		"set index_format=\"%Z|%s\"\nset sort=subject\nset help=no\n"
	if err := os.WriteFile(rc, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The server's socket goes in the test's folder; its configuration
	// keeps a pane whose program ended, so that a mutt that failed leaves
	// its last words on the screen.
	conf = "set -g remain-on-exit on\n"
	if err := os.WriteFile(filepath.Join(dir, "tmux.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "TMUX_TMPDIR="+dir)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), tmux, append([]string{"-f", filepath.Join(dir, "tmux.conf"), "-L", "sluice"}, args...)...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	// The sessions stay until the end: killing the last one ends the
	// server, and a new-session right after may reach it while it exits
	// ("server exited unexpectedly").
	t.Cleanup(func() { run("kill-server") })
	n := 0
	for folder, subjects := range want {
		n++
		session := fmt.Sprint("f", n) // a "." in a name would be a pane
		path := root
		if folder != "INBOX" {
			path = filepath.Join(root, "."+folder)
		}
		if out, err := run("new-session", "-d", "-x", "200", "-y", "40", "-s", session, mutt, "-n", "-F", rc, "-R", "-f", path); err != nil {
			t.Fatalf("tmux new-session: %v: %s", err, out)
		}
		// The index lines read "N  |Subject" (new), "O  |Subject" (old)
		// or "   |Subject" (read).
		var got []string
		var screen []byte
		flags := map[string]string{}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if screen, err = run("capture-pane", "-p", "-t", session); err != nil {
				t.Fatalf("tmux capture-pane: %v: %s", err, screen)
			}
			got = got[:0]
			for line := range strings.Lines(string(screen)) {
				flag, subj, ok := strings.Cut(strings.TrimRight(line, " \n"), "|")
				if ok {
					got = append(got, subj)
					flags[subj] = strings.TrimSpace(flag)
				}
			}
			if len(got) >= len(subjects) {
				break
			}
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, subjects) {
			t.Errorf("mutt shows %q in %s, want %q; screen:\n%s", got, folder, subjects, screen)
		}
		// N: new; O: old, seen in a listing but not read; none: read.
		for _, subj := range subjects {
			wantFlag := "N"
			if subj == "Read already" {
				wantFlag = ""
			}
			if flags[subj] != wantFlag {
				t.Errorf("mutt flags %q in %s with %q, want %q", subj, folder, flags[subj], wantFlag)
			}
		}
	}
}
