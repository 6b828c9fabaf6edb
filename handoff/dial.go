package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Pinger is implemented by the daemon scanners (clamd, spamd, rspamd): Ping
// checks cheaply that the daemon answers (clamd PING, spamd PING, rspamd
// GET /ping), without scanning anything. It honours ctx.
type Pinger interface {
	Ping(ctx context.Context) error
}

// daemonAddr is where a filter daemon listens: a unix socket or a TCP
// address.
type daemonAddr struct {
	network string // "unix" or "tcp"
	address string // a socket path or host:port
}

// parseDaemonAddr reads a filter's address: "unix:/path" (or a bare
// absolute path) for a unix socket, "host:port" (or "tcp:host:port") for
// TCP.
func parseDaemonAddr(s string) (daemonAddr, error) {
	switch {
	case s == "":
		return daemonAddr{}, errors.New("no address")
	case strings.HasPrefix(s, "unix:"):
		p := strings.TrimPrefix(s, "unix:")
		if p == "" {
			return daemonAddr{}, fmt.Errorf("address %q: empty socket path", s)
		}
		return daemonAddr{"unix", p}, nil
	case strings.HasPrefix(s, "/"):
		return daemonAddr{"unix", s}, nil
	}
	hp := strings.TrimPrefix(s, "tcp:")
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return daemonAddr{}, fmt.Errorf("address %q: want \"unix:/path\" or \"host:port\": %w", s, err)
	}
	if host == "" || port == "" {
		return daemonAddr{}, fmt.Errorf("address %q: want \"unix:/path\" or \"host:port\"", s)
	}
	return daemonAddr{"tcp", hp}, nil
}

func (a daemonAddr) String() string {
	if a.network == "unix" {
		return "unix:" + a.address
	}
	return a.address
}

// dialDaemon connects to a and ties the connection to ctx: the deadline of
// ctx becomes the connection's deadline, and cancelling ctx unblocks any
// read or write in progress. The caller must call release, which closes the
// connection and stops watching ctx.
func dialDaemon(ctx context.Context, a daemonAddr) (conn net.Conn, release func(), err error) {
	var d net.Dialer
	conn, err = d.DialContext(ctx, a.network, a.address)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() {
		// A deadline in the past wakes every blocked Read and Write.
		conn.SetDeadline(time.Unix(1, 0))
	})
	return conn, func() { stop(); conn.Close() }, nil
}

// daemonContext bounds ctx by the filter's own timeout, if it has one.
func daemonContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// daemonFailed reports a scan that went wrong while talking to a daemon: Timeout
// when the deadline of ctx passed (err then wraps
// context.DeadlineExceeded), Error otherwise (err wraps context.Canceled
// when ctx was cancelled). op names the step, as in "clamd: read reply".
func daemonFailed(ctx context.Context, op string, err error) Result {
	if cerr := ctx.Err(); cerr != nil {
		err = cerr
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline (taken from ctx) fired a moment
		// before ctx noticed.
		err = context.DeadlineExceeded
	}
	v := Error
	if errors.Is(err, context.DeadlineExceeded) {
		v = Timeout
	}
	return Result{Verdict: v, Err: fmt.Errorf("%s: %w", op, err)}
}

// daemonRefused reports a daemon's answer that cannot be trusted as a verdict.
func daemonRefused(format string, args ...any) Result {
	return Result{Verdict: Error, Err: fmt.Errorf(format, args...)}
}

// quoteDaemonReply quotes a daemon's answer for an error message, cut to a
// readable length.
func quoteDaemonReply(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return fmt.Sprintf("%q…", b[:limit])
	}
	return fmt.Sprintf("%q", b)
}
