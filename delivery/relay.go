package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// STARTTLS policies of a Relay.
const (
	// StartTLSOpportunistic uses STARTTLS when the smarthost offers it and
	// goes on in clear text when it does not, or when it refuses the command
	// with a reply. A failed TLS handshake is a temporary failure, not a
	// reason to fall back to clear text.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSRequired fails the transaction, temporarily, when the
	// smarthost does not offer STARTTLS or refuses it.
	StartTLSRequired = "required"
	// StartTLSNone never uses STARTTLS.
	StartTLSNone = "none"
)

const (
	// DefaultTimeout is a Relay's wait for each reply when Timeout is 0
	// (RFC 5321, section 4.5.3.2).
	DefaultTimeout = 5 * time.Minute
	// DialTimeout caps the TCP connection to the smarthost.
	DialTimeout = 30 * time.Second
	// quitTimeout caps the courtesy wait for the reply to QUIT.
	quitTimeout = 10 * time.Second
)

// Credentials are a user name and password for AUTH PLAIN. They print as
// the user name with the password redacted.
type Credentials struct {
	Username string
	Password string
}

// String returns the user name and "<redacted>", never the password.
func (c Credentials) String() string { return c.Username + " <redacted>" }

// Relay sends mail through one smarthost with go-smtp's client. Its fields
// are read by Send and must not change while a Send runs; one Relay serves
// any number of concurrent Sends, each on its own connection.
type Relay struct {
	// Addr is the smarthost's "host:port".
	Addr string
	// Hostname is the name sent in EHLO: this server's host name.
	// Empty means "localhost"; set it, smarthosts may check it.
	Hostname string
	// StartTLS is the TLS policy: StartTLSOpportunistic (the default, when
	// empty), StartTLSRequired or StartTLSNone.
	StartTLS string
	// TLSConfig configures STARTTLS. Nil means a zero tls.Config; in both
	// cases ServerName defaults to Addr's host. The certificate is verified
	// in every mode (opportunistic too): set InsecureSkipVerify to accept
	// any certificate, or RootCAs for a private CA.
	TLSConfig *tls.Config
	// Timeout is the wait for each reply (and for each write of the
	// message); the wait for the reply to the final "." of DATA is twice
	// as long. 0 means DefaultTimeout. Connecting is capped by DialTimeout.
	Timeout time.Duration
	// Auth, when set, authenticates with AUTH PLAIN, only over TLS: without
	// TLS, or when the smarthost does not offer PLAIN, Send fails
	// temporarily and the credentials are never sent. A refused
	// authentication is temporary too (the operator's to fix; mail waits
	// in the queue rather than bouncing).
	Auth *Credentials
}

// RcptResult is what became of one recipient of a Relay.Send.
type RcptResult struct {
	Rcpt string
	// Code is the server's reply code for this recipient (250 once the
	// message was accepted after DATA), 0 when no reply applies (a lost
	// connection, a timeout, a local check).
	Code int
	// Enhanced is the RFC 3463 status ("2.0.0", "5.1.1"), always set.
	Enhanced string
	// Text is the server's reply text, or what failed locally.
	Text string
	// Temporary marks a failure worth retrying; false with OK false is a
	// permanent failure (bounce).
	Temporary bool
	// OK means the smarthost accepted the message for this recipient.
	OK bool
}

// Err returns nil when the recipient was accepted, else the failure as an
// *Error (without a cause).
func (r RcptResult) Err() error {
	if r.OK {
		return nil
	}
	return &Error{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Permanent: !r.Temporary}
}

// Diagnostic returns the result as an RFC 3464 Diagnostic-Code value,
// "smtp; 550 5.1.1 text", or "" when no server replied (Code 0).
func (r RcptResult) Diagnostic() string {
	if r.Code == 0 {
		return ""
	}
	return oneLine(fmt.Sprintf("smtp; %d %s %s", r.Code, r.Enhanced, r.Text))
}

// Send sends the message read from raw from the envelope sender from ("" is
// the null sender, for bounces) to rcpts, in one SMTP transaction.
//
// It returns one result per recipient, in the order of rcpts, each final
// for this attempt: OK, Temporary (retry later) or permanent (bounce). The
// error is an *Error when something failed the whole transaction (no
// connection, TLS, AUTH, MAIL FROM, DATA, a lost connection, ctx ending): it
// is then also the result of every recipient that was not refused on its
// own at RCPT. It is nil when the transaction reached per-recipient
// outcomes, even if every RCPT was refused: read the results.
//
// raw is the message with CRLF (or LF) line endings; it is read once, during
// DATA, which is sent only when at least one RCPT was accepted. When reading
// raw fails, the connection is dropped before the final "." so that no
// truncated message is delivered. A connection lost after the final "." and
// before the reply counts as temporary, so the message may arrive twice
// (RFC 5321, section 4.1.1.4 accepts this).
//
// ctx bounds the whole transaction: when it ends, the connection is closed
// and Send returns at once with temporary results wrapping ctx.Err().
func (r *Relay) Send(ctx context.Context, from string, rcpts []string, raw io.Reader) ([]RcptResult, error) {
	t := &transaction{
		relay:   r,
		ctx:     ctx,
		timeout: r.Timeout,
		res:     make([]RcptResult, len(rcpts)),
		settled: make([]bool, len(rcpts)),
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	for i, rcpt := range rcpts {
		t.res[i].Rcpt = rcpt
	}
	if e := t.run(from, raw); e != nil {
		t.settleRest(e)
		return t.res, e
	}
	return t.res, nil
}

// transaction is the state of one Send.
type transaction struct {
	relay   *Relay
	ctx     context.Context
	timeout time.Duration
	res     []RcptResult
	settled []bool // res[i] is final
	conn    net.Conn
	tls     bool // the session runs over TLS
}

func (t *transaction) run(from string, raw io.Reader) *Error {
	r := t.relay
	mode, e := r.mode()
	if e != nil {
		return e
	}
	if raw == nil {
		return tempError("4.3.0", "relay: no message to send", nil)
	}
	if strings.ContainsAny(from, "\r\n") {
		return permError("5.1.7", "relay: bad sender address", nil)
	}
	for i, rcpt := range t.res {
		if rcpt.Rcpt == "" || strings.ContainsAny(rcpt.Rcpt, "\r\n") {
			t.settle(i, permError("5.1.3", "relay: bad recipient address", nil))
		}
	}
	if t.pending() == 0 {
		return nil
	}

	d := net.Dialer{Timeout: DialTimeout}
	conn, err := d.DialContext(t.ctx, "tcp", r.Addr)
	if err != nil {
		return classify(t.ctx, err, "4.4.1", "connect to smarthost "+r.Addr)
	}
	t.conn = conn
	defer conn.Close()
	stop := context.AfterFunc(t.ctx, func() { conn.Close() })
	defer stop()

	c, e := t.open(mode)
	if e != nil {
		return e
	}
	if e := t.auth(c); e != nil {
		return e
	}
	if e := t.mail(c, from); e != nil {
		return e
	}
	accepted, e := t.rcpts(c)
	if e != nil {
		return e
	}
	if accepted > 0 {
		if e := t.data(c, raw); e != nil {
			return e
		}
	}
	c.CommandTimeout = min(t.timeout, quitTimeout)
	c.Quit() // a courtesy: the outcome is already known
	return nil
}

// mode returns the STARTTLS policy, checking the configuration.
func (r *Relay) mode() (string, *Error) {
	if r.Addr == "" {
		return "", tempError("4.3.5", "relay: no smarthost address configured", nil)
	}
	switch r.StartTLS {
	case "":
		return StartTLSOpportunistic, nil
	case StartTLSOpportunistic, StartTLSRequired, StartTLSNone:
		return r.StartTLS, nil
	}
	return "", tempError("4.3.5", fmt.Sprintf("relay: unknown StartTLS policy %q", r.StartTLS), nil)
}

// newClient starts a go-smtp client on conn and says EHLO.
func (t *transaction) newClient(conn net.Conn) (*smtp.Client, *Error) {
	c := smtp.NewClient(conn)
	c.CommandTimeout = t.timeout
	c.SubmissionTimeout = 2 * t.timeout
	name := t.relay.Hostname
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		return nil, classify(t.ctx, err, "4.4.2", "greeting and EHLO")
	}
	return c, nil
}

// open greets the smarthost and applies the STARTTLS policy.
//
// go-smtp v0.25's Client has no exported STARTTLS for a connection it did
// not dial itself, so the command is sent here on the bare connection
// (the first client has read nothing beyond its EHLO reply) and a second
// client is started on top of TLS.
func (t *transaction) open(mode string) (*smtp.Client, *Error) {
	c, e := t.newClient(t.conn)
	if e != nil || mode == StartTLSNone {
		return c, e
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if mode == StartTLSRequired {
			return nil, tempError("4.7.10", "relay: the smarthost does not offer STARTTLS, which is required", nil)
		}
		return c, nil
	}
	if err := t.startTLSCommand(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && mode == StartTLSOpportunistic {
			return c, nil // refused with a reply: the session goes on in clear text
		}
		return nil, classify(t.ctx, err, "4.7.5", "STARTTLS")
	}
	tc := tls.Client(t.conn, t.tlsConfig())
	t.conn.SetDeadline(time.Now().Add(t.timeout))
	err := tc.HandshakeContext(t.ctx)
	t.conn.SetDeadline(time.Time{})
	if err != nil {
		return nil, classify(t.ctx, err, "4.7.5", "TLS handshake with the smarthost")
	}
	t.tls = true
	return t.newClient(&greetedConn{Conn: tc, greeting: []byte("220 resumed after STARTTLS\r\n")})
}

// startTLSCommand sends STARTTLS and reads a 220 reply.
func (t *transaction) startTLSCommand() error {
	t.conn.SetDeadline(time.Now().Add(t.timeout))
	defer t.conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(t.conn, "STARTTLS\r\n"); err != nil {
		return err
	}
	br := bufio.NewReader(t.conn)
	code, msg, err := textproto.NewReader(br).ReadResponse(220)
	if err != nil {
		var pe *textproto.Error
		if errors.As(err, &pe) {
			return replyError(code, msg)
		}
		return err
	}
	if br.Buffered() > 0 {
		// Clear text after the reply would be taken for TLS-protected
		// data: a response injection (CVE-2011-0411 and kin).
		return errors.New("delivery: data after the STARTTLS reply")
	}
	return nil
}

func (t *transaction) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if t.relay.TLSConfig != nil {
		cfg = t.relay.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(t.relay.Addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

// auth authenticates with AUTH PLAIN when credentials are set.
func (t *transaction) auth(c *smtp.Client) *Error {
	a := t.relay.Auth
	if a == nil {
		return nil
	}
	if !t.tls {
		return tempError("4.7.0", "relay: not sending credentials without TLS", nil)
	}
	if !c.SupportsAuth("PLAIN") {
		return tempError("4.7.0", "relay: the smarthost does not offer AUTH PLAIN", nil)
	}
	if err := c.Auth(sasl.NewPlainClient("", a.Username, a.Password)); err != nil {
		e := classify(t.ctx, err, "4.4.2", "AUTH")
		e.Permanent = false
		e.Enhanced = "4" + strings.TrimLeft(e.Enhanced, "2345")
		return e
	}
	return nil
}

// mail sends MAIL FROM. go-smtp adds BODY=8BITMIME when the server offers
// it; SMTPUTF8 is asked for when an address needs it, and recipients that
// need it are refused here when the server lacks it.
func (t *transaction) mail(c *smtp.Client, from string) *Error {
	utf8OK, _ := c.Extension("SMTPUTF8")
	if !utf8OK && !isASCII(from) {
		return permError("5.6.7", "relay: the sender address is not ASCII and the smarthost lacks SMTPUTF8", nil)
	}
	needUTF8 := !isASCII(from)
	for i := range t.res {
		if t.settled[i] || isASCII(t.res[i].Rcpt) {
			continue
		}
		if !utf8OK {
			t.settle(i, permError("5.6.7", "relay: the recipient address is not ASCII and the smarthost lacks SMTPUTF8", nil))
			continue
		}
		needUTF8 = true
	}
	if t.pending() == 0 {
		return nil
	}
	if err := c.Mail(from, &smtp.MailOptions{UTF8: needUTF8}); err != nil {
		return classify(t.ctx, err, "4.4.2", "MAIL FROM")
	}
	return nil
}

// rcpts sends one RCPT per pending recipient, settling the refused ones,
// and returns how many were accepted.
func (t *transaction) rcpts(c *smtp.Client) (int, *Error) {
	accepted := 0
	for i := range t.res {
		if t.settled[i] {
			continue
		}
		err := c.Rcpt(t.res[i].Rcpt, nil)
		if err == nil {
			accepted++
			continue
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return 0, classify(t.ctx, err, "4.4.2", "RCPT TO")
		}
		if se.Code == 421 { // the server is closing the connection
			return 0, fromReply(se)
		}
		t.settle(i, fromReply(se))
	}
	return accepted, nil
}

// data sends the message to the accepted recipients and settles them.
func (t *transaction) data(c *smtp.Client, raw io.Reader) *Error {
	w, err := c.Data()
	if err != nil {
		return classify(t.ctx, err, "4.4.2", "DATA")
	}
	src := &trackingReader{r: raw}
	dst := &deadlineWriter{w: w, conn: t.conn, timeout: t.timeout}
	if _, err := io.Copy(dst, src); err != nil {
		t.conn.Close() // never let a partial message end with "."
		if src.err != nil {
			return tempError("4.3.0", "relay: read the message", src.err)
		}
		return classify(t.ctx, err, "4.4.2", "sending the message")
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return classify(t.ctx, err, "4.4.2", "end of DATA")
	}
	enh, text := splitEnhanced(resp.StatusText)
	if enh == "" || enh[0] != '2' {
		enh = "2.0.0"
	}
	for i := range t.res {
		if !t.settled[i] {
			t.res[i] = RcptResult{Rcpt: t.res[i].Rcpt, Code: 250, Enhanced: enh, Text: text, OK: true}
			t.settled[i] = true
		}
	}
	return nil
}

// settle makes e recipient i's final result.
func (t *transaction) settle(i int, e *Error) {
	t.res[i] = e.result(t.res[i].Rcpt)
	t.settled[i] = true
}

// settleRest makes e the result of every recipient not settled yet.
func (t *transaction) settleRest(e *Error) {
	for i := range t.res {
		if !t.settled[i] {
			t.settle(i, e)
		}
	}
}

func (t *transaction) pending() int {
	n := 0
	for _, s := range t.settled {
		if !s {
			n++
		}
	}
	return n
}

// result turns e into one recipient's result. A local failure's Text
// carries its cause, since a result has no other place for it.
func (e *Error) result(rcpt string) RcptResult {
	text := e.Text
	if e.Code == 0 && e.Err != nil {
		text += ": " + e.Err.Error()
	}
	return RcptResult{Rcpt: rcpt, Code: e.Code, Enhanced: e.Enhanced, Text: text, Temporary: !e.Permanent}
}

// replyError builds the *smtp.SMTPError of a reply read outside go-smtp.
func replyError(code int, msg string) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: code, Message: msg}
	if enh, rest := splitEnhanced(msg); enh != "" {
		var c smtp.EnhancedCode
		fmt.Sscanf(enh, "%d.%d.%d", &c[0], &c[1], &c[2])
		se.EnhancedCode, se.Message = c, rest
	}
	return se
}

// greetedConn replays a 220 greeting before the TLS stream: go-smtp's
// Client expects one on every connection it starts on, while after
// STARTTLS the session resumes with the client's EHLO (RFC 3207).
type greetedConn struct {
	net.Conn
	greeting []byte // what is left to replay; read by one goroutine
}

func (g *greetedConn) Read(p []byte) (int, error) {
	if len(g.greeting) > 0 {
		n := copy(p, g.greeting)
		g.greeting = g.greeting[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}

// trackingReader remembers the error of the message's reader, to tell it
// from the connection's.
type trackingReader struct {
	r   io.Reader
	err error
}

func (tr *trackingReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p)
	if err != nil && err != io.EOF {
		tr.err = err
	}
	return n, err
}

// deadlineWriter sets the connection's write deadline before each write of
// the message, which go-smtp leaves unbounded.
type deadlineWriter struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// oneLine folds the line breaks and control characters of s into spaces.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
