package smtpd

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/engine"
)

// reply is an SMTP reply the session sends on purpose (policy, limits).
// Everything else goes through toSMTP, which hides internal errors.
func reply(code int, enhanced smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

// Replies used in more than one place.
var (
	errInternal   = reply(451, smtp.EnhancedCode{4, 3, 0}, "internal error, try again later")
	errTimeout    = reply(451, smtp.EnhancedCode{4, 4, 5}, "timed out, try again later")
	errSpool      = reply(451, smtp.EnhancedCode{4, 3, 1}, "cannot store the message now, try again later")
	errNoRelay    = reply(550, smtp.EnhancedCode{5, 7, 1}, "relaying denied")
	errNoUser     = reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user here")
	errBadAddress = reply(553, smtp.EnhancedCode{5, 1, 3}, "bad address syntax")
	errTooBig     = reply(552, smtp.EnhancedCode{5, 3, 4}, "message too big")
	errLongLine   = reply(554, smtp.EnhancedCode{5, 6, 0}, "message has a line too long")
	errAuthTLS    = reply(530, smtp.EnhancedCode{5, 7, 0}, "must issue a STARTTLS command first")
	errStopping   = reply(421, smtp.EnhancedCode{4, 3, 2}, "shutting down, try again later")
)

// toSMTP converts any error of a session method into the reply the client
// gets. It is the one place errors become replies: go-smtp keeps the code
// only of an unwrapped *smtp.SMTPError and shows the text of anything
// else to the client, so nothing else may be returned. Errors that are not
// already replies are logged with the session id and become a generic 451.
func toSMTP(log *slog.Logger, id string, err error) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, engine.ErrTimeout) {
		log.Warn("session step timed out", "session", id, "error", err)
		return withID(errTimeout, id)
	}
	log.Error("internal error", "session", id, "error", err)
	return withID(errInternal, id)
}

// withID adds the session id to a generic reply so operators can find the
// log line.
func withID(r *smtp.SMTPError, id string) *smtp.SMTPError {
	c := *r
	c.Message = r.Message + " (session " + id + ")"
	return &c
}

// verdictError turns a script's verdict into the reply, or nil to go on.
func verdictError(v engine.Verdict) error {
	switch v.Kind {
	case engine.Reject, engine.Tempfail:
		return reply(v.Code, enhanced(v.Enhanced, v.Code), v.Text)
	}
	return nil
}

// enhanced parses "5.7.1"; a malformed one, or one whose class does not
// match code, gives the class default "X.0.0".
func enhanced(s string, code int) smtp.EnhancedCode {
	fallback := smtp.EnhancedCode{code / 100, 0, 0}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return fallback
	}
	var e smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || len(p) > 3 {
			return fallback
		}
		e[i] = n
	}
	if e[0] != code/100 {
		return fallback
	}
	return e
}
