package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testMsg is one message a testBackend received.
type testMsg struct {
	From  string
	Opts  smtp.MailOptions
	Rcpts []string
	Data  []byte
	TLS   bool // the session ran over TLS
	User  string
}

// testBackend is a go-smtp backend that collects messages. Its hooks are
// set before the server starts and may refuse or break the session.
type testBackend struct {
	rcpt func(s *testSession, to string) error // nil: accept
	data func(s *testSession, r io.Reader) error

	mu    sync.Mutex // guards msgs, datas, auths
	msgs  []testMsg
	datas int // DATA commands that reached the backend
	auths int // AUTH attempts
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{b: b, c: c}, nil
}

func (b *testBackend) messages() []testMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]testMsg(nil), b.msgs...)
}

func (b *testBackend) counts() (datas, auths int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.datas, b.auths
}

type testSession struct {
	b    *testBackend
	c    *smtp.Conn
	msg  testMsg
	user string
}

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.b.mu.Lock()
		s.b.auths++
		s.b.mu.Unlock()
		if user != "relayuser" || pass != "s3cret" {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, opts *smtp.MailOptions) error {
	s.msg = testMsg{From: from, User: s.user}
	if opts != nil {
		s.msg.Opts = *opts
	}
	_, s.msg.TLS = s.c.TLSConnectionState()
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcpt != nil {
		if err := s.b.rcpt(s, to); err != nil {
			return err
		}
	}
	s.msg.Rcpts = append(s.msg.Rcpts, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	s.b.mu.Lock()
	s.b.datas++
	s.b.mu.Unlock()
	if s.b.data != nil {
		if err := s.b.data(s, r); err != nil {
			return err
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.msg)
	s.b.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.msg = testMsg{} }
func (s *testSession) Logout() error { return nil }

// drop closes the client's connection from the server side.
func (s *testSession) drop() error {
	s.c.Conn().Close()
	return errors.New("dropped")
}

// testLogger sends the server's log to t until the test ends.
type testLogger struct {
	mu   sync.Mutex // guards done
	t    *testing.T
	done bool
}

func (l *testLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("smtp server: "+format, v...)
	}
}

func (l *testLogger) Println(v ...any) { l.Printf("%s", fmt.Sprint(v...)) }

// startServer runs a go-smtp server with be on 127.0.0.1:0 until the test
// ends and returns its address.
func startServer(t *testing.T, be *testBackend, opts ...func(*smtp.Server)) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "smarthost.test"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	log := &testLogger{t: t}
	s.ErrorLog = log
	for _, o := range opts {
		o(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
		}
		l.Close() // Serve may not have registered l yet when the test is quick
		<-done
		log.mu.Lock()
		log.done = true
		log.mu.Unlock()
	})
	return l.Addr().String()
}

// withTLS offers STARTTLS with cert.
func withTLS(cert tls.Certificate) func(*smtp.Server) {
	return func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
}

// startSilentServer accepts connections and never says a word, until the
// test ends. It returns its address.
func startSilentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex // guards conns
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// testCert makes a self-signed certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smarthost.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, pool
}
