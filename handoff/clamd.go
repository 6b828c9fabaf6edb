package handoff

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// clamdChunk is the largest INSTREAM chunk sent to clamd.
const clamdChunk = 64 << 10

// clamdMaxReply caps what is read of clamd's answer.
const clamdMaxReply = 4 << 10

// clamd scans with ClamAV's daemon over its INSTREAM protocol, one
// connection per scan.
type clamd struct {
	addr    daemonAddr
	timeout time.Duration
}

// newClamd builds the clamd scanner of spec: spec.Address is "unix:/path"
// or "host:port".
func newClamd(spec Spec) (Scanner, error) {
	a, err := parseDaemonAddr(spec.Address)
	if err != nil {
		return nil, fmt.Errorf("handoff: clamd: %w", err)
	}
	return &clamd{addr: a, timeout: spec.Timeout}, nil
}

// Scan streams msg to clamd: Clean for "stream: OK", Infected with the
// signature's name for "stream: NAME FOUND", Error for anything else
// (wrapping ErrTooLarge when msg is over clamd's StreamMaxLength), Timeout
// when ctx's deadline passes first.
func (c *clamd) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	r := c.scan(ctx, msg)
	r.Duration = time.Since(start)
	return r
}

func (c *clamd) scan(ctx context.Context, msg []byte) Result {
	ctx, cancel := daemonContext(ctx, c.timeout)
	defer cancel()
	conn, release, err := dialDaemon(ctx, c.addr)
	if err != nil {
		return daemonFailed(ctx, "clamd: connect to "+c.addr.String(), err)
	}
	defer release()

	bufs := clamdInstream(msg)
	_, werr := bufs.WriteTo(conn)
	// clamd answers and hangs up early when it refuses the stream (size
	// limit), so a failed write may still have a reply waiting.
	reply, rerr := readClamdReply(conn)
	switch {
	case rerr == nil && werr == nil:
		return clamdResult(reply, len(msg))
	case rerr == nil:
		// Only a refusal may come before the whole message was sent.
		if r := clamdResult(reply, len(msg)); r.Verdict == Error {
			return r
		}
		return daemonFailed(ctx, "clamd: send message", werr)
	case werr != nil:
		return daemonFailed(ctx, "clamd: send message", werr)
	default:
		return daemonFailed(ctx, "clamd: read reply", rerr)
	}
}

// clamdInstream frames msg as an INSTREAM command: the command, then chunks
// (a big-endian uint32 length and the bytes), then a zero-length chunk. The
// buffers point into msg; nothing is copied.
func clamdInstream(msg []byte) net.Buffers {
	n := (len(msg) + clamdChunk - 1) / clamdChunk
	sizes := make([]byte, 4*(n+1)) // the last four stay zero: the end mark
	bufs := make(net.Buffers, 0, 2*n+2)
	bufs = append(bufs, []byte("zINSTREAM\x00"))
	for i := 0; i < n; i++ {
		chunk := msg[i*clamdChunk : min((i+1)*clamdChunk, len(msg))]
		size := sizes[4*i : 4*i+4]
		binary.BigEndian.PutUint32(size, uint32(len(chunk)))
		bufs = append(bufs, size, chunk)
	}
	return append(bufs, sizes[4*n:])
}

// readClamdReply reads one NUL-terminated answer. An answer cut short by
// the end of the connection is an error: it might be part of a longer one.
func readClamdReply(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 128)
	var tmp [512]byte
	for {
		n, err := r.Read(tmp[:])
		buf = append(buf, tmp[:n]...)
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return buf[:i], nil
		}
		if len(buf) > clamdMaxReply {
			return nil, fmt.Errorf("reply longer than %d bytes: %s", clamdMaxReply, quoteDaemonReply(buf))
		}
		if err == io.EOF {
			if len(buf) == 0 {
				return nil, fmt.Errorf("connection closed without a reply")
			}
			return nil, fmt.Errorf("reply cut short: %s", quoteDaemonReply(buf))
		}
		if err != nil {
			return nil, err
		}
	}
}

// clamdResult reads clamd's answer to INSTREAM for a message of size bytes.
func clamdResult(reply []byte, size int) Result {
	s := strings.TrimSpace(string(reply))
	if strings.HasSuffix(s, " ERROR") {
		if strings.Contains(s, "size limit exceeded") {
			return Result{Verdict: Error, Err: &clamdLimitError{size: size, reply: s}}
		}
		return daemonRefused("clamd: %s", quoteDaemonReply(reply))
	}
	rest, ok := strings.CutPrefix(s, "stream: ")
	if !ok {
		return daemonRefused("clamd: unexpected reply %s", quoteDaemonReply(reply))
	}
	if rest == "OK" {
		return Result{Verdict: Clean}
	}
	if name, ok := strings.CutSuffix(rest, " FOUND"); ok && strings.TrimSpace(name) != "" {
		return Result{Verdict: Infected, Name: strings.TrimSpace(name)}
	}
	return daemonRefused("clamd: unexpected reply %s", quoteDaemonReply(reply))
}

// Ping sends PING and expects PONG.
func (c *clamd) Ping(ctx context.Context) error {
	ctx, cancel := daemonContext(ctx, c.timeout)
	defer cancel()
	conn, release, err := dialDaemon(ctx, c.addr)
	if err != nil {
		return daemonFailed(ctx, "clamd: connect to "+c.addr.String(), err).Err
	}
	defer release()
	if _, err := io.WriteString(conn, "zPING\x00"); err != nil {
		return daemonFailed(ctx, "clamd: ping", err).Err
	}
	reply, err := readClamdReply(conn)
	if err != nil {
		return daemonFailed(ctx, "clamd: ping", err).Err
	}
	if string(reply) != "PONG" {
		return fmt.Errorf("clamd: ping: unexpected reply %s", quoteDaemonReply(reply))
	}
	return nil
}

// clamdLimitError is clamd's refusal of a stream over its StreamMaxLength.
// It matches ErrTooLarge with errors.Is.
type clamdLimitError struct {
	size  int
	reply string
}

func (e *clamdLimitError) Error() string {
	return fmt.Sprintf("clamd: %d-byte message over the daemon's StreamMaxLength (%q): "+
		"raise StreamMaxLength in clamd.conf or lower the filter's max_bytes", e.size, e.reply)
}

func (e *clamdLimitError) Is(target error) bool { return target == ErrTooLarge }
