package mailstore

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQuarantineRoundTrip(t *testing.T) {
	s, dir := newStore(t, Options{})
	msg := "Subject: virus\r\n\r\nEICAR\r\n" // kept byte for byte, CRLF included
	when := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	in := QuarantineInfo{
		Reason: "virus found: Eicar-Test-Signature",
		Stage:  "antivirus",
		MsgID:  "1a2b3c",
		From:   "eve@example.org",
		Rcpt:   []string{"bob@localhost", "alice@localhost"},
		Time:   when,
	}
	id, err := s.Quarantine(t.Context(), strings.NewReader(msg), in)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("got id %q, want 32 hex digits", id)
	}
	if got, want := names(t, filepath.Join(dir, "quarantine")), []string{id + ".eml", id + ".json"}; !slices.Equal(got, want) {
		t.Errorf("quarantine/ holds %q, want %q", got, want)
	}

	r, info, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != msg {
		t.Errorf("got message %q, want %q", data, msg)
	}
	want := in
	want.ID = id
	if !info.Time.Equal(when) {
		t.Errorf("got time %v, want %v", info.Time, when)
	}
	info.Time = when
	if !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v, want %+v", info, want)
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id {
		t.Errorf("List: got %+v, want the one entry %s", list, id)
	}

	if err := s.Release(id); err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(dir, "quarantine")); len(got) != 0 {
		t.Errorf("after Release quarantine/ holds %q, want nothing", got)
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Release: got %v, want ErrNotFound", err)
	}
	if err := s.Release(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Release twice: got %v, want ErrNotFound", err)
	}
}

func TestQuarantineListOrder(t *testing.T) {
	s, _ := newStore(t, Options{NoFsync: true})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entries := []QuarantineInfo{
		{ID: "cc", Reason: "third", Time: t0.Add(2 * time.Hour)},
		{ID: "bb", Reason: "first", Time: t0},
		{ID: "dd", Reason: "second", Time: t0.Add(time.Hour)},
		{ID: "aa", Reason: "first too, lower id", Time: t0},
	}
	for _, e := range entries {
		if _, err := s.Quarantine(t.Context(), strings.NewReader("x"), e); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.ID)
	}
	if want := []string{"aa", "bb", "dd", "cc"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// The same ID again replaces the entry.
	if _, err := s.Quarantine(t.Context(), strings.NewReader("y"), QuarantineInfo{ID: "cc", Reason: "again"}); err != nil {
		t.Fatal(err)
	}
	r, info, err := s.Open("cc")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	if string(data) != "y" || info.Reason != "again" || info.Time.IsZero() {
		t.Errorf("after replacing: got %q, %+v; want \"y\", reason again, time set", data, info)
	}
	if list, _ := s.List(); len(list) != 4 {
		t.Errorf("after replacing: got %d entries, want 4", len(list))
	}
}

func TestQuarantineBadIDs(t *testing.T) {
	s, dir := newStore(t, Options{})
	for _, id := range []string{"../x", "../../mail/localhost/bob", "ABCD", "1a.json", "1a/2b", "1a\x00", "g", strings.Repeat("a", 65)} {
		t.Run(id, func(t *testing.T) {
			if _, _, err := s.Open(id); !errors.Is(err, ErrBadID) {
				t.Errorf("Open: got %v, want ErrBadID", err)
			}
			if err := s.Release(id); !errors.Is(err, ErrBadID) {
				t.Errorf("Release: got %v, want ErrBadID", err)
			}
			if _, err := s.Quarantine(t.Context(), strings.NewReader("x"), QuarantineInfo{ID: id}); !errors.Is(err, ErrBadID) {
				t.Errorf("Quarantine: got %v, want ErrBadID", err)
			}
		})
	}
	for _, id := range []string{"", "0123"} { // "" is no ID at all, not a bad one
		if _, _, err := s.Open(id); id == "" && !errors.Is(err, ErrBadID) || id != "" && !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q): got %v", id, err)
		}
	}
	if got := names(t, filepath.Join(dir, "quarantine")); len(got) != 0 {
		t.Errorf("quarantine/ holds %q, want nothing", got)
	}
	err := s.Release("../x")
	if want := `mailstore: release ../x: bad quarantine id "../x": want 1 to 64 lower-case hex digits`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestQuarantineFailureLeavesNothing(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		r    func(context.CancelFunc) io.Reader
		want error
	}{
		{"reader fails", func(context.CancelFunc) io.Reader { return &failingReader{size: 50 << 10, err: boom} }, boom},
		{"context cancelled", func(c context.CancelFunc) io.Reader { return &failingReader{size: 1 << 30, cancel: c} }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t, Options{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if _, err := s.Quarantine(ctx, tt.r(cancel), QuarantineInfo{Reason: "x"}); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if got := names(t, filepath.Join(dir, "quarantine")); len(got) != 0 {
				t.Errorf("quarantine/ holds %q, want nothing", got)
			}
		})
	}
}

func TestQuarantineListSkips(t *testing.T) {
	s, dir := newStore(t, Options{})
	q := filepath.Join(dir, "quarantine")
	// Leftovers that are not entries: a temporary file, an orphan message,
	// a file with a name that is no ID.
	os.WriteFile(filepath.Join(q, ".tmp-123"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(q, "abcd.eml"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(q, "XYZ.json"), []byte("{"), 0o600)
	list, err := s.List()
	if err != nil || len(list) != 0 {
		t.Errorf("got %+v, %v; want no entries", list, err)
	}
	// A damaged .json is reported, not hidden.
	os.WriteFile(filepath.Join(q, "abcd.json"), []byte("{"), 0o600)
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "abcd.json") {
		t.Errorf("with a damaged abcd.json: got %v, want an error naming it", err)
	}
}
