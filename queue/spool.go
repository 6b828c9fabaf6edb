package queue

import (
	"context"
	"errors"
	"io"
	"os"
)

// Errors of the queue and its spools. Match them with errors.Is.
var (
	// ErrSpool: the spool could not store something (disk full, permissions,
	// I/O error). The underlying error is wrapped as well. An SMTP server
	// answers 451/452 to it.
	ErrSpool    = errors.New("queue: cannot write to the spool")
	ErrNotFound = errors.New("queue: no such message")
	ErrExists   = errors.New("queue: message already exists")
	ErrBadID    = errors.New("queue: bad message id")
	ErrClosed   = errors.New("queue: closed")
	ErrExpired  = errors.New("queue: message expired")
	// ErrBadEnvelope: Accept was given an envelope it cannot queue (no
	// recipient, invalid Vars).
	ErrBadEnvelope = errors.New("queue: bad envelope")
)

// Body is a stored message. Read and Seek share one offset; ReadAt may be
// used concurrently. Close releases it.
type Body interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
	Size() int64 // bytes
}

// Spool is the queue's storage: message bytes, envelope and state, and
// per-recipient delivery records. DirSpool keeps them in a local folder;
// other implementations (NATS JetStream) must pass the same conformance
// suite (testSpool in spool_suite_test.go).
//
// Every method that takes an ID returns an error matching ErrBadID for an
// ID that ValidID refuses, and ErrNotFound for a message that is not
// stored. Methods are safe for concurrent use, but the caller does not
// run two state-changing calls (SaveState, Record, Remove) for the same
// message at once; the Queue guarantees this.
type Spool interface {
	// Create stores a new message: it streams body (never holding it
	// whole in memory) and stores it.Envelope and the state of it. If
	// it.ID is empty Create assigns one (NewID); a given ID must be valid
	// and new (else ErrBadID, ErrExists). It sets it.Size.
	//
	// When Create returns nil the message is durable: it survives a crash
	// or power loss, and List returns it from then on. When it returns an
	// error nothing is left behind, and List never returns the message,
	// also after a crash during Create. A failure to store matches
	// ErrSpool; an error from reading body, or from ctx, is returned
	// wrapped and does not match ErrSpool.
	Create(ctx context.Context, it *Item, body io.Reader) error

	// Open returns the stored bytes of a message.
	Open(id string) (Body, error)

	// Load returns a message's envelope and state, with Done filled in
	// from its delivery records. The Item is new and the caller's.
	Load(id string) (*Item, error)

	// SaveState durably replaces the stored envelope and state of it.ID
	// with those of it (Done is not touched: see Record). After a crash
	// either the old or the new state is found, never a mix.
	SaveState(ctx context.Context, it *Item) error

	// Record durably adds a delivery record for rcpt; a later record for
	// the same rcpt replaces the earlier one in Load's Item.Done.
	Record(ctx context.Context, id, rcpt string, rec DeliveryRecord) error

	// Remove deletes a message and everything stored about it. After it
	// returns nil, the message does not come back after a crash.
	Remove(ctx context.Context, id string) error

	// List returns the IDs of stored messages, sorted (oldest first).
	// A message whose Create has not returned yet may or may not be listed.
	List() ([]string, error)

	// Close releases the spool. Calls after Close return ErrClosed.
	Close() error
}

// DoneRemover is an optional Spool capability: removing a finished message
// without waiting for the removal to be durable. The queue uses it for a
// message that ended Done with a durable delivery record for every
// recipient of its envelope: if a crash undoes the removal, the message is
// handed over again and the handler finds every recipient in Item.Done, so
// nothing is delivered twice; waiting for the removal would only delay the
// worker. (A crash of the process alone never undoes it; only a crash of
// the machine can.)
type DoneRemover interface {
	// RemoveDone deletes a message like Remove, but the deletion may
	// become durable only later.
	RemoveDone(ctx context.Context, id string) error
}

// FileSyncer is an optional Spool capability: making files outside the
// spool durable together with the spool's own writes, so that a delivery
// (a Maildir file and its folder) shares the spool's grouped syncs.
// Item.SyncFiles uses it when the spool has it, else fsyncs each file.
type FileSyncer interface {
	// SyncFiles returns when the files are durable, with fsync's meaning:
	// a regular file's data and metadata, a directory's entries.
	SyncFiles(files ...*os.File) error
}
