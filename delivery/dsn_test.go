package delivery

import (
	"bytes"
	"errors"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/google/go-cmp/cmp"
)

const original = "Received: from client.example.org\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: Quarterly numbers\r\n" +
	"Message-ID: <orig-1@example.org>\r\n" +
	"\r\n" +
	"SECRET BODY that must not come back.\r\n"

// dsnPart is one parsed part of a DSN.
type dsnPart struct {
	Type   string
	Params map[string]string
	Body   string // decoded
}

// parseDSN parses a DSN with go-message and returns its header and parts.
func parseDSN(t *testing.T, b []byte) (message.Header, []dsnPart) {
	t.Helper()
	if i := bytes.Index(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")); i >= 0 {
		t.Errorf("bare LF in the DSN near byte %d", i)
	}
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("message.Read: %v", err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("DSN is not multipart")
	}
	var parts []dsnPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		typ, params, err := p.Header.ContentType()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, dsnPart{typ, params, string(body)})
	}
	return e.Header, parts
}

// statusFields splits a message/delivery-status body into its blocks of
// fields: the per-message block, then one per recipient.
func statusFields(t *testing.T, body string) []map[string]string {
	t.Helper()
	var blocks []map[string]string
	for _, block := range strings.Split(strings.TrimRight(body, "\r\n"), "\r\n\r\n") {
		m := map[string]string{}
		for _, line := range strings.Split(block, "\r\n") {
			name, value, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("malformed status line %q", line)
			}
			m[name] = value
		}
		blocks = append(blocks, m)
	}
	return blocks
}

func TestDSN(t *testing.T) {
	arrival := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	in := DSNInput{
		ReportingMTA: "mx.sluice.test",
		To:           "alice@example.org",
		QueueID:      "1a2b3c",
		EnvelopeID:   "env-42",
		Arrival:      arrival,
		Recipients: []DSNRecipient{
			{Rcpt: "bob@example.net", Action: ActionFailed, Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 no such user", RemoteMTA: "smarthost.example.net:25"},
			{Rcpt: "carol@example.net", Status: "5.2.2", DiagnosticCode: "552 5.2.2 mailbox full"},
			{Rcpt: "dave@example.net", Action: ActionDelayed, Status: "4.4.1", RetryUntil: arrival.Add(5 * 24 * time.Hour)},
		},
		Original: strings.NewReader(original),
		Reason:   "The smarthost refused some recipients.",
	}
	b, err := DSN(in)
	if err != nil {
		t.Fatalf("DSN: %v", err)
	}
	h, parts := parseDSN(t, b)

	for name, want := range map[string]string{
		"To":             "<alice@example.org>",
		"Subject":        SubjectFailed,
		"Auto-Submitted": "auto-replied",
		"MIME-Version":   "1.0",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "MAILER-DAEMON@mx.sluice.test" {
		t.Errorf("From: %q (%v), want MAILER-DAEMON@mx.sluice.test", h.Get("From"), err)
	}
	if _, err := mail.ParseDate(h.Get("Date")); err != nil {
		t.Errorf("Date: %q: %v", h.Get("Date"), err)
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mx.sluice.test>") {
		t.Errorf("Message-ID: %q", id)
	}
	typ, params, err := h.ContentType()
	if err != nil || typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("Content-Type: %s %v (%v), want multipart/report; report-type=delivery-status", typ, params, err)
	}

	var types []string
	for _, p := range parts {
		types = append(types, p.Type)
	}
	if diff := cmp.Diff([]string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, types); diff != "" {
		t.Fatalf("parts (-want +got):\n%s", diff)
	}

	text := parts[0].Body
	for _, want := range []string{
		"mx.sluice.test",
		"The smarthost refused some recipients.",
		"<bob@example.net>: 550 5.1.1 no such user (from smarthost.example.net)",
		"<carol@example.net>: 552 5.2.2 mailbox full",
		"<dave@example.net>: status 4.4.1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}

	wantStatus := []map[string]string{
		{"Reporting-MTA": "dns; mx.sluice.test", "Original-Envelope-Id": "env-42", "X-Queue-ID": "1a2b3c", "Arrival-Date": "Tue, 04 Mar 2025 05:06:07 +0000"},
		{"Final-Recipient": "rfc822; bob@example.net", "Action": "failed", "Status": "5.1.1", "Remote-MTA": "dns; smarthost.example.net", "Diagnostic-Code": "smtp; 550 5.1.1 no such user"},
		{"Final-Recipient": "rfc822; carol@example.net", "Action": "failed", "Status": "5.2.2", "Diagnostic-Code": "smtp; 552 5.2.2 mailbox full"},
		{"Final-Recipient": "rfc822; dave@example.net", "Action": "delayed", "Status": "4.4.1", "Will-Retry-Until": "Sun, 09 Mar 2025 05:06:07 +0000"},
	}
	if diff := cmp.Diff(wantStatus, statusFields(t, parts[1].Body)); diff != "" {
		t.Errorf("delivery-status fields (-want +got):\n%s", diff)
	}

	headers := parts[2].Body
	wantHeaders := original[:strings.Index(original, "\r\n\r\n")+2]
	if headers != wantHeaders {
		t.Errorf("rfc822-headers part = %q, want %q", headers, wantHeaders)
	}
	if bytes.Contains(b, []byte("SECRET BODY")) {
		t.Error("the original body is in the DSN")
	}
}

func TestDSNDelayed(t *testing.T) {
	b, err := DSN(DSNInput{
		ReportingMTA: "mx.sluice.test",
		From:         "postmaster@sluice.test",
		To:           "alice@example.org",
		Recipients:   []DSNRecipient{{Rcpt: "bob@example.net", Action: "Delayed"}},
		Date:         time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, parts := parseDSN(t, b)
	if got := h.Get("Subject"); got != SubjectDelayed {
		t.Errorf("Subject: %q, want %q", got, SubjectDelayed)
	}
	if got := h.Get("Date"); got != "Thu, 02 Jan 2025 03:04:05 +0000" {
		t.Errorf("Date: %q", got)
	}
	if !strings.Contains(h.Get("From"), "<postmaster@sluice.test>") {
		t.Errorf("From: %q", h.Get("From"))
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts without an original, want 2", len(parts))
	}
	want := []map[string]string{
		{"Reporting-MTA": "dns; mx.sluice.test"},
		{"Final-Recipient": "rfc822; bob@example.net", "Action": "delayed", "Status": "4.0.0"},
	}
	if diff := cmp.Diff(want, statusFields(t, parts[1].Body)); diff != "" {
		t.Errorf("delivery-status fields (-want +got):\n%s", diff)
	}
}

func TestDSNNonASCIIReason(t *testing.T) {
	b, err := DSN(DSNInput{
		ReportingMTA: "mx.sluice.test",
		To:           "alice@example.org",
		Recipients:   []DSNRecipient{{Rcpt: "bob@example.net"}},
		Reason:       "Le message a été refusé.",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isASCII(string(b)) {
		t.Error("the DSN is not 7-bit")
	}
	_, parts := parseDSN(t, b)
	if !strings.Contains(parts[0].Body, "Le message a été refusé.") {
		t.Errorf("text part %q lacks the reason", parts[0].Body)
	}
}

func TestDSNHeaderInjection(t *testing.T) {
	b, err := DSN(DSNInput{
		ReportingMTA: "mx.sluice.test\r\nBcc: evil@example.com",
		To:           "alice@example.org",
		QueueID:      "1\r\n\r\nFinal-Recipient: rfc822; fake@x",
		Recipients:   []DSNRecipient{{Rcpt: "bob@example.net\r\nAction: delivered", DiagnosticCode: "smtp; 550 a\r\n550 b"}},
		Original:     strings.NewReader(original),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "Action: delivered") || strings.HasPrefix(line, "Final-Recipient: rfc822; fake") {
			t.Errorf("injected line %q", line)
		}
	}
	_, parts := parseDSN(t, b)
	if n := len(statusFields(t, parts[1].Body)); n != 2 {
		t.Errorf("%d status blocks, want 2", n)
	}
}

func TestDSNOriginal(t *testing.T) {
	long := "Subject: x\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("y", 70)+"\r\n", MaxOriginalHeader/80+10) + "\r\nbody\r\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"LF endings", "A: 1\nB: 2\n\nbody\n", "A: 1\r\nB: 2\r\n"},
		{"header only", "A: 1\r\nB: 2", "A: 1\r\nB: 2\r\n"},
		{"no header", "\r\nbody\r\n", ""},
		{"empty", "", ""},
		{"folded", "Subject: a\r\n b\r\n\r\nbody", "Subject: a\r\n b\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readHeader(strings.NewReader(tt.in), MaxOriginalHeader)
			if err != nil || string(got) != tt.want {
				t.Errorf("readHeader(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	t.Run("cut", func(t *testing.T) {
		got, err := readHeader(strings.NewReader(long), MaxOriginalHeader)
		if err != nil || len(got) > MaxOriginalHeader+MaxOriginalHeader/70 || !bytes.HasSuffix(got, []byte("y\r\n")) {
			t.Errorf("readHeader of a long header: %d bytes ending %q, %v", len(got), got[max(0, len(got)-10):], err)
		}
		if bytes.Contains(got, []byte("body")) {
			t.Error("the body got in")
		}
	})
	t.Run("reader error", func(t *testing.T) {
		_, err := DSN(DSNInput{ReportingMTA: "mx", To: "a@b.c", Recipients: []DSNRecipient{{Rcpt: "x@y"}}, Original: errReader{}})
		if err == nil || !strings.Contains(err.Error(), "spool gone") {
			t.Errorf("DSN error %v, want the reader's", err)
		}
	})
}

func TestDSNErrors(t *testing.T) {
	ok := DSNInput{ReportingMTA: "mx", To: "a@b.c", Recipients: []DSNRecipient{{Rcpt: "x@y"}}}
	tests := []struct {
		name   string
		change func(*DSNInput)
		want   error
	}{
		{"null sender", func(in *DSNInput) { in.To = "" }, ErrNoBounce},
		{"bracketed null sender", func(in *DSNInput) { in.To = "<>" }, ErrNoBounce},
		{"no MTA", func(in *DSNInput) { in.ReportingMTA = "" }, nil},
		{"no recipients", func(in *DSNInput) { in.Recipients = nil }, nil},
		{"empty recipient", func(in *DSNInput) { in.Recipients = []DSNRecipient{{}} }, nil},
		{"unknown action", func(in *DSNInput) { in.Recipients[0].Action = "delivered" }, nil},
		{"bad status", func(in *DSNInput) { in.Recipients[0].Status = "550" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			in.Recipients = append([]DSNRecipient(nil), ok.Recipients...)
			tt.change(&in)
			_, err := DSN(in)
			if err == nil {
				t.Fatal("DSN succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("DSN error %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := DSN(ok); err != nil {
		t.Errorf("DSN of the valid input: %v", err)
	}
}

func TestShouldBounce(t *testing.T) {
	tests := []struct {
		sender string
		want   bool
	}{
		{"", false},
		{"<>", false},
		{"  ", false},
		{"alice@example.org", true},
		{"Alice.Smith+tag@example.org", true},
		{"MAILER-DAEMON@example.org", true},
		{"postmaster@example.org", true},
		{"user@localhost", true},
		{"user@[192.0.2.1]", true},
		{`"john doe"@example.org`, true},
		{"jösé@exämple.org", true},
		{"no-at-sign", false},
		{"@example.org", false},
		{"alice@", false},
		{"alice@example..org", false},
		{"alice@.example.org", false},
		{"alice@example.org.", false},
		{"john doe@example.org", false},
		{"alice@exa mple.org", false},
		{"<alice@example.org>", false},
		{"alice@example.org\r\nBcc: x@y", false},
		{"alice\x00@example.org", false},
		{"user@[]", false},
		{strings.Repeat("a", 1000) + "@example.org", false},
	}
	for _, tt := range tests {
		if got := ShouldBounce(tt.sender); got != tt.want {
			t.Errorf("ShouldBounce(%q) = %v, want %v", tt.sender, got, tt.want)
		}
	}
}

// TestDSNThroughRelay sends a bounce with the null sender through a real
// server, the way a caller will.
func TestDSNThroughRelay(t *testing.T) {
	b, err := DSN(DSNInput{ReportingMTA: "mx.sluice.test", To: "alice@example.org",
		Recipients: []DSNRecipient{{Rcpt: "bob@example.net", Status: "5.1.1"}}, Original: strings.NewReader(original)})
	if err != nil {
		t.Fatal(err)
	}
	be := &testBackend{}
	r := &Relay{Addr: startServer(t, be)}
	res, err := r.Send(t.Context(), "", []string{"alice@example.org"}, bytes.NewReader(b))
	if err != nil || !res[0].OK {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || msgs[0].From != "" || !bytes.Equal(msgs[0].Data, b) {
		t.Errorf("server got %+v, want the DSN from <>", msgs)
	}
}
