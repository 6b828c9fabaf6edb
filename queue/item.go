package queue

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Envelope is what the SMTP transaction said about a message. It is fixed
// when the message is accepted, except that a handler may change Rcpt and
// save it with Item.Save.
type Envelope struct {
	ID       string    `json:"id"`               // set by the spool (see NewID); valid IDs only
	From     string    `json:"from"`             // reverse path; "" for the null sender <>
	Rcpt     []string  `json:"rcpt"`             // forward paths, at least one
	Client   string    `json:"client,omitempty"` // remote address of the SMTP client
	Helo     string    `json:"helo,omitempty"`   // HELO/EHLO name the client gave
	Auth     string    `json:"auth,omitempty"`   // authenticated user, "" if none
	Received time.Time `json:"received"`         // when the message was accepted; MaxAge counts from here
	Size     int64     `json:"size"`             // bytes of the stored message, set by the spool
}

// Item is one queued message: its envelope and the queue's state for it.
// Items handed to a Handler (and returned by Queue.List) are bound to the
// queue's spool, so that Body, Record and Save work on them.
type Item struct {
	Envelope
	Attempts  int       `json:"attempts"`             // handler attempts finished so far
	NextTry   time.Time `json:"next_try"`             // when the next attempt is due
	LastError string    `json:"last_error,omitempty"` // reason given by the last Retry (or Fail)
	// Failed is non-empty once the message failed permanently (a Fail
	// outcome, or expiry past Options.MaxAge): the reason. Such a message
	// is never handed to the Handler again; the queue calls Options.OnFail
	// until that succeeds, also after a restart.
	Failed  string `json:"failed,omitempty"`
	Expired bool   `json:"expired,omitempty"` // Failed because of MaxAge
	// Held is set between Queue.Receive and Pending.Commit: the message is
	// stored but was never acknowledged, so it is not scheduled, and Open
	// removes it (the sender got no 250 and will send it again).
	Held bool `json:"held,omitempty"`

	// Done holds one delivery record per recipient that was dealt with,
	// keyed by recipient. It is kept separately from the rest of the state
	// (an append-only log in DirSpool), so that a handler that crashed
	// after delivering to a recipient finds that recipient here on the next
	// attempt and can skip it.
	Done map[string]DeliveryRecord `json:"done,omitempty"`

	// Vars is the pipeline's state carried with the message (msg.vars),
	// opaque to the queue. It must be valid JSON or empty.
	Vars json.RawMessage `json:"vars,omitempty"`

	spool Spool     // set by the queue; nil for an item read directly from a Spool
	found []logLine // the records RecordFound left unwritten
}

// Result says what happened to one recipient.
type Result string

// Results of a delivery record.
const (
	Delivered Result = "delivered" // stored in a local mailbox (or handed to a final destination)
	Relayed   Result = "relayed"   // accepted by the next SMTP hop
	Bounced   Result = "bounced"   // refused permanently; a DSN was or will be sent
)

// DeliveryRecord is the durable note that one recipient was dealt with.
type DeliveryRecord struct {
	When   time.Time `json:"when"`
	Result Result    `json:"result"`
	Detail string    `json:"detail,omitempty"` // e.g. the remote reply or the mailbox folder; capped at MaxDetail bytes
}

// MaxDetail caps DeliveryRecord.Detail; longer text is truncated.
const MaxDetail = 1000

// Pending returns the recipients that have no delivery record yet, in
// envelope order.
func (it *Item) Pending() []string {
	var out []string
	for _, r := range it.Rcpt {
		if _, ok := it.Done[r]; !ok {
			out = append(out, r)
		}
	}
	return out
}

// Body opens the stored message. The caller closes it.
func (it *Item) Body() (Body, error) {
	if it.spool == nil {
		return nil, errUnbound
	}
	return it.spool.Open(it.ID)
}

// Record durably notes that rcpt was dealt with (result and detail) and adds
// it to it.Done. Call it right after each recipient's delivery succeeded or
// bounced, before the next one: when Record returns nil, a crash can no
// longer cause a repeat delivery to rcpt by a handler that checks Done.
func (it *Item) Record(ctx context.Context, rcpt string, res Result, detail string) error {
	if it.spool == nil {
		return errUnbound
	}
	if len(detail) > MaxDetail {
		detail = detail[:MaxDetail]
	}
	rec := DeliveryRecord{When: time.Now(), Result: res, Detail: detail}
	if err := it.spool.Record(ctx, it.ID, rcpt, rec); err != nil {
		return err
	}
	if it.Done == nil {
		it.Done = make(map[string]DeliveryRecord)
	}
	it.Done[rcpt] = rec
	return nil
}

// RecordFound is Record for a delivery that is its own record: one that a
// repeated attempt finds in place and does not make again (a Maildir file
// named after the message and the recipient, mailstore.Store.DeliverOnce).
// rcpt joins it.Done at once, and nothing is written while the attempt
// goes on. If the attempt ends Done, the message's removal need not be
// durable before the queue moves on: a crash that undoes it repeats the
// attempt, which finds the delivery. If the attempt ends Retry or Fail, or
// the removal fails, the queue writes the record then, so that later
// attempts skip rcpt without looking.
func (it *Item) RecordFound(rcpt string, res Result, detail string) {
	if len(detail) > MaxDetail {
		detail = detail[:MaxDetail]
	}
	rec := DeliveryRecord{When: time.Now(), Result: res, Detail: detail}
	it.found = append(it.found, logLine{Rcpt: rcpt, DeliveryRecord: rec})
	if it.Done == nil {
		it.Done = make(map[string]DeliveryRecord)
	}
	it.Done[rcpt] = rec
}

// writeFound writes the records RecordFound left unwritten, if any.
func (it *Item) writeFound(ctx context.Context) error {
	for len(it.found) > 0 {
		l := it.found[0]
		if err := it.spool.Record(ctx, it.ID, l.Rcpt, l.DeliveryRecord); err != nil {
			return err
		}
		it.found = it.found[1:]
	}
	return nil
}

// Save durably stores the item's state (Vars, Rcpt, …) now, in the middle of
// an attempt. The queue saves the state itself after each attempt; Save is
// for a handler that wants its Vars kept even if it crashes.
func (it *Item) Save(ctx context.Context) error {
	if it.spool == nil {
		return errUnbound
	}
	return it.spool.SaveState(ctx, it)
}

// SyncFiles makes files outside the spool — a delivery's file and folder —
// durable (fsync's meaning: a regular file's data, a directory's entries),
// sharing the spool's grouped syncs when it can (see FileSyncer): with
// DirSpool in SyncFS mode and the files on the spool's file system, one
// syncfs serves them and every other message's writes of that moment. It
// is meant as the sync hook of a delivery (mailstore's Store.DeliverSync).
func (it *Item) SyncFiles(files ...*os.File) error {
	if fs, ok := it.spool.(FileSyncer); ok {
		return fs.SyncFiles(files...)
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

var errUnbound = errors.New("queue: item not bound to a spool")

// idEncoding is base32 with an alphabet in ASCII order, so that IDs sort
// like the bytes they encode (time first).
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

const idLen = 24 // 15 bytes: 6 of milliseconds since 1970, 9 random

// NewID returns a new message ID: 24 characters of [0-9a-v], sortable by
// creation time (to the millisecond), with 72 random bits.
func NewID() string {
	var b [15]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(time.Now().UnixMilli()))
	copy(b[:6], ms[2:])
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID gives. Every Spool method
// refuses other IDs with ErrBadID, so an ID never builds an unexpected path.
func ValidID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'v') {
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrBadID, id)
	}
	return nil
}
