package queue

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Stager is an optional Spool capability: storing a message in two durable
// steps, the body first and the envelope (the commit mark) later, each with
// one sync. Queue.Receive and Pending.Commit use it when the spool has it,
// so a two-step acceptance costs no more syncs than Accept.
type Stager interface {
	// CreateBody stores the message bytes durably under it.ID (assigned
	// when empty) and sets it.Size, without an envelope: until
	// CommitState, recovery treats the message as never acknowledged and
	// removes it.
	CreateBody(ctx context.Context, it *Item, body io.Reader) error
	// CommitState stores it's envelope and state next to a body stored
	// by CreateBody, durably: from then on the message exists.
	CommitState(ctx context.Context, it *Item) error
	// DropBody removes a body that was never committed.
	DropBody(id string) error
}

var _ Stager = (*DirSpool)(nil)

// CreateBody implements Stager: the body becomes a record in a segment the
// call leases until CommitState or DropBody.
func (s *DirSpool) CreateBody(ctx context.Context, it *Item, body io.Reader) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if it.ID == "" {
		it.ID = NewID()
	} else if err := checkID(it.ID); err != nil {
		return err
	}
	if !s.reserve(it.ID) {
		return fmt.Errorf("%w: %s", ErrExists, it.ID)
	}
	g, err := s.writeBody(ctx, it, body)
	s.mu.Lock()
	delete(s.reserved, it.ID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	err = s.check("sync")
	if err == nil {
		err = s.syncer.sync([]*os.File{g.f}, false)
	}
	if err != nil {
		// What is on disk after a failed sync is unknown: the segment
		// takes no more messages.
		s.dropBody(it.ID, true)
		return fmt.Errorf("%w: create %s: %w", ErrSpool, it.ID, err)
	}
	return nil
}

// CommitState implements Stager: the state record goes right after the
// body, in the segment CreateBody leased, and the lease ends.
func (s *DirSpool) CommitState(ctx context.Context, it *Item) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkID(it.ID); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.msgs[it.ID]
	ok := l != nil && l.leased
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s (no body stored by CreateBody)", ErrNotFound, it.ID)
	}
	b, err := encodeState(it)
	if err != nil {
		return fmt.Errorf("queue: commit %s: %w", it.ID, err) // the body stays, for DropBody
	}
	err = s.writeState(it.ID, b, l)
	if err == nil {
		if err = s.check("sync"); err == nil {
			err = s.syncer.sync([]*os.File{l.seg.f}, false)
		}
	}
	if err != nil {
		// Not acknowledged: the body goes, and with it the segment's
		// future (what is on disk after a failed sync is unknown).
		s.dropBody(it.ID, true)
		return fmt.Errorf("%w: commit %s: %w", ErrSpool, it.ID, err)
	}
	s.mu.Lock()
	l.committed, l.leased = true, false
	s.mu.Unlock()
	s.release(l.seg, false)
	return nil
}

// DropBody implements Stager.
func (s *DirSpool) DropBody(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return s.dropBody(id, false)
}

// dropBody marks a body that was never committed dead and ends its lease;
// bad seals the segment.
func (s *DirSpool) dropBody(id string, bad bool) error {
	s.mu.Lock()
	l := s.msgs[id]
	ok := l != nil && l.leased
	s.mu.Unlock()
	if !ok {
		return nil
	}
	err := markDead(l)
	if err == nil && bad {
		// After a failed write or sync (a commit's, say) the state
		// record may reach the disk: so must the flag, or a message
		// never acknowledged could come back. Best effort.
		s.syncer.sync([]*os.File{l.seg.f}, false)
	}
	s.mu.Lock()
	l.leased = false
	s.mu.Unlock()
	s.release(l.seg, bad || err != nil)
	s.forgetMsg(id, l)
	if err != nil {
		return fmt.Errorf("%w: drop %s: %w", ErrSpool, id, err)
	}
	return nil
}
