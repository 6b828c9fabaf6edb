package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func newStore(t testing.TB, opt Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func deliver(t testing.TB, s *Store, addr, folder, msg string) string {
	t.Helper()
	path, err := s.Deliver(t.Context(), addr, folder, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Deliver(%q, %q): %v", addr, folder, err)
	}
	return path
}

// names lists the entries of dir, sorted; a missing dir has none.
func names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

var uniqueRE = regexp.MustCompile(`^(\d+)\.M(\d+)P(\d+)Q(\d+)\.([^/:,]+),S=(\d+)$`)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"mail", "quarantine"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("%s: got mode %o, want 700", sub, got)
		}
	}
	if _, err := New("", Options{}); err == nil {
		t.Error(`New(""): got nil error, want one`)
	}
}

func TestDeliverLayout(t *testing.T) {
	s, dir := newStore(t, Options{})
	msg := "Subject: hi\n\nhello\n"
	tests := []struct {
		addr, folder string
		want         string // folder, relative to DIR
	}{
		{"bob@localhost", "INBOX", "mail/localhost/bob"},
		{"bob@LocalHost", "inbox", "mail/localhost/bob"},
		{"Bob@localhost", "INBOX", "mail/localhost/Bob"},
		{"bob@localhost", "Orders", "mail/localhost/bob/.Orders"},
		{"bob@localhost", "Lists.Go", "mail/localhost/bob/.Lists.Go"},
		{"bob@localhost", "Ärger", "mail/localhost/bob/.Ärger"},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/"+tt.folder, func(t *testing.T) {
			path := deliver(t, s, tt.addr, tt.folder, msg)
			want := filepath.Join(dir, tt.want, "new")
			if got := filepath.Dir(path); got != want {
				t.Errorf("got folder %q, want %q", got, want)
			}
			m := uniqueRE.FindStringSubmatch(filepath.Base(path))
			if m == nil {
				t.Fatalf("got name %q, want SECS.MusecPpidQn.HOST,S=size", filepath.Base(path))
			}
			if m[3] != strconv.Itoa(os.Getpid()) {
				t.Errorf("got pid %s, want %d", m[3], os.Getpid())
			}
			if m[6] != strconv.Itoa(len(msg)) {
				t.Errorf("got S=%s, want S=%d", m[6], len(msg))
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != msg {
				t.Errorf("got %q, want %q", data, msg)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("got mode %o, want 600", got)
			}
			_, err = os.Stat(filepath.Join(dir, tt.want, "maildirfolder"))
			if sub := strings.Contains(tt.want, "/."); sub != (err == nil) {
				t.Errorf("maildirfolder exists: %v, want %v", err == nil, sub)
			}
		})
	}
	root := filepath.Join(dir, "mail/localhost/bob")
	if got, want := names(t, root), []string{".Lists.Go", ".Orders", ".Ärger", "cur", "new", "tmp"}; !slices.Equal(got, want) {
		t.Errorf("mailbox holds %q, want %q", got, want)
	}
	for _, sub := range []string{".Orders", ".Lists.Go"} {
		if got, want := names(t, filepath.Join(root, sub)), []string{"cur", "maildirfolder", "new", "tmp"}; !slices.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", sub, got, want)
		}
	}
}

func TestHostEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mx.example.org", "mx.example.org"},
		{"a/b:c,d", `a\057b\072c\054d`},
	}
	for _, tt := range tests {
		if got := hostEscaper.Replace(tt.in); got != tt.want {
			t.Errorf("escape(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDeliverConcurrent(t *testing.T) {
	const goroutines, each = 100, 20
	opt := Options{NoFsync: testing.Short()} // names do not depend on fsync; time does
	s, dir := newStore(t, opt)
	// Two Stores on one folder share the counter: no name can repeat.
	s2, err := New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	body := func(g, i int) string {
		return fmt.Sprintf("Subject: %d-%d\n\n%s\n", g, i, strings.Repeat("x", (g*each+i)%700))
	}
	paths := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			st := s
			if g%2 == 1 {
				st = s2
			}
			for i := range each {
				p, err := st.Deliver(t.Context(), "bob@localhost", "INBOX", strings.NewReader(body(g, i)))
				if err != nil {
					t.Errorf("Deliver %d-%d: %v", g, i, err)
					return
				}
				paths[g] = append(paths[g], p)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	newDir := filepath.Join(dir, "mail/localhost/bob/new")
	seen := map[string]bool{}
	for g := range goroutines {
		for i, p := range paths[g] {
			if seen[p] {
				t.Fatalf("name %q returned twice", p)
			}
			seen[p] = true
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if want := body(g, i); string(data) != want {
				t.Fatalf("%s: got %d bytes, want %d (%q)", p, len(data), len(want), want[:12])
			}
			if m := uniqueRE.FindStringSubmatch(filepath.Base(p)); m == nil || m[6] != strconv.Itoa(len(data)) {
				t.Fatalf("%s: S= does not match size %d", p, len(data))
			}
		}
	}
	if got := len(names(t, newDir)); got != goroutines*each {
		t.Errorf("new/ holds %d files, want %d", got, goroutines*each)
	}
	if got := names(t, filepath.Join(dir, "mail/localhost/bob/tmp")); len(got) != 0 {
		t.Errorf("tmp/ holds %q, want nothing", got)
	}
}

// failingReader returns size bytes of 'x' (in small reads), then err. If
// cancel is set, it is called after the first read and data keeps coming.
type failingReader struct {
	size   int
	err    error
	cancel context.CancelFunc
	n      int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.cancel != nil && r.n > 0 {
		r.cancel()
	}
	if r.n >= r.size {
		return 0, r.err
	}
	k := min(len(p), 1000, r.size-r.n)
	for i := range k {
		p[i] = 'x'
	}
	r.n += k
	return k, nil
}

func TestDeliverFailureLeavesNothing(t *testing.T) {
	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		r    func(context.CancelFunc) io.Reader
		want error
	}{
		{
			name: "reader fails midway",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) },
			r:    func(context.CancelFunc) io.Reader { return &failingReader{size: 100 << 10, err: boom} },
			want: boom,
		},
		{
			name: "context cancelled midway",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) },
			r: func(c context.CancelFunc) io.Reader {
				return &failingReader{size: 1 << 30, err: io.EOF, cancel: c}
			},
			want: context.Canceled,
		},
		{
			name: "context cancelled before",
			ctx:  func() (context.Context, context.CancelFunc) { return cancelled, func() {} },
			r:    func(context.CancelFunc) io.Reader { return strings.NewReader("Subject: x\n\n") },
			want: context.Canceled,
		},
		{
			name: "context cancelled after the last chunk",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) },
			r: func(c context.CancelFunc) io.Reader {
				return &failingReader{size: 1000, err: io.EOF, cancel: c}
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		for _, folder := range []string{"INBOX", "Orders"} {
			t.Run(tt.name+"/"+folder, func(t *testing.T) {
				s, dir := newStore(t, Options{})
				s.Create("bob@localhost", folder)
				ctx, cancel := tt.ctx()
				defer cancel()
				path, err := s.Deliver(ctx, "bob@localhost", folder, tt.r(cancel))
				if !errors.Is(err, tt.want) {
					t.Fatalf("got error %v, want %v", err, tt.want)
				}
				if path != "" {
					t.Errorf("got path %q with an error, want none", path)
				}
				if want := "mailstore: deliver bob@localhost/" + folder + ": "; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("got %q, want prefix %q", err, want)
				}
				mb := filepath.Join(dir, "mail/localhost/bob")
				if folder != "INBOX" {
					mb = filepath.Join(mb, "."+folder)
				}
				for _, sub := range []string{"tmp", "new", "cur"} {
					if got := names(t, filepath.Join(mb, sub)); len(got) != 0 {
						t.Errorf("%s/ holds %q, want nothing", sub, got)
					}
				}
			})
		}
	}
}

func TestDeliverBadNames(t *testing.T) {
	tests := []struct {
		addr, folder string
		want         error
		text         string
	}{
		{"../x@y", "INBOX", ErrBadAddress, `mailstore: deliver ../x@y/INBOX: bad address "../x@y": local part contains "/", "\" or "@"`},
		{"a@../..", "INBOX", ErrBadAddress, ""},
		{"a@b/c", "INBOX", ErrBadAddress, ""},
		{"a\x00@b", "INBOX", ErrBadAddress, `mailstore: deliver "a\x00@b/INBOX": bad address "a\x00@b": local part contains a control character`},
		{".@b", "INBOX", ErrBadAddress, ""},
		{"..@b", "INBOX", ErrBadAddress, ""},
		{"bob@localhost", "../../x", ErrBadFolder, `mailstore: deliver bob@localhost/../../x: bad folder name "../../x": contains "/" or "\"`},
		{"bob@localhost", "", ErrBadFolder, ""},
		{"bob@localhost", "tmp", ErrBadFolder, ""},
		{"bob@localhost", "INBOX.Spam", ErrBadFolder, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr+"/"+tt.folder, func(t *testing.T) {
			s, dir := newStore(t, Options{})
			_, err := s.Deliver(t.Context(), tt.addr, tt.folder, strings.NewReader("x\n"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("got %q, want %q", err, tt.text)
			}
			if got := names(t, filepath.Join(dir, "mail")); len(got) != 0 {
				t.Errorf("mail/ holds %q, want nothing", got)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"mail", "quarantine"}) {
				t.Errorf("store holds %q, want [mail quarantine]", got)
			}
		})
	}
}

func TestCount(t *testing.T) {
	s, dir := newStore(t, Options{})
	cur := filepath.Join(dir, "mail/localhost/bob/cur")
	// Each message is delivered, then moved into cur/ under the name's
	// info, as a mail reader would; "" leaves it in new/.
	tests := []struct {
		name          string
		infos         []string
		total, unseen int
	}{
		{"empty", nil, 0, 0},
		{"new only", []string{"", ""}, 2, 2},
		{"seen", []string{":2,S"}, 1, 0},
		{"flags around S", []string{":2,FRS", ":2,ST"}, 2, 0},
		{"cur without S", []string{":2,", ":2,F", ":2,R"}, 3, 3},
		{"cur without info", []string{"-noinfo"}, 1, 1},
		{"mixed", []string{"", ":2,S", ":2,", ":2,FS", ""}, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []string{cur, filepath.Join(dir, "mail/localhost/bob/new")} {
				os.RemoveAll(f)
			}
			if err := s.Create("bob@localhost", "INBOX"); err != nil {
				t.Fatal(err)
			}
			for i, info := range tt.infos {
				p := deliver(t, s, "bob@localhost", "INBOX", fmt.Sprintf("Subject: %d\n\n", i))
				if info != "" {
					if err := os.Rename(p, filepath.Join(cur, filepath.Base(p)+info)); err != nil {
						t.Fatal(err)
					}
				}
			}
			total, unseen, err := s.Count("bob@localhost", "inbox")
			if err != nil {
				t.Fatal(err)
			}
			if total != tt.total || unseen != tt.unseen {
				t.Errorf("got %d total, %d unseen; want %d, %d", total, unseen, tt.total, tt.unseen)
			}
		})
	}

	// Dot files and folders in cur/ are not messages.
	os.Mkdir(filepath.Join(cur, "sub"), 0o700)
	os.WriteFile(filepath.Join(cur, ".hidden"), nil, 0o600)
	if total, _, err := s.Count("bob@localhost", "INBOX"); err != nil || total != 5 {
		t.Errorf("with a dot file and a folder in cur/: got %d, %v; want 5, nil", total, err)
	}

	for _, tt := range []struct {
		addr, folder string
		want         error
	}{
		{"bob@localhost", "Nope", ErrNotFound},
		{"alice@localhost", "INBOX", ErrNotFound},
		{"bob@localhost", "a/b", ErrBadFolder},
		{"bob@b/c", "INBOX", ErrBadAddress},
	} {
		if _, _, err := s.Count(tt.addr, tt.folder); !errors.Is(err, tt.want) {
			t.Errorf("Count(%q, %q): got %v, want %v", tt.addr, tt.folder, err, tt.want)
		}
	}
}

func TestFoldersCreateExists(t *testing.T) {
	s, dir := newStore(t, Options{})
	if s.Exists("bob@localhost") {
		t.Error("Exists before any delivery: got true, want false")
	}
	if _, err := s.Folders("bob@localhost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Folders of a missing mailbox: got %v, want ErrNotFound", err)
	}
	for _, f := range []string{"Orders", "Lists.Go", "Ärger", "Archive", "Orders", "INBOX"} {
		if err := s.Create("bob@localhost", f); err != nil {
			t.Fatalf("Create(%q): %v", f, err)
		}
	}
	if !s.Exists("bob@localhost") || !s.Exists("bob@LOCALHOST") {
		t.Error("Exists after Create: got false, want true")
	}
	for _, addr := range []string{"Bob@localhost", "alice@localhost", "../x@y", "bob"} {
		if s.Exists(addr) {
			t.Errorf("Exists(%q): got true, want false", addr)
		}
	}
	// Things in the mailbox that are not folders this store would make.
	root := filepath.Join(dir, "mail/localhost/bob")
	os.Mkdir(filepath.Join(root, ".tmp"), 0o700)
	os.Mkdir(filepath.Join(root, ".INBOX"), 0o700)
	os.Mkdir(filepath.Join(root, ".a..b"), 0o700)
	os.WriteFile(filepath.Join(root, ".file"), nil, 0o600)
	os.WriteFile(filepath.Join(root, "dovecot-uidlist"), nil, 0o600)

	got, err := s.Folders("bob@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"INBOX", "Archive", "Lists.Go", "Orders", "Ärger"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, tt := range []struct {
		addr, folder string
		want         error
	}{
		{"bob@localhost", ".x", ErrBadFolder},
		{"a@[127.0.0.1]", "INBOX", ErrBadAddress},
	} {
		if err := s.Create(tt.addr, tt.folder); !errors.Is(err, tt.want) {
			t.Errorf("Create(%q, %q): got %v, want %v", tt.addr, tt.folder, err, tt.want)
		}
	}
}

// A folder left half-made (by a crash, or by hand) is completed by the next
// delivery.
func TestDeliverRepairsFolder(t *testing.T) {
	s, dir := newStore(t, Options{})
	sub := filepath.Join(dir, "mail/localhost/bob/.Orders")
	if err := os.MkdirAll(filepath.Join(sub, "cur"), 0o700); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, "bob@localhost", "Orders", "Subject: x\n\n")
	if got, want := names(t, sub), []string{"cur", "maildirfolder", "new", "tmp"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := names(t, filepath.Join(dir, "mail/localhost/bob")); !slices.Contains(got, "tmp") {
		t.Errorf("mailbox holds %q, want its own tmp/ too", got)
	}
}
