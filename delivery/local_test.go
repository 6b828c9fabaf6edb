package delivery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemail/sluice/mailstore"
)

func newLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := mailstore.New(dir, mailstore.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	return &Local{Store: s}, dir
}

func TestLocalDeliver(t *testing.T) {
	l, dir := newLocal(t)
	const msg = "Subject: hi\r\n\r\nbody\r\n"
	for _, folder := range []string{"", "INBOX", "Orders"} {
		if err := l.Deliver(t.Context(), "bob@localhost", folder, strings.NewReader(msg)); err != nil {
			t.Fatalf("Deliver to %q: %v", folder, err)
		}
	}
	if total, _, err := l.Store.Count("bob@localhost", "INBOX"); err != nil || total != 2 {
		t.Errorf("INBOX holds %d (%v), want 2", total, err)
	}
	if total, _, err := l.Store.Count("bob@localhost", "Orders"); err != nil || total != 1 {
		t.Errorf("Orders holds %d (%v), want 1", total, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "localhost", "bob", ".Orders", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("files in Orders: %v", files)
	}
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "Subject: hi\n\nbody\n"; string(got) != want {
		t.Errorf("stored %q, want %q (LF line endings)", got, want)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("spool gone") }

func TestLocalDeliverErrors(t *testing.T) {
	l, _ := newLocal(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		local    *Local
		ctx      context.Context
		rcpt     string
		folder   string
		sentinel error
		enhanced string
		perm     bool
	}{
		{"bad folder", l, t.Context(), "bob@localhost", "../etc", mailstore.ErrBadFolder, "5.2.0", true},
		{"folder under INBOX", l, t.Context(), "bob@localhost", "INBOX.Spam", mailstore.ErrBadFolder, "5.2.0", true},
		{"bad address", l, t.Context(), "no-at-sign", "", mailstore.ErrBadAddress, "5.1.3", true},
		{"canceled", l, canceled, "bob@localhost", "", context.Canceled, "4.3.0", false},
		{"no store", &Local{}, t.Context(), "bob@localhost", "", nil, "4.3.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.local.Deliver(tt.ctx, tt.rcpt, tt.folder, strings.NewReader("Subject: x\r\n\r\n"))
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Deliver error %v, want an *Error", err)
			}
			if de.Permanent != tt.perm || de.Enhanced != tt.enhanced || IsTemporary(err) == tt.perm {
				t.Errorf("Deliver error %+v, want %s permanent %v", de, tt.enhanced, tt.perm)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("Deliver error %v does not wrap %v", err, tt.sentinel)
			}
		})
	}
	t.Run("reader error", func(t *testing.T) {
		err := l.Deliver(t.Context(), "bob@localhost", "", errReader{})
		if err == nil || !IsTemporary(err) || !strings.Contains(err.Error(), "spool gone") {
			t.Errorf("Deliver error %v, want temporary with the cause", err)
		}
	})
}

func TestLocalQuarantine(t *testing.T) {
	l, _ := newLocal(t)
	id, err := l.Quarantine(t.Context(), strings.NewReader("Subject: virus\r\n\r\n"), mailstore.QuarantineInfo{Reason: "virus", Rcpt: []string{"bob@localhost"}})
	if err != nil || id == "" {
		t.Fatalf("Quarantine = %q, %v", id, err)
	}
	if list, err := l.Store.List(); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("List = %+v, %v; want %s", list, err, id)
	}
	_, err = l.Quarantine(t.Context(), strings.NewReader("x"), mailstore.QuarantineInfo{ID: "NOT-HEX"})
	if !errors.Is(err, mailstore.ErrBadID) || IsTemporary(err) {
		t.Errorf("Quarantine with a bad id: %v, want permanent ErrBadID", err)
	}
}
