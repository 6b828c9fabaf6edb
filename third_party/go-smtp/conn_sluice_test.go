package smtp

// sluice: a reply of several lines leaves in one write.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

type nopBackend struct{}

func (nopBackend) NewSession(*Conn) (Session, error) { return nopSession{}, nil }

type nopSession struct{}

func (nopSession) Mail(string, *MailOptions) error { return nil }
func (nopSession) Rcpt(string, *RcptOptions) error { return nil }
func (nopSession) Data(io.Reader) error            { return nil }
func (nopSession) Reset()                          {}
func (nopSession) Logout() error                   { return nil }

// writeLog records every Write of the connections its listener accepts.
type writeLog struct {
	net.Listener
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, log: l}, nil
}

func (l *writeLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes...)
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c *loggedConn) Write(b []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, string(b))
	c.log.mu.Unlock()
	return c.Conn.Write(b)
}

func TestMultilineReplyOneWrite(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := &writeLog{Listener: l}
	s := NewServer(nopBackend{})
	s.Domain = "localhost"
	s.EnableSMTPUTF8 = true
	s.MaxMessageBytes = 1 << 20
	s.MaxRecipients = 50
	go s.Serve(wl)
	defer s.Close()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// reply reads one reply, every line of it.
	reply := func() string {
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v (so far %q)", err, b.String())
			}
			b.WriteString(line)
			if len(line) < 4 || line[3] != '-' {
				return b.String()
			}
		}
	}
	greeting := reply()
	io.WriteString(c, "EHLO client.test\r\n")
	ehlo := reply()
	io.WriteString(c, "NOOP\r\n")
	noop := reply()

	if n := strings.Count(ehlo, "\r\n"); n < 5 {
		t.Fatalf("EHLO reply has %d lines, want several:\n%s", n, ehlo)
	}
	for _, want := range []string{"250-Hello client.test\r\n", "250-SMTPUTF8\r\n", "250-SIZE 1048576\r\n", "250 LIMITS RCPTMAX=50\r\n"} {
		if !strings.Contains(ehlo, want) {
			t.Errorf("EHLO reply lacks %q:\n%s", want, ehlo)
		}
	}
	got := wl.all()
	want := []string{greeting, ehlo, noop}
	if len(got) != len(want) {
		t.Fatalf("the server made %d writes, want one a reply (%d):\n%q", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal([]byte(got[i]), []byte(want[i])) {
			t.Errorf("write %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// sluice: a connection's buffers go back to their pools when it ends.

// serveOne serves one connection over a pipe: the client sends a message
// and QUIT and reads every reply. It returns the server's Conn once
// handleConn has returned.
func serveOne(tb testing.TB, s *Server) *Conn {
	cli, srv := net.Pipe()
	c := newConn(srv, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.handleConn(c)
	}()
	go io.WriteString(cli, "HELO client\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"+
		"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	r := bufio.NewReader(cli)
	var codes []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		codes = append(codes, line[:3])
	}
	cli.Close()
	<-done
	if got := strings.Join(codes, " "); got != "220 250 250 250 354 250 221" {
		tb.Fatalf("replies %q", got)
	}
	return c
}

func TestConnReleasesBuffers(t *testing.T) {
	s := NewServer(nopBackend{})
	s.Domain = "localhost"
	c := serveOne(t, s)
	if c.text != nil {
		t.Error("handleConn returned with the connection's buffers still held")
	}
}

// BenchmarkConnPerMessage serves one message per connection, as
// smtp-source sends them; B/op shows the buffers are not allocated anew.
func BenchmarkConnPerMessage(b *testing.B) {
	s := NewServer(nopBackend{})
	s.Domain = "localhost"
	s.ErrorLog = nopLogger{}
	b.ReportAllocs()
	for b.Loop() {
		serveOne(b, s)
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}
func (nopLogger) Println(...interface{})        {}

// TestStartTLSDropsPipelined: plaintext pipelined after STARTTLS is
// dropped with the buffers that held it, never run inside TLS (with
// pooled buffers, the reader must be reset between connections and at
// the handshake).
func TestStartTLSDropsPipelined(t *testing.T) {
	keypair, err := tls.X509KeyPair(localhostCert, localhostKey)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nopBackend{})
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{keypair}}
	s.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := 0; i < 20; i++ {
		cli, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(srv, s)
		done := make(chan struct{})
		go func() { defer close(done); s.handleConn(c) }()
		r := bufio.NewReader(cli)
		readReply := func(r *bufio.Reader) string {
			for {
				l, err := r.ReadString('\n')
				if err != nil || len(l) < 4 || l[3] != '-' {
					return l
				}
			}
		}
		readReply(r) // greeting
		io.WriteString(cli, "EHLO x\r\n")
		readReply(r)
		// One write: STARTTLS and a command that must not survive it.
		io.WriteString(cli, "STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
		if l := readReply(r); !strings.HasPrefix(l, "220") {
			t.Fatalf("STARTTLS: %q", l)
		}
		tc := tls.Client(cli, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		tr := bufio.NewReader(tc)
		io.WriteString(tc, "RCPT TO:<b@example.org>\r\n")
		if l := readReply(tr); strings.HasPrefix(l, "250") {
			t.Fatalf("connection %d: the MAIL FROM sent before the handshake was run: RCPT got %q", i, l)
		}
		io.WriteString(tc, "QUIT\r\n")
		readReply(tr)
		cli.Close()
		<-done
	}
}
