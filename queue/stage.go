package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// CreateBody implements Stager.
func (s *DirSpool) CreateBody(ctx context.Context, it *Item, body io.Reader) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if it.ID == "" {
		it.ID = NewID()
	} else if err := checkID(it.ID); err != nil {
		return err
	}
	if err := s.check("create"); err != nil {
		return fmt.Errorf("%w: create: %w", ErrSpool, err)
	}
	f, err := os.OpenFile(s.path(it.ID, ".eml"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, it.ID)
	}
	if err != nil {
		return fmt.Errorf("%w: create: %w", ErrSpool, err)
	}
	n, err := s.copyBody(ctx, f, body)
	if err == nil {
		err = s.syncer.sync([]*os.File{f}, true)
		if err != nil {
			err = fmt.Errorf("%w: create %s: %w", ErrSpool, it.ID, err)
		}
	}
	f.Close()
	if err != nil {
		os.Remove(s.path(it.ID, ".eml"))
		return err
	}
	it.Size = n
	return nil
}

// CommitState implements Stager.
func (s *DirSpool) CommitState(ctx context.Context, it *Item) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkID(it.ID); err != nil {
		return err
	}
	b, err := encodeState(it)
	if err != nil {
		return fmt.Errorf("queue: commit %s: %w", it.ID, err)
	}
	if err := s.check("json"); err != nil {
		return fmt.Errorf("%w: commit %s: %w", ErrSpool, it.ID, err)
	}
	js, err := os.OpenFile(s.path(it.ID, ".json"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: commit %s: %w", ErrSpool, it.ID, err)
	}
	_, err = js.Write(b)
	if err == nil {
		err = s.syncer.sync([]*os.File{js}, true)
	}
	js.Close()
	if err != nil {
		os.Remove(s.path(it.ID, ".json"))
		return fmt.Errorf("%w: commit %s: %w", ErrSpool, it.ID, err)
	}
	return nil
}

// DropBody implements Stager.
func (s *DirSpool) DropBody(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Remove(s.path(id, ".eml")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: drop %s: %w", ErrSpool, id, err)
	}
	return nil
}
