package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/sluicemail/sluice/mailstore"
)

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"zero Error", &Error{}, true},
		{"temporary Error", &Error{Code: 451, Enhanced: "4.3.0"}, true},
		{"permanent Error", &Error{Code: 550, Enhanced: "5.1.1", Permanent: true}, false},
		{"wrapped permanent", fmt.Errorf("deliver: %w", &Error{Permanent: true}), false},
		{"outer Error wins", &Error{Err: &smtp.SMTPError{Code: 550}}, true},
		{"SMTPError 421", &smtp.SMTPError{Code: 421}, true},
		{"SMTPError 451", &smtp.SMTPError{Code: 451}, true},
		{"SMTPError 550", &smtp.SMTPError{Code: 550}, false},
		{"SMTPError 554 wrapped", fmt.Errorf("x: %w", &smtp.SMTPError{Code: 554}), false},
		{"SMTPError 250 unexpected", &smtp.SMTPError{Code: 250}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", context.Canceled, true},
		{"EOF", io.EOF, true},
		{"unknown", errors.New("something odd"), true},
		{"mailstore bad folder, unclassified", mailstore.ErrBadFolder, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTemporary(tt.err); got != tt.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true}, "delivery: 550 5.1.1 no such user"},
		{&Error{Enhanced: "4.4.1", Text: "connect to smarthost failed", Err: cause}, "delivery: 4.4.1 connect to smarthost failed: connection refused"},
		{fromReply(&smtp.SMTPError{Code: 554, Message: "no"}), "delivery: 554 5.0.0 no"},
		{&Error{}, "delivery:"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	e := &Error{Err: cause}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not find the cause")
	}
}

func TestFromReply(t *testing.T) {
	tests := []struct {
		in       *smtp.SMTPError
		enhanced string
		perm     bool
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}}, "5.1.1", true},
		{&smtp.SMTPError{Code: 550}, "5.0.0", true},
		{&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}}, "4.5.3", false},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{5, 1, 1}}, "4.0.0", false}, // class mismatch
		{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.NoEnhancedCode}, "4.0.0", false},
		{&smtp.SMTPError{Code: 354}, "4.0.0", false},
	}
	for _, tt := range tests {
		e := fromReply(tt.in)
		if e.Enhanced != tt.enhanced || e.Permanent != tt.perm || e.Code != tt.in.Code {
			t.Errorf("fromReply(%+v) = %+v, want %s permanent %v", tt.in, e, tt.enhanced, tt.perm)
		}
	}
}

func TestSplitEnhanced(t *testing.T) {
	tests := []struct{ in, code, rest string }{
		{"2.0.0 Ok: queued as 1A2B", "2.0.0", "Ok: queued as 1A2B"},
		{"5.7.10 encryption needed", "5.7.10", "encryption needed"},
		{"4.123.456 x", "4.123.456", "x"},
		{"OK: queued", "", "OK: queued"},
		{"3.0.0 no", "", "3.0.0 no"},
		{"2.0 short", "", "2.0 short"},
		{"2.0.1234 long", "", "2.0.1234 long"},
		{"2..0 empty", "", "2..0 empty"},
		{"", "", ""},
	}
	for _, tt := range tests {
		code, rest := splitEnhanced(tt.in)
		if code != tt.code || rest != tt.rest {
			t.Errorf("splitEnhanced(%q) = %q, %q; want %q, %q", tt.in, code, rest, tt.code, tt.rest)
		}
	}
}

func TestRcptResultErr(t *testing.T) {
	tests := []struct {
		r        RcptResult
		wantNil  bool
		wantTemp bool
	}{
		{RcptResult{OK: true, Code: 250}, true, false},
		{RcptResult{Code: 451, Temporary: true}, false, true},
		{RcptResult{Code: 550}, false, false},
	}
	for _, tt := range tests {
		err := tt.r.Err()
		if (err == nil) != tt.wantNil || (err != nil && IsTemporary(err) != tt.wantTemp) {
			t.Errorf("%+v.Err() = %v, want nil %v temporary %v", tt.r, err, tt.wantNil, tt.wantTemp)
		}
	}
	r := RcptResult{Code: 550, Enhanced: "5.1.1", Text: "no\nsuch\r\nuser"}
	if got, want := r.Diagnostic(), "smtp; 550 5.1.1 no such user"; got != want {
		t.Errorf("Diagnostic() = %q, want %q", got, want)
	}
	if got := (RcptResult{Enhanced: "4.4.1", Text: "refused"}).Diagnostic(); got != "" {
		t.Errorf("Diagnostic() without a reply = %q, want empty", got)
	}
}
