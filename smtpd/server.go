package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/stdlib"
)

// Options configure a Server. Zero values are safe defaults where noted.
type Options struct {
	// Hostname is the name the server greets with and writes in Received.
	Hostname string
	// MaxMessageBytes (advertised in SIZE), MaxRecipients and
	// MaxLineLength are the protocol limits; MaxConnections caps the
	// connections at once per listener (default 1000).
	MaxMessageBytes int64
	MaxRecipients   int
	MaxLineLength   int
	MaxConnections  int
	// ReadTimeout and WriteTimeout bound each command; DataTimeout the
	// whole DATA transfer.
	ReadTimeout, WriteTimeout, DataTimeout time.Duration
	// TLS enables STARTTLS (and so AUTH); nil disables both.
	TLS *tls.Config
	// Policy decides local delivery and relaying; SetPolicy replaces it.
	Policy *Policy
	// Engine returns the current engine generation with a hold on it
	// (engine.Acquire), which the server releases; nil when the server
	// is stopping. A transaction runs
	// every hook on the generation current at its MAIL command.
	Engine func() *engine.Engine
	// Keep, when set, is called with a hold on the generation of a
	// message about to be committed to the queue, so that its on_queue
	// stages run on the same one; undo takes the hold back when the
	// commit fails.
	Keep func(id string, eng *engine.Engine) (undo func())
	// Spool receives the messages; Quarantine holds those on_data
	// quarantines (nil: they are dropped with a log line).
	Spool      Spool
	Quarantine Quarantiner
	// Limits are the script caps, for parsing messages.
	Limits stdlib.Limits
	// ConnectTimeout bounds on_connect (default 30s).
	ConnectTimeout time.Duration
	// Logger gets the debug log; MailLog, when set, one line per message
	// queued, refused, discarded or quarantined.
	Logger  *slog.Logger
	MailLog *slog.Logger
}

// Server serves SMTP and LMTP listeners.
type Server struct {
	opt    Options
	log    *slog.Logger
	seq    atomic.Uint64
	policy atomic.Pointer[Policy]

	mu      sync.Mutex // guards servers
	servers []*smtp.Server

	ctx    context.Context // parent of every session; canceled by Shutdown
	cancel context.CancelFunc
}

// New returns a server; call Serve for each listener.
func New(opt Options) *Server {
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = 1000
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Policy == nil {
		opt.Policy = &Policy{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opt: opt, log: opt.Logger, ctx: ctx, cancel: cancel}
	s.policy.Store(opt.Policy)
	return s
}

// SetPolicy replaces the policy (local domains, users, aliases, relay
// networks) for the commands from now on: a reload of the configuration.
func (s *Server) SetPolicy(p *Policy) {
	if p == nil {
		p = &Policy{}
	}
	s.policy.Store(p)
}

// Serve accepts SMTP (or LMTP) connections on l until Shutdown. It returns
// smtp.ErrServerClosed after a shutdown.
func (s *Server) Serve(l net.Listener, lmtp bool) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return s.newSession(c, lmtp)
	}))
	srv.Domain = s.opt.Hostname
	srv.LMTP = lmtp
	srv.MaxMessageBytes = s.opt.MaxMessageBytes
	srv.MaxRecipients = s.opt.MaxRecipients
	if s.opt.MaxLineLength > 0 {
		srv.MaxLineLength = s.opt.MaxLineLength
	}
	srv.ReadTimeout = s.opt.ReadTimeout
	srv.WriteTimeout = s.opt.WriteTimeout
	srv.TLSConfig = s.opt.TLS
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log}
	g := newGate(l, s.opt.MaxConnections, s.opt.ConnectTimeout, s.onConnect, s.hasOnConnect, srv.ErrorLog.Printf)
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	return srv.Serve(g)
}

// Shutdown stops accepting, cancels the sessions' work and waits for the
// sessions to end, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	s.cancel()
	return errors.Join(errs...)
}

// hasOnConnect reports whether a stage of the current rules has on_connect.
func (s *Server) hasOnConnect() bool {
	eng := s.opt.Engine()
	if eng == nil {
		return false
	}
	defer eng.Release()
	return eng.Has("on_connect")
}

// onConnect runs on_connect for a new connection; it returns the reply
// line that refuses it, or "".
func (s *Server) onConnect(ctx context.Context, c net.Conn) string {
	eng := s.opt.Engine()
	if eng == nil {
		return ""
	}
	defer eng.Release()
	if !eng.Has("on_connect") {
		return ""
	}
	conn := s.connInfo(c, false)
	v := eng.RunSession(ctx, "on_connect", engine.Session{Conn: conn}, &engine.Result{})
	if err := verdictError(v); err != nil {
		se := err.(*smtp.SMTPError)
		s.log.Info("connection refused by script", "ip", conn.IP, "code", se.Code, "text", se.Message)
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return ""
}

// connInfo describes c for the scripts.
func (s *Server) connInfo(c net.Conn, lmtp bool) *stdlib.Conn {
	conn := &stdlib.Conn{ID: s.nextID(), LMTP: lmtp, Local: c.LocalAddr().String()}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		conn.IP, conn.Port = ap.Addr().Unmap().String(), int(ap.Port())
	} else {
		conn.IP = c.RemoteAddr().String()
	}
	return conn
}

func (s *Server) nextID() string {
	return "S" + strconv.FormatUint(s.seq.Add(1), 36)
}

// newSession starts a session at HELO/EHLO and runs on_helo.
func (s *Server) newSession(c *smtp.Conn, lmtp bool) (smtp.Session, error) {
	eng := s.opt.Engine()
	if eng == nil {
		return nil, errStopping
	}
	conn := s.connInfo(c.Conn(), lmtp)
	conn.Helo = c.Hostname()
	if _, ok := c.TLSConnectionState(); ok {
		conn.TLS = true
	}
	ip, _ := netip.ParseAddr(conn.IP)
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &session{
		srv: s, eng: eng, conn: conn, ip: ip, net: c.Conn(), ctx: ctx, cancel: cancel,
		log: s.log.With("session", conn.ID, "ip", conn.IP),
	}
	if eng.Has("on_helo") {
		v := eng.RunSession(ctx, "on_helo", engine.Session{Conn: conn}, &engine.Result{})
		if err := sess.stage("on_helo", v); err != nil {
			// The refusal answers HELO; the client may not go on.
			sess.refusal = err
		}
	}
	return sess, nil
}

// checkPassword compares pass with the user's bcrypt hash.
func (s *Server) checkPassword(user, pass string) bool {
	hash, ok := s.policy.Load().Users[strings.ToLower(user)]
	if !ok {
		// Spend the same time as a real check, so timing tells nothing.
		bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z3Z8y0lJdSw0KQxwv7bJwzK6"), []byte(pass))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil
}

// mailLog writes the operator's one line per message.
func (s *Server) mailLog(event, id, from string, rcpt []string, code int, text, rules string) {
	if s.opt.MailLog == nil {
		return
	}
	s.opt.MailLog.Info(event, "msg_id", id, "from", from, "rcpt", strings.Join(rcpt, ","), "code", code, "text", text, "rules", rules)
}

// errorLog adapts slog to go-smtp's Logger.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Warn(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.l.Warn(fmt.Sprint(v...)) }
