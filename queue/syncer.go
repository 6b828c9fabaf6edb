package queue

import (
	"os"
	"strconv"
	"sync"
)

// SyncMode says how a DirSpool makes its writes durable. Every mode except
// SyncNone gives the same guarantee (see Spool); they differ in speed. The
// package documentation has the measurements.
type SyncMode int

const (
	// SyncAuto (the default) is SyncFS where that is reliable, else
	// SyncBatch.
	SyncAuto SyncMode = iota
	// SyncFS: one goroutine serves every sync request pending when it
	// wakes with a single syncfs(2) of the spool's file system: one
	// journal commit and cache flush for the whole batch, the fastest
	// mode measured. It also writes back other programs' dirty data on
	// that file system, so give the spool a file system of its own if
	// heavy writers share it. Linux 5.8 or later (older kernels do not
	// report write-back errors from syncfs) on amd64 or arm64; elsewhere it
	// acts as SyncBatch.
	SyncFS
	// SyncBatch: one goroutine serves every sync request pending when it
	// wakes: it starts write-back of all their files (sync_file_range on
	// Linux), fdatasyncs each, and fsyncs the folder once for the batch.
	// Portable, but on ext4 every fdatasync still costs a cache flush.
	SyncBatch
	// SyncEach: every call fdatasyncs its own files and fsyncs the folder
	// itself, in the caller's goroutine; only the kernel groups
	// concurrent syncs. The baseline the others are measured against.
	SyncEach
	// SyncNone never syncs: a crash of the machine (not of the process)
	// can lose acknowledged messages. For tests and benchmarks only.
	SyncNone
)

func (m SyncMode) String() string {
	switch m {
	case SyncAuto:
		return "auto"
	case SyncFS:
		return "syncfs"
	case SyncBatch:
		return "batch"
	case SyncEach:
		return "each"
	case SyncNone:
		return "none"
	}
	return "SyncMode(" + strconv.Itoa(int(m)) + ")"
}

// maxBatch caps the number of calls one group sync serves.
const maxBatch = 256

// A syncReq asks the syncer to make files (their data) and, if dir is set,
// the folder's entries durable.
type syncReq struct {
	files []*os.File
	dir   bool
	err   error
	done  chan error
}

// syncer groups the syncs of concurrent calls. Its goroutine is started by
// newSyncer and stopped and waited for by close.
type syncer struct {
	mode SyncMode
	dir  *os.File      // the spool folder
	reqs chan *syncReq // unbuffered: a request sent is always served
	quit chan struct{}
	wg   sync.WaitGroup
}

func newSyncer(mode SyncMode, dir *os.File) *syncer {
	if mode == SyncAuto || mode == SyncFS {
		mode = SyncBatch
		if syncfsReliable() {
			mode = SyncFS
		}
	}
	s := &syncer{mode: mode, dir: dir, reqs: make(chan *syncReq), quit: make(chan struct{})}
	if mode == SyncBatch || mode == SyncFS {
		s.wg.Add(1)
		go s.loop()
	}
	return s
}

// close stops the goroutine and waits for it. Later syncs return ErrClosed.
func (s *syncer) close() {
	close(s.quit)
	s.wg.Wait()
}

// sync makes the data of files and, if dir is set, the folder durable. It
// returns only when that is done (or failed): the files must stay open
// until then. It is not interruptible.
func (s *syncer) sync(files []*os.File, dir bool) error {
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	switch s.mode {
	case SyncNone:
		return nil
	case SyncEach:
		for _, f := range files {
			if err := fdatasync(f); err != nil {
				return err
			}
		}
		if dir {
			return s.dir.Sync()
		}
		return nil
	}
	r := &syncReq{files: files, dir: dir, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return ErrClosed
	}
	return <-r.done
}

func (s *syncer) loop() {
	defer s.wg.Done()
	batch := make([]*syncReq, 0, maxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if s.mode == SyncFS {
			s.flushFS(batch)
		} else {
			s.flushBatch(batch)
		}
		for _, r := range batch {
			r.done <- r.err
		}
	}
}

func (s *syncer) flushBatch(batch []*syncReq) {
	for _, r := range batch {
		for _, f := range r.files {
			startWriteback(f)
		}
	}
	dir := false
	for _, r := range batch {
		for _, f := range r.files {
			if err := fdatasync(f); err != nil && r.err == nil {
				r.err = err
			}
		}
		dir = dir || r.dir
	}
	if !dir {
		return
	}
	if err := s.dir.Sync(); err != nil {
		for _, r := range batch {
			if r.dir && r.err == nil {
				r.err = err
			}
		}
	}
}

func (s *syncer) flushFS(batch []*syncReq) {
	err := syncfs(s.dir)
	for _, r := range batch {
		r.err = err
	}
}
