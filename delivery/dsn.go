package delivery

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// DSN actions (RFC 3464, section 2.3.3) that DSN reports.
const (
	ActionFailed  = "failed"
	ActionDelayed = "delayed"
)

// Subjects of the notifications DSN builds.
const (
	SubjectFailed  = "Undelivered Mail Returned to Sender"
	SubjectDelayed = "Delayed Mail (still being retried)"
)

// MaxOriginalHeader caps the bytes of the original message's header that a
// DSN includes; a longer header is cut at a line boundary.
const MaxOriginalHeader = 64 << 10

// ErrNoBounce is returned by DSN for a sender that must not get one: the
// null sender, or an address ShouldBounce refuses.
var ErrNoBounce = errors.New("delivery: no bounce to the null sender or a bad address")

// DSNInput is what a delivery status notification reports.
type DSNInput struct {
	// ReportingMTA is this server's host name (required).
	ReportingMTA string
	// From is the notification's author; "" means
	// "MAILER-DAEMON@"+ReportingMTA. Send the DSN itself with the null
	// envelope sender "" (Relay.Send), never with this address.
	From string
	// To is the original message's envelope sender, who gets the DSN.
	To string
	// EnvelopeID is the original ENVID (RFC 3461), if any:
	// Original-Envelope-Id.
	EnvelopeID string
	// QueueID is the queue's message ID: X-Queue-ID.
	QueueID string
	// Arrival is when the message was accepted: Arrival-Date (left out when
	// zero).
	Arrival time.Time
	// Date is the notification's Date; zero means now.
	Date time.Time
	// Recipients are the recipients reported on, at least one.
	Recipients []DSNRecipient
	// Original is the original message, read up to the end of its header
	// (at most MaxOriginalHeader bytes) and not closed; nil leaves the
	// text/rfc822-headers part out.
	Original io.Reader
	// Reason is an optional human-readable sentence put first in the
	// text part ("The message expired in the queue after 5 days.").
	Reason string
}

// DSNRecipient reports on one recipient. Values are put on one line each:
// line breaks and control characters become spaces.
type DSNRecipient struct {
	// Rcpt is the recipient's address: Final-Recipient: rfc822; Rcpt.
	Rcpt string
	// Action is ActionFailed (the default, when empty) or ActionDelayed.
	Action string
	// Status is the RFC 3463 status ("5.1.1"); empty means "5.0.0" for a
	// failure, "4.0.0" for a delay.
	Status string
	// DiagnosticCode is the full Diagnostic-Code value, "smtp; 550 5.1.1
	// no such user" (RcptResult.Diagnostic gives it); a value without a
	// "type;" prefix gets "smtp; ". Empty leaves the field out.
	DiagnosticCode string
	// RemoteMTA is the host that gave the diagnostic (a "host:port" loses
	// its port): Remote-MTA: dns; host. Empty leaves the field out.
	RemoteMTA string
	// RetryUntil is, for a delay, when the server gives up:
	// Will-Retry-Until (left out when zero).
	RetryUntil time.Time
}

// DSN builds an RFC 3464 delivery status notification: a multipart/report
// (report-type=delivery-status) with a text/plain explanation, a
// message/delivery-status part and, when in.Original is set, the original
// header as text/rfc822-headers. The result has CRLF line endings and is
// ready for Relay.Send with the null sender.
//
// The Subject is SubjectFailed when any recipient failed, else
// SubjectDelayed. The error wraps ErrNoBounce when !ShouldBounce(in.To),
// and reports missing fields, an unknown Action, a malformed Status, or a
// failure to read in.Original.
func DSN(in DSNInput) ([]byte, error) {
	if !ShouldBounce(in.To) {
		return nil, fmt.Errorf("%w: %q", ErrNoBounce, in.To)
	}
	mta := oneLine(in.ReportingMTA)
	if mta == "" {
		return nil, errors.New("delivery: dsn: no reporting MTA")
	}
	if len(in.Recipients) == 0 {
		return nil, errors.New("delivery: dsn: no recipients")
	}
	rcpts, failed, err := checkRecipients(in.Recipients)
	if err != nil {
		return nil, err
	}
	var orig []byte
	if in.Original != nil {
		if orig, err = readHeader(in.Original, MaxOriginalHeader); err != nil {
			return nil, fmt.Errorf("delivery: dsn: read original: %w", err)
		}
	}
	date := in.Date
	if date.IsZero() {
		date = time.Now()
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeText(mw, in, mta, rcpts, failed); err != nil {
		return nil, err
	}
	if err := writeStatus(mw, in, mta, rcpts); err != nil {
		return nil, err
	}
	if in.Original != nil {
		if err := writeHeaders(mw, orig); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	from := oneLine(in.From)
	if from == "" {
		from = "MAILER-DAEMON@" + mta
	}
	subject := SubjectDelayed
	if failed {
		subject = SubjectFailed
	}
	var msg bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&msg, "%s: %s\r\n", name, value) }
	h("From", "Mail Delivery System <"+from+">")
	h("To", "<"+oneLine(in.To)+">")
	h("Subject", subject)
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", "<"+randomID()+"@"+mta+">")
	h("Auto-Submitted", "auto-replied")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+mw.Boundary()+`"`)
	msg.WriteString("\r\nThis is a MIME-encapsulated message.\r\n\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

// checkRecipients validates and normalises the recipients, and reports
// whether any failed.
func checkRecipients(in []DSNRecipient) ([]DSNRecipient, bool, error) {
	out := make([]DSNRecipient, len(in))
	failed := false
	for i, r := range in {
		r.Rcpt = oneLine(r.Rcpt)
		r.Action = strings.ToLower(oneLine(r.Action))
		r.Status = oneLine(r.Status)
		r.DiagnosticCode = oneLine(r.DiagnosticCode)
		r.RemoteMTA = oneLine(r.RemoteMTA)
		if r.Rcpt == "" {
			return nil, false, fmt.Errorf("delivery: dsn: recipient %d has no address", i+1)
		}
		switch r.Action {
		case "", ActionFailed:
			r.Action, failed = ActionFailed, true
			if r.Status == "" {
				r.Status = "5.0.0"
			}
		case ActionDelayed:
			if r.Status == "" {
				r.Status = "4.0.0"
			}
		default:
			return nil, false, fmt.Errorf("delivery: dsn: %s: unknown action %q", r.Rcpt, r.Action)
		}
		if !validStatus(r.Status) {
			return nil, false, fmt.Errorf("delivery: dsn: %s: malformed status %q", r.Rcpt, r.Status)
		}
		if r.DiagnosticCode != "" && !strings.Contains(r.DiagnosticCode, ";") {
			r.DiagnosticCode = "smtp; " + r.DiagnosticCode
		}
		if host, _, err := net.SplitHostPort(r.RemoteMTA); err == nil {
			r.RemoteMTA = host
		}
		out[i] = r
	}
	return out, failed, nil
}

// writeText writes the human-readable part.
func writeText(mw *multipart.Writer, in DSNInput, mta string, rcpts []DSNRecipient, failed bool) error {
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail system at host %s.\n\n", mta)
	if in.Reason != "" {
		t.WriteString(strings.TrimSpace(in.Reason) + "\n\n")
	}
	if failed {
		t.WriteString("Your message could not be delivered to one or more recipients.\n")
		if in.Original != nil {
			t.WriteString("Its header is attached below.\n")
		}
		t.WriteString("\n")
		for _, r := range rcpts {
			if r.Action == ActionFailed {
				writeRcptLine(&t, r)
			}
		}
		t.WriteString("\n")
	}
	delayed := false
	for _, r := range rcpts {
		if r.Action == ActionDelayed {
			if !delayed {
				t.WriteString("Your message could not be delivered yet to the recipients below.\n" +
					"The mail system will keep trying; you do not need to resend it.\n\n")
				delayed = true
			}
			writeRcptLine(&t, r)
		}
	}
	text := strings.ReplaceAll(t.String(), "\n", "\r\n")

	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Description", "Notification")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	if isASCII(text) {
		hdr.Set("Content-Transfer-Encoding", "7bit")
		w, err := mw.CreatePart(hdr)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, text)
		return err
	}
	hdr.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(hdr)
	if err != nil {
		return err
	}
	qw := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qw, text); err != nil {
		return err
	}
	return qw.Close()
}

func writeRcptLine(t *strings.Builder, r DSNRecipient) {
	fmt.Fprintf(t, "<%s>: ", r.Rcpt)
	switch {
	case r.DiagnosticCode != "":
		_, diag, _ := strings.Cut(r.DiagnosticCode, ";")
		t.WriteString(strings.TrimSpace(diag))
	default:
		t.WriteString("status " + r.Status)
	}
	if r.RemoteMTA != "" {
		fmt.Fprintf(t, " (from %s)", r.RemoteMTA)
	}
	if !r.RetryUntil.IsZero() {
		fmt.Fprintf(t, ", retried until %s", r.RetryUntil.Format(time.RFC1123Z))
	}
	t.WriteString("\n")
}

// writeStatus writes the message/delivery-status part: the per-message
// fields, then one block per recipient, separated by empty lines.
func writeStatus(mw *multipart.Writer, in DSNInput, mta string, rcpts []DSNRecipient) error {
	var b strings.Builder
	f := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	f("Reporting-MTA", "dns; "+mta)
	if v := oneLine(in.EnvelopeID); v != "" {
		f("Original-Envelope-Id", v)
	}
	if v := oneLine(in.QueueID); v != "" {
		f("X-Queue-ID", v)
	}
	if !in.Arrival.IsZero() {
		f("Arrival-Date", in.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range rcpts {
		b.WriteString("\r\n")
		f("Final-Recipient", "rfc822; "+r.Rcpt)
		f("Action", r.Action)
		f("Status", r.Status)
		if r.RemoteMTA != "" {
			f("Remote-MTA", "dns; "+r.RemoteMTA)
		}
		if r.DiagnosticCode != "" {
			f("Diagnostic-Code", r.DiagnosticCode)
		}
		if r.Action == ActionDelayed && !r.RetryUntil.IsZero() {
			f("Will-Retry-Until", r.RetryUntil.Format(time.RFC1123Z))
		}
	}
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Description", "Delivery report")
	hdr.Set("Content-Type", "message/delivery-status")
	w, err := mw.CreatePart(hdr)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// writeHeaders writes the text/rfc822-headers part.
func writeHeaders(mw *multipart.Writer, orig []byte) error {
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Description", "Undelivered Message Headers")
	hdr.Set("Content-Type", "text/rfc822-headers")
	if !isASCII(string(orig)) {
		hdr.Set("Content-Transfer-Encoding", "8bit")
	}
	w, err := mw.CreatePart(hdr)
	if err != nil {
		return err
	}
	_, err = w.Write(orig)
	return err
}

// readHeader reads r up to the empty line that ends a message's header, at
// most max bytes (cut after the last whole line), and returns the header
// with CRLF line endings, ending with a line break (without the empty line).
func readHeader(r io.Reader, max int) ([]byte, error) {
	buf, err := io.ReadAll(io.LimitReader(r, int64(max)))
	if err != nil {
		return nil, err
	}
	cut := len(buf) >= max
	buf = bytes.ReplaceAll(buf, []byte("\r\n"), []byte("\n"))
	switch {
	case bytes.HasPrefix(buf, []byte("\n")):
		buf = nil // no header at all
	case bytes.Contains(buf, []byte("\n\n")):
		buf = buf[:bytes.Index(buf, []byte("\n\n"))+1]
	case cut:
		// Cut off: keep the whole lines.
		buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	case len(buf) > 0 && buf[len(buf)-1] != '\n':
		buf = append(buf, '\n') // a message that is all header
	}
	return bytes.ReplaceAll(buf, []byte("\n"), []byte("\r\n")), nil
}

// randomID returns 32 random hex digits.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ShouldBounce reports whether sender may receive a bounce: false for the
// null sender ("" or "<>", RFC 5321 section 4.5.5: never bounce a bounce)
// and for addresses that are obviously unusable: no "@", an empty local
// part or domain, control characters, angle brackets, unquoted spaces,
// a domain with empty labels. Auto senders (MAILER-DAEMON@, postmaster@)
// are not singled out: a real bounce arrives with the null sender, and
// postmaster must get its bounces.
func ShouldBounce(sender string) bool {
	s := strings.TrimSpace(sender)
	if s == "" || s == "<>" || len(s) > 998 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	if strings.ContainsRune(domain, ' ') {
		return false
	}
	if !strings.HasPrefix(local, `"`) && strings.ContainsRune(local, ' ') {
		return false
	}
	if strings.HasPrefix(domain, "[") {
		return strings.HasSuffix(domain, "]") && len(domain) > 2
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return false
		}
	}
	return true
}
