package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// config returns a sluice.toml: DefaultConfig's server, store and domains,
// with server holding more [server] keys and rest more tables.
func config(server, rest string) string {
	return fmt.Sprintf(`
[server]
hostname = "mx.test"
listen = ["127.0.0.1:0"]
%s

[store]
dir = "data"

[domains]
local = ["localhost", "local.test"]

%s
`, server, rest)
}

// queuedRE finds the queue id in "250 2.0.0 ok, queued as ID".
var queuedRE = regexp.MustCompile(`queued as (\S+)`)

// dialog is a raw SMTP conversation over one connection, read and written
// as text.
type dialog struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dial connects to addr and reads the greeting, which it returns.
func dial(t testing.TB, addr string) (*dialog, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newDialog(t, c)
}

// newDialog takes over c (closing it when the test ends) and reads the
// greeting, which it returns.
func newDialog(t testing.TB, c net.Conn) (*dialog, string) {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	greeting, err := d.read()
	if err != nil {
		t.Fatalf("greeting: %q: %v", greeting, err)
	}
	return d, greeting
}

// read returns the next reply, its lines joined by "\n", without CRLF.
func (d *dialog) read() (string, error) {
	d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			return strings.Join(append(lines, line), "\n"), err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
}

// write sends s as it is.
func (d *dialog) write(s string) {
	d.t.Helper()
	d.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(d.c, s); err != nil {
		d.t.Fatalf("write %.40q: %v", s, err)
	}
}

// cmd sends line with CRLF and returns the reply.
func (d *dialog) cmd(line string) string {
	d.t.Helper()
	d.write(line + "\r\n")
	r, err := d.read()
	if err != nil {
		d.t.Fatalf("%.60q: reply %q: %v", line, r, err)
	}
	return r
}

// expect sends line and fails the test unless the reply starts with want.
func (d *dialog) expect(line, want string) string {
	d.t.Helper()
	r := d.cmd(line)
	if !strings.HasPrefix(r, want) {
		d.t.Fatalf("%.60q: got %q, want %q…", line, r, want)
	}
	return r
}

// closed reports whether the server closed the connection (EOF or reset)
// within wait, reading and discarding what it still sends.
func (d *dialog) closed(wait time.Duration) bool {
	d.c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, d.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// send runs one whole transaction on d and returns the queue id.
func (d *dialog) send(from string, rcpt []string, msg string) string {
	d.t.Helper()
	d.expect("MAIL FROM:<"+from+">", "250")
	for _, r := range rcpt {
		d.expect("RCPT TO:<"+r+">", "250")
	}
	d.expect("DATA", "354")
	r := d.expect(dotStuff(msg)+"\r\n.", "250")
	m := queuedRE.FindStringSubmatch(r)
	if m == nil {
		d.t.Fatalf("no queue id in %q", r)
	}
	return m[1]
}

// dotStuff turns msg (LF or CRLF lines) into DATA text, without the final
// dot line.
func dotStuff(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	msg = strings.TrimSuffix(msg, "\n")
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "\r\n")
}

// sendOne delivers a small message to rcpt over a new connection to addr
// and returns its queue id: the "a normal client is still served" check.
func sendOne(t testing.TB, addr, rcpt, subject string) string {
	t.Helper()
	d, greeting := dial(t, addr)
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("greeting %q", greeting)
	}
	d.expect("EHLO client.test", "250")
	id := d.send("sender@example.org", []string{rcpt}, testMessage(subject, "hello"))
	d.cmd("QUIT")
	return id
}

// testMessage is a plain message that the default pipeline files into the
// INBOX.
func testMessage(subject, body string) string {
	return "From: sender@example.org\r\nTo: someone@local.test\r\nSubject: " + subject +
		"\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) +
		"@example.org>\r\n\r\n" + body + "\r\n"
}

// readFile returns the content of path, failing the test on error.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// findByID returns the delivered file whose Received header carries the
// queue id.
func findByID(t testing.TB, files []string, id string) string {
	t.Helper()
	for _, f := range files {
		if strings.Contains(readFile(t, f), " id "+id) {
			return f
		}
	}
	return ""
}

// noDelivery waits a moment and fails when addr's INBOX holds a message.
func noDelivery(t testing.TB, s *Server, addr string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if files := s.Maildir(addr, ""); len(files) > 0 {
		t.Errorf("%d messages delivered to %s, want none: %s", len(files), addr, readFile(t, files[0]))
	}
}

// selfSigned writes a self-signed certificate for mx.test and 127.0.0.1
// into dir and returns the paths of the certificate and key and the
// certificate itself, for the clients' root pool.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		DNSNames:              []string{"mx.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// closedPort returns an address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// sink is a go-smtp server that keeps what it receives: the smarthost of
// the relay tests.
type sink struct {
	Addr string
	srv  *smtp.Server

	mu   sync.Mutex // guards msgs
	msgs []sinkMsg
}

// sinkMsg is one message the sink received.
type sinkMsg struct {
	From string
	Rcpt []string
	Data string
}

// startSink runs a sink on 127.0.0.1:0 until the test ends.
func startSink(t testing.TB) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &sink{Addr: l.Addr().String()}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{k: k}, nil
	}))
	k.srv.Domain = "sink.test"
	k.srv.ReadTimeout = 10 * time.Second
	k.srv.WriteTimeout = 10 * time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.srv.Serve(l)
	}()
	t.Cleanup(func() {
		k.srv.Close()
		<-done
	})
	return k
}

// Messages returns a copy of what the sink received so far.
func (k *sink) Messages() []sinkMsg {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sinkMsg(nil), k.msgs...)
}

// Wait waits until the sink holds n messages, and returns them.
func (k *sink) Wait(n int, timeout time.Duration) []sinkMsg {
	deadline := time.Now().Add(timeout)
	for {
		msgs := k.Messages()
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type sinkSession struct {
	k   *sink
	msg sinkMsg
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg = sinkMsg{From: from}
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.Rcpt = append(s.msg.Rcpt, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.k.mu.Lock()
	s.k.msgs = append(s.k.msgs, s.msg)
	s.k.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        { s.msg = sinkMsg{} }
func (s *sinkSession) Logout() error { return nil }

// splitHostPort splits addr, failing the test on error.
func splitHostPort(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
