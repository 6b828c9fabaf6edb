package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
)

const testMessage = "From: alice@sluice.test\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello, world.\r\n.leading dot\r\n"

func send(t *testing.T, r *Relay, rcpts ...string) ([]RcptResult, error) {
	t.Helper()
	return r.Send(t.Context(), "alice@sluice.test", rcpts, strings.NewReader(testMessage))
}

// refuse makes a rcpt hook that answers err for the addresses given.
func refuse(err error, addrs ...string) func(*testSession, string) error {
	return func(_ *testSession, to string) error {
		for _, a := range addrs {
			if a == to {
				return err
			}
		}
		return nil
	}
}

func TestRelaySuccess(t *testing.T) {
	be := &testBackend{}
	r := &Relay{Addr: startServer(t, be), Hostname: "mx.sluice.test"}
	res, err := send(t, r, "bob@example.org", "carol@example.org")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, rr := range res {
		if !rr.OK || rr.Code != 250 || rr.Enhanced[0] != '2' || rr.Err() != nil {
			t.Errorf("result %+v, want OK 250", rr)
		}
	}
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	want := testMsg{
		From:  "alice@sluice.test",
		Opts:  smtp.MailOptions{Body: smtp.Body8BitMIME},
		Rcpts: []string{"bob@example.org", "carol@example.org"},
		Data:  []byte(testMessage),
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestRelayLFInput(t *testing.T) {
	be := &testBackend{}
	r := &Relay{Addr: startServer(t, be), StartTLS: StartTLSNone}
	lf := strings.ReplaceAll(testMessage, "\r\n", "\n")
	if _, err := r.Send(t.Context(), "", []string{"bob@example.org"}, strings.NewReader(lf)); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || string(msgs[0].Data) != testMessage || msgs[0].From != "" {
		t.Errorf("got %+v, want the message with CRLF from the null sender", msgs)
	}
}

func TestRelayPerRecipient(t *testing.T) {
	be := &testBackend{rcpt: refuse(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, "nobody@example.org")}
	r := &Relay{Addr: startServer(t, be)}
	res, err := send(t, r, "bob@example.org", "nobody@example.org")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []RcptResult{
		{Rcpt: "bob@example.org", Code: 250, Enhanced: "2.0.0", Text: "OK: queued", OK: true},
		{Rcpt: "nobody@example.org", Code: 550, Enhanced: "5.1.1", Text: "no such user"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if datas, _ := be.counts(); datas != 1 {
		t.Errorf("DATA sent %d times, want 1", datas)
	}
	if msgs := be.messages(); len(msgs) != 1 || len(msgs[0].Rcpts) != 1 {
		t.Errorf("server got %+v, want one message to bob", msgs)
	}
	if got := res[1].Diagnostic(); got != "smtp; 550 5.1.1 no such user" {
		t.Errorf("Diagnostic() = %q", got)
	}
	if IsTemporary(res[1].Err()) {
		t.Error("a 550 is temporary")
	}
}

func TestRelayRcptTempfail(t *testing.T) {
	be := &testBackend{rcpt: refuse(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, "bob@example.org")}
	r := &Relay{Addr: startServer(t, be)}
	res, err := send(t, r, "bob@example.org")
	if err != nil {
		t.Fatalf("Send: %v (a refused RCPT is per recipient)", err)
	}
	want := []RcptResult{{Rcpt: "bob@example.org", Code: 451, Enhanced: "4.3.0", Text: "try later", Temporary: true}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !IsTemporary(res[0].Err()) {
		t.Error("a 451 is permanent")
	}
	if datas, _ := be.counts(); datas != 0 {
		t.Errorf("DATA sent %d times with no recipient accepted", datas)
	}
}

func TestRelayDataRejected(t *testing.T) {
	be := &testBackend{
		rcpt: refuse(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, "nobody@example.org"),
		data: func(_ *testSession, r io.Reader) error {
			io.Copy(io.Discard, r)
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content refused"}
		},
	}
	r := &Relay{Addr: startServer(t, be)}
	res, err := send(t, r, "bob@example.org", "nobody@example.org", "carol@example.org")
	var de *Error
	if !errors.As(err, &de) || de.Code != 554 || de.Enhanced != "5.6.0" || IsTemporary(err) {
		t.Fatalf("Send error %v, want a permanent 554 5.6.0 *Error", err)
	}
	want := []RcptResult{
		{Rcpt: "bob@example.org", Code: 554, Enhanced: "5.6.0", Text: "content refused"},
		{Rcpt: "nobody@example.org", Code: 550, Enhanced: "5.1.1", Text: "no such user"},
		{Rcpt: "carol@example.org", Code: 554, Enhanced: "5.6.0", Text: "content refused"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestRelayConnectionDropped(t *testing.T) {
	tests := []struct {
		name string
		be   *testBackend
	}{
		{"at RCPT", &testBackend{rcpt: func(s *testSession, to string) error {
			if to == "carol@example.org" {
				return s.drop()
			}
			return nil
		}}},
		{"at DATA", &testBackend{data: func(s *testSession, r io.Reader) error {
			return s.drop()
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Relay{Addr: startServer(t, tt.be)}
			res, err := send(t, r, "bob@example.org", "carol@example.org")
			if err == nil || !IsTemporary(err) {
				t.Fatalf("Send error %v, want temporary", err)
			}
			for _, rr := range res {
				if rr.OK || !rr.Temporary || rr.Code != 0 {
					t.Errorf("result %+v, want temporary without a code", rr)
				}
			}
			if msgs := tt.be.messages(); len(msgs) != 0 {
				t.Errorf("server kept %d messages", len(msgs))
			}
		})
	}
}

func TestRelayConnectRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res, err := send(t, &Relay{Addr: addr}, "bob@example.org")
	var de *Error
	if !errors.As(err, &de) || !de.Temporary() || de.Enhanced != "4.4.1" {
		t.Fatalf("Send error %v, want temporary 4.4.1", err)
	}
	if !res[0].Temporary || res[0].Enhanced != "4.4.1" || !strings.Contains(res[0].Text, "refused") {
		t.Errorf("result %+v, want temporary 4.4.1 with the cause", res[0])
	}
}

// TestRelayContextDeadline checks that Send returns within 100 ms of ctx's
// deadline against a server that never answers. A loaded machine can delay
// any goroutine by more than that (a bare Read unblocked by Close measures
// over 300 ms at a load of 6 per CPU), so a late return is tried again, up
// to three times; an ignored ctx fails every try, after Relay.Timeout.
func TestRelayContextDeadline(t *testing.T) {
	addr := startSilentServer(t)
	const deadline = 200 * time.Millisecond
	var late []time.Duration
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		start := time.Now()
		r := &Relay{Addr: addr, Timeout: 5 * time.Second}
		res, err := r.Send(ctx, "alice@sluice.test", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(testMessage))
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !IsTemporary(err) {
			t.Fatalf("Send error %v, want temporary wrapping context.DeadlineExceeded", err)
		}
		for _, rr := range res {
			if !rr.Temporary || rr.OK || rr.Enhanced != "4.4.2" {
				t.Errorf("result %+v, want temporary 4.4.2", rr)
			}
		}
		if elapsed <= deadline+100*time.Millisecond {
			return
		}
		late = append(late, elapsed)
	}
	t.Errorf("Send returned after %v, deadline %v", late, deadline)
}

func TestRelayCommandTimeout(t *testing.T) {
	addr := startSilentServer(t)
	start := time.Now()
	res, err := send(t, &Relay{Addr: addr, Timeout: 100 * time.Millisecond}, "bob@example.org")
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send returned after %v with a 100ms timeout", elapsed)
	}
	if err == nil || !IsTemporary(err) || !res[0].Temporary {
		t.Errorf("Send = %+v, %v; want temporary", res, err)
	}
}

func TestRelayStartTLS(t *testing.T) {
	cert, pool := testCert(t)
	trusted := &tls.Config{RootCAs: pool}
	tests := []struct {
		name      string
		serverTLS bool
		mode      string
		cfg       *tls.Config
		wantTLS   bool
		wantErr   string // enhanced status of a temporary failure; "" for success
	}{
		{"opportunistic offered", true, StartTLSOpportunistic, trusted, true, ""},
		{"default is opportunistic", true, "", trusted, true, ""},
		{"required offered", true, StartTLSRequired, trusted, true, ""},
		{"none offered", true, StartTLSNone, trusted, false, ""},
		{"opportunistic not offered", false, StartTLSOpportunistic, trusted, false, ""},
		{"required not offered", false, StartTLSRequired, trusted, false, "4.7.10"},
		{"untrusted certificate", true, StartTLSOpportunistic, nil, false, "4.7.5"},
		{"insecure skip verify", true, StartTLSRequired, &tls.Config{InsecureSkipVerify: true}, true, ""},
		{"unknown policy", true, "sometimes", trusted, false, "4.3.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &testBackend{}
			var opts []func(*smtp.Server)
			if tt.serverTLS {
				opts = append(opts, withTLS(cert))
			}
			r := &Relay{Addr: startServer(t, be, opts...), StartTLS: tt.mode, TLSConfig: tt.cfg}
			res, err := send(t, r, "bob@example.org")
			msgs := be.messages()
			if tt.wantErr != "" {
				var de *Error
				if !errors.As(err, &de) || !de.Temporary() || de.Enhanced != tt.wantErr {
					t.Fatalf("Send error %v, want temporary %s", err, tt.wantErr)
				}
				if !res[0].Temporary || len(msgs) != 0 {
					t.Errorf("result %+v and %d messages, want temporary and none", res[0], len(msgs))
				}
				return
			}
			if err != nil || !res[0].OK {
				t.Fatalf("Send = %+v, %v", res, err)
			}
			if len(msgs) != 1 || msgs[0].TLS != tt.wantTLS {
				t.Errorf("messages %+v, want one with TLS %v", msgs, tt.wantTLS)
			}
		})
	}
}

func TestRelayAuth(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name      string
		mode      string
		creds     Credentials
		wantUser  string
		wantAuths int
	}{
		{"over TLS", StartTLSRequired, Credentials{"relayuser", "s3cret"}, "relayuser", 1},
		{"wrong password", StartTLSRequired, Credentials{"relayuser", "wrong"}, "", 1},
		{"never in clear", StartTLSNone, Credentials{"relayuser", "s3cret"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &testBackend{}
			r := &Relay{
				Addr:      startServer(t, be, withTLS(cert)),
				StartTLS:  tt.mode,
				TLSConfig: &tls.Config{RootCAs: pool},
				Auth:      &tt.creds,
			}
			res, err := send(t, r, "bob@example.org")
			if _, auths := be.counts(); auths != tt.wantAuths {
				t.Errorf("%d AUTH attempts, want %d", auths, tt.wantAuths)
			}
			if tt.wantUser == "" {
				if err == nil || !IsTemporary(err) || !res[0].Temporary {
					t.Errorf("Send = %+v, %v; want temporary", res, err)
				}
				if strings.Contains(err.Error(), tt.creds.Password) {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msgs := be.messages(); len(msgs) != 1 || msgs[0].User != tt.wantUser {
				t.Errorf("messages %+v, want one sent as %s", msgs, tt.wantUser)
			}
		})
	}
}

func TestCredentialsRedacted(t *testing.T) {
	r := Relay{Addr: "x:25", Auth: &Credentials{"u", "hunter2"}}
	for _, s := range []string{fmtV(r), fmtV(&r), fmtV(*r.Auth)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestRelaySMTPUTF8(t *testing.T) {
	const intl = "jösé@example.org"
	t.Run("offered", func(t *testing.T) {
		be := &testBackend{}
		r := &Relay{Addr: startServer(t, be, func(s *smtp.Server) { s.EnableSMTPUTF8 = true })}
		res, err := send(t, r, intl)
		if err != nil || !res[0].OK {
			t.Fatalf("Send = %+v, %v", res, err)
		}
		if msgs := be.messages(); len(msgs) != 1 || !msgs[0].Opts.UTF8 {
			t.Errorf("messages %+v, want SMTPUTF8", msgs)
		}
	})
	t.Run("not offered", func(t *testing.T) {
		be := &testBackend{}
		r := &Relay{Addr: startServer(t, be)}
		res, err := send(t, r, intl, "bob@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if res[0].OK || res[0].Temporary || res[0].Enhanced != "5.6.7" || !res[1].OK {
			t.Errorf("results %+v, want %s refused 5.6.7 and bob delivered", res, intl)
		}
		if msgs := be.messages(); len(msgs) != 1 || msgs[0].Opts.UTF8 {
			t.Errorf("messages %+v, want one without SMTPUTF8", msgs)
		}
	})
}

// failingReader returns part of a message, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("spool: disk on fire")
	}
	n := min(len(p), f.n)
	for i := range p[:n] {
		p[i] = "line of text\r\n"[i%14]
	}
	f.n -= n
	return n, nil
}

func TestRelayReaderError(t *testing.T) {
	be := &testBackend{}
	r := &Relay{Addr: startServer(t, be)}
	res, err := r.Send(t.Context(), "alice@sluice.test", []string{"bob@example.org"}, &failingReader{n: 14 * 1000})
	if err == nil || !IsTemporary(err) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Send error %v, want temporary with the reader's cause", err)
	}
	if res[0].OK || !res[0].Temporary {
		t.Errorf("result %+v, want temporary", res[0])
	}
	if msgs := be.messages(); len(msgs) != 0 {
		t.Errorf("a truncated message was delivered: %d bytes", len(msgs[0].Data))
	}
}

func TestRelayBadInput(t *testing.T) {
	be := &testBackend{}
	addr := startServer(t, be)
	tests := []struct {
		name      string
		relay     *Relay
		from      string
		rcpts     []string
		wantTemp  []bool
		wantError bool
	}{
		{"no address", &Relay{}, "a@b.c", []string{"bob@example.org"}, []bool{true}, true},
		{"sender with CRLF", &Relay{Addr: addr}, "a@b.c\r\nRCPT TO:<x@y>", []string{"bob@example.org"}, []bool{false}, true},
		{"recipient with CRLF", &Relay{Addr: addr}, "a@b.c", []string{"x@y\r\nDATA", "bob@example.org"}, []bool{false, false}, false},
		{"no recipients", &Relay{Addr: addr}, "a@b.c", nil, []bool{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.relay.Send(t.Context(), tt.from, tt.rcpts, strings.NewReader(testMessage))
			if (err != nil) != tt.wantError {
				t.Errorf("Send error %v, want error %v", err, tt.wantError)
			}
			if len(res) != len(tt.rcpts) {
				t.Fatalf("%d results for %d recipients", len(res), len(tt.rcpts))
			}
			for i, rr := range res {
				if rr.Rcpt != tt.rcpts[i] || rr.Temporary != tt.wantTemp[i] {
					t.Errorf("result %d = %+v, want temporary %v", i, rr, tt.wantTemp[i])
				}
			}
		})
	}
	if msgs := be.messages(); len(msgs) != 1 || len(msgs[0].Rcpts) != 1 {
		t.Errorf("server got %+v, want only bob's message", msgs)
	}
}
