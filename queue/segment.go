package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Segments hold the messages of a DirSpool: append-only files named
// seg-SEQ (16 hex digits) in the spool folder, each a sequence of records.
// A message is two records in a row in one segment: its body, then its
// envelope and state (the commit mark, written by CommitState). So storing
// a message creates no file and removing one deletes none: a body's record
// gets a "dead" flag, written in place, and a segment file is deleted only
// when it is full (segMax) and every message in it is dead. On a file
// system where creating and deleting a file per message is the main cost
// (ext4: inode allocation, and without a journal the scan past recently
// deleted inodes), that cost is gone.
//
// Record layout, little-endian:
//
//	0  magic "SLQ1"
//	4  kind  'B' (body) or 'S' (state)
//	5  dead  0, or 1 once the message is removed (body records only)
//	6  uint16 length of the ID
//	8  uint64 length of the data
//	16 uint32 CRC-32C of ID and data (state records; 0 for bodies)
//	20 uint32 CRC-32C of bytes 0–4 and 6–19 (the header without the flag)
//	24 the ID, then the data
//
// A writer holds a segment alone from its body's first byte to its state
// record (a lease): the two records are adjacent. A body that fits
// Receive's buffer is written with its header in one call; a larger one is
// streamed with its header written last. Either way nothing is trusted
// before the state record: a crash before the body's sync may leave a
// header of zeros, or a header whose body is incomplete and followed by
// no state record, and the scan stops there or skips it. Both records are
// synced before CommitState returns, the body before the state is
// written, so a state record whose CRC holds proves its body complete. At
// open, every segment is read header by header (bodies are skipped, not
// read), a message counts when its body is live and followed by a valid
// state record, and the segments found become read-only: new records go
// to new segments.
//
// Delivery records are kept beside the segment, in ID.log. A message whose
// state is saved again (SaveState: after a retry) moves out of its segment
// into the per-message layout, ID.eml and ID.json (see moveOut): segments
// hold only messages in their first attempt, so a segment is deleted soon
// after it is full, whatever waits in the queue.
const (
	segPrefix = "seg-"
	recHeader = 24
	kindBody  = 'B'
	kindState = 'S'
	deadOff   = 5
)

// segMax is the size past which a segment takes no new message (a
// variable for the tests).
var segMax int64 = 32 << 20

var (
	segMagic = [4]byte{'S', 'L', 'Q', '1'}
	castagno = crc32.MakeTable(crc32.Castagnoli)
)

// segment is one segment file. f stays open (read-write) until the file is
// deleted. end and the appends belong to the lease holder; live, sealed
// and leased are guarded by DirSpool.mu.
type segment struct {
	seq    uint64
	path   string
	f      *os.File
	end    int64 // where the next record goes
	live   int   // body records not dead: messages stored or being stored
	held   int   // readers of f (Open, Load): f stays open for them
	sealed bool  // takes no more records
	leased bool
}

// loc says where a message is.
type loc struct {
	seg       *segment // nil: a message of the per-message layout (ID.eml, ID.json)
	off       int64    // its body record
	size      int64    // body bytes
	stOff     int64    // its state record, once committed
	stLen     int64    // state bytes
	committed bool
	leased    bool // holds seg's lease (between CreateBody and CommitState or DropBody)
	side      bool // ID.json exists and replaces the state record
}

func (l *loc) bodyOff() int64 { return l.off + recHeader + idLen }

func putHeader(b []byte, kind byte, dead bool, idl int, n int64, crc uint32) {
	copy(b[0:4], segMagic[:])
	b[4] = kind
	b[5] = 0
	if dead {
		b[5] = 1
	}
	binary.LittleEndian.PutUint16(b[6:8], uint16(idl))
	binary.LittleEndian.PutUint64(b[8:16], uint64(n))
	binary.LittleEndian.PutUint32(b[16:20], crc)
	binary.LittleEndian.PutUint32(b[20:24], headerCRC(b))
}

func headerCRC(b []byte) uint32 {
	c := crc32.Update(0, castagno, b[0:5])
	return crc32.Update(c, castagno, b[6:20])
}

// header is a record header as read back.
type header struct {
	kind byte
	dead bool
	idl  int
	n    int64
	crc  uint32
}

func parseHeader(b []byte) (header, bool) {
	if [4]byte(b[0:4]) != segMagic || binary.LittleEndian.Uint32(b[20:24]) != headerCRC(b) {
		return header{}, false
	}
	h := header{
		kind: b[4],
		dead: b[5] != 0,
		idl:  int(binary.LittleEndian.Uint16(b[6:8])),
		n:    int64(binary.LittleEndian.Uint64(b[8:16])),
		crc:  binary.LittleEndian.Uint32(b[16:20]),
	}
	if (h.kind != kindBody && h.kind != kindState) || h.n < 0 || b[5] > 1 {
		return header{}, false
	}
	return h, true
}

// lease returns a segment for s's caller to append to alone: a free one, or
// a new file.
func (s *DirSpool) lease() (*segment, error) {
	s.mu.Lock()
	for len(s.free) > 0 {
		g := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		if !g.sealed {
			g.leased = true
			s.mu.Unlock()
			return g, nil
		}
	}
	s.nextSeq++
	seq := s.nextSeq
	s.mu.Unlock()
	if err := s.check("create"); err != nil {
		return nil, err
	}
	g := &segment{seq: seq, path: filepath.Join(s.dir, segName(seq)), leased: true}
	f, err := os.OpenFile(g.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	g.f = f
	// The new name must be durable before any message in it is: one
	// folder sync per segment, not per message.
	if err := s.syncer.sync(nil, true); err != nil {
		f.Close()
		os.Remove(g.path)
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		// Close came meanwhile; it sets closed before it closes the
		// segments under s.mu, so it did not see this one.
		g.f.Close()
		return nil, ErrClosed
	}
	s.segs[seq] = g
	return g, nil
}

func segName(seq uint64) string { return fmt.Sprintf("%s%016x", segPrefix, seq) }

// release gives a leased segment back. A full segment, or one whose last
// write failed (bad), is sealed; a sealed segment without live messages
// is deleted.
func (s *DirSpool) release(g *segment, bad bool) {
	s.mu.Lock()
	g.leased = false
	if bad || g.end >= segMax {
		g.sealed = true
	}
	del := s.deletable(g)
	if !g.sealed {
		s.free = append(s.free, g)
	}
	s.mu.Unlock()
	if del {
		s.deleteSegment(g)
	}
}

// deletable reports whether g is to be deleted, and if so forgets it. The
// caller holds s.mu.
func (s *DirSpool) deletable(g *segment) bool {
	if !g.sealed || g.leased || g.live > 0 || g.held > 0 {
		return false
	}
	if _, ok := s.segs[g.seq]; !ok {
		return false
	}
	delete(s.segs, g.seq)
	return true
}

// deleteSegment removes a segment file that holds nothing live. The
// removal becomes durable later: should a crash undo it, the segment's
// records are all dead and the next open deletes it again.
func (s *DirSpool) deleteSegment(g *segment) {
	g.f.Close()
	if err := os.Remove(g.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("queue: cannot remove empty segment", "file", filepath.Base(g.path), "err", err)
		return
	}
	s.syncer.later()
}

// reserve claims id for a CreateBody, or reports that it is taken (stored,
// or being stored by another call).
func (s *DirSpool) reserve(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs[id] != nil || s.reserved[id] {
		return false
	}
	s.reserved[id] = true
	return true
}

// writeBody streams body into a leased segment as a new body record for
// it.ID, without syncing. On success it records the message (not
// committed, still holding the lease) in s.msgs and returns the segment.
func (s *DirSpool) writeBody(ctx context.Context, it *Item, body io.Reader) (*segment, error) {
	g, err := s.lease()
	if err != nil {
		return nil, fmt.Errorf("%w: create: %w", ErrSpool, err)
	}
	start := g.end
	n, err := s.streamRecord(ctx, g, it.ID, body)
	if err != nil {
		// Leave a parsable, dead record behind so that the segment can
		// take more; if even that fails, seal it.
		var h [recHeader]byte
		putHeader(h[:], kindBody, true, idLen, n, 0)
		_, herr := g.f.WriteAt(h[:], start)
		g.end = start + recHeader + idLen + n
		s.release(g, herr != nil || errors.Is(err, ErrSpool))
		return nil, err
	}
	g.end = start + recHeader + idLen + n
	s.mu.Lock()
	g.live++
	s.msgs[it.ID] = &loc{seg: g, off: start, size: n, leased: true}
	s.mu.Unlock()
	it.Size = n
	return g, nil
}

// streamRecord writes a body record at g.end: the header's place and the
// ID, the bytes of body, then the header; or, when body is Receive's
// capture and the message fits in its buffer, the whole record in one
// write. It returns the bytes of body written. A read error (or ctx's) is
// returned as is, a write error as ErrSpool.
func (s *DirSpool) streamRecord(ctx context.Context, g *segment, id string, body io.Reader) (int64, error) {
	start := g.end
	at := start
	var n int64
	c, captured := body.(*capture)
	if captured {
		// Receive's capture: the message read into its buffer, behind
		// room for the header and ID, and written in one call if it fits.
		rec, whole, rerr := c.fill(ctx)
		n = int64(len(rec) - capHead)
		if whole {
			putHeader(rec, kindBody, false, idLen, n, 0)
		} else {
			clear(rec[:recHeader])
		}
		copy(rec[recHeader:capHead], id)
		werr := s.check("write")
		if werr == nil {
			_, werr = g.f.WriteAt(rec, at)
		}
		if whole && werr == nil {
			c.settle()
			return n, nil
		}
		c.drop() // failed, or larger than the buffer: the rest is streamed
		switch {
		case werr != nil:
			return n, fmt.Errorf("%w: %w", ErrSpool, werr)
		case rerr != nil && ctx.Err() != nil && errors.Is(rerr, ctx.Err()):
			return n, fmt.Errorf("queue: create %s: %w", id, rerr)
		case rerr != nil:
			return n, fmt.Errorf("queue: reading message: %w", rerr)
		}
		at += int64(len(rec))
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	fill := 0 // bytes in buf to write
	if !captured {
		pre := recHeader + idLen
		clear(buf[:recHeader])
		copy(buf[recHeader:pre], id)
		fill = pre
	}
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("queue: create %s: %w", id, err)
		}
		nr, rerr := body.Read(buf[fill:])
		fill += nr
		n += int64(nr)
		if fill == len(buf) || (rerr != nil && fill > 0) {
			err := s.check("write")
			if err == nil {
				_, err = g.f.WriteAt(buf[:fill], at)
			}
			if err != nil {
				return n, fmt.Errorf("%w: %w", ErrSpool, err)
			}
			at += int64(fill)
			fill = 0
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("queue: reading message: %w", rerr)
		}
	}
	var h [recHeader]byte
	putHeader(h[:], kindBody, false, idLen, n, 0)
	if _, err := g.f.WriteAt(h[:], start); err != nil {
		return n, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	return n, nil
}

// writeState appends the state record b of message id after its body, in
// the segment it still leases, without syncing.
func (s *DirSpool) writeState(id string, b []byte, l *loc) error {
	if err := s.check("json"); err != nil {
		return fmt.Errorf("%w: %w", ErrSpool, err)
	}
	g := l.seg
	rec := make([]byte, recHeader+idLen+len(b))
	copy(rec[recHeader:], id)
	copy(rec[recHeader+idLen:], b)
	putHeader(rec, kindState, false, idLen, int64(len(b)), crc32.Checksum(rec[recHeader:], castagno))
	if _, err := g.f.WriteAt(rec, g.end); err != nil {
		return fmt.Errorf("%w: %w", ErrSpool, err)
	}
	s.mu.Lock()
	l.stOff, l.stLen = g.end+recHeader+idLen, int64(len(b))
	s.mu.Unlock()
	g.end += int64(len(rec))
	return nil
}

// markDead sets the dead flag of l's body record.
func markDead(l *loc) error {
	_, err := l.seg.f.WriteAt([]byte{1}, l.off+deadOff)
	return err
}

// forgetMsg drops a removed message from s.msgs and deletes its segment if
// that was the segment's last live message.
func (s *DirSpool) forgetMsg(id string, l *loc) {
	s.mu.Lock()
	if s.msgs[id] == l {
		delete(s.msgs, id)
	}
	l.seg.live--
	del := s.deletable(l.seg)
	s.mu.Unlock()
	if del {
		s.deleteSegment(l.seg)
	}
}

// hold returns a copy of where id is stored and, for a message in a
// segment, keeps the segment's file open until unhold.
func (s *DirSpool) hold(id string) (loc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.msgs[id]
	if l == nil {
		return loc{}, false
	}
	if l.seg != nil {
		l.seg.held++
	}
	return *l, true
}

// unhold ends a hold on g, and deletes g if it waited only for that.
func (s *DirSpool) unhold(g *segment) {
	s.mu.Lock()
	g.held--
	del := s.deletable(g)
	s.mu.Unlock()
	if del {
		s.deleteSegment(g)
	}
}

// segBody is the Body of a message in a segment: a section of the
// segment's file, held open until Close.
type segBody struct {
	*io.SectionReader
	s      *DirSpool
	g      *segment
	closed atomic.Bool
}

func (b *segBody) Close() error {
	if !b.closed.Swap(true) {
		b.s.unhold(b.g)
	}
	return nil
}

// moveOut moves a message out of its segment into files of its own, ID.eml
// and ID.json (with state, its new state), the layout of a message that
// waits: a message deferred for days must not keep a whole segment on
// disk. The steps, each durable before the next: ID.eml (temporary file,
// sync, rename), ID.json (replace: with the folder's sync), then the dead
// flag in the segment. A crash before the flag leaves the message in its
// segment, with ID.json beside it as its saved state, and a stray ID.eml
// that OpenDir removes. Once ID.json is written the state is saved: a
// failure to set or sync the flag is logged, not returned. The caller
// holds l.seg.
func (s *DirSpool) moveOut(id string, l *loc, state []byte) error {
	if err := s.check("save"); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, id+".eml.*.tmp")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, io.NewSectionReader(l.seg.f, l.bodyOff(), l.size))
	if err == nil {
		err = s.syncer.sync([]*os.File{tmp}, false)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	eml := s.path(id, ".eml")
	if err == nil {
		err = os.Rename(tmp.Name(), eml)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := s.replace(id, state); err != nil {
		os.Remove(eml)
		if _, serr := os.Stat(s.path(id, ".json")); serr == nil {
			s.setSide(id) // renamed into place before the failure
		}
		return err
	}
	// Both copies are durable now, and ID.json holds the new state: the
	// message is whole whatever becomes of the flag, so ID.eml stays.
	if err := markDead(l); err != nil {
		s.setSide(id)
		s.log.Warn("queue: cannot mark a moved message in its segment; it stays there", "msg_id", id, "err", err)
		return nil
	}
	if err := s.syncer.sync([]*os.File{l.seg.f}, false); err != nil {
		s.log.Warn("queue: cannot sync a segment; a moved message may come back in it after a crash", "msg_id", id, "err", err)
	}
	s.mu.Lock()
	p := s.msgs[id]
	s.msgs[id] = &loc{committed: true}
	p.seg.live--
	del := s.deletable(p.seg)
	s.mu.Unlock()
	if del {
		s.deleteSegment(p.seg)
	}
	return nil
}

// setSide notes that id's ID.json replaces its state record.
func (s *DirSpool) setSide(id string) {
	s.mu.Lock()
	if l := s.msgs[id]; l != nil {
		l.side = true
	}
	s.mu.Unlock()
}

// readState reads a committed message's state record.
func (s *DirSpool) readState(id string, l *loc) (*Item, error) {
	b := make([]byte, l.stLen)
	if _, err := l.seg.f.ReadAt(b, l.stOff); err != nil {
		return nil, err
	}
	return decodeState(id, b)
}

// openSegments reads the segments of the folder (see the comment on
// segPrefix): it fills s.msgs with the messages they hold, seals them, and
// deletes those without a live message.
func (s *DirSpool) openSegments(ents []os.DirEntry) error {
	for _, e := range ents {
		hex, ok := strings.CutPrefix(e.Name(), segPrefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(hex) != 16 {
			continue
		}
		s.nextSeq = max(s.nextSeq, seq)
		g := &segment{seq: seq, path: filepath.Join(s.dir, e.Name()), sealed: true}
		if g.f, err = os.OpenFile(g.path, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("queue: open %s: %w", g.path, err)
		}
		if err := s.scanSegment(g); err != nil {
			g.f.Close()
			return fmt.Errorf("queue: open %s: %w", g.path, err)
		}
		s.segs[seq] = g
	}
	for seq, g := range s.segs {
		if g.live > 0 {
			continue
		}
		delete(s.segs, seq)
		g.f.Close()
		if err := os.Remove(g.path); err != nil {
			return fmt.Errorf("queue: open: %w", err)
		}
		s.log.Info("queue: removed a segment without live messages", "file", filepath.Base(g.path))
		s.removed++
	}
	return nil
}

// scanSegment reads g's records and adds its committed, live messages to
// s.msgs.
func (s *DirSpool) scanSegment(g *segment) error {
	fi, err := g.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	var body *loc // the body record just read, waiting for its state
	var bodyID string
	var hb [recHeader + idLen]byte
	off := int64(0)
	for off < size {
		if size-off < int64(len(hb)) {
			break
		}
		if _, err := g.f.ReadAt(hb[:], off); err != nil {
			return err
		}
		h, ok := parseHeader(hb[:recHeader])
		if !ok || h.idl != idLen || off+recHeader+idLen+h.n > size {
			break
		}
		id := string(hb[recHeader:])
		next := off + recHeader + idLen + h.n
		switch h.kind {
		case kindBody:
			body, bodyID = nil, ""
			if !h.dead && ValidID(id) {
				body, bodyID = &loc{seg: g, off: off, size: h.n}, id
			}
		case kindState:
			if body == nil || id != bodyID {
				body = nil
				break
			}
			b := make([]byte, h.n)
			if _, err := g.f.ReadAt(b, off+recHeader+idLen); err != nil {
				return err
			}
			c := crc32.Update(crc32.Checksum(hb[recHeader:], castagno), castagno, b)
			if c != h.crc {
				body = nil
				break
			}
			if _, err := decodeState(id, b); err != nil {
				s.log.Warn("queue: message with an unreadable state in segment, dropped", "file", filepath.Base(g.path), "msg_id", id, "err", err)
				body = nil
				break
			}
			body.stOff, body.stLen, body.committed = off+recHeader+idLen, h.n, true
			if old := s.msgs[id]; old != nil {
				s.log.Error("queue: message stored twice; the later copy is kept", "msg_id", id)
				if old.seg != nil {
					old.seg.live--
				}
			}
			s.msgs[id] = body
			g.live++
			body = nil
		}
		off = next
	}
	g.end = off
	if off < size {
		s.log.Info("queue: ignored the unfinished end of a segment (a write cut short, never acknowledged)",
			"file", filepath.Base(g.path), "bytes", size-off)
	}
	return nil
}

// committedIDs returns the committed messages, sorted.
func (s *DirSpool) committedIDs() []string {
	s.mu.Lock()
	ids := make([]string, 0, len(s.msgs))
	for id, l := range s.msgs {
		if l.committed {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// closeSegments closes every segment file.
func (s *DirSpool) closeSegments() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		g.f.Close()
	}
}
