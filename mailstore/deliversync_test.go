package mailstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeliverSync: the sync hook replaces Deliver's own fsyncs: it gets the
// new file (still under tmp/, written) and then new/ (holding the file); a
// failure of either leaves nothing behind.
func TestDeliverSync(t *testing.T) {
	s, dir := newStore(t, Options{})
	inbox := filepath.Join(dir, "mail", "localhost", "bob")
	var got []string
	hook := func(files ...*os.File) error {
		for _, f := range files {
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			switch {
			case fi.IsDir():
				names, _ := f.ReadDir(-1)
				got = append(got, "dir "+f.Name()+" "+string(rune('0'+len(names))))
			default:
				b, _ := os.ReadFile(f.Name())
				got = append(got, "file "+filepath.Base(filepath.Dir(f.Name()))+" "+string(b))
			}
		}
		return nil
	}
	path, err := s.DeliverSync(t.Context(), "bob@localhost", "INBOX", strings.NewReader("hello\n"), hook)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"file tmp hello\n", "dir " + filepath.Join(inbox, "new") + " 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("hook calls %q, want %q", got, want)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "hello\n" {
		t.Errorf("delivered %q, %v", b, err)
	}

	boom := errors.New("boom")
	for _, failAt := range []int{1, 2} {
		calls := 0
		_, err := s.DeliverSync(t.Context(), "bob@localhost", "INBOX", strings.NewReader("x\n"), func(files ...*os.File) error {
			calls++
			if calls == failAt {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Errorf("hook failing at call %d: err = %v", failAt, err)
		}
		for _, sub := range []string{"tmp", "new"} {
			names, _ := os.ReadDir(filepath.Join(inbox, sub))
			if want := map[string]int{"tmp": 0, "new": 1}[sub]; len(names) != want {
				t.Errorf("hook failing at call %d: %d files in %s, want %d", failAt, len(names), sub, want)
			}
		}
	}

	// NoFsync: the hook is not called.
	s2, _ := newStore(t, Options{NoFsync: true})
	if _, err := s2.DeliverSync(t.Context(), "bob@localhost", "INBOX", strings.NewReader("x\n"), func(...*os.File) error {
		t.Error("hook called with NoFsync")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
