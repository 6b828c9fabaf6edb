package engine

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/sluicemail/sluice/stdlib"
)

// Transaction runs on m every hook the server runs for one message, in the
// server's order, as `sluice run` and `sluice test` do:
//
//   - on_connect, then on_helo, each only when some stage defines it;
//   - on_mail with the envelope sender m.From;
//   - on_rcpt once per recipient of m.Rcpt, each seeing the recipients
//     accepted before it in tx.rcpt;
//   - Pipeline (on_data, then on_queue) when a recipient is left.
//
// conn describes the client to the session hooks; nil means ClientConn(m).
// on_connect sees it without the HELO name, as on the server. tx.size is
// the size of m, as from a client that announces SIZE=.
//
// As on the server, a reject or tempfail refuses and any other verdict lets
// the client go on. A refusal by on_connect, on_helo or on_mail ends the
// run: it is the result's verdict, and the stage that decided is the last
// of the result's stages. A recipient refused by on_rcpt is dropped from
// m.Rcpt (a new slice; the old one is not changed) and listed in
// Result.RcptRefused. When every recipient is refused, on_data does not run
// and the verdict is the last recipient's refusal. When m has no recipient
// at all, on_data runs as with Pipeline.
//
// What the server checks itself before on_rcpt (address syntax, relaying,
// local users) and the alias expansion it applies before on_data are not
// part of the rules and are not done here. With stages that define no
// session hook, Transaction returns exactly what Pipeline returns.
func (e *Engine) Transaction(ctx context.Context, conn *stdlib.Conn, m *stdlib.Msg) *Result {
	if conn == nil {
		conn = ClientConn(m)
	}
	t := &transaction{e: e, ctx: ctx, conn: conn, m: m}
	if m.Body != nil && (e.Has("on_mail") || e.Has("on_rcpt")) {
		t.size = m.Body.Size()
	}
	if v, ok := t.greet(); ok {
		return t.refused(v)
	}
	if v, ok := t.recipients(); ok {
		return t.refused(v)
	}
	r := e.Pipeline(ctx, m)
	if len(t.stages) > 0 {
		r.Stages = append(t.stages, r.Stages...)
	}
	r.RcptRefused = t.refusals
	return r
}

// transaction is one run of Engine.Transaction.
type transaction struct {
	e    *Engine
	ctx  context.Context
	conn *stdlib.Conn
	m    *stdlib.Msg
	size int64
	// stages trace the session hooks; refusals are the refused recipients.
	stages   []StageRun
	refusals []RcptRefusal
}

// session runs hook and reports whether its verdict refuses.
func (t *transaction) session(hook string, s Session) (Verdict, bool) {
	r := &Result{}
	v := t.e.RunSession(t.ctx, hook, s, r)
	t.stages = append(t.stages, r.Stages...)
	return v, refuses(v)
}

// refused is the result of a transaction that ends with refusal v.
func (t *transaction) refused(v Verdict) *Result {
	r := &Result{Stages: t.stages, RcptRefused: t.refusals}
	r.decide(v)
	r.finish(t.m)
	return r
}

// tx is the transaction as on_mail sees it.
func (t *transaction) tx() stdlib.Tx {
	return stdlib.Tx{Conn: t.conn, From: t.m.From, Size: t.size}
}

// greet runs on_connect, on_helo and on_mail until one refuses.
func (t *transaction) greet() (Verdict, bool) {
	if t.e.Has("on_connect") {
		greeting := *t.conn
		greeting.Helo = "" // on_connect runs before HELO
		if v, ok := t.session("on_connect", Session{Conn: &greeting}); ok {
			return v, ok
		}
	}
	if t.e.Has("on_helo") {
		if v, ok := t.session("on_helo", Session{Conn: t.conn}); ok {
			return v, ok
		}
	}
	tx := t.tx()
	return t.session("on_mail", Session{Conn: t.conn, Tx: &tx})
}

// recipients runs on_rcpt for each recipient and drops the refused ones
// from m.Rcpt. It reports the last refusal when none is left.
func (t *transaction) recipients() (Verdict, bool) {
	var accepted []string
	var last Verdict
	for _, rcpt := range t.m.Rcpt {
		tx := t.tx()
		tx.Rcpt = accepted[:len(accepted):len(accepted)]
		v, ok := t.session("on_rcpt", Session{Conn: t.conn, Tx: &tx, Rcpt: rcpt})
		if !ok {
			accepted = append(accepted, rcpt)
			continue
		}
		last = v
		t.refusals = append(t.refusals, RcptRefusal{Rcpt: rcpt, Verdict: v.Kind, Code: v.Code,
			Enhanced: v.Enhanced, Text: v.Text, Stage: t.stages[len(t.stages)-1].Name})
	}
	if len(t.refusals) == 0 {
		return Verdict{}, false
	}
	t.m.Rcpt = accepted
	return last, len(accepted) == 0
}

// refuses reports whether v, returned by a session hook, refuses what the
// client asked for: only reject and tempfail do (see smtpd).
func refuses(v Verdict) bool { return v.Kind == Reject || v.Kind == Tempfail }

// ClientConn describes the SMTP client of m as the server would to the
// session hooks: id m.ID, ip and port from m.Client ("ip:port" or a bare
// ip; anything else is kept whole as the ip), helo m.Helo, no TLS, no
// authenticated user, not LMTP.
func ClientConn(m *stdlib.Msg) *stdlib.Conn {
	c := &stdlib.Conn{ID: m.ID, Helo: m.Helo}
	if ap, err := netip.ParseAddrPort(m.Client); err == nil {
		c.IP, c.Port = ap.Addr().Unmap().String(), int(ap.Port())
	} else if a, err := netip.ParseAddr(m.Client); err == nil {
		c.IP = a.Unmap().String()
	} else {
		c.IP = m.Client
	}
	return c
}

// ClientAddr checks a client address given as IP or IP:PORT ("[v6]:port"
// for IPv6) and returns it in the form of stdlib.Msg.Client, "ip:port",
// with port 0 when none was given.
func ClientAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("%q is not IP or IP:PORT", s)
	}
	return netip.AddrPortFrom(a, 0).String(), nil
}
