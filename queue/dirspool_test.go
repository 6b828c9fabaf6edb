package queue

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func openDir(t testing.TB, dir string, opt DirOptions) *DirSpool {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	s, err := OpenDir(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dirNames lists what dir holds, sorted: the names of its files, .lock
// excepted, but for a segment the IDs of the bodies it holds that are not
// dead (committed or not), and nothing for a segment without any.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		switch {
		case e.Name() == ".lock":
		case strings.HasPrefix(e.Name(), segPrefix):
			names = append(names, liveBodies(t, filepath.Join(dir, e.Name()))...)
		default:
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// liveBodies returns the IDs of the body records of a segment file that are
// not dead, up to its first invalid header.
func liveBodies(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for off := 0; len(b)-off >= recHeader+idLen; {
		h, ok := parseHeader(b[off : off+recHeader])
		if !ok {
			break
		}
		if h.kind == kindBody && !h.dead {
			ids = append(ids, string(b[off+recHeader:off+recHeader+idLen]))
		}
		off += recHeader + h.idl + int(h.n)
	}
	return ids
}

func TestDirSpool(t *testing.T) {
	for _, mode := range []SyncMode{SyncAuto, SyncFS, SyncBatch, SyncEach, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			testSpool(t, func(t *testing.T) Spool {
				return openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{Sync: mode})
			})
		})
	}
}

func TestDirSpoolFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	it := &Item{Envelope: Envelope{From: "a@x", Rcpt: []string{"b@y"}}}
	if err := s.Create(t.Context(), it, strings.NewReader("body")); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(t.Context(), it.ID, "b@y", DeliveryRecord{Result: Delivered}); err != nil {
		t.Fatal(err)
	}
	want := []string{it.ID, it.ID + ".log"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	// A saved state (a retry) moves the message out of its segment into
	// files of its own.
	it.Attempts = 1
	if err := s.SaveState(t.Context(), it); err != nil {
		t.Fatal(err)
	}
	want = []string{it.ID + ".eml", it.ID + ".json", it.ID + ".log"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files after SaveState = %v, want %v", got, want)
	}
	if got, err := s.Load(it.ID); err != nil || got.Attempts != 1 || got.Done["b@y"].Result != Delivered {
		t.Errorf("Load after the move = %+v, %v", got, err)
	}
	if b, err := s.Open(it.ID); err != nil {
		t.Error(err)
	} else {
		got, _ := io.ReadAll(b)
		b.Close()
		if string(got) != "body" {
			t.Errorf("body after the move = %q", got)
		}
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("folder mode %v, want 0700", fi.Mode().Perm())
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 5 { // .lock, the segment, ID.eml, ID.json, ID.log
			t.Errorf("files: %v", ents)
		}
		for _, e := range ents {
			fi, _ := e.Info()
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", e.Name(), fi.Mode().Perm())
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, it.ID+".json"))
	if !strings.HasPrefix(string(b), `{"v":1,"id":"`+it.ID+`"`) || strings.Contains(string(b), `"done"`) {
		t.Errorf("ID.json = %s", b)
	}
}

// TestDirSpoolRecovery lays out what crashes leave behind in the layout of
// earlier versions (one ID.eml and one ID.json per message) and checks that
// OpenDir keeps exactly the messages whose Create had finished, and that
// they are read, recorded and removed as before.
func TestDirSpoolRecovery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := &Item{Envelope: Envelope{ID: NewID(), From: "a@x", Rcpt: []string{"b@y"}, Size: 9}}
	goodJSON, err := encodeState(good)
	if err != nil {
		t.Fatal(err)
	}
	write(good.ID+".eml", "good body")
	write(good.ID+".json", string(goodJSON))
	write(good.ID+".log", `{"rcpt":"b@y","when":"2025-01-01T00:00:00Z","result":"delivered"}`+"\n")
	orphan, empty, torn, short, noBody, strayLog := NewID(), NewID(), NewID(), NewID(), NewID(), NewID()
	write(orphan+".eml", "body without envelope")                                                    // killed before ID.json
	write(empty+".eml", "body")                                                                      // killed between create and write of ID.json
	write(empty+".json", "")                                                                         //
	write(torn+".eml", "body")                                                                       // power loss: ID.json half written
	write(torn+".json", `{"v":1,"id":"`+torn+`","fr`)                                                //
	write(short+".eml", "bo")                                                                        // power loss: body not all there
	write(short+".json", strings.ReplaceAll(string(goodJSON), good.ID, short))                       // (Size 9)
	write(noBody+".json", strings.ReplaceAll(string(goodJSON), good.ID, noBody))                     // body lost: not ours, but unusable
	write(strayLog+".log", `{"rcpt":"b@y","when":"2025-01-01T00:00:00Z","result":"delivered"}`+"\n") // Remove interrupted
	write(good.ID+".json.123456.tmp", "{")                                                           // SaveState interrupted
	write("README", "not ours")                                                                      // left alone

	var logs logBuffer
	s2 := openDir(t, dir, DirOptions{Logger: logs.logger()})
	ids, err := s2.List()
	if err != nil || !slices.Equal(ids, []string{good.ID}) {
		t.Errorf("List = %v, %v; want only %s", ids, err, good.ID)
	}
	want := []string{good.ID + ".eml", good.ID + ".json", good.ID + ".log", "README"}
	slices.Sort(want)
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("files after recovery:\n got %v\nwant %v", got, want)
	}
	it, err := s2.Load(good.ID)
	if err != nil || it.Done["b@y"].Result != Delivered || it.From != "a@x" {
		t.Errorf("good message after recovery: %+v, %v", it, err)
	}
	if b, err := s2.Open(good.ID); err != nil {
		t.Error(err)
	} else {
		got, _ := io.ReadAll(b)
		b.Close()
		if string(got) != "good body" {
			t.Errorf("body = %q", got)
		}
	}
	out := logs.String()
	for _, id := range []string{orphan, empty, torn, short, noBody, strayLog} {
		if !strings.Contains(out, id) {
			t.Errorf("log does not mention %s:\n%s", id, out)
		}
	}
	if !strings.Contains(out, "never acknowledged") || !strings.Contains(out, "body has 2 of 9 bytes") {
		t.Errorf("log does not say why:\n%s", out)
	}
	// New messages go to a segment beside it; the old one is removed as
	// it was stored.
	if err := s2.Create(t.Context(), &Item{Envelope: Envelope{Rcpt: []string{"c@y"}}}, strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if err := s2.Remove(t.Context(), good.ID); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); len(got) != 2 || got[1] != "README" {
		t.Errorf("files after Remove: %v, want the new message and README", got)
	}
}

func TestDirSpoolTornLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	it := &Item{Envelope: Envelope{Rcpt: []string{"a@x", "b@x", "c@x"}}}
	if err := s.Create(t.Context(), it, strings.NewReader("m")); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(t.Context(), it.ID, "a@x", DeliveryRecord{Result: Delivered}); err != nil {
		t.Fatal(err)
	}
	// A crash (power loss) tore the next append.
	f, _ := os.OpenFile(filepath.Join(dir, it.ID+".log"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"rcpt":"b@x","wh`)
	f.Close()
	got, err := s.Load(it.ID)
	if err != nil || len(got.Done) != 1 {
		t.Fatalf("Load with torn log = %v, %v; want a@x only", got.Done, err)
	}
	if err := s.Record(t.Context(), it.ID, "c@x", DeliveryRecord{Result: Relayed}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Load(it.ID)
	if _, ok := got.Done["c@x"]; !ok || len(got.Done) != 2 {
		t.Errorf("record after a torn line lost: Done = %v", got.Done)
	}
	if p := got.Pending(); !slices.Equal(p, []string{"b@x"}) {
		t.Errorf("Pending = %v, want [b@x]", p)
	}
}

func TestDirSpoolLock(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock")
	}
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	if s2, err := OpenDir(dir, DirOptions{}); err == nil {
		s2.Close()
		t.Fatal("second OpenDir of a spool in use succeeded")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("second OpenDir = %v", err)
	}
	s.Close()
	s3, err := OpenDir(dir, DirOptions{})
	if err != nil {
		t.Fatalf("OpenDir after Close = %v", err)
	}
	s3.Close()
}

// TestDirSpoolStreams checks that Create does not hold the message in
// memory.
func TestDirSpoolStreams(t *testing.T) {
	s := openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{Sync: SyncNone})
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	it := &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}
	if err := s.Create(t.Context(), it, &failingReader{n: size, err: io.EOF}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if it.Size != size {
		t.Errorf("Size = %d, want %d", it.Size, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Create of %d MiB allocated %d MiB", size>>20, alloc>>20)
	}
}

// TestDirSpoolFaults makes each step of Create fail as a full disk would and
// checks that the error matches ErrSpool and that nothing is left behind.
func TestDirSpoolFaults(t *testing.T) {
	for _, step := range []string{"create", "write", "json", "sync"} {
		t.Run(step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "queue")
			s := openDir(t, dir, DirOptions{})
			s.fault = func(op string) error {
				if op == step {
					return syscall.ENOSPC
				}
				return nil
			}
			it := &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}
			err := s.Create(t.Context(), it, strings.NewReader("some message\r\n"))
			if !errors.Is(err, ErrSpool) || !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Create = %v; want ErrSpool wrapping ENOSPC", err)
			}
			if !strings.HasPrefix(err.Error(), "queue: ") {
				t.Errorf("error text %q does not start with queue:", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
			s.fault = nil
			if ids, _ := s.List(); len(ids) != 0 {
				t.Errorf("List after a failed Create = %v", ids)
			}
			// The spool goes on: the next message is stored and read back.
			next := &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}
			if err := s.Create(t.Context(), next, strings.NewReader("next")); err != nil {
				t.Fatalf("Create after the failure: %v", err)
			}
			if b, err := s.Open(next.ID); err != nil {
				t.Error(err)
			} else {
				got, _ := io.ReadAll(b)
				b.Close()
				if string(got) != "next" {
					t.Errorf("next body = %q", got)
				}
			}
			if it.ID != "" {
				t.Errorf("failed Create left ID %q on the item", it.ID)
			}
		})
	}
	t.Run("save-record-remove", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "queue")
		s := openDir(t, dir, DirOptions{})
		it := &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}
		if err := s.Create(t.Context(), it, strings.NewReader("m")); err != nil {
			t.Fatal(err)
		}
		s.fault = func(string) error { return syscall.EIO }
		it.Attempts = 5
		if err := s.SaveState(t.Context(), it); !errors.Is(err, ErrSpool) {
			t.Errorf("SaveState = %v, want ErrSpool", err)
		}
		if err := s.Record(t.Context(), it.ID, "a@x", DeliveryRecord{}); !errors.Is(err, ErrSpool) {
			t.Errorf("Record = %v, want ErrSpool", err)
		}
		s.fault = nil
		got, err := s.Load(it.ID)
		if err != nil || got.Attempts != 0 || len(got.Done) != 0 {
			t.Errorf("after failed saves: %+v, %v; want the old state", got, err)
		}
		if names := dirNames(t, dir); len(names) != 1 {
			t.Errorf("files = %v, want the message alone", names)
		}
	})
}

// TestDirSpoolUnwritable uses a read-only folder (not for root, whom
// permissions do not stop: TestDirSpoolFaults and TestDiskFull cover that).
func TestDirSpoolUnwritable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("permissions do not stop this user")
	}
	dir := filepath.Join(t.TempDir(), "queue")
	s := openDir(t, dir, DirOptions{})
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := s.Create(t.Context(), &Item{Envelope: Envelope{Rcpt: []string{"a@x"}}}, strings.NewReader("m"))
	if !errors.Is(err, ErrSpool) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Create = %v; want ErrSpool wrapping a permission error", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q, not valid", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
		if id[:9] < prev {
			t.Errorf("IDs not in time order: %s after %s", id, prev)
		}
		prev = id[:9]
	}
	// The time prefix orders IDs of different milliseconds.
	synctest.Test(t, func(t *testing.T) {
		a := NewID()
		time.Sleep(time.Millisecond)
		if b := NewID(); b <= a {
			t.Errorf("later ID %s sorts before %s", b, a)
		}
	})
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"0123456789abcdefghijklmn", true},
		{"0123456789abcdefghijklmv", true},
		{"0123456789abcdefghijklmw", false},
		{"0123456789ABCDEFGHIJKLMN", false},
		{"0123456789abcdefghijklm", false},
		{"", false},
		{"../0123456789abcdefghijk", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true}, {"5.7.19", false}, {"6.1.0-18-amd64", true}, {"5.10", true},
		{"4.19.0-26-amd64", false}, {"5.8-rc1", true}, {"5.7-rc1", false}, {"6", false}, {"", false}, {"x.y", false},
	} {
		if got := kernelAtLeast(tc.release, 5, 8); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", tc.release, got, tc.want)
		}
	}
}

func TestSyncModeResolved(t *testing.T) {
	s := openDir(t, filepath.Join(t.TempDir(), "queue"), DirOptions{})
	if m := s.SyncMode(); m != SyncFS && m != SyncBatch {
		t.Errorf("SyncAuto resolved to %v", m)
	}
	t.Logf("SyncAuto is %v here", s.SyncMode())
	if got := SyncMode(42).String(); got != "SyncMode(42)" {
		t.Errorf("String() = %q", got)
	}
}
