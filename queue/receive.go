package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Receive stores a message durably without scheduling it: the SMTP server
// runs its on_data checks on the stored copy and then either commits it
// (and replies 250) or aborts it. A message received and never committed
// was never acknowledged: Open removes it after a crash.
//
// Errors are those of Accept.
func (q *Queue) Receive(ctx context.Context, env Envelope, r io.Reader) (*Pending, error) {
	if len(env.Rcpt) == 0 {
		return nil, fmt.Errorf("%w: no recipient", ErrBadEnvelope)
	}
	q.mu.Lock()
	closed := q.state == stateClosed
	q.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	now := time.Now()
	q.arrived.Store(now.UnixNano())
	it := &Item{Envelope: env, NextTry: now, Held: true}
	it.Rcpt = slices.Clone(env.Rcpt)
	if it.Received.IsZero() {
		it.Received = now
	}
	c := &capture{r: r}
	if st, ok := q.spool.(Stager); ok {
		if err := st.CreateBody(ctx, it, c); err != nil {
			return nil, err
		}
		return &Pending{q: q, it: it, staged: st, raw: c.bytes()}, nil
	}
	if err := q.spool.Create(ctx, it, c); err != nil {
		return nil, err
	}
	return &Pending{q: q, it: it, raw: c.bytes()}, nil
}

// maxCapture is the largest message Receive keeps a copy of in memory
// for Pending.Bytes; a larger one is read back from the spool (from the
// page cache, just written), into a slice of its exact size. Kept copies
// cost memory while they build up, in every session at once: with a cap of
// 1 MiB, 20 sessions of 100 KiB messages held ~3 MiB of chunks besides the
// messages themselves, and peak RSS was 38-39 MiB against 32-34 with a
// cap of 64 KiB (bench/load.sh-style runs, two Ps), at the same rate. The
// cap is 128 KiB since the buffer is also the one DirSpool writes the
// record from (capture.fill), in place of a 64 KiB buffer of its own: a
// 100 KiB message is no longer read back.
const maxCapture = 128 << 10

// capHead is the room a capture keeps in front of the message in its
// buffer, for the header and ID of DirSpool's body record: a message that
// fits goes to the segment in one write. The large buffer has a byte more
// than that and maxCapture, so that fill can see the end of a message of
// exactly maxCapture bytes.
//
// A capture starts in a small buffer (capSmall) and moves to a large one
// (capSize) only when the message outgrows it, copying what it read: a
// buffer is live from a message's first byte until its record is written,
// in every session at once, and the garbage collector paces the heap on
// it: 20 sessions can hold 2.6 MiB of large buffers (1.6 MiB in a heap
// profile during a 4 KiB burst), and at serverGCPercent garbage builds up
// to 1.5 times that more between collections. With the small buffer first,
// peak RSS under bench/load.sh-style runs (one core, 20 sessions, 4 KiB)
// went from 30.1–31.9 to 27.2–28.7 MiB at 4,000 messages and from
// 40.1–41.5 to 36.4–37.6 MiB at 20,000; 100 KiB messages, which copy their
// first 16 KiB once, from 35.0–38.2 to 33.6–36.0 MiB. The garbage
// collector ran 38 times instead of 31 in a 4,000-message run, about
// 4 µs a message, within the noise of the rates.
const (
	capHead  = recHeader + idLen
	capSmall = capHead + 16<<10 + 1 // the byte: see the end of a 16 KiB message without moving
	capSize  = capHead + maxCapture + 1
)

// capture reads r and keeps a copy of what it read, up to maxCapture bytes,
// in a pooled buffer, and hands it out in a slice of its exact size:
// growing one slice instead allocated about twice the message, and copied
// it again at each step. DirSpool fills the buffer itself (fill) and
// writes the record from it.
type capture struct {
	r    io.Reader
	buf  *[]byte // from a pool at the first byte (capSmall or capSize long); nil once over
	n    int     // bytes kept, at buf[capHead:]
	over bool    // more than maxCapture bytes: nothing kept
	eof  bool
	out  []byte // the copy, once settle made it
}

var (
	smallCapPool = sync.Pool{New: func() any { b := make([]byte, capSmall); return &b }}
	capturePool  = sync.Pool{New: func() any { b := make([]byte, capSize); return &b }}
)

// room makes room for k more bytes in the buffer (k <= maxCapture+1-c.n,
// which the large buffer always has): it takes the small buffer at the
// first byte, and the large one, with what was kept, once the small one
// cannot hold them.
func (c *capture) room(k int) {
	if c.buf == nil {
		if capHead+k <= capSmall {
			c.buf = smallCapPool.Get().(*[]byte)
		} else {
			c.buf = capturePool.Get().(*[]byte)
		}
		return
	}
	if capHead+c.n+k <= len(*c.buf) {
		return
	}
	large := capturePool.Get().(*[]byte)
	copy(*large, (*c.buf)[:capHead+c.n])
	c.release()
	c.buf = large
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.over {
		if c.n+n > maxCapture {
			c.drop()
		} else {
			c.room(n)
			c.n += copy((*c.buf)[capHead+c.n:], p[:n])
		}
	}
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// fill reads r into the buffer, behind capHead free bytes, until its end
// or until the buffer is full. It returns the buffer up to the last byte
// read (capHead bytes and the message's first c.n) and whether that is
// the whole message. When it is not, the caller writes those bytes, calls
// drop and reads the rest through c. An error (ctx's, or the reader's)
// comes with the bytes read before it.
func (c *capture) fill(ctx context.Context) (rec []byte, whole bool, err error) {
	for c.n <= maxCapture {
		c.room(1) // the first byte's buffer, or the large one when the small is full
		if err := ctx.Err(); err != nil {
			return (*c.buf)[:capHead+c.n], false, err
		}
		nr, rerr := c.r.Read((*c.buf)[capHead+c.n:])
		c.n += nr
		if rerr == io.EOF {
			c.eof = true
			return (*c.buf)[:capHead+c.n], true, nil
		}
		if rerr != nil {
			return (*c.buf)[:capHead+c.n], false, rerr
		}
	}
	return (*c.buf)[:capHead+c.n], false, nil // larger than maxCapture
}

// settle makes the copy of a message fill read whole, and gives the
// buffer back: DirSpool calls it once the record is written, so that a
// session waiting for the record's sync holds only the message.
func (c *capture) settle() {
	c.out = c.bytes()
}

// drop gives up the copy: the message is larger than maxCapture.
func (c *capture) drop() {
	c.over = true
	c.release()
}

// release gives the buffer back to the pool.
func (c *capture) release() {
	if c.buf != nil {
		if len(*c.buf) == capSmall {
			smallCapPool.Put(c.buf)
		} else {
			capturePool.Put(c.buf)
		}
		c.buf = nil
	}
}

// bytes returns the copy, or nil if the message was too large (or not read
// to its end). It is called once: the buffer goes back to the pool.
func (c *capture) bytes() []byte {
	defer c.release()
	if c.out != nil {
		out := c.out
		c.out = nil
		return out
	}
	if c.over || !c.eof {
		return nil
	}
	out := make([]byte, c.n)
	if c.buf != nil {
		copy(out, (*c.buf)[capHead:capHead+c.n])
	}
	return out
}

// Pending is a message received and not yet committed or aborted. It is
// used by one goroutine.
type Pending struct {
	q      *Queue
	it     *Item
	staged Stager // set when only the body is stored so far
	raw    []byte // the stored message, kept by Receive; nil: read it back
	done   bool
}

// ID returns the message's queue id.
func (p *Pending) ID() string { return p.it.ID }

// Bytes returns the stored message: the copy Receive kept of a message up
// to maxCapture, else read back from the spool. The slice is the caller's, and
// Bytes gives it out only once; a second call reads the spool.
func (p *Pending) Bytes() ([]byte, error) {
	if raw := p.raw; raw != nil {
		p.raw = nil
		return raw, nil
	}
	b, err := p.q.spool.Open(p.it.ID)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	raw := make([]byte, b.Size())
	if _, err := b.ReadAt(raw, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("queue: read %s: %w", p.it.ID, err)
	}
	return raw, nil
}

// Commit makes the message part of the queue, durably, and schedules it.
// vars is the pipeline's state to keep with it; body, when not nil,
// replaces the stored message (the stages rewrote it). After Commit
// returns nil the sender may be told 250.
func (p *Pending) Commit(ctx context.Context, vars json.RawMessage, body []byte) error {
	if p.done {
		return fmt.Errorf("queue: %s already committed or aborted", p.it.ID)
	}
	if len(vars) > 0 && !json.Valid(vars) {
		return fmt.Errorf("%w: vars are not valid JSON", ErrBadEnvelope)
	}
	it := p.it
	it.Held, it.Vars = false, vars
	if p.staged != nil {
		if body != nil {
			if err := p.staged.DropBody(it.ID); err != nil {
				return err
			}
			if err := p.staged.CreateBody(ctx, it, bytes.NewReader(body)); err != nil {
				return err
			}
		}
		if err := p.staged.CommitState(ctx, it); err != nil {
			return err
		}
	} else if body != nil {
		// Not acknowledged yet: if a crash comes between the two steps,
		// the message is gone and the sender sends it again.
		if err := p.q.spool.Remove(ctx, it.ID); err != nil {
			return err
		}
		if err := p.q.spool.Create(ctx, it, bytes.NewReader(body)); err != nil {
			return err
		}
	} else if err := p.q.spool.SaveState(ctx, it); err != nil {
		return err
	}
	p.done, p.raw = true, nil
	p.q.mu.Lock()
	p.q.stats.Accepted++
	p.q.mu.Unlock()
	p.q.log.Debug("queued", "msg_id", it.ID, "from", it.From, "rcpts", len(it.Rcpt), "size", it.Size)
	p.q.add(it) // the queue's now: a worker may start on it at once
	return nil
}

// Abort drops the message (refused by on_data, or the transfer failed).
func (p *Pending) Abort(ctx context.Context) error {
	if p.done {
		return nil
	}
	p.done = true
	if p.staged != nil {
		return p.staged.DropBody(p.it.ID)
	}
	return p.q.spool.Remove(ctx, p.it.ID)
}
