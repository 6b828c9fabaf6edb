package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// DirOptions configures a DirSpool. The zero value is ready to use.
type DirOptions struct {
	// Sync selects how writes are made durable. The default, SyncAuto,
	// groups the syncs of concurrent calls with syncfs where that is
	// reliable.
	Sync SyncMode
	// Logger gets one line per file OpenDir cleaned up. Default: discard.
	Logger *slog.Logger
}

// DirSpool is a Spool in a local folder. It keeps:
//
//	seg-SEQ  segments: the messages as received, each followed by its
//	         envelope and state ({"v":1, "id": …}) as stored by Create or
//	         CommitState, the commit mark; see segPrefix
//	ID.json  a message's envelope and state as saved later (SaveState,
//	         after a retry): it replaces the one in the segment; replaced
//	         atomically (temporary file, fdatasync, rename, folder fsync)
//	ID.log   delivery records, one JSON line each, appended and
//	         fdatasync'd (cheaper than rewriting the state per recipient);
//	         created by the first Record only
//
// Storing and removing a message create and delete no file (but the
// Maildir's), which on ext4 was most of the spool's cost. Messages stored
// by earlier versions, one ID.eml (the bytes) and one ID.json (the commit
// mark) each, are read, delivered and removed as they are. OpenDir removes
// what a crash left of unfinished work (bodies without a commit mark, the
// torn end of a segment, temporary files). A lock file (.lock, flock)
// keeps a second process out.
type DirSpool struct {
	dir    string
	dirf   *os.File // the folder, for fsync
	lockf  *os.File
	syncer *syncer
	log    *slog.Logger
	closed atomic.Bool
	once   sync.Once

	// logs holds the IDs whose ID.log exists (found by OpenDir, or
	// created by Record), so that Remove unlinks, and Load reads, only
	// files that are there.
	logs sync.Map

	mu       sync.Mutex
	msgs     map[string]*loc     // stored messages, committed or being stored
	reserved map[string]bool     // IDs a CreateBody is writing
	segs     map[uint64]*segment // open segment files
	free     []*segment          // segments that take records, not leased
	nextSeq  uint64
	removed  int // files OpenDir removed

	fault func(op string) error // tests: fails the named step when non-nil
}

var _ Spool = (*DirSpool)(nil)

// OpenDir opens (creating it, 0700) the spool folder dir — the server uses
// STORE/queue — locks it, and cleans up after a crash: it removes partial
// messages (never acknowledged, since Create had not returned), leftover
// temporary files and stray delivery logs, logging each.
func OpenDir(dir string, opt DirOptions) (*DirSpool, error) {
	s := &DirSpool{dir: dir, log: opt.Logger, msgs: make(map[string]*loc), reserved: make(map[string]bool), segs: make(map[uint64]*segment)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) && opt.Sync != SyncNone {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSpool, err)
		}
	}
	lockf, err := lockDir(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	dirf, err := os.Open(dir)
	if err != nil {
		lockf.Close()
		return nil, err
	}
	s.lockf, s.dirf = lockf, dirf
	s.syncer = newSyncer(opt.Sync, dirf)
	s.log.Debug("queue: spool opened", "dir", dir, "sync", s.syncer.mode)
	if err := s.cleanup(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncMode returns the sync mode in effect (SyncAuto resolved).
func (s *DirSpool) SyncMode() SyncMode { return s.syncer.mode }

// Dir returns the spool folder.
func (s *DirSpool) Dir() string { return s.dir }

func (s *DirSpool) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

func (s *DirSpool) check(op string) error {
	if s.fault != nil {
		return s.fault(op)
	}
	return nil
}

// stateFile is the content of ID.json: the Item without Done.
type stateFile struct {
	V int `json:"v"`
	Item
}

const stateVersion = 1

func encodeState(it *Item) ([]byte, error) {
	st := stateFile{V: stateVersion, Item: *it}
	st.Done = nil
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func decodeState(id string, b []byte) (*Item, error) {
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.V != stateVersion {
		return nil, fmt.Errorf("unknown state version %d", st.V)
	}
	if st.ID != id {
		return nil, fmt.Errorf("state names message %q", st.ID)
	}
	it := st.Item
	it.Done = nil
	return &it, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Create implements Spool: CreateBody and CommitState in one call (two
// syncs: the body must be durable before its commit mark is written).
func (s *DirSpool) Create(ctx context.Context, it *Item, body io.Reader) error {
	gen := it.ID == ""
	if err := s.CreateBody(ctx, it, body); err != nil {
		if gen {
			it.ID = ""
		}
		return err
	}
	if err := s.CommitState(ctx, it); err != nil {
		if gen {
			it.ID = ""
		}
		return err
	}
	return nil
}

type fileBody struct {
	*io.SectionReader
	f *os.File
}

func (b *fileBody) Close() error { return b.f.Close() }

// Open implements Spool.
func (s *DirSpool) Open(id string) (Body, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	l, ok := s.hold(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if l.seg != nil {
		return &segBody{SectionReader: io.NewSectionReader(l.seg.f, l.bodyOff(), l.size), s: s, g: l.seg}, nil
	}
	f, err := os.Open(s.path(id, ".eml"))
	if err != nil {
		return nil, notFound(id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: open %s: %w", id, err)
	}
	return &fileBody{io.NewSectionReader(f, 0, fi.Size()), f}, nil
}

func notFound(id string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return fmt.Errorf("queue: %s: %w", id, err)
}

// Load implements Spool.
func (s *DirSpool) Load(id string) (*Item, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	l, ok := s.hold(id)
	if ok && l.seg != nil {
		defer s.unhold(l.seg)
	}
	if !ok || !l.committed {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var it *Item
	var err error
	if l.seg != nil && !l.side {
		// Should SaveState move the message out meanwhile, this is the
		// state it had before: the segment stays readable while held.
		it, err = s.readState(id, &l)
	} else {
		var b []byte
		b, err = os.ReadFile(s.path(id, ".json"))
		if err != nil {
			return nil, notFound(id, err)
		}
		it, err = decodeState(id, b)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: load %s: %w", id, err)
	}
	it.Done, err = s.readLog(id)
	if err != nil {
		return nil, fmt.Errorf("queue: load %s: %w", id, err)
	}
	return it, nil
}

// logLine is one line of ID.log.
type logLine struct {
	Rcpt string `json:"rcpt"`
	DeliveryRecord
}

// readLog reads ID.log. A line that does not parse (the torn end of an
// append that a crash interrupted before its sync returned) is skipped.
func (s *DirSpool) readLog(id string) (map[string]DeliveryRecord, error) {
	if _, ok := s.logs.Load(id); !ok {
		// No ID.log: OpenDir noted every one it found, and Record every
		// one it creates (the spool's lock keeps other writers out), so
		// a first attempt does not look for a file that is not there.
		return nil, nil
	}
	f, err := os.Open(s.path(id, ".log"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	done := make(map[string]DeliveryRecord)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Rcpt == "" {
			continue
		}
		done[l.Rcpt] = l.DeliveryRecord
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return done, nil
}

// SaveState implements Spool.
func (s *DirSpool) SaveState(ctx context.Context, it *Item) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkID(it.ID); err != nil {
		return err
	}
	l, ok := s.hold(it.ID)
	if ok && l.seg != nil {
		defer s.unhold(l.seg)
	}
	if !ok || !l.committed {
		return fmt.Errorf("%w: %s", ErrNotFound, it.ID)
	}
	b, err := encodeState(it)
	if err != nil {
		return fmt.Errorf("queue: save %s: %w", it.ID, err)
	}
	if l.seg != nil {
		if err := s.moveOut(it.ID, &l, b); err != nil {
			return fmt.Errorf("%w: save %s: %w", ErrSpool, it.ID, err)
		}
		return nil
	}
	if err := s.replace(it.ID, b); err != nil {
		return fmt.Errorf("%w: save %s: %w", ErrSpool, it.ID, err)
	}
	return nil
}

// replace writes b to ID.json atomically and durably.
func (s *DirSpool) replace(id string, b []byte) error {
	if err := s.check("save"); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, id+".json.*.tmp")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := s.syncer.sync([]*os.File{tmp}, false); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path(id, ".json")); err != nil {
		return err
	}
	ok = true
	tmp.Close()
	return s.syncer.sync(nil, true)
}

// Record implements Spool.
func (s *DirSpool) Record(ctx context.Context, id, rcpt string, rec DeliveryRecord) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkID(id); err != nil {
		return err
	}
	if l, ok := s.lookup(id); !ok || !l.committed {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	b, err := json.Marshal(logLine{Rcpt: rcpt, DeliveryRecord: rec})
	if err != nil {
		return fmt.Errorf("queue: record %s: %w", id, err)
	}
	b = append(b, '\n')
	if err := s.appendLog(id, b); err != nil {
		return fmt.Errorf("%w: record %s: %w", ErrSpool, id, err)
	}
	return nil
}

// appendLog appends line to ID.log. If the log ends in a torn line (a crash
// during an earlier append, before its sync returned), a newline is written
// first so that the torn part stays a line of its own.
func (s *DirSpool) appendLog(id string, line []byte) error {
	if err := s.check("record"); err != nil {
		return err
	}
	name := s.path(id, ".log")
	created := true
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		created = false
		f, err = os.OpenFile(name, os.O_RDWR|os.O_APPEND, 0o600)
	}
	if err != nil {
		return err
	}
	s.logs.Store(id, struct{}{})
	defer f.Close()
	if !created {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if n := fi.Size(); n > 0 {
			var last [1]byte
			if _, err := f.ReadAt(last[:], n-1); err != nil {
				return err
			}
			if last[0] != '\n' {
				line = append([]byte{'\n'}, line...)
			}
		}
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	return s.syncer.sync([]*os.File{f}, created)
}

// Remove implements Spool.
func (s *DirSpool) Remove(ctx context.Context, id string) error {
	return s.removeMsg(id, false)
}

// RemoveDone implements DoneRemover: it removes the message like Remove
// but, when the spool syncs with syncfs, does not wait for the removal to
// be durable. It becomes durable with the next sync of the spool for any
// other message, or within a second (laterDelay) when none comes.
func (s *DirSpool) RemoveDone(ctx context.Context, id string) error {
	return s.removeMsg(id, true)
}

// removeMsg removes a message: the dead flag of its body record first (from
// then on it is gone after a crash), synced unless lazy allows otherwise,
// then its ID.json and ID.log. A message of the per-message layout loses
// ID.json first, then ID.eml and ID.log.
func (s *DirSpool) removeMsg(id string, lazy bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.msgs[id]
	committed := l != nil && l.committed
	s.mu.Unlock()
	if !committed {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if l.seg == nil {
		if err := s.removeFiles(id); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.msgs, id)
		s.mu.Unlock()
		if lazy {
			err := s.syncer.later()
			if err != nil {
				return fmt.Errorf("%w: remove %s: %w", ErrSpool, id, err)
			}
			return nil
		}
		if err := s.syncer.sync(nil, true); err != nil {
			return fmt.Errorf("%w: remove %s: %w", ErrSpool, id, err)
		}
		return nil
	}
	err := s.check("remove")
	if err == nil {
		err = markDead(l)
	}
	if err != nil {
		return fmt.Errorf("%w: remove %s: %w", ErrSpool, id, err)
	}
	_, hasLog := s.logs.Load(id)
	s.mu.Lock()
	side := l.side
	s.mu.Unlock()
	if lazy && !side && !hasLog && s.syncer.mode == SyncFS {
		err = s.syncer.later()
	} else {
		err = s.syncer.sync([]*os.File{l.seg.f}, false)
	}
	if err != nil {
		return fmt.Errorf("%w: remove %s: %w", ErrSpool, id, err)
	}
	if side || hasLog {
		// Only now: should the flag be lost, the state and the records
		// must still be there.
		if side {
			if e := os.Remove(s.path(id, ".json")); e != nil && !errors.Is(e, fs.ErrNotExist) {
				err = e
			}
		}
		if hasLog {
			if e := os.Remove(s.path(id, ".log")); e == nil || errors.Is(e, fs.ErrNotExist) {
				s.logs.Delete(id)
			} else if err == nil {
				err = e
			}
		}
		s.syncer.later()
	}
	s.forgetMsg(id, l)
	if err != nil {
		// The message is gone; a file left behind is removed by the next
		// OpenDir.
		s.log.Warn("queue: cannot remove a file of a removed message", "msg_id", id, "err", err)
	}
	return nil
}

// lookup returns a copy of where id is stored.
func (s *DirSpool) lookup(id string) (loc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.msgs[id]
	if l == nil {
		return loc{}, false
	}
	return *l, true
}

// removeFiles unlinks the files of a message of the per-message layout:
// ID.json first, then ID.eml, then ID.log if it exists.
func (s *DirSpool) removeFiles(id string) error {
	err := os.Remove(s.path(id, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err == nil {
		err = s.check("remove")
	}
	if e := os.Remove(s.path(id, ".eml")); e != nil && !errors.Is(e, fs.ErrNotExist) && err == nil {
		err = e
	}
	if _, ok := s.logs.Load(id); ok {
		e := os.Remove(s.path(id, ".log"))
		if e == nil || errors.Is(e, fs.ErrNotExist) {
			s.logs.Delete(id)
		} else if err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("%w: remove %s: %w", ErrSpool, id, err)
	}
	return nil
}

// SyncFiles implements FileSyncer: files outside the spool (a Maildir
// delivery's) are made durable together with the spool's own syncs when
// they are on its file system and the mode is SyncFS (one syncfs serves
// both); else each is fsync'd.
func (s *DirSpool) SyncFiles(files ...*os.File) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.syncer.syncOther(files)
}

// List implements Spool.
func (s *DirSpool) List() ([]string, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.committedIDs(), nil
}

// Close implements Spool. It waits for the sync goroutine.
func (s *DirSpool) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.syncer.close()
		s.closeSegments()
		s.dirf.Close()
		s.lockf.Close()
	})
	return nil
}

// cleanup reads the segments and the per-message files, and removes what
// a crash left behind (see OpenDir).
func (s *DirSpool) cleanup() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("queue: open %s: %w", s.dir, err)
	}
	if err := s.openSegments(ents); err != nil {
		return err
	}
	type files struct{ eml, json, log bool }
	byID := make(map[string]*files)
	var ids []string
	removed := s.removed
	remove := func(name, why string, level slog.Level) {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("queue: cannot remove leftover file", "file", name, "err", err)
			return
		}
		removed++
		s.log.Log(context.Background(), level, "queue: removed "+why, "file", name)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			remove(name, "temporary file of an unfinished state save", slog.LevelInfo)
			continue
		}
		id, ext, _ := strings.Cut(name, ".")
		if !ValidID(id) || e.IsDir() {
			continue
		}
		f := byID[id]
		if f == nil {
			f = &files{}
			byID[id] = f
			ids = append(ids, id)
		}
		switch ext {
		case "eml":
			f.eml = true
		case "json":
			f.json = true
		case "log":
			f.log = true
		}
	}
	for _, id := range ids {
		f := byID[id]
		if l := s.msgs[id]; l != nil {
			// A message in a segment: ID.json and ID.log are its own.
			l.side = f.json
			if f.log {
				s.logs.Store(id, struct{}{})
			}
			if f.eml {
				remove(id+".eml", "stray body of a message stored in a segment", slog.LevelWarn)
			}
			continue
		}
		switch {
		case f.json && f.eml:
			if why := s.checkCommitted(id); why != "" {
				why = "partial message, never acknowledged (" + why + ")"
				remove(id+".json", why, slog.LevelWarn)
				remove(id+".eml", why, slog.LevelWarn)
				if f.log {
					remove(id+".log", why, slog.LevelWarn)
				}
				continue
			}
			s.msgs[id] = &loc{committed: true}
			if f.log {
				s.logs.Store(id, struct{}{})
			}
		case f.json:
			remove(id+".json", "state of a removed message (or one whose body is missing)", slog.LevelInfo)
			if f.log {
				remove(id+".log", "delivery log of a removed message", slog.LevelInfo)
			}
		case f.eml:
			remove(id+".eml", "partial message, never acknowledged (no envelope)", slog.LevelWarn)
			if f.log {
				remove(id+".log", "delivery log of a removed message", slog.LevelInfo)
			}
		case f.log:
			remove(id+".log", "delivery log of a removed message", slog.LevelInfo)
		}
	}
	if removed > 0 {
		return s.syncer.sync(nil, true)
	}
	return nil
}

// checkCommitted returns why ID.json and ID.eml do not form a message that
// Create finished, or "".
func (s *DirSpool) checkCommitted(id string) string {
	b, err := os.ReadFile(s.path(id, ".json"))
	if err != nil {
		return err.Error()
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "empty envelope"
	}
	it, err := decodeState(id, b)
	if err != nil {
		return "envelope: " + err.Error()
	}
	fi, err := os.Stat(s.path(id, ".eml"))
	if err != nil {
		return err.Error()
	}
	if fi.Size() != it.Size {
		return fmt.Sprintf("body has %d of %d bytes", fi.Size(), it.Size)
	}
	return ""
}
