package smtpd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/queue"
	"github.com/sluicemail/sluice/stdlib"
)

// Spool is what the server needs of the queue: a two-step acceptance, so
// that on_data runs on a message already safe on disk and the 250 is sent
// only once it is committed.
type Spool interface {
	// Receive stores the message durably but does not schedule it; a
	// message received and never committed is dropped on recovery (its
	// sender never got a 250).
	Receive(ctx context.Context, env queue.Envelope, r io.Reader) (Pending, error)
}

// Pending is a received, not yet committed message.
type Pending interface {
	ID() string
	// Bytes returns the stored message.
	Bytes() ([]byte, error)
	// Commit makes the message part of the queue (durably) with msg.vars
	// and, when body is not nil, the message as the stages rewrote it.
	Commit(ctx context.Context, vars json.RawMessage, body []byte) error
	// Abort drops the message.
	Abort(ctx context.Context) error
}

// Quarantiner holds a message refused with quarantine() at SMTP time.
type Quarantiner interface {
	Quarantine(ctx context.Context, raw []byte, id, reason, stage string, env queue.Envelope) error
}

// session is one SMTP or LMTP connection.
type session struct {
	srv  *Server
	eng  *engine.Engine // the generation of the transaction, held; nil after Logout
	conn *stdlib.Conn
	ip   netip.Addr
	net  net.Conn
	log  *slog.Logger

	ctx    context.Context // canceled at Logout and at shutdown
	cancel context.CancelFunc

	from     string
	fromSet  bool
	rcpt     []string
	size     int64
	refusal  error // from on_connect/on_helo, repeated for every command
	authUser string
}

func (s *session) stage(hook string, v engine.Verdict) error {
	if err := verdictError(v); err != nil {
		s.log.Info("refused by script", "hook", hook, "code", v.Code, "text", v.Text)
		return err
	}
	return nil
}

// Reset implements smtp.Session.
func (s *session) Reset() {
	s.from, s.fromSet, s.rcpt, s.size = "", false, nil, 0
}

// Logout implements smtp.Session.
func (s *session) Logout() error {
	s.cancel()
	if s.eng != nil {
		s.eng.Release()
		s.eng = nil
	}
	return nil
}

// refresh moves the session to the current generation of the rules, so
// that a new transaction runs on what was last loaded.
func (s *session) refresh() error {
	cur := s.srv.opt.Engine()
	if cur == nil {
		return errStopping
	}
	if cur == s.eng {
		cur.Release()
		return nil
	}
	if s.eng != nil {
		s.eng.Release()
	}
	s.eng = cur
	return nil
}

// Mail implements smtp.Session.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	return toSMTP(s.log, s.conn.ID, s.mail(from, opts))
}

func (s *session) mail(from string, opts *smtp.MailOptions) error {
	if s.refusal != nil {
		return s.refusal
	}
	s.Reset()
	if err := s.refresh(); err != nil {
		return err
	}
	if from != "" {
		if err := stdlib.CheckAddress(from); err != nil {
			return errBadAddress
		}
	}
	if opts != nil && opts.Size > 0 && s.srv.opt.MaxMessageBytes > 0 && opts.Size > s.srv.opt.MaxMessageBytes {
		return errTooBig
	}
	if opts != nil {
		s.size = opts.Size
	}
	tx := &stdlib.Tx{Conn: s.conn, From: from, Size: s.size}
	if v := s.eng.RunSession(s.ctx, "on_mail", engine.Session{Conn: s.conn, Tx: tx}, &engine.Result{}); v.Final() {
		if err := s.stage("on_mail", v); err != nil {
			return err
		}
	}
	s.from, s.fromSet = from, true
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	return toSMTP(s.log, s.conn.ID, s.rcptTo(to))
}

func (s *session) rcptTo(to string) error {
	if s.refusal != nil {
		return s.refusal
	}
	to = stripRoute(to)
	if err := stdlib.CheckAddress(to); err != nil {
		return errBadAddress
	}
	switch s.srv.policy.Load().decide(to, s.ip, s.authUser != "") {
	case rcptBadSyntax:
		return errBadAddress
	case rcptNoUser:
		return errNoUser
	case rcptNoRelay:
		s.log.Info("relay denied", "rcpt", to)
		return errNoRelay
	}
	tx := &stdlib.Tx{Conn: s.conn, From: s.from, Rcpt: s.rcpt, Size: s.size}
	if v := s.eng.RunSession(s.ctx, "on_rcpt", engine.Session{Conn: s.conn, Tx: tx, Rcpt: to}, &engine.Result{}); v.Final() {
		if err := s.stage("on_rcpt", v); err != nil {
			return err
		}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}

// Data implements smtp.Session.
func (s *session) Data(r io.Reader) error {
	id, err := s.data(r)
	if err != nil {
		return toSMTP(s.log, s.conn.ID, err)
	}
	return queuedAs(id)
}

// queuedAs is the 250 reply that carries the queue id.
func queuedAs(id string) error {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "ok, queued as " + id}
}

// LMTPData implements smtp.LMTPSession: the message is queued once, so
// every recipient gets the same status.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	id, err := s.data(r)
	if err != nil {
		err = toSMTP(s.log, s.conn.ID, err)
	} else {
		err = queuedAs(id)
	}
	for _, rc := range s.rcpt {
		status.SetStatus(rc, err)
	}
	return err
}

// data receives, checks and queues the message; it returns the queue id.
func (s *session) data(r io.Reader) (string, error) {
	if s.refusal != nil {
		io.Copy(io.Discard, r)
		return "", s.refusal
	}
	if d := s.srv.opt.DataTimeout; d > 0 {
		s.net.SetReadDeadline(time.Now().Add(d))
	}
	id := queue.NewID()
	env := queue.Envelope{
		ID: id, From: s.from, Rcpt: s.srv.policy.Load().Expand(s.rcpt),
		Client: s.net.RemoteAddr().String(), Helo: s.conn.Helo, Auth: s.authUser,
		Received: time.Now(),
	}
	body := io.MultiReader(strings.NewReader(s.received(id)), r)
	p, err := s.srv.opt.Spool.Receive(s.ctx, env, body)
	if err != nil {
		io.Copy(io.Discard, r) // the client is still sending
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se):
			return "", se // message too large, from go-smtp's reader
		case errors.Is(err, smtp.ErrTooLongLine):
			return "", errLongLine
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log.Info("DATA timed out", "msg_id", id)
			return "", errTimeout
		}
		s.log.Error("spool write failed", "msg_id", id, "error", err)
		return "", withID(errSpool, id)
	}
	raw, err := p.Bytes()
	if err != nil {
		p.Abort(s.ctx)
		return "", fmt.Errorf("read back %s: %w", id, err)
	}
	m := &stdlib.Msg{
		ID: id, From: s.from, Rcpt: env.Rcpt, Client: env.Client, Helo: s.conn.Helo,
		Body:       message.New(raw, s.srv.opt.Limits.MessageOptions()),
		Generation: s.eng.Version(),
	}
	res := &engine.Result{}
	v := s.eng.Run(s.ctx, "on_data", m, res)
	switch v.Kind {
	case engine.Reject, engine.Tempfail:
		p.Abort(s.ctx)
		s.srv.mailLog("refused", id, s.from, env.Rcpt, v.Code, v.Text, s.eng.Version())
		return "", verdictError(v)
	case engine.Discard:
		p.Abort(s.ctx)
		s.srv.mailLog("discarded", id, s.from, env.Rcpt, 250, "", s.eng.Version())
		return id, nil
	case engine.Quarantine:
		if q := s.srv.opt.Quarantine; q != nil {
			if err := q.Quarantine(s.ctx, m.Body.Bytes(), id, v.Text, lastStage(res), env); err != nil {
				p.Abort(s.ctx)
				return "", fmt.Errorf("quarantine %s: %w", id, err)
			}
		}
		p.Abort(s.ctx)
		s.srv.mailLog("quarantined", id, s.from, env.Rcpt, 250, v.Text, s.eng.Version())
		return id, nil
	}
	vars, err := m.MarshalState()
	if err != nil {
		p.Abort(s.ctx)
		return "", fmt.Errorf("vars of %s: %w", id, err)
	}
	var newBody []byte
	if edited, _ := m.Body.Edits(); len(edited) > 0 || bodyChanged(m) {
		newBody = m.Body.Bytes()
	}
	var undo func()
	if keep := s.srv.opt.Keep; keep != nil && s.eng.Acquire() {
		undo = keep(id, s.eng)
	}
	if err := p.Commit(s.ctx, vars, newBody); err != nil {
		if undo != nil {
			undo()
		}
		s.log.Error("spool commit failed", "msg_id", id, "error", err)
		p.Abort(s.ctx)
		return "", withID(errSpool, id)
	}
	s.srv.mailLog("queued", id, s.from, env.Rcpt, 250, "", s.eng.Version())
	return id, nil
}

// bodyChanged reports rewrites beyond the header (replace_part etc.).
func bodyChanged(m *stdlib.Msg) bool {
	for _, a := range m.Actions {
		switch a.Kind {
		case "replace_part", "remove_part", "prepend_text":
			return true
		}
	}
	_, removed := m.Body.Edits()
	return len(removed) > 0
}

func lastStage(r *engine.Result) string {
	if n := len(r.Stages); n > 0 {
		return r.Stages[n-1].Name
	}
	return ""
}

// received builds the Received: header of the message (RFC 5321 4.4).
func (s *session) received(id string) string {
	with := "ESMTP"
	if s.conn.LMTP {
		with = "LMTP"
	}
	if s.conn.TLS {
		with += "S"
	}
	if s.authUser != "" {
		with += "A"
	}
	helo := s.conn.Helo
	if helo == "" {
		helo = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (sluice) with %s id %s", sanitizeHeader(helo), s.ip, s.srv.opt.Hostname, with, id)
	if len(s.rcpt) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitizeHeader(s.rcpt[0]))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
	return b.String()
}

// sanitizeHeader keeps client-given text from breaking the header.
func sanitizeHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '(' || r == ')' {
			return '_'
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// AuthMechanisms implements smtp.AuthSession: PLAIN and LOGIN, under TLS
// only, and only when users are configured.
func (s *session) AuthMechanisms() []string {
	if len(s.srv.policy.Load().Users) == 0 || !s.conn.TLS {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.conn.TLS {
		return nil, errAuthTLS
	}
	check := func(user, pass string) error {
		if !s.srv.checkPassword(user, pass) {
			s.log.Info("authentication failed", "user", user)
			return reply(535, smtp.EnhancedCode{5, 7, 8}, "authentication failed")
		}
		s.authUser = user
		s.conn.User = user
		s.log.Info("authenticated", "user", user)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return reply(535, smtp.EnhancedCode{5, 7, 8}, "authentication failed")
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, reply(504, smtp.EnhancedCode{5, 5, 4}, "unsupported mechanism")
}
