package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// Real clients against the real binary; results are read back from the
// Maildir.

// TestSwaks sends with swaks: a plain message is delivered, an executable
// attachment is refused at DATA by the default pipeline, and mail for a
// domain that is not local is refused at RCPT.
func TestSwaks(t *testing.T) {
	t.Parallel()
	swaks := need(t, "swaks")
	s := Start(t, DefaultConfig)
	host, port := splitHostPort(t, s.Addr)

	exe := filepath.Join(t.TempDir(), "invoice.exe")
	if err := os.WriteFile(exe, []byte("MZ\x90\x00 not really a program\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		rcpt     string
		args     []string
		wantExit int      // swaks: 0 ok, 24 all RCPTs refused, 26 refused after DATA
		want     []string // in swaks' transcript
		// delivered: the Subject and body line expected in rcpt's INBOX;
		// none when empty.
		subject, body string
	}{
		{
			name: "plain", rcpt: "bob@local.test",
			args:     []string{"--header", "Subject: swaks plain test", "--body", "body line from swaks 4711"},
			want:     []string{"<-  250 2.0.0 ok, queued as "},
			subject:  "Subject: swaks plain test",
			body:     "body line from swaks 4711",
			wantExit: 0,
		},
		{
			name: "exe attachment", rcpt: "carol@local.test",
			args:     []string{"--attach", "@" + exe},
			want:     []string{"<** 550 5.7.1 executable attachments are not accepted (invoice.exe)"},
			wantExit: 26,
		},
		{
			name: "other domain", rcpt: "dave@other.test",
			want:     []string{"<** 550 5.7.1 relaying denied"},
			wantExit: 24,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", host, "--port", port, "--helo", "swaks.test",
				"--from", "sender@example.org", "--to", tt.rcpt}, tt.args...)
			out, err := exec.Command(swaks, args...).CombinedOutput()
			if got := exitCode(err); got != tt.wantExit {
				t.Errorf("swaks exit %d, want %d\n%s", got, tt.wantExit, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("swaks output lacks %q:\n%s", w, out)
				}
			}
			if tt.subject == "" {
				noDelivery(t, s, tt.rcpt)
				return
			}
			files := s.WaitMaildir(tt.rcpt, "", 1, 10*time.Second)
			if len(files) != 1 {
				t.Fatalf("%d messages for %s, want 1\n%s", len(files), tt.rcpt, s.Log())
			}
			got := readFile(t, files[0])
			for _, w := range []string{tt.subject, tt.body, "Received: from swaks.test ([127.0.0.1])"} {
				if !strings.Contains(got, w) {
					t.Errorf("delivered message lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestSmtplibSession sends several messages in one session with Python's
// smtplib: plain ASCII, SMTPUTF8 (UTF-8 addresses and header) and
// 8BITMIME. Each gets its own queue id in the 250 reply, and each is
// delivered with a Received header that names that id.
func TestSmtplibSession(t *testing.T) {
	t.Parallel()
	py := need(t, "python3")
	s := Start(t, DefaultConfig)
	// The messages are given as Python bytes literals; the script prints
	// one JSON object per message with the codes and the DATA reply.
	type msg struct {
		name    string
		from    string
		rcpt    string
		options string // MAIL parameters, a Python list
		data    string // a Python bytes literal, CRLF lines
		want    []string
	}
	msgs := []msg{
		{
			name: "ascii", from: "alice@example.org", rcpt: "bob@local.test", options: "[]",
			data: `b"From: alice@example.org\r\nTo: bob@local.test\r\nSubject: =?utf-8?q?caf=C3=A9?= plain\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <py-1@example.org>\r\n\r\nplain ascii body\r\n.leading dot line\r\n"`,
			want: []string{"Subject: =?utf-8?q?caf=C3=A9?= plain", "plain ascii body", "\n.leading dot line\n"},
		},
		{
			name: "smtputf8", from: "jörg@exämple.org", rcpt: "jörg@local.test", options: `["SMTPUTF8"]`,
			data: `"From: jörg@exämple.org\r\nTo: jörg@local.test\r\nSubject: Grüße aus Köln\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <py-2@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nschöne Grüße ☃\r\n".encode("utf-8")`,
			want: []string{"Subject: Grüße aus Köln", "schöne Grüße ☃", "for <jörg@local.test>"},
		},
		{
			name: "8bitmime", from: "alice@example.org", rcpt: "bob@local.test", options: `["BODY=8BITMIME"]`,
			data: `b"From: alice@example.org\r\nTo: bob@local.test\r\nSubject: latin-1 body\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <py-3@example.org>\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 cr\xe8me br\xfbl\xe9e\r\n"`,
			want: []string{"Subject: latin-1 body", "caf\xe9 cr\xe8me br\xfbl\xe9e"},
		},
	}
	var script strings.Builder
	script.WriteString(`import json, smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
c = smtplib.SMTP(host, int(port), local_hostname="py.client.test")
code, _ = c.ehlo()
assert code == 250 and c.has_extn("smtputf8") and c.has_extn("8bitmime"), c.esmtp_features
def send(frm, rcpt, options, data):
    mail, _ = c.mail(frm, options)
    rc, _ = c.rcpt(rcpt)
    code, resp = c.data(data)
    print(json.dumps({"mail": mail, "rcpt": rc, "data": code, "reply": resp.decode()}))
`)
	for _, m := range msgs {
		fmt.Fprintf(&script, "send(%q, %q, %s, %s)\n", m.from, m.rcpt, m.options, m.data)
	}
	script.WriteString("c.quit()\n")
	out, err := exec.Command(py, "-c", script.String(), s.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("smtplib printed %d results, want %d:\n%s", len(lines), len(msgs), out)
	}
	ids := map[string]bool{}
	for i, m := range msgs {
		t.Run(m.name, func(t *testing.T) {
			var r struct {
				Mail, Rcpt, Data int
				Reply            string
			}
			if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
				t.Fatalf("%v: %s", err, lines[i])
			}
			if r.Mail != 250 || r.Rcpt != 250 || r.Data != 250 {
				t.Fatalf("MAIL %d, RCPT %d, DATA %d %q; want 250 each", r.Mail, r.Rcpt, r.Data, r.Reply)
			}
			id := queuedRE.FindStringSubmatch(r.Reply)
			if id == nil {
				t.Fatalf("DATA reply %q has no %q", r.Reply, "queued as ID")
			}
			if ids[id[1]] {
				t.Errorf("queue id %s given twice", id[1])
			}
			ids[id[1]] = true
			var file string
			for deadline := time.Now().Add(10 * time.Second); file == "" && time.Now().Before(deadline); {
				file = findByID(t, s.Maildir(m.rcpt, ""), id[1])
				time.Sleep(20 * time.Millisecond)
			}
			if file == "" {
				t.Fatalf("no message with id %s delivered to %s\n%s", id[1], m.rcpt, s.Log())
			}
			got := readFile(t, file)
			received := regexp.MustCompile(`(?m)^Received: from py\.client\.test \(\[127\.0\.0\.1\]\)\n\tby mx\.test \(sluice\) with ESMTP id ` +
				regexp.QuoteMeta(id[1]) + `\n\tfor <` + regexp.QuoteMeta(m.rcpt) + `>;\n\t\w{3}, \d\d? \w{3} \d{4} `)
			if !received.MatchString(got) {
				t.Errorf("no Received header matching %s:\n%s", received, got)
			}
			if !strings.HasPrefix(got, "Received: ") {
				t.Errorf("the Received header is not the first line:\n%s", got)
			}
			for _, w := range m.want {
				if !strings.Contains(got, w) {
					t.Errorf("delivered message lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestSmtpSource sends 50 messages over 5 parallel sessions with
// postfix's smtp-source; exactly 50 arrive.
func TestSmtpSource(t *testing.T) {
	t.Parallel()
	src := need(t, "smtp-source")
	s := Start(t, DefaultConfig)
	out, err := exec.Command(src, "-s", "5", "-m", "50", "-c", "-f", "a@example.org", "-t", "bob@local.test", s.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	count := func() int {
		return len(s.Maildir("bob@local.test", "")) + len(s.Maildir("bob@local.test", "Junk"))
	}
	for deadline := time.Now().Add(20 * time.Second); count() < 50 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would show up now
	inbox, junk := len(s.Maildir("bob@local.test", "")), len(s.Maildir("bob@local.test", "Junk"))
	if inbox+junk != 50 {
		t.Fatalf("%d messages delivered (INBOX %d, Junk %d), want 50\n%s", inbox+junk, inbox, junk, out)
	}
	t.Logf("INBOX %d, Junk %d", inbox, junk)
}

// TestLMTP speaks LMTP with Python's smtplib.LMTP: after DATA, one reply
// per accepted recipient, and each of them gets the message.
func TestLMTP(t *testing.T) {
	t.Parallel()
	py := need(t, "python3")
	s := Start(t, config(`lmtp = ["127.0.0.1:0"]`, ""))
	if s.LMTP == "" {
		t.Fatalf("no LMTP listener in the log:\n%s", s.Log())
	}
	tests := []struct {
		name     string
		rcpts    []string
		rcptCode []int
		// delivered are the recipients that get a DATA reply and the
		// message.
		delivered []string
	}{
		{"two local", []string{"bob@local.test", "carol@local.test"}, []int{250, 250}, []string{"bob@local.test", "carol@local.test"}},
		{"one refused", []string{"dave@local.test", "eve@other.test"}, []int{250, 550}, []string{"dave@local.test"}},
	}
	const script = `import json, smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
c = smtplib.LMTP(host, int(port), local_hostname="lmtp.client.test")
c.ehlo_or_helo_if_needed()
c.mail("alice@example.org")
rcpt = [c.rcpt(r)[0] for r in sys.argv[3:]]
replies = []
code, resp = c.data(b"From: alice@example.org\r\nSubject: " + sys.argv[2].encode() + b"\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <lmtp@example.org>\r\n\r\nover LMTP\r\n")
replies.append({"code": code, "text": resp.decode()})
for _ in range(rcpt.count(250) - 1):   # smtplib reads only the first reply
    code, resp = c.getreply()
    replies.append({"code": code, "text": resp.decode()})
c.quit()
print(json.dumps({"rcpt": rcpt, "data": replies}))
`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-c", script, s.LMTP, "lmtp " + tt.name}, tt.rcpts...)
			out, err := exec.Command(py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("smtplib.LMTP: %v\n%s", err, out)
			}
			var r struct {
				Rcpt []int
				Data []struct {
					Code int
					Text string
				}
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if fmt.Sprint(r.Rcpt) != fmt.Sprint(tt.rcptCode) {
				t.Errorf("RCPT codes %v, want %v", r.Rcpt, tt.rcptCode)
			}
			if len(r.Data) != len(tt.delivered) {
				t.Fatalf("%d replies after DATA, want %d: %v", len(r.Data), len(tt.delivered), r.Data)
			}
			var id string
			for i, rc := range tt.delivered {
				code, text := r.Data[i].Code, r.Data[i].Text
				if code != 250 || !strings.Contains(text, "<"+rc+">") {
					t.Errorf("DATA reply %d: %d %q, want 250 for <%s>", i, code, text, rc)
				}
				m := queuedRE.FindStringSubmatch(text)
				if m == nil {
					t.Fatalf("DATA reply %q has no queue id", text)
				}
				if id != "" && m[1] != id {
					t.Errorf("recipients got different queue ids: %s and %s", id, m[1])
				}
				id = m[1]
			}
			for _, rc := range tt.delivered {
				files := s.WaitMaildir(rc, "", 1, 10*time.Second)
				if len(files) != 1 {
					t.Fatalf("%d messages for %s, want 1\n%s", len(files), rc, s.Log())
				}
				got := readFile(t, files[0])
				for _, w := range []string{"with LMTP id " + id, "Subject: lmtp " + tt.name, "over LMTP"} {
					if !strings.Contains(got, w) {
						t.Errorf("%s: delivered message lacks %q:\n%s", rc, w, got)
					}
				}
			}
		})
	}
}

// TestStartTLSAuth checks STARTTLS and AUTH: AUTH is offered only under
// TLS, a wrong password gets 535, the right one lets the client relay
// through the smarthost, and an unauthenticated client outside relay_from
// may not relay.
func TestStartTLSAuth(t *testing.T) {
	t.Parallel()
	sk := startSink(t)
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, config(fmt.Sprintf(`relay_from = ["10.0.0.0/8"]
tls_cert = %q
tls_key = %q`, certFile, keyFile), fmt.Sprintf(`[users]
"alice@local.test" = %q

[relay]
smarthost = %q
starttls = "none"
`, hash, sk.Addr)))
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tlsConf := &tls.Config{RootCAs: roots, ServerName: "mx.test"}

	t.Run("no AUTH before STARTTLS", func(t *testing.T) {
		d, _ := dial(t, s.Addr)
		ehlo := d.expect("EHLO client.test", "250")
		if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
			t.Errorf("EHLO before STARTTLS: %q, want STARTTLS and no AUTH", ehlo)
		}
		// The client tries anyway: refused, and no challenge is sent.
		if r := d.cmd("AUTH PLAIN " + plain("alice@local.test", "s3cret pass")); !strings.HasPrefix(r, "523 5.7.10") {
			t.Errorf("AUTH before STARTTLS: %q, want 523 5.7.10 (RFC 4954: encryption needed)", r)
		}
		d.expect("MAIL FROM:<alice@local.test>", "250")
		d.expect("RCPT TO:<x@other.test>", "550 5.7.1")
	})

	tests := []struct {
		name     string
		user     string
		pass     string
		mech     string
		wantCode int // 0: accepted
	}{
		{"wrong password", "alice@local.test", "wrong", sasl.Plain, 535},
		{"unknown user", "mallory@local.test", "s3cret pass", sasl.Plain, 535},
		{"empty password", "alice@local.test", "", sasl.Plain, 535},
		{"right password", "alice@local.test", "s3cret pass", sasl.Plain, 0},
		{"right password, LOGIN", "Alice@local.test", "s3cret pass", sasl.Login, 0},
	}
	relayed := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(s.Addr, tlsConf)
			if err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
			defer c.Close()
			if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") || !strings.Contains(mechs, "LOGIN") {
				t.Errorf("after STARTTLS: AUTH %v %q, want PLAIN and LOGIN", ok, mechs)
			}
			var a sasl.Client
			if tt.mech == sasl.Login {
				a = sasl.NewLoginClient(tt.user, tt.pass)
			} else {
				a = sasl.NewPlainClient("", tt.user, tt.pass)
			}
			err = c.Auth(a)
			if tt.wantCode != 0 {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != tt.wantCode {
					t.Fatalf("AUTH: %v, want %d", err, tt.wantCode)
				}
				// Still unauthenticated: relaying is refused.
				if err := c.Mail("alice@local.test", nil); err != nil {
					t.Fatal(err)
				}
				if err := c.Rcpt("x@other.test", nil); smtpCode(err) != 550 {
					t.Errorf("RCPT after a failed AUTH: %v, want 550", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AUTH: %v", err)
			}
			subject := "relayed " + tt.name
			if err := c.SendMail("alice@local.test", []string{"carol@other.test"}, strings.NewReader(testMessage(subject, "through the smarthost"))); err != nil {
				t.Fatalf("relay after AUTH: %v", err)
			}
			relayed++
			msgs := sk.Wait(relayed, 10*time.Second)
			if len(msgs) != relayed {
				t.Fatalf("the smarthost got %d messages, want %d\n%s", len(msgs), relayed, s.Log())
			}
			m := msgs[relayed-1]
			if m.From != "alice@local.test" || fmt.Sprint(m.Rcpt) != "[carol@other.test]" {
				t.Errorf("smarthost envelope %q → %v, want alice@local.test → [carol@other.test]", m.From, m.Rcpt)
			}
			for _, w := range []string{"Subject: " + subject, "with ESMTPSA id ", "through the smarthost"} {
				if !strings.Contains(m.Data, w) {
					t.Errorf("relayed message lacks %q:\n%s", w, m.Data)
				}
			}
		})
	}

	t.Run("unauthenticated outside relay_from", func(t *testing.T) {
		c, err := smtp.DialStartTLS(s.Addr, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.TLSConnectionState(); !ok {
			t.Fatal("no TLS after STARTTLS")
		}
		if err := c.Mail("alice@local.test", nil); err != nil {
			t.Fatal(err)
		}
		err = c.Rcpt("carol@other.test", nil)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
			t.Errorf("RCPT: %v, want 550 5.7.1", err)
		}
		// Local mail is still welcome.
		if err := c.Rcpt("bob@local.test", nil); err != nil {
			t.Errorf("RCPT local: %v", err)
		}
	})
	time.Sleep(200 * time.Millisecond)
	if n := len(sk.Messages()); n != relayed {
		t.Errorf("the smarthost got %d messages, want %d", n, relayed)
	}
}

// TestQueueQuarantineCLI drives "sluice quarantine" and "sluice queue"
// against the running server.
func TestQueueQuarantineCLI(t *testing.T) {
	t.Parallel()
	scripts := t.TempDir()
	hold := filepath.Join(scripts, "hold.lua")
	if err := os.WriteFile(hold, []byte(`function on_data(msg)
  if msg:subject() == "hold me" then
    return quarantine("held")
  end
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Start(t, config("", fmt.Sprintf(`[relay]
smarthost = %q
starttls = "none"

[[stage]]
name = "hold"
script = %q
`, closedPort(t), hold)))

	t.Run("quarantine", func(t *testing.T) {
		id := sendOne(t, s.Addr, "bob@local.test", "hold me")
		noDelivery(t, s, "bob@local.test")
		out, err := s.Sluice("quarantine", "list")
		if err != nil {
			t.Fatalf("quarantine list: %v\n%s", err, out)
		}
		var qid string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, id) {
				qid = strings.Fields(line)[0]
				if !strings.Contains(line, "held") || !strings.Contains(line, " hold ") || !strings.Contains(line, "<sender@example.org>") {
					t.Errorf("quarantine line %q lacks the reason, stage or sender", line)
				}
			}
		}
		if qid == "" || !strings.Contains(out, "1 messages in quarantine") {
			t.Fatalf("quarantine list does not show message %s:\n%s", id, out)
		}
		out, err = s.Sluice("quarantine", "release", qid)
		if err != nil || !strings.Contains(out, "released "+qid+", queued as ") {
			t.Fatalf("quarantine release: %v\n%s", err, out)
		}
		files := s.WaitMaildir("bob@local.test", "", 1, 10*time.Second)
		if len(files) != 1 {
			t.Fatalf("%d messages in bob's INBOX after release, want 1\n%s", len(files), s.Log())
		}
		if got := readFile(t, files[0]); !strings.Contains(got, "Subject: hold me") || !strings.Contains(got, " id "+id) {
			t.Errorf("released message:\n%s", got)
		}
		out, err = s.Sluice("quarantine", "list")
		if err != nil || !strings.Contains(out, "0 messages in quarantine") {
			t.Errorf("quarantine list after release: %v\n%s", err, out)
		}
		// A message with another subject is not held.
		sendOne(t, s.Addr, "bob@local.test", "pass me")
		if files := s.WaitMaildir("bob@local.test", "", 2, 10*time.Second); len(files) != 2 {
			t.Errorf("%d messages in bob's INBOX, want 2", len(files))
		}
	})

	t.Run("queue", func(t *testing.T) {
		id := sendOne(t, s.Addr, "carol@other.test", "smarthost down")
		var line string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			out, err := s.Sluice("queue", "list")
			if err != nil {
				t.Fatalf("queue list: %v\n%s", err, out)
			}
			line = ""
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, id+" ") {
					line = l
				}
			}
			if strings.Contains(line, "connection refused") {
				break
			}
		}
		if !strings.Contains(line, "connection refused") || !strings.Contains(line, "carol@other.test") {
			t.Fatalf("queue list line %q: want message %s to carol@other.test with its connection error\n%s", line, id, s.Log())
		}
		out, err := s.Sluice("queue", "delete", id)
		if err != nil || !strings.Contains(out, "deleted "+id) {
			t.Fatalf("queue delete: %v\n%s", err, out)
		}
		out, err = s.Sluice("queue", "list")
		if err != nil || strings.Contains(out, id) || !strings.Contains(out, "0 messages") {
			t.Errorf("queue list after delete: %v\n%s", err, out)
		}
		if out, err := s.Sluice("queue", "delete", id); err == nil {
			t.Errorf("deleting %s twice succeeded: %s", id, out)
		}
	})
}

// plain is the initial response of AUTH PLAIN.
func plain(user, pass string) string {
	return base64Std("\x00" + user + "\x00" + pass)
}

// smtpCode is the code of an *smtp.SMTPError, or 0.
func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// exitCode is a command's exit status (0 for nil, -1 when it did not run).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
