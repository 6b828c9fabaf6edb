package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// floor is the durable floor (-durable DIR): the least work any server
// meeting sluice's durability rules must do for a message, and nothing
// else. The message is appended to one shared spool file and made durable
// by a grouped sync — where sluice runs on_data — then a commit record is
// appended and synced, and the 250 follows: two sequential syncs, since a
// message's body must be durable before on_data runs and its acceptance
// before the 250. After it, one of a few delivery goroutines writes it
// into the Maildir DIR/new the way sluice must — tmp/, sync, rename into
// new/, sync of the folder. No parsing, no scripts, no queue state, no
// recovery: its rate is what the disk and the protocol leave for
// everything sluice does on top.
//
// Two options make it the floor of designs sluice could have (floorOptions).
type floor struct {
	dir string
	opt floorOptions

	mu    sync.Mutex // serialises appends to spool
	spool *os.File

	sync      *groupSync
	spoolSync *groupSync // the spool's syncs: sync, or fdatasync of the spool
	seq       atomic.Uint64
	work      chan held
	wg        sync.WaitGroup
	fails     atomic.Int64
	arrived   atomic.Int64 // when the last message was accepted (Unix ns)
}

// floorOptions are the floor's variants (nowork's -hold and -fdatasync).
type floorOptions struct {
	// hold: deliveries wait while messages arrive (one accepted in the
	// last 20 ms), each at most a second, as with sluice's [queue]
	// burst_hold; the floor otherwise delivers at once. As sluice once
	// more new messages wait than it has workers, the held floor
	// delivers nothing until a message has waited its second.
	hold bool
	// fdatasync: the spool's grouped syncs are fdatasync(2) of the one
	// spool file instead of syncfs(2) of its file system, which leaves
	// out the deliveries' writes; sluice keeps one spool file per
	// session and cannot.
	fdatasync bool
}

// held is a message waiting for its delivery.
type held struct {
	b   []byte
	due time.Time // -hold: deliver by then even if messages still arrive
}

// As sluice's queue (burstIdle, [queue] burst_hold).
const (
	holdIdle  = 20 * time.Millisecond
	holdBound = time.Second
)

// floorWorkers delivers into the Maildir concurrently, as sluice's queue
// workers do.
const floorWorkers = 8

func newFloor(dir string, opt floorOptions) (*floor, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	spool, err := os.OpenFile(filepath.Join(dir, "spool"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	gs, err := newGroupSync(dir, nil)
	if err != nil {
		spool.Close()
		return nil, err
	}
	f := &floor{dir: dir, opt: opt, spool: spool, sync: gs, spoolSync: gs, work: make(chan held, 1<<16)}
	if opt.fdatasync {
		if f.spoolSync, err = newGroupSync(dir, spool); err != nil {
			gs.close()
			spool.Close()
			return nil, err
		}
	}
	for range floorWorkers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for m := range f.work {
				f.wait(m.due)
				if err := f.deliver(m.b); err != nil {
					f.fails.Add(1)
				}
			}
		}()
	}
	return f, nil
}

// wait returns when a held delivery may start: once no message arrived
// for holdIdle, or at due.
func (f *floor) wait(due time.Time) {
	if !f.opt.hold {
		return
	}
	for {
		now := time.Now()
		quiet := time.Unix(0, f.arrived.Load()).Add(holdIdle)
		if !now.Before(quiet) || !now.Before(due) {
			return
		}
		time.Sleep(min(quiet.Sub(now), due.Sub(now)))
	}
}

// accept makes the message durable in the spool and hands it to delivery.
// The 250 may follow when it returns nil.
func (f *floor) accept(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := f.append(b); err != nil {
		return err
	}
	// Here sluice runs on_data: the body is durable.
	if err := f.append(commit); err != nil {
		return err
	}
	now := time.Now()
	f.arrived.Store(now.UnixNano())
	f.work <- held{b: b, due: now.Add(holdBound)}
	return nil
}

// commit stands for the envelope record that commits a message.
var commit = []byte("MAIL FROM:<a@example.org> RCPT TO:<bob@localhost> committed\n")

// append writes b at the end of the spool and makes it durable.
func (f *floor) append(b []byte) error {
	f.mu.Lock()
	_, err := f.spool.Write(b)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.spoolSync.do(f.spool)
}

// deliver writes b into new/ through tmp/, with both syncs.
func (f *floor) deliver(b []byte) error {
	name := strconv.FormatInt(time.Now().UnixNano(), 10) + "." + strconv.FormatUint(f.seq.Add(1), 10) + ".floor"
	tmp := filepath.Join(f.dir, "tmp", name)
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	if err == nil {
		err = f.sync.do(w)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, "new", name)); err != nil {
		return err
	}
	d, err := os.Open(filepath.Join(f.dir, "new"))
	if err != nil {
		return err
	}
	defer d.Close()
	return f.sync.do(d)
}

// close waits for the deliveries queued so far.
func (f *floor) close() {
	close(f.work)
	f.wg.Wait()
	f.sync.close()
	if f.spoolSync != f.sync {
		f.spoolSync.close()
	}
	f.spool.Close()
}

// groupSync serves the sync requests pending when its goroutine wakes with
// one sync for all of them, as sluice's spool does (queue/syncer.go): a
// syncfs, or with only set, one fdatasync of that file.
type groupSync struct {
	dir  *os.File
	only *os.File
	reqs chan syncReq
	done chan struct{}
}

type syncReq struct {
	f   *os.File
	err chan error
}

func newGroupSync(dir string, only *os.File) (*groupSync, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	g := &groupSync{dir: d, only: only, reqs: make(chan syncReq), done: make(chan struct{})}
	go g.loop()
	return g, nil
}

// do makes f durable (its data, or a folder's entries) and returns when
// that is done.
func (g *groupSync) do(f *os.File) error {
	r := syncReq{f: f, err: make(chan error, 1)}
	g.reqs <- r
	return <-r.err
}

func (g *groupSync) close() {
	close(g.reqs)
	<-g.done
	g.dir.Close()
}

func (g *groupSync) loop() {
	defer close(g.done)
	var batch []syncReq
	for r := range g.reqs {
		batch = append(batch[:0], r)
	drain:
		for {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		var err error
		if g.only != nil {
			err = fdatasync(g.only)
		} else {
			err = syncBatch(g.dir, batch)
		}
		for _, r := range batch {
			r.err <- err
		}
	}
}
