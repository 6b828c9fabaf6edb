package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// Error is a classified delivery failure.
//
// Its zero value is temporary: the flag is Permanent, so that an Error that
// forgot to say is retried rather than bounced.
type Error struct {
	// Code is the remote server's SMTP reply code (421, 550, …), or 0 when
	// no server replied: a local failure, a lost connection, a timeout.
	Code int
	// Enhanced is the RFC 3463 status code ("5.1.1"); the package always
	// sets it, derived from the class ("4.0.0", "5.0.0") when the server
	// gave none.
	Enhanced string
	// Text is a human-readable reason: the server's reply text, or what
	// failed locally. It may hold several lines (a multi-line reply).
	Text string
	// Permanent marks a failure that will not go away by retrying (5xx,
	// a bad mailbox name). False means temporary.
	Permanent bool
	// Err is the underlying cause, if any (a *smtp.SMTPError, a mailstore
	// error, context.DeadlineExceeded …), for errors.Is and errors.As.
	Err error
}

// Error returns "delivery: [CODE ]ENHANCED TEXT[: CAUSE]".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("delivery: ")
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code))
		b.WriteByte(' ')
	}
	if e.Enhanced != "" {
		b.WriteString(e.Enhanced)
		b.WriteByte(' ')
	}
	b.WriteString(e.Text)
	// A cause from a server reply repeats Text: show it only when it adds
	// something.
	var se *smtp.SMTPError
	if e.Err != nil && !errors.As(e.Err, &se) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return strings.TrimSpace(b.String())
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether retrying later may succeed.
func (e *Error) Temporary() bool { return !e.Permanent }

// IsTemporary reports whether err is a temporary failure: the class of the
// first *Error in its chain, else that of a *smtp.SMTPError (only 5xx is
// permanent), else true. A nil error is not a failure: false.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Temporary()
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code/100 != 5
	}
	return true
}

// tempError is a local temporary failure.
func tempError(enhanced, text string, cause error) *Error {
	return &Error{Enhanced: enhanced, Text: text, Err: cause}
}

// permError is a local permanent failure.
func permError(enhanced, text string, cause error) *Error {
	return &Error{Enhanced: enhanced, Text: text, Permanent: true, Err: cause}
}

// fromReply converts a server reply into an *Error. Only 5xx is permanent:
// an unexpected code (a 2xx or 3xx where another was due) is temporary.
func fromReply(se *smtp.SMTPError) *Error {
	e := &Error{
		Code:      se.Code,
		Text:      se.Message,
		Permanent: se.Code/100 == 5,
		Err:       se,
	}
	c := se.EnhancedCode
	if c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode && c[0] == se.Code/100 {
		e.Enhanced = fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
	} else {
		e.Enhanced = classStatus(!e.Permanent)
	}
	return e
}

// classify converts any error met while talking to a server: a reply keeps
// its code; anything else is a temporary failure with the given status,
// blamed on ctx when it has ended.
func classify(ctx context.Context, err error, enhanced, op string) *Error {
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fromReply(se)
	}
	if cerr := ctx.Err(); cerr != nil {
		return tempError("4.4.2", op+": interrupted", fmt.Errorf("%w (%v)", cerr, err))
	}
	return tempError(enhanced, op+" failed", err)
}

// classStatus is the generic enhanced status of a class.
func classStatus(temporary bool) string {
	if temporary {
		return "4.0.0"
	}
	return "5.0.0"
}

// splitEnhanced splits a leading RFC 3463 code off a reply text:
// "2.0.0 Ok: queued" gives ("2.0.0", "Ok: queued").
func splitEnhanced(text string) (code, rest string) {
	first, rest, _ := strings.Cut(text, " ")
	if !validStatus(first) {
		return "", text
	}
	return first, rest
}

// validStatus reports whether s is an RFC 3463 status: class "." subject
// "." detail, with class 2, 4 or 5 and one to three digits in the others.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
