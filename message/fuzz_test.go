package message

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are small inline messages covering the parser's branches.
var fuzzSeeds = []string{
	"",
	"\n",
	"Subject: s\r\n\r\nbody",
	"From a@b Mon Jan  1 00:00:00 2001\nSubject: s\n\nbody",
	"\xef\xbb\xbfSubject: s\rX: y\r\rbody\r",
	" Subject: s\nno separator line\n",
	"Subject: =?utf-8?b?w6k=?= =?x-nope?q?a?= =?iso-8859-1?q?=E9?=\n\nb",
	"Content-Type: multipart/mixed; boundary=b\n\npre\n--b\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--c--\n--b\nContent-Type: message/rfc822\n\nSubject: in\n\nbody\n--b--\nepi",
	"Content-Type: multipart/mixed; boundary=b\n\n--b ignored\n--b\n\nno close",
	"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: x\n\ny\n--d--",
	"Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n/v8AaABp",
	"Content-Type: application/pdf; name*0*=utf-8''%C3%A9; name*1=\".pdf\"\nContent-Transfer-Encoding: quoted-printable\n\n=41=\n=4",
	"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n#0V%T\n`\nend\n",
	"HELO x\r\nDATA\r\nSubject: s\r\n\r\nb",
}

// maxSeed caps the corpus seeds: the fuzzer minimizes every new input it
// finds, and minimizing a large mutated message stalls a short run for a minute. Whole
// files are exercised by TestCorpus.
const maxSeed = 4 << 10

// FuzzMessage parses arbitrary input, reads everything a script can read,
// edits a header and rewrites a part. It must never panic; a header edit
// must keep the body and the MIME structure. Seeds: fuzzSeeds and the
// corpus files (their first 4 KiB), when the corpus is there.
func FuzzMessage(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if dir, ok := corpusPath(); ok {
		for _, rel := range corpusFiles(f, dir) {
			if raw, err := os.ReadFile(filepath.Join(dir, rel)); err == nil {
				f.Add(raw[:min(len(raw), maxSeed)])
			}
		}
	}
	f.Fuzz(fuzzMessage)
}

func fuzzMessage(t *testing.T, raw []byte) {
	{
		opt := Options{MaxDepth: 16, MaxParts: 200, MaxPartBytes: 1 << 20}
		m := New(raw, opt)
		for _, fl := range m.HeaderFields() {
			m.Header(fl.Name)
		}
		ps, err := m.Parts()
		if err != nil && !errors.Is(err, ErrEmpty) {
			t.Fatalf("Parts: %v", err)
		}
		for _, p := range ps {
			if _, err := m.PartText(p); err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("PartText(%s): %v", p.Path, err)
			}
			p.SafeFilename()
		}
		m.Text()
		m.HTML()
		m.Defects()

		// A header edit keeps the body and the structure.
		body := bodyOf(m)
		if err := m.SetHeader("X-Fuzz", "é v"); err != nil {
			t.Fatal(err)
		}
		out := m.Bytes()
		if m.Size() != int64(len(out)) {
			t.Fatalf("Size = %d, len(Bytes) = %d", m.Size(), len(out))
		}
		m2, body2 := reparse(out)
		if !bytes.Equal(body, body2) {
			t.Fatalf("body changed by a header edit:\n%q\n%q", body, body2)
		}
		if got := m2.Header("X-Fuzz"); got != "é v" {
			t.Fatalf("X-Fuzz = %q after re-parse of %q", got, out)
		}
		if err == nil {
			ps2, err2 := New(out, opt).Parts()
			if err2 != nil || len(ps2) != len(ps) {
				t.Fatalf("%d parts after a header edit, want %d (%v)", len(ps2), len(ps), err2)
			}
			for i := range ps {
				if ps[i].Path != ps2[i].Path || ps[i].ContentType != ps2[i].ContentType || ps[i].Size != ps2[i].Size {
					t.Fatalf("part %d: %s %s %d became %s %s %d", i, ps[i].Path, ps[i].ContentType, ps[i].Size,
						ps2[i].Path, ps2[i].ContentType, ps2[i].Size)
				}
			}
		}

		// Body rewrites must not panic and must give a parseable message.
		m3 := New(raw, opt)
		if ps3, err := m3.Parts(); err == nil && len(ps3) > 0 {
			m3.PrependText("note ü")
			m3.RemovePart(ps3[len(ps3)-1])
			m3.ReplacePart(ps3[0], "replaced")
			m4 := New(m3.Bytes(), opt)
			if _, err := m4.Parts(); err != nil && !errors.Is(err, ErrEmpty) {
				t.Fatalf("rewritten message: %v", err)
			}
		}
	}
}
