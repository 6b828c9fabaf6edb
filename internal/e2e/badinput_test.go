package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bad input against the real binary, over raw connections: each gets a
// clear reply, nothing is delivered that should not be, and the server
// keeps serving.

// TestOversize: max_message_bytes = 10000 refuses a larger SIZE at MAIL
// and a larger message at the end of DATA, and the session goes on.
func TestOversize(t *testing.T) {
	t.Parallel()
	s := Start(t, config("max_message_bytes = 10000", ""))
	d, _ := dial(t, s.Addr)
	if ehlo := d.expect("EHLO client.test", "250"); !strings.Contains(ehlo, "SIZE 10000") {
		t.Errorf("EHLO does not announce SIZE 10000:\n%s", ehlo)
	}
	tests := []struct {
		name     string
		param    string // MAIL parameter
		body     int    // bytes of body; 0: no DATA
		wantMail string
		wantData string
		deliver  bool
	}{
		{"SIZE over the limit", " SIZE=20000", 0, "552 5.3.4", "", false},
		{"SIZE at the limit", " SIZE=10000", 0, "250 ", "", false},
		{"20 KB without SIZE", "", 20000, "250 ", "552 5.3.4", false},
		{"20 KB with a small SIZE", " SIZE=5000", 20000, "250 ", "552 5.3.4", false},
		{"5 KB without SIZE", "", 5000, "250 ", "250 ", true},
	}
	want := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.expect("RSET", "250")
			d.expect("MAIL FROM:<sender@example.org>"+tt.param, tt.wantMail)
			if tt.body == 0 {
				return
			}
			d.expect("RCPT TO:<bob@local.test>", "250")
			d.expect("DATA", "354")
			line := strings.Repeat("0123456789abcdef", 4) + "\r\n" // 66 bytes
			msg := testMessage(tt.name, strings.Repeat(line, tt.body/len(line)))
			d.expect(dotStuff(msg)+"\r\n.", tt.wantData)
			if tt.deliver {
				want++
			}
			s.WaitMaildir("bob@local.test", "", want, 5*time.Second)
			time.Sleep(100 * time.Millisecond)
			if got := len(s.Maildir("bob@local.test", "")); got != want {
				t.Errorf("%d messages delivered, want %d", got, want)
			}
		})
	}
	d.expect("NOOP", "250")
	sendOne(t, s.Addr, "carol@local.test", "after the big ones")
	if files := s.WaitMaildir("carol@local.test", "", 1, 5*time.Second); len(files) != 1 {
		t.Errorf("the server does not deliver after oversize messages\n%s", s.Log())
	}
}

// TestTooManyRecipients: max_recipients = 3 refuses the fourth RCPT with
// 452 4.5.3; the message goes to the first three.
func TestTooManyRecipients(t *testing.T) {
	t.Parallel()
	s := Start(t, config("max_recipients = 3", ""))
	d, _ := dial(t, s.Addr)
	d.expect("EHLO client.test", "250")
	d.expect("MAIL FROM:<sender@example.org>", "250")
	rcpts := []struct {
		addr string
		want string
		msgs int // delivered
	}{
		{"r1@local.test", "250 ", 1},
		{"r2@local.test", "250 ", 1},
		{"r3@local.test", "250 ", 1},
		{"r4@local.test", "452 4.5.3", 0},
		{"r5@local.test", "452 4.5.3", 0},
	}
	for _, r := range rcpts {
		d.expect("RCPT TO:<"+r.addr+">", r.want)
	}
	d.expect("DATA", "354")
	d.expect(dotStuff(testMessage("three of five", "hi"))+"\r\n.", "250 ")
	for _, r := range rcpts {
		s.WaitMaildir(r.addr, "", r.msgs, 5*time.Second)
	}
	time.Sleep(100 * time.Millisecond)
	for _, r := range rcpts {
		if got := len(s.Maildir(r.addr, "")); got != r.msgs {
			t.Errorf("%s: %d messages, want %d", r.addr, got, r.msgs)
		}
	}
}

// TestLongLines: a 5000-byte command line gets 500 and the connection is
// closed; a 5000-byte line in DATA refuses the message permanently; a
// 998-byte line (the RFC 5321 maximum) is fine. The server serves the
// next connection each time.
func TestLongLines(t *testing.T) {
	t.Parallel()
	s := Start(t, DefaultConfig)
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name string
		// data: the line is in the message; otherwise it is a command.
		data   bool
		line   string
		want   string // the reply to the command or to the final dot
		closed bool   // the server closes the connection afterwards
	}{
		{"command", false, "MAIL FROM:<" + long + "@example.org>", "500 5.4.0 Too long line", true},
		{"RCPT argument", false, "RCPT TO:<bob@local.test> X-PAD=" + long, "500 5.4.0 Too long line", true},
		{"DATA line", true, long, "554 5.6.0", true},
		{"DATA line of 998 bytes", true, strings.Repeat("y", 998), "250 ", false},
	}
	delivered := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := dial(t, s.Addr)
			d.expect("EHLO client.test", "250")
			if tt.data {
				d.expect("MAIL FROM:<sender@example.org>", "250")
				d.expect("RCPT TO:<bob@local.test>", "250")
				d.expect("DATA", "354")
				d.write(dotStuff(testMessage(tt.name, "before\r\n"+tt.line+"\r\nafter")) + "\r\n.\r\n")
			} else {
				if strings.HasPrefix(tt.line, "RCPT") {
					d.expect("MAIL FROM:<sender@example.org>", "250")
				}
				d.write(tt.line + "\r\n")
			}
			r, err := d.read()
			if !strings.HasPrefix(r, tt.want) {
				t.Errorf("reply %q (%v), want %q…", r, err, tt.want)
			}
			if closed := d.closed(time.Second); closed != tt.closed {
				t.Errorf("connection closed: %v, want %v", closed, tt.closed)
			}
			if id := queuedRE.FindStringSubmatch(r); id != nil {
				delivered++
				file := findByID(t, s.WaitMaildir("bob@local.test", "", delivered, 5*time.Second), id[1])
				if file == "" {
					t.Fatalf("message %s was not delivered", id[1])
				}
				if !strings.Contains(readFile(t, file), "\nbefore\n"+tt.line+"\nafter\n") {
					t.Errorf("the line was not delivered intact")
				}
			}
			sendOne(t, s.Addr, "carol@local.test", "after "+tt.name)
		})
	}
	time.Sleep(100 * time.Millisecond)
	if got := len(s.Maildir("bob@local.test", "")); got != delivered {
		t.Errorf("bob has %d messages, want %d", got, delivered)
	}
	if got := len(s.WaitMaildir("carol@local.test", "", len(tests), 5*time.Second)); got != len(tests) {
		t.Errorf("carol has %d messages, want %d", got, len(tests))
	}
}

// TestOddBytes sends bare LF, bare CR, NUL bytes and 8-bit bytes: each is
// accepted or refused as pinned here, never a crash, and a bare-LF dot
// never ends the message (no SMTP smuggling).
func TestOddBytes(t *testing.T) {
	t.Parallel()
	s := Start(t, DefaultConfig)
	tests := []struct {
		name string
		rcpt string
		// raw follows "DATA"; it is sent as it is and must end the data.
		raw  string
		want string // the reply to the final dot
		// in: what the delivered message holds (nothing delivered when
		// want is not 250).
		in []string
	}{
		{
			name: "bare LF lines", rcpt: "lf@local.test",
			raw:  "Subject: bare lf\n\nline one\nline two\n\r\n.\r\n",
			want: "250 ", in: []string{"Subject: bare lf\n", "\nline one\nline two\n"},
		},
		{
			name: "bare CR", rcpt: "cr@local.test",
			raw:  "Subject: bare cr\r\n\r\nab\rcd\r\n.\r\n",
			want: "250 ", in: []string{"ab\rcd"},
		},
		{
			name: "NUL in the body", rcpt: "nul@local.test",
			raw:  "Subject: nul\r\n\r\nab\x00cd\r\n.\r\n",
			want: "250 ", in: []string{"ab\x00cd"},
		},
		{
			name: "NUL in a header", rcpt: "nulhdr@local.test",
			raw:  "Subject: a\x00b\r\nX-Odd\x00: 1\r\n\r\nbody\r\n.\r\n",
			want: "250 ", in: []string{"Subject: a\x00b", "body"},
		},
		{
			name: "8-bit without BODY=8BITMIME", rcpt: "eight@local.test",
			raw:  "Subject: \xff\xfe\r\n\r\n\xc3\x28 invalid utf-8\r\n.\r\n",
			want: "250 ", in: []string{"\xc3\x28 invalid utf-8"},
		},
		{
			name: "LF dot LF is not the end", rcpt: "smuggle1@local.test",
			raw:  "Subject: smuggle 1\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@local.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n",
			want: "250 ", in: []string{"first\n.\nMAIL FROM:<evil@example.org>\n", "Subject: smuggled\n"},
		},
		{
			name: "LF dot CRLF is not the end", rcpt: "smuggle2@local.test",
			raw:  "Subject: smuggle 2\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@local.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n",
			want: "250 ", in: []string{"first\n.\nMAIL FROM:<evil@example.org>\n"},
		},
		{
			name: "CR dot CRLF is not the end", rcpt: "smuggle3@local.test",
			raw:  "Subject: smuggle 3\r\n\r\nfirst\r.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@local.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n",
			want: "250 ", in: []string{"first\r.\nMAIL FROM:<evil@example.org>\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := dial(t, s.Addr)
			d.expect("EHLO client.test", "250")
			d.expect("MAIL FROM:<sender@example.org>", "250")
			d.expect("RCPT TO:<"+tt.rcpt+">", "250")
			d.expect("DATA", "354")
			d.write(tt.raw)
			r, err := d.read()
			if !strings.HasPrefix(r, tt.want) {
				t.Fatalf("reply %q (%v), want %q…", r, err, tt.want)
			}
			// Exactly one reply: the next one answers NOOP.
			d.expect("NOOP", "250 2.0.0 I have successfully done nothing")
			if !strings.HasPrefix(tt.want, "250") {
				noDelivery(t, s, tt.rcpt)
				return
			}
			files := s.WaitMaildir(tt.rcpt, "", 1, 5*time.Second)
			if len(files) != 1 {
				t.Fatalf("%d messages for %s, want 1\n%s", len(files), tt.rcpt, s.Log())
			}
			got := readFile(t, files[0])
			for _, w := range tt.in {
				if !strings.Contains(got, w) {
					t.Errorf("delivered message lacks %q:\n%q", w, got)
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(s.Maildir("victim@local.test", "")); n != 0 {
		t.Errorf("a smuggled message was delivered to victim@local.test")
	}
	sendOne(t, s.Addr, "after@local.test", "still serving")
	if len(s.WaitMaildir("after@local.test", "", 1, 5*time.Second)) != 1 {
		t.Errorf("the server stopped delivering")
	}
	if strings.Contains(s.Log(), "panic") {
		t.Errorf("the server panicked:\n%s", s.Log())
	}
}

// TestBadRecipients: recipients in a local domain that no mailbox can
// have are refused at RCPT, not accepted and then bounced.
func TestBadRecipients(t *testing.T) {
	t.Parallel()
	s := Start(t, DefaultConfig)
	d, _ := dial(t, s.Addr)
	d.expect("EHLO client.test", "250")
	tests := []struct {
		rcpt string
		want string
	}{
		{"a\x00b@local.test", "553 5.1.3"},
		{"a\x01b@local.test", "553 5.1.3"},
		{"a\x7fb@local.test", "553 5.1.3"},
		{"../x@local.test", "550 5.1.1"},
		{"a/b@local.test", "550 5.1.1"},
		{".a@local.test", "550 5.1.1"},
		{"a..b@local.test", "550 5.1.1"},
		{"fine.name@local.test", "250 "},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.rcpt), func(t *testing.T) {
			d.expect("RSET", "250")
			d.expect("MAIL FROM:<sender@example.org>", "250")
			if r := d.cmd("RCPT TO:<" + tt.rcpt + ">"); !strings.HasPrefix(r, tt.want) {
				t.Errorf("RCPT: %q, want %q…", r, tt.want)
			}
		})
	}
}

// TestDrip: a client that sends one byte a second is cut off by
// read_timeout (while it sends a command) or data_timeout (inside DATA),
// and a normal client is served meanwhile.
func TestDrip(t *testing.T) {
	t.Parallel()
	s := Start(t, config(`read_timeout = "2s"
data_timeout = "3s"`, ""))
	tests := []struct {
		name    string
		data    bool
		drip    string
		replies []string // the replies after the greeting (or after 354), in order
		within  time.Duration
	}{
		// The bytes that came before the timeout are run as a command
		// ("501 Bad command"): go-smtp reads commands with
		// bufio.Reader.ReadLine, which returns a partial line without its
		// error (golang/go#56390). Then the session ends.
		{"command", false, "EHLO drip.test\r\n", []string{"501 5.5.2", "421 4.4.2"}, 3 * time.Second},
		{"DATA", true, "Subject: drip\r\n\r\nslow body\r\n.\r\n", []string{"451 4.4.5", "421 4.4.2"}, 4 * time.Second},
	}
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				d, _ := dial(t, s.Addr)
				if tt.data {
					d.expect("EHLO client.test", "250")
					d.expect("MAIL FROM:<sender@example.org>", "250")
					d.expect("RCPT TO:<drip@local.test>", "250")
					d.expect("DATA", "354")
				}
				start := time.Now()
				stop := make(chan struct{})
				dripped := make(chan struct{})
				go func() {
					defer close(dripped)
					for i := 0; i < len(tt.drip); i++ {
						select {
						case <-stop:
							return
						case <-time.After(time.Second):
						}
						d.c.SetWriteDeadline(time.Now().Add(time.Second))
						if _, err := d.c.Write([]byte{tt.drip[i]}); err != nil {
							return
						}
					}
				}()
				defer func() { close(stop); <-dripped }()
				var got []string
				for {
					r, err := d.read()
					if r != "" {
						got = append(got, r)
					}
					if err != nil {
						break
					}
				}
				elapsed := time.Since(start)
				t.Logf("closed after %v with %q", elapsed.Round(10*time.Millisecond), got)
				if elapsed > tt.within || elapsed < time.Second {
					t.Errorf("closed after %v, want within %v", elapsed, tt.within)
				}
				if len(got) != len(tt.replies) {
					t.Fatalf("replies %q, want %q", got, tt.replies)
				}
				for i := range got {
					if !strings.HasPrefix(got[i], tt.replies[i]) {
						t.Errorf("replies %q, want %q", got, tt.replies)
					}
				}
			})
		}
		t.Run("normal client", func(t *testing.T) {
			t.Parallel()
			time.Sleep(500 * time.Millisecond)
			start := time.Now()
			sendOne(t, s.Addr, "bob@local.test", "while dripping")
			if len(s.WaitMaildir("bob@local.test", "", 1, 5*time.Second)) != 1 {
				t.Errorf("the normal client's message was not delivered")
			}
			t.Logf("served and delivered in %v while two clients drip", time.Since(start).Round(time.Millisecond))
		})
	})
	if n := len(s.Maildir("drip@local.test", "")); n != 0 {
		t.Errorf("the dripped message was delivered")
	}
}

// TestConnectionFlood opens 2000 connections at once against
// max_connections = 100: each gets the greeting or "421 4.7.0", none
// hangs, exactly 100 are served while all are held open, and a normal
// message is delivered afterwards.
func TestConnectionFlood(t *testing.T) {
	const n, max = 2000, 100
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if need := uint64(n + 500); rl.Cur < need {
		if rl.Max < need {
			rl.Max = need
		}
		rl.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Skipf("cannot raise the open file limit to %d: %v", need, err)
		}
	}
	// The server inherits the raised limit.
	s := Start(t, config(fmt.Sprintf("max_connections = %d", max), ""))

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		counts  = map[string]int{}
		samples = map[string]string{}
		release = make(chan struct{})
	)
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			kind, first := "", ""
			c, err := net.DialTimeout("tcp", s.Addr, 10*time.Second)
			if err != nil {
				kind, first = "dial error", err.Error()
			} else {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				buf := make([]byte, 128)
				k, err := c.Read(buf)
				first = string(buf[:k])
				switch {
				case strings.HasPrefix(first, "220 "):
					kind = "220"
				case strings.HasPrefix(first, "421 4.7.0 "):
					kind = "421 4.7.0"
				case err != nil:
					kind, first = "error", err.Error()
				default:
					kind = "other"
				}
			}
			mu.Lock()
			counts[kind]++
			samples[kind] = first
			mu.Unlock()
			wg.Done()
			<-release // hold the connection until every one has its answer
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(release)
	t.Logf("%d connections in %v: %v", n, elapsed.Round(time.Millisecond), counts)
	if counts["220"] != max || counts["421 4.7.0"] != n-max {
		t.Errorf("got %v, want %d greetings and %d refusals; samples %q", counts, max, n-max, samples)
	}
	// The slots come back as the connections close.
	var greeting string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		d, g := dial(t, s.Addr)
		d.c.Close()
		if greeting = g; strings.HasPrefix(g, "220 ") {
			break
		}
	}
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("after the flood: greeting %q\n", greeting)
	}
	sendOne(t, s.Addr, "bob@local.test", "after the flood")
	if len(s.WaitMaildir("bob@local.test", "", 1, 10*time.Second)) != 1 {
		t.Errorf("no delivery after the flood\n%s", s.Log())
	}
}

// TestRelayTricks: addresses that some MTAs route elsewhere (percent
// hack, bang path, quoted at sign, source route) are refused at RCPT from
// a client outside relay_from, and nothing reaches the smarthost; the
// same smarthost gets a message from a client inside relay_from.
func TestRelayTricks(t *testing.T) {
	t.Parallel()
	sk := startSink(t)
	s := Start(t, config(`relay_from = ["127.0.0.2/32"]`, fmt.Sprintf(`[relay]
smarthost = %q
starttls = "none"
`, sk.Addr)))
	d, _ := dial(t, s.Addr) // from 127.0.0.1: outside relay_from
	d.expect("EHLO client.test", "250")
	tests := []struct {
		rcpt string
		want string
		// local: accepted and delivered to this local mailbox.
		local string
	}{
		{"user%other.test@local.test", "553 5.1.3", ""},
		{"USER%OTHER.TEST@LOCAL.TEST", "553 5.1.3", ""},
		{`"user@other.test"@local.test`, "553 5.1.3", ""},
		{`"user%other.test"@local.test`, "553 5.1.3", ""},
		{"other.test!user@local.test", "553 5.1.3", ""},
		{"user@other.test@local.test", "553 5.1.3", ""},
		{"@local.test:user@other.test", "550 5.7.1", ""},
		{"@local.test,@local.test:user@other.test", "550 5.7.1", ""},
		{"user@other.test", "550 5.7.1", ""},
		{"user@other.test.", "550 5.7.1", ""},
		{"user@[127.0.0.1]", "550 5.7.1", ""},
		{"user%other.test", "501 5.5.2", ""},
		// A source route is ignored (RFC 5321 C), never followed.
		{"@other.test:routed@local.test", "250 ", "routed@local.test"},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			d.expect("RSET", "250")
			d.expect("MAIL FROM:<sender@example.org>", "250")
			r := d.cmd("RCPT TO:<" + tt.rcpt + ">")
			if !strings.HasPrefix(r, tt.want) {
				t.Errorf("RCPT: %q, want %q…", r, tt.want)
			}
			if strings.HasPrefix(r, "2") {
				// Accepted: send the message, so that a relay shows.
				d.expect("DATA", "354")
				d.expect(dotStuff(testMessage("trick "+tt.rcpt, "hi"))+"\r\n.", "250")
			}
			if tt.local != "" && len(s.WaitMaildir(tt.local, "", 1, 5*time.Second)) != 1 {
				t.Errorf("not delivered to %s", tt.local)
			}
		})
	}

	// The control: a client inside relay_from relays through the sink.
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).Dial("tcp", s.Addr)
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	ctl, greeting := newDialog(t, c)
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("greeting %q", greeting)
	}
	ctl.expect("EHLO inside.test", "250")
	ctl.send("sender@example.org", []string{"control@other.test"}, testMessage("control", "relayed"))
	sk.Wait(1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	msgs := sk.Messages()
	if len(msgs) != 1 || fmt.Sprint(msgs[0].Rcpt) != "[control@other.test]" {
		var got []string
		for _, m := range msgs {
			got = append(got, fmt.Sprint(m.Rcpt))
		}
		t.Errorf("the smarthost got %d messages for %v, want only the control message for [control@other.test]\n%s", len(msgs), got, s.Log())
	}
}

// TestFDExhaustion runs the server with 64 file descriptors and opens more
// connections than it can take: once they close, it accepts again (it
// must not stop accepting for good when accept fails with EMFILE).
func TestFDExhaustion(t *testing.T) {
	prlimit := need(t, "prlimit")
	// Not parallel: it swaps the harness's binary for a wrapper that
	// lowers the limit (the Go runtime raises the soft limit up to the
	// hard one, so both are set).
	wrapper := filepath.Join(t.TempDir(), "sluice-64fds")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --nofile=64:64 %s \"$@\"\n", prlimit, sluiceBin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := sluiceBin
	sluiceBin = wrapper
	s := Start(t, DefaultConfig)
	sluiceBin = bin

	const n = 100
	var conns []net.Conn
	greeted := 0
	for range n {
		c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(time.Second)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		buf := make([]byte, 64)
		if k, _ := c.Read(buf); strings.HasPrefix(string(buf[:k]), "220 ") {
			greeted++
		}
	}
	t.Logf("%d connections opened, %d greeted", len(conns), greeted)
	if greeted == len(conns) {
		t.Skipf("the server took all %d connections: the limit did not apply", len(conns))
	}
	for _, c := range conns {
		c.Close()
	}
	var greeting string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err != nil {
			continue
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		k, _ := c.Read(buf)
		c.Close()
		if greeting = string(buf[:k]); strings.HasPrefix(greeting, "220 ") {
			break
		}
	}
	if !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("no greeting once the connections closed (%q): the server stopped accepting\n%s", greeting, tail(s.Log(), 5))
	}
	sendOne(t, s.Addr, "bob@local.test", "after running out of descriptors")
	if len(s.WaitMaildir("bob@local.test", "", 1, 10*time.Second)) != 1 {
		t.Errorf("no delivery after running out of descriptors\n%s", tail(s.Log(), 10))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
