package delivery

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/sluicemail/sluice/mailstore"
)

// Local delivers into the local mailstore.
type Local struct {
	// Store is the mailstore that holds the mailboxes and the quarantine.
	Store *mailstore.Store
}

// Deliver stores the message read from raw in a folder of rcpt's mailbox:
// folder "" (or "INBOX" in any case) is the mailbox itself. raw is the
// message as spooled, with CRLF line endings: Deliver turns them into LF,
// as Maildir readers expect (mailstore.LF); LF input passes unchanged.
//
// The error is an *Error wrapping the mailstore's: permanent (5.1.3) for an
// address mailstore.CheckAddress refuses, permanent (5.2.0) for a folder
// mailstore.CheckFolder refuses, temporary otherwise (4.3.1 for a full
// disk, 4.3.0 for other file system, reader or ctx errors). Callers that
// want to fall back to the INBOX on a bad folder test
// errors.Is(err, mailstore.ErrBadFolder).
func (l *Local) Deliver(ctx context.Context, rcpt, folder string, raw io.Reader) error {
	return l.DeliverSync(ctx, rcpt, folder, raw, nil)
}

// DeliverSync is Deliver with the mailstore's syncs made by sync (see
// mailstore.Store.DeliverSync): the queue's pipeline passes
// queue.Item.SyncFiles, so that deliveries share the spool's grouped
// syncs. A nil sync is Deliver's own fsyncs.
func (l *Local) DeliverSync(ctx context.Context, rcpt, folder string, raw io.Reader, sync mailstore.SyncFunc) error {
	_, err := l.deliver(ctx, rcpt, folder, "", time.Time{}, raw, sync)
	return err
}

// DeliverOnce is DeliverSync for the queue's deliveries, which a crash can
// make repeat: key and when (see mailstore.Store.DeliverOnce) name the
// file the same at every attempt, and a repeat of a delivery that reached
// the mailbox leaves the first copy alone and reports repeat. Errors are
// Deliver's, and a malformed key is permanent (5.3.0).
func (l *Local) DeliverOnce(ctx context.Context, rcpt, folder, key string, when time.Time, raw io.Reader, sync mailstore.SyncFunc) (repeat bool, err error) {
	return l.deliver(ctx, rcpt, folder, key, when, raw, sync)
}

// deliver is DeliverSync without a key, DeliverOnce with one.
func (l *Local) deliver(ctx context.Context, rcpt, folder, key string, when time.Time, raw io.Reader, sync mailstore.SyncFunc) (repeat bool, err error) {
	if l == nil || l.Store == nil {
		return false, tempError("4.3.5", "local delivery: no mailstore configured", nil)
	}
	if folder == "" {
		folder = mailstore.Inbox
	}
	if key == "" {
		_, err = l.Store.DeliverSync(ctx, rcpt, folder, mailstore.LF(raw), sync)
	} else {
		_, repeat, err = l.Store.DeliverOnce(ctx, rcpt, folder, key, when, mailstore.LF(raw), sync)
	}
	if err != nil {
		return false, localError(ctx, err)
	}
	return repeat, nil
}

// Quarantine holds the message read from raw, byte for byte, in the
// mailstore's quarantine with info, and returns its ID (see
// mailstore.Store.Quarantine: info.ID, when set, makes a retry replace
// rather than duplicate). The error is an *Error: permanent (5.3.0) for a
// malformed info.ID, temporary otherwise.
func (l *Local) Quarantine(ctx context.Context, raw io.Reader, info mailstore.QuarantineInfo) (string, error) {
	if l == nil || l.Store == nil {
		return "", tempError("4.3.5", "quarantine: no mailstore configured", nil)
	}
	id, err := l.Store.Quarantine(ctx, raw, info)
	if err != nil {
		return "", localError(ctx, err)
	}
	return id, nil
}

// localError classifies a mailstore error. The mailstore's error already
// names the operation and its target, so Text is the bare reason.
func localError(ctx context.Context, err error) *Error {
	switch {
	case errors.Is(err, mailstore.ErrBadAddress):
		return permError("5.1.3", "bad mailbox address", err)
	case errors.Is(err, mailstore.ErrBadFolder):
		return permError("5.2.0", "bad folder name", err)
	case errors.Is(err, mailstore.ErrBadID):
		return permError("5.3.0", "bad quarantine id", err)
	case errors.Is(err, syscall.ENOSPC):
		return tempError("4.3.1", "mail system full", err)
	case ctx.Err() != nil:
		return tempError("4.3.0", "local delivery interrupted", err)
	}
	return tempError("4.3.0", "local delivery failed", err)
}
