package queue

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// setSegMax lowers segMax for one test.
func setSegMax(t *testing.T, n int64) {
	old := segMax
	segMax = n
	t.Cleanup(func() { segMax = old })
}

// segFiles lists the segment files in dir.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func bodyOf(t *testing.T, s *DirSpool, id string) string {
	t.Helper()
	b, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open %s: %v", id, err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// TestSegmentRecovery lays out in a segment what crashes leave behind and
// checks that OpenDir keeps exactly the committed, live messages with the
// state and records stored beside them.
func TestSegmentRecovery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	create := func(body string) *Item {
		t.Helper()
		it := &Item{Envelope: Envelope{From: "a@x", Rcpt: []string{"b@y", "c@y"}}}
		if err := s.Create(t.Context(), it, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		return it
	}
	saved := create("saved body")
	saved.Attempts, saved.LastError = 2, "451 later"
	if err := s.SaveState(t.Context(), saved); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(t.Context(), saved.ID, "b@y", DeliveryRecord{Result: Delivered}); err != nil {
		t.Fatal(err)
	}
	plain := create("plain body")
	badCRC := create("its state will be damaged")
	removed := create("removed")
	if err := s.SaveState(t.Context(), removed); err != nil {
		t.Fatal(err)
	}
	sideJSON, _ := os.ReadFile(filepath.Join(dir, removed.ID+".json"))
	if err := s.Remove(t.Context(), removed.ID); err != nil {
		t.Fatal(err)
	}
	// A body that was never committed (the session ended before its 250).
	held := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.CreateBody(t.Context(), held, strings.NewReader("held")); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	s.Close()

	// Damage: a byte of badCRC's state, a torn record at the end (a
	// header's first bytes), and the removed message's ID.json back, as if
	// the crash came between the flag and the unlink.
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), `{"v":1,"id":"`+badCRC.ID)
	if i < 0 {
		t.Fatal("state record of badCRC not found")
	}
	b[i+len(`{"v":1,"id":"`)+idLen+5] ^= 1
	b = append(b, segMagic[:]...)
	b = append(b, kindBody, 0, 24)
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, removed.ID+".json"), sideJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	var logs logBuffer
	s2 := openDir(t, dir, DirOptions{Logger: logs.logger()})
	ids, err := s2.List()
	want := []string{saved.ID, plain.ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids, want) {
		t.Errorf("List = %v, %v; want %v", ids, err, want)
	}
	got, err := s2.Load(saved.ID)
	if err != nil || got.Attempts != 2 || got.LastError != "451 later" || got.Done["b@y"].Result != Delivered {
		t.Errorf("saved message: %+v, %v", got, err)
	}
	if p := got.Pending(); !slices.Equal(p, []string{"c@y"}) {
		t.Errorf("Pending = %v", p)
	}
	if got, err := s2.Load(plain.ID); err != nil || got.From != "a@x" || got.Size != int64(len("plain body")) {
		t.Errorf("plain message: %+v, %v", got, err)
	}
	if body := bodyOf(t, s2, plain.ID); body != "plain body" {
		t.Errorf("plain body = %q", body)
	}
	for _, id := range []string{badCRC.ID, removed.ID, held.ID} {
		if _, err := s2.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open %s = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, removed.ID+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray ID.json of a removed message kept: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, "unfinished end of a segment") {
		t.Errorf("log does not tell of the torn end:\n%s", out)
	}

	// New messages go to a new segment; the old one, read-only now, goes
	// when its last message does.
	fresh := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s2.Create(t.Context(), fresh, strings.NewReader("fresh")); err != nil {
		t.Fatal(err)
	}
	if n := segFiles(t, dir); len(n) != 2 {
		t.Fatalf("segments after a new message: %v", n)
	}
	for _, id := range []string{saved.ID, plain.ID} {
		if err := s2.Remove(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := segFiles(t, dir); len(n) != 1 || n[0] == segs[0] {
		t.Errorf("segments after the old messages went: %v (old %s)", n, segs[0])
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{fresh.ID}) {
		t.Errorf("files = %v, want %s alone", names, fresh.ID)
	}
	if body := bodyOf(t, s2, fresh.ID); body != "fresh" {
		t.Errorf("fresh body = %q", body)
	}
}

// TestSegmentRollover: a segment past segMax takes no new message and is
// deleted when its messages are gone; a message never spans two.
func TestSegmentRollover(t *testing.T) {
	setSegMax(t, 1000)
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	var items []*Item
	body := strings.Repeat("x", 400)
	for i := range 6 {
		it := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
		if err := s.Create(t.Context(), it, strings.NewReader(body+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if n := len(segFiles(t, dir)); n != 3 {
		t.Errorf("%d segments for 6 messages of ~450 bytes with segMax 1000, want 3", n)
	}
	for i, it := range items {
		if got := bodyOf(t, s, it.ID); got != body+string(rune('a'+i)) {
			t.Errorf("message %d: body of %d bytes", i, len(got))
		}
	}
	// A body being read keeps its segment until it is closed.
	held, err := s.Open(items[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items[:4] {
		if err := s.Remove(t.Context(), it.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n != 2 {
		t.Errorf("%d segments after removing the first four messages, one body open, want 2", n)
	}
	if got, err := io.ReadAll(held); err != nil || string(got) != body+"a" {
		t.Errorf("held body after Remove: %d bytes, %v", len(got), err)
	}
	held.Close()
	held.Close() // a second Close does nothing
	if n := len(segFiles(t, dir)); n != 1 {
		t.Errorf("%d segments once the body is closed, want 1", n)
	}
	s.Close()
	s2 := openDir(t, dir, DirOptions{})
	if ids, _ := s2.List(); len(ids) != 2 {
		t.Errorf("List after reopen = %v", ids)
	}
}

// TestSegmentConcurrentWriters: bodies streamed at the same time go to
// different segments and are all stored whole.
func TestSegmentConcurrentWriters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	pr1, pw1 := io.Pipe()
	pr2, pw2 := io.Pipe()
	a := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	b := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	errs := make(chan error, 2)
	go func() { errs <- s.Create(t.Context(), a, pr1) }()
	go func() { errs <- s.Create(t.Context(), b, pr2) }()
	for i := range 50 {
		pw1.Write([]byte(strings.Repeat("a", i)))
		pw2.Write([]byte(strings.Repeat("b", i)))
	}
	pw1.Close()
	pw2.Close()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n != 2 {
		t.Errorf("%d segments for two bodies written at once, want 2", n)
	}
	want := 49 * 50 / 2
	if got := bodyOf(t, s, a.ID); got != strings.Repeat("a", want) {
		t.Errorf("a: %d bytes", len(got))
	}
	if got := bodyOf(t, s, b.ID); got != strings.Repeat("b", want) {
		t.Errorf("b: %d bytes", len(got))
	}
	s.Close()
	s2 := openDir(t, dir, DirOptions{})
	if ids, _ := s2.List(); len(ids) != 2 {
		t.Errorf("List after reopen = %v", ids)
	}
}

// TestSegmentMoveOut: a message whose state is saved again (a retry) leaves
// its segment for files of its own, so that a full segment goes as soon as
// its first attempts are over; a crash in the middle of the move leaves
// the message whole, in its segment.
func TestSegmentMoveOut(t *testing.T) {
	setSegMax(t, 100)
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	a := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), a, strings.NewReader("deferred for days")); err != nil {
		t.Fatal(err)
	}
	seg := segFiles(t, dir)
	a.Attempts, a.LastError = 1, "451 try later"
	if err := s.SaveState(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if n := segFiles(t, dir); len(n) != 0 {
		t.Errorf("segments after the move: %v (was %v); the full segment should be gone", n, seg)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{a.ID + ".eml", a.ID + ".json"}) {
		t.Errorf("files = %v", got)
	}

	// The crash: b's body copied out and its new state written, the dead
	// flag not yet.
	b := &Item{Envelope: Envelope{Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), b, strings.NewReader("b's body")); err != nil {
		t.Fatal(err)
	}
	b.Attempts = 3
	state, _ := encodeState(b)
	os.WriteFile(filepath.Join(dir, b.ID+".eml"), []byte("b's body"), 0o600)
	os.WriteFile(filepath.Join(dir, b.ID+".json"), state, 0o600)
	s.Close()
	s2 := openDir(t, dir, DirOptions{})
	if got, err := s2.Load(b.ID); err != nil || got.Attempts != 3 {
		t.Errorf("b after the crash: %+v, %v; want its saved state", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, b.ID+".eml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray ID.eml of a message in a segment kept: %v", err)
	}
	if body := bodyOf(t, s2, b.ID); body != "b's body" {
		t.Errorf("b's body = %q", body)
	}
	b.Attempts = 4
	if err := s2.SaveState(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Load(b.ID); err != nil || got.Attempts != 4 {
		t.Errorf("b after its move: %+v, %v", got, err)
	}
	if got := bodyOf(t, s2, a.ID); got != "deferred for days" {
		t.Errorf("a's body = %q", got)
	}
	if n := segFiles(t, dir); len(n) != 0 {
		t.Errorf("segments left: %v", n)
	}
	for _, id := range []string{a.ID, b.ID} {
		if err := s2.Remove(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("files after Remove: %v", got)
	}
}
