package config

import (
	"net/netip"
	"strings"
)

// Server is the [server] table: the SMTP and LMTP listeners and their limits.
type Server struct {
	// Hostname is the name the server gives in its greeting and in Received
	// headers.
	Hostname string `toml:"hostname"`
	// Listen holds the SMTP listen addresses, each "host:port"; port 0 picks
	// a free port. Empty: no SMTP listener.
	Listen []string `toml:"listen"`
	// LMTP holds the LMTP listen addresses, each "unix:/path" or "host:port".
	LMTP []string `toml:"lmtp"`
	// MaxMessageBytes is the largest message accepted, in bytes (> 0).
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxRecipients is the most RCPT TO commands accepted per message (> 0).
	MaxRecipients int `toml:"max_recipients"`
	// MaxConnections is the most client connections served at once (> 0).
	MaxConnections int `toml:"max_connections"`
	// MaxLineLength is the longest command or message line accepted, in bytes
	// including CRLF (> 0). The default is 1000, the minimum RFC 5321
	// (4.5.3.1.6) requires a server to accept; lower values refuse mail from
	// conforming clients.
	MaxLineLength int `toml:"max_line_length"`
	// ReadTimeout bounds the wait for each client command (> 0).
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds each reply to the client (> 0).
	WriteTimeout Duration `toml:"write_timeout"`
	// DataTimeout bounds the whole DATA transfer of one message (> 0).
	DataTimeout Duration `toml:"data_timeout"`
	// RelayFrom holds the networks, in CIDR notation, whose clients may send
	// to domains that are not local. See [Server.RelayNets].
	RelayFrom []string `toml:"relay_from"`
	// TLSCert and TLSKey are the PEM certificate chain and key files for
	// STARTTLS; both or neither. Relative paths are resolved with
	// [Config.Resolve].
	TLSCert string `toml:"tls_cert"`
	// TLSKey: see TLSCert.
	TLSKey string `toml:"tls_key"`
	// Control is the address of the control socket used by "sluice reload"
	// and "sluice queue": "unix:/path" or "host:port". Empty means the unix
	// socket control.sock in Store.Dir (see [Config.ControlAddr]).
	Control string `toml:"control"`
}

// RelayNets returns RelayFrom parsed. Entries that do not parse are left
// out; they cannot occur in a validated configuration.
func (s *Server) RelayNets() []netip.Prefix {
	nets := make([]netip.Prefix, 0, len(s.RelayFrom))
	for _, r := range s.RelayFrom {
		if p, err := netip.ParsePrefix(r); err == nil {
			nets = append(nets, p.Masked())
		}
	}
	return nets
}

// Store is the [store] table: where the server keeps its data.
type Store struct {
	// Dir is the data folder: queue/, mail/, quarantine/ and the embedded
	// databases live under it. Relative to the configuration file.
	Dir string `toml:"dir"`
	// Fsync makes every write that acknowledges a message durable. Turning
	// it off is for tests only: it breaks the delivery guarantee on a crash.
	Fsync bool `toml:"fsync"`
}

// Domains is the [domains] table: which mail is local.
type Domains struct {
	// Local lists the domains delivered to local mailboxes.
	Local []string `toml:"local"`
	// AcceptAll accepts any local part of a local domain, creating the
	// mailbox on first delivery. When false, only addresses that are users,
	// aliases or existing mailboxes are accepted.
	AcceptAll bool `toml:"accept_all"`
	// Aliases maps an address ("local@domain") to the addresses that receive
	// its mail instead.
	Aliases map[string][]string `toml:"aliases"`
}

// Relay is the [relay] table: how mail for other domains leaves.
type Relay struct {
	// Smarthost is the "host:port" all outgoing mail is sent through. Empty
	// means mail for domains that are not local is refused at RCPT.
	Smarthost string `toml:"smarthost"`
	// StartTLS is the TLS policy towards the smarthost: "opportunistic"
	// (use it when offered), "required" (fail the delivery without it) or
	// "none".
	StartTLS string `toml:"starttls"`
}

// Queue is the [queue] table: retries of accepted messages.
type Queue struct {
	// Workers is the number of messages processed at once (> 0).
	Workers int `toml:"workers"`
	// RetryInitial is the wait before the first retry after a temporary
	// failure (> 0); it doubles up to RetryMax.
	RetryInitial Duration `toml:"retry_initial"`
	// RetryMax is the longest wait between retries (>= RetryInitial).
	RetryMax Duration `toml:"retry_max"`
	// MaxAge is how long a message may stay in the queue before OnExpire
	// applies (> 0).
	MaxAge Duration `toml:"max_age"`
	// BurstHold is how long deliveries may wait while messages keep
	// arriving (>= 0; 0: never): during a burst only a quarter of the
	// workers (at least one) deliver, and none while more new messages
	// wait than there are workers, so that accepting gets the CPU and
	// the disk; a message waits at most this long for its attempt.
	BurstHold Duration `toml:"burst_hold"`
	// OnExpire is what happens to a message older than MaxAge: "bounce"
	// (a delivery status notification to the sender) or "quarantine".
	OnExpire string `toml:"on_expire"`
}

// Engine is the [engine] table: limits of the Lua engine.
type Engine struct {
	// States is the size of the pool of Lua states, which is also the most
	// scripts run at once. 0 means 2*GOMAXPROCS, worked out by the engine.
	States int `toml:"states"`
	// MaxPartBytes caps the bytes a script can get from one message part
	// (> 0).
	MaxPartBytes int64 `toml:"max_part_bytes"`
	// MaxStringBytes caps the strings that string.rep, concatenation and
	// similar builtins may build (> 0).
	MaxStringBytes int64 `toml:"max_string_bytes"`
	// CallStack is the Lua call stack size of each state (> 0).
	CallStack int `toml:"call_stack"`
	// MemoryLimit is the heap size in bytes above which every hook call in
	// progress is stopped (gopher-lua cannot cap one state's allocations,
	// so the engine watches the process heap while scripts run). 0 means
	// the engine's default, 1 GiB; -1 turns the guard off.
	MemoryLimit int64 `toml:"memory_limit"`
}

// SplitAddr splits an address of the form "unix:/path" into ("unix",
// "/path") and returns ("tcp", addr) for anything else, such as
// "host:port". It suits Listen, LMTP, Control and filter addresses.
func SplitAddr(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return "unix", path
	}
	return "tcp", addr
}
