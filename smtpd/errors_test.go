package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/engine"
)

func TestToSMTP(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		err      error
		code     int
		enhanced smtp.EnhancedCode
		leak     string
	}{
		{errNoRelay, 550, smtp.EnhancedCode{5, 7, 1}, ""},
		{fmt.Errorf("wrapped: %w", errTooBig), 552, smtp.EnhancedCode{5, 3, 4}, ""},
		{errors.New("open /var/spool/secret: permission denied"), 451, smtp.EnhancedCode{4, 3, 0}, "/var/spool"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 451, smtp.EnhancedCode{4, 4, 5}, "x:"},
		{fmt.Errorf("scripts/a.lua: %w", engine.ErrTimeout), 451, smtp.EnhancedCode{4, 4, 5}, "scripts/a.lua"},
	}
	for _, tt := range tests {
		got := toSMTP(log, "S1", tt.err)
		se, ok := got.(*smtp.SMTPError)
		if !ok {
			t.Fatalf("%v: got %T, want an unwrapped *smtp.SMTPError", tt.err, got)
		}
		if se.Code != tt.code || se.EnhancedCode != tt.enhanced {
			t.Errorf("%v: got %d %v, want %d %v", tt.err, se.Code, se.EnhancedCode, tt.code, tt.enhanced)
		}
		if tt.leak != "" && strings.Contains(se.Message, tt.leak) {
			t.Errorf("%v: reply %q leaks %q", tt.err, se.Message, tt.leak)
		}
	}
	if toSMTP(log, "S1", nil) != nil {
		t.Error("nil error must stay nil")
	}
}

func TestEnhanced(t *testing.T) {
	tests := []struct {
		s    string
		code int
		want smtp.EnhancedCode
	}{
		{"5.7.1", 550, smtp.EnhancedCode{5, 7, 1}},
		{"4.3.2", 451, smtp.EnhancedCode{4, 3, 2}},
		{"4.3.2", 550, smtp.EnhancedCode{5, 0, 0}}, // class mismatch
		{"5.7", 550, smtp.EnhancedCode{5, 0, 0}},
		{"5.x.1", 554, smtp.EnhancedCode{5, 0, 0}},
		{"", 451, smtp.EnhancedCode{4, 0, 0}},
		{"5.7.1.2", 550, smtp.EnhancedCode{5, 0, 0}},
	}
	for _, tt := range tests {
		if got := enhanced(tt.s, tt.code); got != tt.want {
			t.Errorf("enhanced(%q, %d) = %v, want %v", tt.s, tt.code, got, tt.want)
		}
	}
}
