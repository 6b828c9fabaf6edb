package smtpd

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyDecide(t *testing.T) {
	p := &Policy{
		Local:     map[string]bool{"local.test": true},
		Aliases:   map[string][]string{"postmaster@local.test": {"admin@local.test"}},
		Users:     map[string]string{"alice@local.test": "$2a$..."},
		RelayFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		CanRelay:  true,
	}
	lo, out := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		rcpt string
		ip   netip.Addr
		auth bool
		want rcptDecision
	}{
		{"alice@local.test", out, false, rcptLocal},
		{"Alice@LOCAL.test", out, false, rcptLocal},
		{"postmaster@local.test", out, false, rcptLocal},
		{"nobody@local.test", out, false, rcptNoUser},
		{"bob@other.test", lo, false, rcptRelay},
		{"bob@other.test", out, false, rcptNoRelay},
		{"bob@other.test", out, true, rcptRelay},
		// open-relay address tricks
		{"user%other.test@local.test", out, false, rcptBadSyntax},
		{`"user@other.test"@local.test`, out, false, rcptBadSyntax},
		{"other.test!user@local.test", out, false, rcptBadSyntax},
		{stripRoute("@local.test:user@other.test"), out, false, rcptNoRelay},
		{"no-at-sign", out, false, rcptBadSyntax},
		{"@local.test", out, false, rcptBadSyntax},
	}
	for _, tt := range tests {
		if got := p.decide(tt.rcpt, tt.ip, tt.auth); got != tt.want {
			t.Errorf("decide(%q, %v, auth=%v) = %v, want %v", tt.rcpt, tt.ip, tt.auth, got, tt.want)
		}
	}
	p.CanRelay = false
	if got := p.decide("bob@other.test", lo, true); got != rcptNoRelay {
		t.Errorf("without a smarthost: %v, want no relay", got)
	}
	p.AcceptAll = true
	if got := p.decide("anyone@local.test", out, false); got != rcptLocal {
		t.Errorf("accept_all: %v", got)
	}
}

func TestExpand(t *testing.T) {
	p := &Policy{Aliases: map[string][]string{
		"team@x":  {"a@x", "b@x", "team@x"},
		"b@x":     {"c@x"},
		"loop1@x": {"loop2@x"},
		"loop2@x": {"loop1@x"},
	}}
	got := p.Expand([]string{"team@x", "A@x", "loop1@x"})
	want := []string{"a@x", "c@x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
