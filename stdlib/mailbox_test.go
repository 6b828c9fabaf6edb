package stdlib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicemail/sluice/mailstore"
)

func newStore(t *testing.T) (*mailstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := mailstore.New(dir, mailstore.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

func TestMailboxModule(t *testing.T) {
	st, dir := newStore(t)
	svc := Services{Store: st}
	m := newTestMsg(mixed)
	got, err := luaRunWith(t, m, Limits{}, svc, false, `function f(msg)
	  local before = mailbox.exists("bob@example.com")
	  mailbox.create("bob@example.com", "Orders")
	  mailbox.deliver(msg, "bob@example.com", "Orders")
	  mailbox.deliver(msg, "bob@example.com")
	  local total, unseen = mailbox.count("bob@example.com", "Orders")
	  local id = mailbox.quarantine(msg, "suspicious")
	  return {before, mailbox.exists("bob@example.com"), mailbox.folders("bob@example.com"), total, unseen, #id > 0}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{false, true, []any{"INBOX", "Orders"}, int64(1), int64(1), true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "example.com", "bob", ".Orders", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("%d files in .Orders/new, want 1", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if strings.Contains(string(b), "\r\n") || !strings.Contains(string(b), "Subject: =?UTF-8?B?w4lsw6h2ZXM=?= and more\n") {
		t.Errorf("delivered file is not the message with LF line endings:\n%.200s", b)
	}
	q, err := st.List()
	if err != nil || len(q) != 1 || q[0].Reason != "suspicious" || q[0].Stage != "test" || q[0].MsgID != "Q1" {
		t.Errorf("quarantine = %+v, %v", q, err)
	}
	var kinds []string
	for _, a := range m.Actions {
		if !a.Done {
			t.Errorf("action %+v not marked done", a)
		}
		kinds = append(kinds, a.Kind)
	}
	if diff := cmp.Diff([]string{"create", "deliver", "deliver", "quarantine"}, kinds); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// In a dry run the writes are recorded, not done.
func TestMailboxDryRun(t *testing.T) {
	st, dir := newStore(t)
	m := newTestMsg(mixed)
	_, err := luaRunWith(t, m, Limits{}, Services{Store: st}, true, `function f(msg)
	  mailbox.create("bob@example.com", "Orders")
	  mailbox.deliver(msg, "bob@example.com", "Orders")
	  assert(mailbox.quarantine(msg, "x") == "")
	end`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mail", "example.com")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote to the store: %v", err)
	}
	if len(m.Actions) != 3 || m.Actions[1].Kind != "deliver" || m.Actions[1].Done {
		t.Errorf("actions = %+v", m.Actions)
	}
}

func TestMailboxValidation(t *testing.T) {
	st, _ := newStore(t)
	for _, call := range []string{
		`mailbox.deliver(msg, "../../etc@x", "INBOX")`,
		`mailbox.deliver(msg, "bob@example.com", "../x")`,
		`mailbox.create("bob@example.com", "a/b")`,
		`mailbox.count("bob@example.com", "..")`,
		`mailbox.folders("no-at-sign")`,
	} {
		for _, dry := range []bool{false, true} {
			_, err := luaRunWith(t, newTestMsg(mixed), Limits{}, Services{Store: st}, dry, "function f(msg) "+call+" end")
			if err == nil {
				t.Errorf("%s (dry run %v): no error", call, dry)
			}
		}
	}
	_, err := luaRun(t, newTestMsg(mixed), Limits{}, `function f(msg) mailbox.exists("a@b") end`)
	if err == nil || !strings.Contains(err.Error(), "no mail store") {
		t.Errorf("without a store: got %v", err)
	}
}
