package queue

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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

// laterDelay bounds how long a change handed to syncer.later stays
// undurable when no other sync comes along to cover it.
const laterDelay = time.Second

// syncer groups the syncs of concurrent calls. Its goroutine is started by
// newSyncer and stopped and waited for by close.
type syncer struct {
	mode SyncMode
	dir  *os.File      // the spool folder
	dev  uint64        // its file system (SyncFS: files elsewhere are fsync'd one by one)
	reqs chan *syncReq // unbuffered: a request sent is always served
	// pending is set by later: a folder change waits for the next sync of
	// the folder, or for laterDelay.
	pending atomic.Bool
	poke    chan struct{} // capacity 1: later was called
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newSyncer(mode SyncMode, dir *os.File) *syncer {
	if mode == SyncAuto || mode == SyncFS {
		mode = SyncBatch
		if syncfsReliable() {
			mode = SyncFS
		}
	}
	s := &syncer{mode: mode, dir: dir, reqs: make(chan *syncReq), poke: make(chan struct{}, 1), quit: make(chan struct{})}
	if mode == SyncFS {
		if dev, ok := deviceOf(dir); ok {
			s.dev = dev
		} else {
			mode = SyncBatch
			s.mode = mode
		}
	}
	if mode == SyncBatch || mode == SyncFS {
		s.wg.Add(1)
		go s.loop()
	}
	return s
}

// close stops the goroutine and waits for it, syncing the folder first if
// a change handed to later is still waiting. Later syncs return ErrClosed.
func (s *syncer) close() {
	close(s.quit)
	s.wg.Wait()
	if s.pending.Swap(false) && s.mode != SyncNone {
		s.dir.Sync()
	}
}

// later asks for the folder's entries (a removal) to become durable
// eventually, without waiting: the next sync of the folder for anyone else
// covers it, and if none comes within laterDelay the syncer's goroutine
// syncs the folder by itself. In SyncEach mode (no goroutine) the caller
// syncs the folder now.
func (s *syncer) later() error {
	switch s.mode {
	case SyncNone:
		return nil
	case SyncEach:
		return s.dir.Sync()
	}
	if !s.pending.Swap(true) {
		select {
		case s.poke <- struct{}{}:
		default:
		}
	}
	return nil
}

// syncOther makes files outside the spool durable (fsync semantics: a
// file's data and metadata, a directory's entries). In SyncFS mode, when
// every file is on the spool's file system, it joins the next grouped
// syncfs; else each file is fsync'd in the caller's goroutine.
func (s *syncer) syncOther(files []*os.File) error {
	switch s.mode {
	case SyncNone:
		return nil
	case SyncFS:
		same := true
		for _, f := range files {
			if dev, ok := deviceOf(f); !ok || dev != s.dev {
				same = false
				break
			}
		}
		if same {
			return s.sync(nil, false)
		}
	}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
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
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.poke:
			timer.Reset(laterDelay)
			continue
		case <-timer.C:
			if !s.pending.Load() {
				continue // a sync since covered it
			}
			// Nobody synced the folder meanwhile: do it for later's callers.
			batch = append(batch[:0], &syncReq{dir: true, done: make(chan error, 1)})
		case <-s.quit:
			timer.Stop()
			return
		}
		s.gather(&batch)
		var dirErr error
		if s.mode == SyncFS {
			dirErr = s.flushFS(batch)
		} else {
			dirErr = s.flushBatch(batch)
		}
		if dirErr != nil && !s.pending.Swap(true) {
			timer.Reset(laterDelay) // try again for later's callers
		}
		for _, r := range batch {
			r.done <- r.err
		}
	}
}

// gatherRounds bounds how often gather lets the other goroutines run.
const gatherRounds = 3

// gather adds to batch the requests that are waiting, after letting the
// goroutines that are ready to run go first, as long as that brings more:
// on one core the syncer would otherwise run as soon as the first request
// is sent, and serve it alone.
func (s *syncer) gather(batch *[]*syncReq) {
	// Where the Ps outnumber the cores (sluice serve runs with two on
	// one), the goroutines that would bring more requests may be ready on
	// another P whose thread waits for this core: runtime.Gosched does
	// not let that thread run, sched_yield does. On one core with two Ps
	// the grouped syncs per 4 KiB message went from 1.07 to 0.75, and
	// the CPU per message from 490-590 to 450-460 µs (bench/syscalls.sh,
	// three alternating load runs each).
	osYield := runtime.GOMAXPROCS(0) > numCPU
	for round := 0; round < gatherRounds; round++ {
		n := len(*batch)
		if osYield {
			yieldThread()
		}
		runtime.Gosched()
	drain:
		for len(*batch) < maxBatch {
			select {
			case r := <-s.reqs:
				*batch = append(*batch, r)
			default:
				break drain
			}
		}
		if len(*batch) == n || len(*batch) >= maxBatch {
			return
		}
	}
}

// numCPU is the number of cores the process may run on, as it started.
var numCPU = runtime.NumCPU()

// flushBatch serves a batch in SyncBatch mode. It returns the error of the
// folder's sync, if it made one.
func (s *syncer) flushBatch(batch []*syncReq) error {
	dir := false
	for _, r := range batch {
		dir = dir || r.dir
	}
	if dir {
		// This batch's folder sync covers what later was asked for; a
		// change made from now on waits for the next one.
		s.pending.Store(false)
	}
	for _, r := range batch {
		for _, f := range r.files {
			startWriteback(f)
		}
	}
	for _, r := range batch {
		for _, f := range r.files {
			if err := fdatasync(f); err != nil && r.err == nil {
				r.err = err
			}
		}
	}
	if !dir {
		return nil
	}
	err := s.dir.Sync()
	if err != nil {
		for _, r := range batch {
			if r.dir && r.err == nil {
				r.err = err
			}
		}
	}
	return err
}

// flushFS serves a batch in SyncFS mode with one syncfs, and returns its
// error.
func (s *syncer) flushFS(batch []*syncReq) error {
	s.pending.Store(false) // the syncfs covers what later was asked for
	err := syncfs(s.dir)
	for _, r := range batch {
		r.err = err
	}
	return err
}
