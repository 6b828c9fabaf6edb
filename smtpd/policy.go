package smtpd

import (
	"net/netip"
	"strings"
)

// Policy decides who may send to whom: local domains and users, aliases,
// and who may relay.
type Policy struct {
	// Local holds the local domains, lower-case.
	Local map[string]bool
	// AcceptAll accepts any local part of a local domain; otherwise only
	// Users, aliases and mailboxes Exists reports are accepted.
	AcceptAll bool
	// Aliases maps a local address (lower-case) to its targets.
	Aliases map[string][]string
	// Exists reports whether a local mailbox exists (may be nil).
	Exists func(addr string) bool
	// Deliverable reports whether a local address can name a mailbox at
	// all (may be nil). With AcceptAll, the others are refused at RCPT
	// rather than accepted and bounced.
	Deliverable func(addr string) bool
	// Users are the addresses that may authenticate (with bcrypt hashes).
	Users map[string]string
	// RelayFrom are the client networks that may relay.
	RelayFrom []netip.Prefix
	// CanRelay is set when a smarthost is configured: without one, mail
	// for other domains is refused whoever sends it.
	CanRelay bool
}

// rcptDecision is what the policy says about one recipient.
type rcptDecision int

const (
	rcptLocal rcptDecision = iota
	rcptRelay
	rcptNoUser
	rcptNoRelay
	rcptBadSyntax
)

// splitAddr splits local@domain; the domain is lower-cased.
func splitAddr(addr string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	return addr[:at], strings.ToLower(addr[at+1:]), true
}

// suspicious reports local parts that other MTAs read as routing: a
// percent hack (user%other@local), a bang path (other!user@local), or a
// quoted at sign ("user@other"@local). Sluice never routes by them, and
// refuses them so that no other hop does either.
func suspicious(local string) bool {
	return strings.ContainsAny(local, "%!@\"\\") || strings.HasPrefix(local, "@")
}

// stripRoute drops an RFC 5321 source route (@a,@b:user@c), which
// servers must ignore: the address is what follows the colon.
func stripRoute(addr string) string {
	if strings.HasPrefix(addr, "@") {
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			return addr[i+1:]
		}
	}
	return addr
}

// decide classifies rcpt for a client at ip, authenticated or not.
func (p *Policy) decide(rcpt string, ip netip.Addr, authenticated bool) rcptDecision {
	local, domain, ok := splitAddr(rcpt)
	if !ok || suspicious(local) {
		return rcptBadSyntax
	}
	if p.Local[domain] {
		addr := local + "@" + domain
		if p.AcceptAll && (p.Deliverable == nil || p.Deliverable(addr)) || p.known(addr) {
			return rcptLocal
		}
		return rcptNoUser
	}
	if !p.CanRelay {
		return rcptNoRelay
	}
	if authenticated || p.relayNet(ip) {
		return rcptRelay
	}
	return rcptNoRelay
}

func (p *Policy) known(addr string) bool {
	lower := strings.ToLower(addr)
	if _, ok := p.Aliases[lower]; ok {
		return true
	}
	if _, ok := p.Users[lower]; ok {
		return true
	}
	return p.Exists != nil && p.Exists(addr)
}

func (p *Policy) relayNet(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range p.RelayFrom {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Expand resolves aliases (recursively, at most 10 levels, without loops)
// and returns the final recipients, de-duplicated.
func (p *Policy) Expand(rcpts []string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(addr string, depth int)
	walk = func(addr string, depth int) {
		key := strings.ToLower(addr)
		if seen[key] {
			return
		}
		seen[key] = true
		if targets, ok := p.Aliases[key]; ok && depth < 10 {
			for _, t := range targets {
				walk(t, depth+1)
			}
			return
		}
		out = append(out, addr)
	}
	for _, r := range rcpts {
		walk(r, 0)
	}
	return out
}
