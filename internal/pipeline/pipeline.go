// Package pipeline connects the queue to the engine and to delivery: for
// each queued message it runs the on_queue hooks and carries out the
// verdict and the actions the scripts asked for — local deliveries into
// the mail store, relay through the smarthost, redirects, quarantine, and
// RFC 3464 bounces for recipients that failed permanently.
//
// It is the queue's Handler. Per-recipient delivery records (queue.Item.
// Record) are written right after each relayed or bounced recipient is
// dealt with, so a retry after a crash or a temporary failure never sends
// twice to a recipient that was already served. A local delivery is its
// own record: its Maildir file is named after the message and the
// recipient, and a repeated attempt finds it (mailstore.Store.DeliverOnce),
// so nothing is written for it unless the attempt ends in a retry
// (queue.Item.RecordFound), and the removal of a message delivered only
// locally is not waited for.
package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sluicemail/sluice/delivery"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/queue"
	"github.com/sluicemail/sluice/stdlib"
)

// Injector queues a new message (a bounce).
type Injector interface {
	Accept(ctx context.Context, env queue.Envelope, vars json.RawMessage, r io.Reader) (string, error)
}

// Pipeline runs on_queue and delivers. Set every field before use.
type Pipeline struct {
	// Engine returns, with a hold on it (engine.Acquire) that Handle
	// releases, the engine generation to run message id's on_queue on:
	// gen, the one that accepted it, while that is still loaded, else the
	// current one.
	Engine func(id, gen string) *engine.Engine
	// Local delivers into the mail store; Relay sends to the smarthost
	// (nil: no relaying).
	Local *delivery.Local
	Relay *delivery.Relay
	// IsLocal reports whether a domain is local.
	IsLocal func(domain string) bool
	// Hostname names this server in bounces.
	Hostname string
	// Queue takes the bounces.
	Queue Injector
	// OnExpire is "bounce" or "quarantine": what happens to a message
	// still undelivered at the queue's maximum age.
	OnExpire string
	// Limits are the script caps.
	Limits stdlib.Limits
	Logger *slog.Logger
}

// Handle implements queue.Handler.
func (p *Pipeline) Handle(ctx context.Context, it *queue.Item) queue.Outcome {
	m := &stdlib.Msg{ID: it.ID, From: it.From, Rcpt: it.Pending(), Client: it.Client, Helo: it.Helo}
	if err := m.UnmarshalState(it.Vars); err != nil {
		p.Logger.Warn("bad carried state; starting afresh", "msg_id", it.ID, "error", err)
	}
	m.Rcpt = applyRcptActions(m.Rcpt, m.Actions, it.Done)
	// Taken first: it ends the hold the SMTP session left on the
	// generation, which must end even if the body cannot be read.
	eng := p.Engine(it.ID, m.Generation)
	if eng == nil {
		return queue.Retry(errors.New("the server is stopping"))
	}
	raw, err := readBody(it)
	if err != nil {
		eng.Release()
		return queue.Retry(fmt.Errorf("read %s: %w", it.ID, err))
	}
	m.Body = message.New(raw, p.Limits.MessageOptions())
	res := &engine.Result{}
	v := p.runQueue(ctx, eng, m, res)
	switch v.Kind {
	case engine.Tempfail:
		return queue.Retry(fmt.Errorf("on_queue: %d %s %s", v.Code, v.Enhanced, v.Text))
	case engine.Discard:
		p.Logger.Info("discarded", "msg_id", it.ID)
		return queue.Done()
	case engine.Quarantine:
		if _, err := p.Local.Quarantine(ctx, m.Body.NewReader(), quarantineInfo(it, v.Text, lastStage(res))); err != nil {
			return queue.Retry(err)
		}
		p.Logger.Info("quarantined", "msg_id", it.ID, "reason", v.Text)
		return queue.Done()
	case engine.Reject:
		failed := make([]failure, 0, len(it.Pending()))
		for _, r := range it.Pending() {
			failed = append(failed, failure{rcpt: r, status: v.Enhanced, diag: fmt.Sprintf("smtp; %d %s %s", v.Code, v.Enhanced, v.Text)})
		}
		return p.finish(ctx, it, m, failed, nil)
	}
	return p.deliver(ctx, it, m)
}

// runQueue runs on_queue on eng and releases it, even if the run panics.
func (p *Pipeline) runQueue(ctx context.Context, eng *engine.Engine, m *stdlib.Msg, res *engine.Result) engine.Verdict {
	defer eng.Release()
	m.Generation = eng.Version()
	return eng.Run(ctx, "on_queue", m, res)
}

// failure is one recipient that failed permanently.
type failure struct {
	rcpt, status, diag, remote string
}

// deliver carries out implicit keep, fileinto and redirect.
func (p *Pipeline) deliver(ctx context.Context, it *queue.Item, m *stdlib.Msg) queue.Outcome {
	folder, redirects := mailstore.Inbox, []string(nil)
	for _, a := range m.Actions {
		switch a.Kind {
		case "fileinto":
			folder = a.Folder
		case "redirect":
			redirects = append(redirects, a.Address)
		}
	}
	targets := m.Rcpt // add_rcpt/remove_rcpt already applied
	if len(redirects) > 0 {
		targets = redirects // a redirect replaces the implicit keep
	}
	var failed []failure
	var temp []error
	var remote, delivered []string
	defer func() {
		if len(delivered) > 0 { // the operator's line: where it went
			p.Logger.Info("delivered", "msg_id", it.ID, "rcpt", strings.Join(delivered, ","), "rules", m.Generation)
		}
	}()
	for _, rcpt := range targets {
		if _, done := it.Done[rcpt]; done {
			continue
		}
		if !p.IsLocal(domainOf(rcpt)) {
			remote = append(remote, rcpt)
			continue
		}
		// The Maildir's syncs join the spool's grouped ones. The file is
		// named after the message and the recipient, so that an attempt
		// repeated after a crash (delivered, not yet recorded) finds its
		// copy instead of making a second one. The message's reader, not
		// its Bytes: an edited message (on_queue set a header) is not
		// joined into a copy for the write.
		got, key := folder, deliveryKey(it.ID, rcpt)
		repeat, err := p.Local.DeliverOnce(ctx, rcpt, folder, key, it.Received, m.Body.NewReader(), it.SyncFiles)
		if err != nil && errors.Is(err, mailstore.ErrBadFolder) && folder != mailstore.Inbox {
			p.Logger.Warn("bad folder; delivering to INBOX", "msg_id", it.ID, "folder", folder, "error", err)
			got = mailstore.Inbox
			repeat, err = p.Local.DeliverOnce(ctx, rcpt, got, key, it.Received, m.Body.NewReader(), it.SyncFiles)
		}
		if repeat {
			p.Logger.Info("already in the mailbox from an earlier attempt; not delivered again", "msg_id", it.ID, "rcpt", rcpt, "folder", got)
		}
		if err == nil {
			delivered = append(delivered, rcpt+" ("+got+")")
		}
		switch {
		case err == nil:
			// The file in the mailbox is the record (see the package doc).
			it.RecordFound(rcpt, queue.Delivered, got)
		case delivery.IsTemporary(err):
			temp = append(temp, fmt.Errorf("%s: %w", rcpt, err))
		default:
			failed = append(failed, failure{rcpt: rcpt, status: statusOf(err), diag: "x-sluice; " + err.Error()})
		}
	}
	if len(remote) > 0 {
		f, t := p.relay(ctx, it, m.Body.NewReader(), remote)
		failed, temp = append(failed, f...), append(temp, t...)
	}
	return p.finish(ctx, it, m, failed, temp)
}

// relay sends to the smarthost and records each recipient's result.
func (p *Pipeline) relay(ctx context.Context, it *queue.Item, body io.Reader, rcpts []string) ([]failure, []error) {
	if p.Relay == nil {
		var failed []failure
		for _, r := range rcpts {
			failed = append(failed, failure{rcpt: r, status: "5.7.1", diag: "x-sluice; no smarthost is configured for non-local recipients"})
		}
		return failed, nil
	}
	results, err := p.Relay.Send(ctx, it.From, rcpts, body)
	var failed []failure
	var temp []error
	for _, r := range results {
		switch {
		case r.OK:
			if rerr := it.Record(ctx, r.Rcpt, queue.Relayed, r.Diagnostic()); rerr != nil {
				temp = append(temp, rerr)
			}
		case r.Temporary:
			temp = append(temp, fmt.Errorf("%s: %v", r.Rcpt, r.Err()))
		default:
			failed = append(failed, failure{rcpt: r.Rcpt, status: r.Enhanced, diag: r.Diagnostic(), remote: p.Relay.Addr})
		}
	}
	if err != nil && len(temp) == 0 && len(failed) == 0 {
		temp = append(temp, err)
	}
	return failed, temp
}

// finish bounces the failed recipients, records them, and ends the attempt.
func (p *Pipeline) finish(ctx context.Context, it *queue.Item, m *stdlib.Msg, failed []failure, temp []error) queue.Outcome {
	if len(failed) > 0 {
		if err := p.bounce(ctx, it, m.Body.Bytes(), failed, delivery.ActionFailed, ""); err != nil {
			return queue.Retry(err)
		}
		for _, f := range failed {
			if err := it.Record(ctx, f.rcpt, queue.Bounced, f.diag); err != nil {
				return queue.Retry(err)
			}
		}
	}
	if len(temp) > 0 {
		return queue.Retry(errors.Join(temp...))
	}
	return queue.Done()
}

// bounce queues a DSN to the sender for the given recipients.
func (p *Pipeline) bounce(ctx context.Context, it *queue.Item, raw []byte, failed []failure, action, reason string) error {
	if !delivery.ShouldBounce(it.From) {
		p.Logger.Info("no bounce to the null sender", "msg_id", it.ID)
		return nil
	}
	in := delivery.DSNInput{
		ReportingMTA: p.Hostname, To: it.From, QueueID: it.ID, Arrival: it.Received,
		Original: bytes.NewReader(raw), Reason: reason,
	}
	for _, f := range failed {
		status := f.status
		if status == "" || status[0] != '5' {
			status = "5.0.0"
		}
		in.Recipients = append(in.Recipients, delivery.DSNRecipient{
			Rcpt: f.rcpt, Action: action, Status: status, DiagnosticCode: f.diag, RemoteMTA: f.remote,
		})
	}
	dsn, err := delivery.DSN(in)
	if err != nil {
		if errors.Is(err, delivery.ErrNoBounce) {
			return nil
		}
		return fmt.Errorf("bounce for %s: %w", it.ID, err)
	}
	id, err := p.Queue.Accept(ctx, queue.Envelope{From: "", Rcpt: []string{it.From}, Received: time.Now()}, nil, bytes.NewReader(dsn))
	if err != nil {
		return fmt.Errorf("queue bounce for %s: %w", it.ID, err)
	}
	p.Logger.Info("bounce queued", "msg_id", it.ID, "bounce_id", id, "to", it.From, "rcpts", len(failed))
	return nil
}

// OnFail is the queue's Options.OnFail: a message that expired or failed
// is bounced for its remaining recipients, or quarantined.
func (p *Pipeline) OnFail(ctx context.Context, it *queue.Item, cause error) error {
	raw, err := readBody(it)
	if err != nil {
		return err
	}
	if p.OnExpire == "quarantine" {
		_, err := p.Local.Quarantine(ctx, bytes.NewReader(raw), quarantineInfo(it, "undeliverable: "+cause.Error(), "queue"))
		return err
	}
	var failed []failure
	for _, r := range it.Pending() {
		// 5.4.7: delivery time expired
		failed = append(failed, failure{rcpt: r, status: "5.4.7", diag: "x-sluice; " + it.LastError})
	}
	return p.bounce(ctx, it, raw, failed, delivery.ActionFailed, cause.Error())
}

// applyRcptActions applies the add_rcpt and remove_rcpt actions on_data
// recorded to the queued recipients (skipping those already done).
func applyRcptActions(rcpt []string, actions []stdlib.Action, done map[string]queue.DeliveryRecord) []string {
	for _, a := range actions {
		switch a.Kind {
		case "add_rcpt":
			if _, ok := done[a.Address]; !ok && !containsFold(rcpt, a.Address) {
				rcpt = append(rcpt, a.Address)
			}
		case "remove_rcpt":
			kept := rcpt[:0]
			for _, r := range rcpt {
				if !strings.EqualFold(r, a.Address) {
					kept = append(kept, r)
				}
			}
			rcpt = kept
		}
	}
	return rcpt
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func readBody(it *queue.Item) ([]byte, error) {
	b, err := it.Body()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	raw := make([]byte, b.Size())
	if _, err := b.ReadAt(raw, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return raw, nil
}

func quarantineInfo(it *queue.Item, reason, stage string) mailstore.QuarantineInfo {
	return mailstore.QuarantineInfo{
		Reason: reason, Stage: stage, MsgID: it.ID, From: it.From,
		Rcpt: append([]string(nil), it.Rcpt...), Time: time.Now(),
	}
}

func lastStage(r *engine.Result) string {
	if n := len(r.Stages); n > 0 {
		return r.Stages[n-1].Name
	}
	return ""
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// statusOf returns the enhanced status of a delivery error.
func statusOf(err error) string {
	var de *delivery.Error
	if errors.As(err, &de) && de.Enhanced != "" {
		return de.Enhanced
	}
	return "5.0.0"
}

// deliveryKey names a message's delivery to rcpt in the mailbox's file
// name (mailstore.Store.DeliverOnce): the queue ID and a hash of the
// recipient, the same at every attempt.
func deliveryKey(id, rcpt string) string {
	h := fnv.New64a()
	h.Write([]byte(rcpt))
	return id + "-" + strconv.FormatUint(h.Sum64(), 36)
}
