package queue

import (
	"context"
	"errors"
)

// Handler does the work of one attempt on a queued message (the on_queue
// stages and the deliveries). The queue calls it from a bounded pool of
// workers, never for the same message twice at once.
//
// Handle must respect ctx (Options.AttemptTimeout, shutdown). It may read
// the message with it.Body, must call it.Record after each recipient it
// dealt with, and should skip the recipients already in it.Done: after a
// crash the same message is handed over again (at-least-once), and Done is
// what makes the repeat harmless. It may change it.Vars; the queue saves
// the item's state after a Retry. A panic counts as Retry.
//
// A delivery that a repeat would find done needs no durable record while
// the attempt lasts: see Item.RecordFound. When every recipient of the
// envelope has a record or such a delivery, the queue does not wait for
// the removal to be durable (see DoneRemover).
type Handler interface {
	Handle(ctx context.Context, it *Item) Outcome
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, it *Item) Outcome

// Handle calls f(ctx, it).
func (f HandlerFunc) Handle(ctx context.Context, it *Item) Outcome { return f(ctx, it) }

type outcomeKind uint8

const (
	outcomeNone outcomeKind = iota // zero Outcome: treated as Retry
	outcomeDone
	outcomeRetry
	outcomeFail
)

// Outcome is a Handler's verdict on one attempt: Done, Retry or Fail. The
// zero Outcome is treated as Retry, so that a forgotten return value never
// drops a message.
type Outcome struct {
	kind outcomeKind
	err  error
}

// Done reports that the message is finished: the queue removes it.
func Done() Outcome { return Outcome{kind: outcomeDone} }

// Retry reports a temporary failure: the queue tries again after an
// exponential backoff, until Options.MaxAge, and then fails the message
// with an error matching ErrExpired (and wrapping err's text).
func Retry(err error) Outcome {
	if err == nil {
		err = errors.New("retry requested")
	}
	return Outcome{kind: outcomeRetry, err: err}
}

// Fail reports a permanent failure: the queue calls Options.OnFail with err
// (so that the caller can send a DSN or quarantine) and removes the message.
func Fail(err error) Outcome {
	if err == nil {
		err = errors.New("failed")
	}
	return Outcome{kind: outcomeFail, err: err}
}

// Err returns the error given to Retry or Fail, nil for Done.
func (o Outcome) Err() error { return o.err }

func (o Outcome) String() string {
	switch o.kind {
	case outcomeDone:
		return "done"
	case outcomeRetry:
		return "retry: " + o.err.Error()
	case outcomeFail:
		return "fail: " + o.err.Error()
	}
	return "no outcome"
}
