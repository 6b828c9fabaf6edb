package mailstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFolder(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"INBOX", true},
		{"inbox", true},
		{"InBoX", true},
		{"Orders", true},
		{"Lists.Go", true},
		{"Lists.Go.Announce", true},
		{"Ärger", true},
		{"Q&A", true},
		{"with space", true},
		{"Tmp2", true},
		{"Archive.INBOX", true},
		{strings.Repeat("a", 200), true},

		{"", false},
		{strings.Repeat("a", 201), false},
		{"a/b", false},
		{"../x", false},
		{`a\b`, false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"trailing.", false},
		{"a..b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // C1 control
		{"\xff", false},
		{"tmp", false},
		{"NEW", false},
		{"Cur", false},
		{"Lists.tmp", false},
		{"a.New.b", false},
		{"INBOX.Spam", false},
		{"inbox.Spam", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFolder(tt.name)
			if tt.ok && err != nil {
				t.Fatalf("CheckFolder(%q) = %v, want nil", tt.name, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadFolder) {
				t.Fatalf("CheckFolder(%q) = %v, want ErrBadFolder", tt.name, err)
			}
		})
	}
}

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr         string
		domain, user string // empty: refused
	}{
		{"bob@localhost", "localhost", "bob"},
		{"Bob@Example.ORG", "example.org", "Bob"},
		{"bob.smith+tag@mail.example.org", "mail.example.org", "bob.smith+tag"},
		{"ünïcode@example.org", "example.org", "ünïcode"},
		{"a@xn--bcher-kva.example", "xn--bcher-kva.example", "a"},
		{"a@b-c.d1", "b-c.d1", "a"},
		{"x.@b", "b", "x."},
		{strings.Repeat("u", 255) + "@b", "b", strings.Repeat("u", 255)},

		// Traversal and other attempts to leave DIR/mail/DOMAIN/USER.
		{"../x@y", "", ""},
		{"a@../..", "", ""},
		{"a@b/c", "", ""},
		{"a/b@c", "", ""},
		{`a\b@c`, "", ""},
		{`a@b\c`, "", ""},
		{"a\x00@b", "", ""},
		{"a@b\x00", "", ""},
		{".@b", "", ""},
		{"..@b", "", ""},
		{".bob@b", "", ""},
		{"a..b@c", "", ""},
		{"a@.", "", ""},
		{"a@..", "", ""},
		{"a@.b", "", ""},
		{"a@b.", "", ""},
		{"a@b..c", "", ""},

		// Malformed.
		{"", "", ""},
		{"bob", "", ""},
		{"@b", "", ""},
		{"a@", "", ""},
		{"a@b@c", "", ""},
		{"a\n@b", "", ""},
		{"a\tb@c", "", ""},
		{"\xff@b", "", ""},
		{"a@[127.0.0.1]", "", ""},
		{"a@[IPv6:::1]", "", ""},
		{"a@-b.c", "", ""},
		{"a@b-.c", "", ""},
		{"a@b_c", "", ""},
		{"a@bü.de", "", ""},
		{"a@b c", "", ""},
		{strings.Repeat("u", 256) + "@b", "", ""},
		{"a@" + strings.Repeat("l", 64) + ".org", "", ""},
		{"a@" + strings.Repeat("abcdefghi.", 26) + "org", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			domain, user, err := CheckAddress(tt.addr)
			if tt.domain == "" {
				if !errors.Is(err, ErrBadAddress) {
					t.Fatalf("CheckAddress(%q) = %q, %q, %v; want ErrBadAddress", tt.addr, domain, user, err)
				}
				if domain != "" || user != "" {
					t.Errorf("CheckAddress(%q) returned %q, %q with an error, want empty", tt.addr, domain, user)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckAddress(%q): %v", tt.addr, err)
			}
			if domain != tt.domain || user != tt.user {
				t.Errorf("CheckAddress(%q) = %q, %q; want %q, %q", tt.addr, domain, user, tt.domain, tt.user)
			}
		})
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"0", "1a2b", strings.Repeat("f", 64)} {
		if err := checkID(id); err != nil {
			t.Errorf("checkID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", "1A2B", "g", "../1a", "1a/2b", "1a.json", " 1a", strings.Repeat("f", 65)} {
		if err := checkID(id); !errors.Is(err, ErrBadID) {
			t.Errorf("checkID(%q) = %v, want ErrBadID", id, err)
		}
	}
}

func TestNameErrorText(t *testing.T) {
	err := CheckFolder("a/b")
	want := `mailstore: bad folder name "a/b": contains "/" or "\"`
	if got := err.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzNames checks that whatever the checks accept stays inside the store:
// a mailbox is exactly DIR/mail/DOMAIN/USER and a folder one element in it.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"bob@localhost", "../x@y", "a@../..", "Lists.Go", "..", "a\x00@b", "INBOX", ".x"} {
		f.Add(s)
	}
	base := filepath.FromSlash("/store/mail")
	f.Fuzz(func(t *testing.T, s string) {
		if domain, user, err := CheckAddress(s); err == nil {
			p := filepath.Join(base, domain, user)
			if filepath.Dir(filepath.Dir(p)) != base || filepath.Base(p) != user || filepath.Base(filepath.Dir(p)) != domain {
				t.Errorf("CheckAddress(%q) = %q, %q: path %q escapes %q", s, domain, user, p, base)
			}
		} else if !errors.Is(err, ErrBadAddress) {
			t.Errorf("CheckAddress(%q) = %v, want ErrBadAddress", s, err)
		}
		if d, err := folderDir(s); err == nil {
			p := filepath.Join(base, d)
			if d != "" && (filepath.Dir(p) != base || filepath.Base(p) != d || !strings.HasPrefix(d, ".") || d == "." || d == "..") {
				t.Errorf("folderDir(%q) = %q: path %q escapes %q", s, d, p, base)
			}
		} else if !errors.Is(err, ErrBadFolder) {
			t.Errorf("folderDir(%q) = %v, want ErrBadFolder", s, err)
		}
	})
}
