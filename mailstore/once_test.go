package mailstore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A keyed delivery made again (the queue's retry after a crash cut short
// the record of the first) finds the first copy in new/ and leaves one
// message in the mailbox; another key, or other bytes, is another message;
// a copy an interrupted attempt left in tmp/ does not stop it.
func TestDeliverOnce(t *testing.T) {
	s, dir := newStore(t, Options{})
	when := time.Unix(1795660000, 0)
	inbox := filepath.Join(dir, "mail", "localhost", "bob")
	once := func(key, msg string) (string, bool) {
		t.Helper()
		p, repeat, err := s.DeliverOnce(t.Context(), "bob@localhost", Inbox, key, when, strings.NewReader(msg), nil)
		if err != nil {
			t.Fatalf("DeliverOnce(%q): %v", key, err)
		}
		return p, repeat
	}

	first, repeat := once("q1-aa", "Subject: one\n\nbody\n")
	if repeat {
		t.Fatal("first delivery reported as a repeat")
	}
	if want := "1795660000.Kq1-aa." + s.host + ",S=19"; filepath.Base(first) != want {
		t.Errorf("name %q, want %q", filepath.Base(first), want)
	}
	again, repeat := once("q1-aa", "Subject: one\n\nbody\n")
	if !repeat || again != first {
		t.Errorf("second delivery: %q, repeat %v; want %q, true", again, repeat, first)
	}
	if got := names(t, filepath.Join(inbox, "new")); len(got) != 1 {
		t.Errorf("new/ holds %v after a repeat, want one file", got)
	}
	if got := names(t, filepath.Join(inbox, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ holds %v after a repeat", got)
	}

	// An interrupted attempt's file in tmp/ (no rename) is replaced.
	stale := filepath.Join(inbox, "tmp", keyedName(when, "q2-bb", s.host))
	if err := os.WriteFile(stale, []byte("Subject: tr"), 0o600); err != nil {
		t.Fatal(err)
	}
	p2, repeat := once("q2-bb", "Subject: two\n\nbody\n")
	if repeat {
		t.Error("a file left in tmp/ counted as delivered")
	}
	if b, err := os.ReadFile(p2); err != nil || string(b) != "Subject: two\n\nbody\n" {
		t.Errorf("delivered %q, %v", b, err)
	}
	// Other bytes under the same key: not recognised, a second file.
	if _, repeat := once("q2-bb", "Subject: two, longer\n\nbody\n"); repeat {
		t.Error("other bytes taken for a repeat")
	}
	got := names(t, filepath.Join(inbox, "new"))
	if len(got) != 3 || !slices.IsSorted(got) {
		t.Errorf("new/ holds %v, want three files", got)
	}

	for _, bad := range []string{"", "a/b", "a.b", "a,b", strings.Repeat("k", 101)} {
		_, _, err := s.DeliverOnce(t.Context(), "bob@localhost", Inbox, bad, when, strings.NewReader("x\n"), nil)
		if !errors.Is(err, ErrBadID) {
			t.Errorf("key %q: err %v, want ErrBadID", bad, err)
		}
	}
}

// Unkeyed deliveries never take another file for their own: two messages
// with the same bytes are two files.
func TestDeliverTwiceIsTwo(t *testing.T) {
	s, dir := newStore(t, Options{})
	a := deliver(t, s, "bob@localhost", Inbox, "Subject: same\n\n")
	b := deliver(t, s, "bob@localhost", Inbox, "Subject: same\n\n")
	if a == b {
		t.Fatalf("both deliveries returned %q", a)
	}
	if got := names(t, filepath.Join(dir, "mail", "localhost", "bob", "new")); len(got) != 2 {
		t.Errorf("new/ holds %v", got)
	}
}

// The fallback where renameat2 lacks RENAME_NOREPLACE (other systems, some
// network file systems) keeps an existing target too.
func TestRenameIfAbsent(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(filepath.Base(p)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := renameIfAbsent(a, b); !errors.Is(err, os.ErrExist) {
		t.Errorf("onto an existing file: %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(b); string(got) != "b" {
		t.Errorf("target became %q", got)
	}
	if err := renameIfAbsent(a, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(c); string(got) != "a" {
		t.Errorf("renamed file holds %q", got)
	}
}
