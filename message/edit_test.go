package message

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// reparse parses out again and returns it with its body (everything after
// the header block).
func reparse(out []byte) (*Message, []byte) {
	m := New(out, Options{})
	m.parseHeader()
	return m, out[m.bodyStart:]
}

// bodyOf returns everything after m's header block in the input.
func bodyOf(m *Message) []byte {
	m.parseHeader()
	return m.raw[m.bodyStart:]
}

func TestSetHeader(t *testing.T) {
	raw := crlf("A: 1\nX-Tag: old1\nB: 2\nx-tag: old2\nC: 3\n\nbody\n")
	m := New(raw, Options{})
	if err := m.SetHeader("X-Tag", "new"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHeader("X-New", "appended"); err != nil {
		t.Fatal(err)
	}
	want := crlf("A: 1\nX-Tag: new\nB: 2\nC: 3\nX-New: appended\n\nbody\n")
	if got := m.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("Bytes =\n%q\nwant\n%q", got, want)
	}
	if m.Header("x-tag") != "new" || len(m.Headers("X-Tag")) != 1 {
		t.Errorf("X-Tag = %q", m.Headers("X-Tag"))
	}
	if m.Size() != int64(len(want)) {
		t.Errorf("Size = %d, want %d", m.Size(), len(want))
	}
}

func TestAddRemoveHeader(t *testing.T) {
	raw := []byte("From alice Mon Jun  2 10:00:00 2025\nReceived: one\nSubject: s\nX-Spam: yes\nX-Spam: again\n\nbody")
	m := New(raw, Options{})
	if err := m.AddHeader("Received", "two"); err != nil {
		t.Fatal(err)
	}
	if n := m.RemoveHeader("x-spam"); n != 2 {
		t.Errorf("RemoveHeader = %d, want 2", n)
	}
	if n := m.RemoveHeader("X-Absent"); n != 0 {
		t.Errorf("RemoveHeader(absent) = %d", n)
	}
	want := "From alice Mon Jun  2 10:00:00 2025\nReceived: two\nReceived: one\nSubject: s\n\nbody"
	if got := string(m.Bytes()); got != want {
		t.Errorf("Bytes = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"two", "one"}, m.Headers("Received")); diff != "" {
		t.Errorf("Received (-want +got):\n%s", diff)
	}
}

func TestEdits(t *testing.T) {
	m := New(crlf("Subject: s\nX-A: 1\nX-B: 2\n\nbody"), Options{})
	m.AddHeader("X-Trace", "t")
	m.SetHeader("Subject", "new")
	m.SetHeader("X-Temp", "gone soon")
	m.RemoveHeader("X-Temp")
	m.RemoveHeader("x-a")
	m.SetHeader("X-Trace", "t2") // replaces an added field
	added, removed := m.Edits()
	wantAdded := [][2]string{{"Subject", "new"}, {"X-Trace", "t2"}}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Subject", "X-A"}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if a, r := New(nil, Options{}).Edits(); a != nil || len(r) != 0 {
		t.Errorf("no edits: %v %v", a, r)
	}
}

func TestHeaderEditErrors(t *testing.T) {
	m := New(crlf("Subject: s\n\nbody"), Options{})
	for _, tt := range []struct{ name, value string }{
		{"", "v"},
		{"Bad Name", "v"},
		{"Bad:Name", "v"},
		{"Bäd", "v"},
		{"X-Ok", "line\r\nInjected: yes"},
		{"X-Ok", "lf\nonly"},
		{"X-Ok", "nul\x00"},
	} {
		if err := m.SetHeader(tt.name, tt.value); !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("SetHeader(%q, %q) = %v, want ErrInvalidHeader", tt.name, tt.value, err)
		}
		if err := m.AddHeader(tt.name, tt.value); !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("AddHeader(%q, %q) = %v, want ErrInvalidHeader", tt.name, tt.value, err)
		}
	}
	if !bytes.Equal(m.Bytes(), m.raw) {
		t.Errorf("failed edits changed the message")
	}
}

// Header edits must leave every byte after the header block as it was,
// whatever the line endings and header oddities.
func TestHeaderEditKeepsBody(t *testing.T) {
	tests := map[string]string{
		"crlf":             "Subject: s\r\nX-Old: 1\r\n\r\nbody\r\n--b\r\n\r\n",
		"lf":               "Subject: s\nX-Old: 1\n\nbody\n",
		"cr":               "Subject: s\rX-Old: 1\r\rbody\r",
		"mbox":             "From a@b Mon Jun  2 10:00:00 2025\nSubject: s\nX-Old: 1\n\nbody",
		"no separator":     "Subject: s\nX-Old: 1\nbody starts here\n",
		"header only":      "Subject: s\nX-Old: 1",
		"no header":        "just a body\n",
		"empty header":     "\r\nbody",
		"indented first":   " Subject: s\nX-Old: 1\n\nbody",
		"whitespace line":  "   \nSubject: s\nX-Old: 1\n\nbody",
		"whitespace sep":   "Subject: s\nX-Old: 1\n  \nbody",
		"bom":              "\xef\xbb\xbfSubject: s\nX-Old: 1\n\nbody",
		"multipart signed": "Content-Type: multipart/signed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsigned text \r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--b--\r\n",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			m := New([]byte(raw), Options{})
			body := bodyOf(m)
			m.AddHeader("Received", "from x by y")
			m.SetHeader("X-New", "é")
			m.RemoveHeader("X-Old")
			out := m.Bytes()
			m2, body2 := reparse(out)
			if !bytes.Equal(body, body2) {
				t.Errorf("body %q became %q in %q", body, body2, out)
			}
			if m2.Header("Received") != "from x by y" || m2.Header("X-New") != "é" || m2.Header("X-Old") != "" {
				t.Errorf("edits not visible after re-parse: %q", out)
			}
			if eol := m.eol; !strings.Contains(string(out), "Received: from x by y"+eol) {
				t.Errorf("new line does not end with %q: %q", eol, out)
			}
			var w bytes.Buffer
			if n, err := m.WriteTo(&w); err != nil || n != int64(len(out)) || !bytes.Equal(w.Bytes(), out) {
				t.Errorf("WriteTo = %d, %v; differs from Bytes", n, err)
			}
		})
	}
}
