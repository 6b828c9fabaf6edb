package handoff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// spamdMaxReply caps what is read of spamd's answer.
const spamdMaxReply = 1 << 20

// spamd asks SpamAssassin's daemon over the SPAMC/1.5 protocol (command
// SYMBOLS), one connection per scan.
type spamd struct {
	addr      daemonAddr
	threshold float64 // > 0: overrides the daemon's required score
	timeout   time.Duration
}

// newSpamd builds the spamd scanner of spec: spec.Address is "unix:/path"
// or "host:port"; spec.Threshold, when above zero, replaces the daemon's
// required score.
func newSpamd(spec Spec) (Scanner, error) {
	a, err := parseDaemonAddr(spec.Address)
	if err != nil {
		return nil, fmt.Errorf("handoff: spamd: %w", err)
	}
	if spec.Threshold < 0 || math.IsNaN(spec.Threshold) || math.IsInf(spec.Threshold, 0) {
		return nil, fmt.Errorf("handoff: spamd: bad threshold %v", spec.Threshold)
	}
	return &spamd{addr: a, threshold: spec.Threshold, timeout: spec.Timeout}, nil
}

// Scan asks spamd for the score and the symbols of msg. Spam or Ham comes
// only from a complete "SPAMD/1.x 0 EX_OK" answer with a "Spam:" header
// and a positive threshold; anything else (an error code, a missing or
// "0 / 0" Spam header, a connection that fails) is Error, or Timeout when
// ctx's deadline passes first. Without an override the daemon's own
// True/False decides, as it compares the unrounded score.
func (s *spamd) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	r := s.scan(ctx, msg)
	r.Duration = time.Since(start)
	return r
}

func (s *spamd) scan(ctx context.Context, msg []byte) Result {
	ctx, cancel := daemonContext(ctx, s.timeout)
	defer cancel()
	conn, release, err := dialDaemon(ctx, s.addr)
	if err != nil {
		return daemonFailed(ctx, "spamd: connect to "+s.addr.String(), err)
	}
	defer release()

	head := fmt.Sprintf("SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\nUser: sluice\r\n\r\n", len(msg))
	bufs := net.Buffers{[]byte(head), msg}
	if _, err := bufs.WriteTo(conn); err != nil {
		return daemonFailed(ctx, "spamd: send message", err)
	}
	// As spamc does: the end of the request is the end of our half.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	rep, err := readSpamdReply(bufio.NewReader(io.LimitReader(conn, spamdMaxReply)))
	if err != nil {
		if errors.Is(err, errSpamdRefused) {
			return Result{Verdict: Error, Err: err}
		}
		return daemonFailed(ctx, "spamd: read reply", err)
	}
	return s.result(rep)
}

// errSpamdRefused marks an answer that spamd gave completely but that is
// not a verdict.
var errSpamdRefused = errors.New("spamd: answer refused")

// spamdReply is spamd's answer to SYMBOLS.
type spamdReply struct {
	spam             bool // the daemon's own decision
	score, threshold float64
	symbols          []string
}

// readSpamdReply reads "SPAMD/1.x 0 EX_OK", the headers and the body (the
// comma-separated symbols).
func readSpamdReply(br *bufio.Reader) (spamdReply, error) {
	var rep spamdReply
	line, err := readSpamdLine(br)
	if err != nil {
		return rep, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	codeText, status, _ := strings.Cut(rest, " ")
	code, cerr := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "SPAMD/") || cerr != nil {
		return rep, fmt.Errorf("%w: not a SPAMD answer: %s", errSpamdRefused, quoteDaemonReply([]byte(line)))
	}
	if code != 0 {
		return rep, fmt.Errorf("%w: code %d %s", errSpamdRefused, code, status)
	}

	length, haveSpam := -1, false
	for {
		line, err := readSpamdLine(br)
		if err != nil {
			return rep, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return rep, fmt.Errorf("%w: bad header line %s", errSpamdRefused, quoteDaemonReply([]byte(line)))
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			length, err = strconv.Atoi(value)
			if err != nil || length < 0 || length > spamdMaxReply {
				return rep, fmt.Errorf("%w: bad Content-length %q", errSpamdRefused, value)
			}
		case "spam":
			if rep.spam, rep.score, rep.threshold, err = parseSpamHeader(value); err != nil {
				return rep, err
			}
			haveSpam = true
		}
	}
	if !haveSpam {
		return rep, fmt.Errorf("%w: no Spam header: the message was not scanned", errSpamdRefused)
	}

	var body []byte
	if length >= 0 {
		body = make([]byte, length)
		_, err = io.ReadFull(br, body)
	} else {
		body, err = io.ReadAll(br)
	}
	if err != nil {
		return rep, fmt.Errorf("symbols: %w", err)
	}
	for sym := range strings.SplitSeq(string(body), ",") {
		if sym = strings.TrimSpace(sym); sym != "" {
			rep.symbols = append(rep.symbols, sym)
		}
	}
	slices.Sort(rep.symbols)
	return rep, nil
}

// readSpamdLine reads one CRLF (or LF) terminated line.
func readSpamdLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("%w: line longer than %d bytes", errSpamdRefused, br.Size())
	}
	if err == io.EOF {
		if len(line) == 0 {
			return "", errors.New("connection closed without a complete answer")
		}
		return "", fmt.Errorf("answer cut short: %s", quoteDaemonReply(line))
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// parseSpamHeader reads "True ; 1000.0 / 5.0". A threshold of zero or less
// (spamc's "0/0") means the message was not scanned.
func parseSpamHeader(v string) (spam bool, score, threshold float64, err error) {
	bad := func() error { return fmt.Errorf("%w: bad Spam header %q", errSpamdRefused, v) }
	flag, nums, ok := strings.Cut(v, ";")
	if !ok {
		return false, 0, 0, bad()
	}
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "true", "yes":
		spam = true
	case "false", "no":
	default:
		return false, 0, 0, bad()
	}
	sc, th, ok := strings.Cut(nums, "/")
	if !ok {
		return false, 0, 0, bad()
	}
	score, err1 := strconv.ParseFloat(strings.TrimSpace(sc), 64)
	threshold, err2 := strconv.ParseFloat(strings.TrimSpace(th), 64)
	if err1 != nil || err2 != nil || math.IsNaN(score) || math.IsInf(score, 0) ||
		math.IsNaN(threshold) || math.IsInf(threshold, 0) {
		return false, 0, 0, bad()
	}
	if threshold <= 0 {
		return false, 0, 0, fmt.Errorf("%w: Spam header %q: threshold %v, the message was not scanned",
			errSpamdRefused, v, threshold)
	}
	if score == 0 {
		score = 0 // spamd prints "-0.0"
	}
	return spam, score, threshold, nil
}

// result turns a complete answer into a verdict.
func (s *spamd) result(rep spamdReply) Result {
	r := Result{Verdict: Ham, Score: rep.score, Threshold: rep.threshold, Symbols: rep.symbols}
	spam := rep.spam
	if s.threshold > 0 {
		r.Threshold = s.threshold
		spam = rep.score >= s.threshold
	}
	if spam {
		r.Verdict = Spam
	}
	return r
}

// Ping sends PING and expects "SPAMD/1.x 0 PONG".
func (s *spamd) Ping(ctx context.Context) error {
	ctx, cancel := daemonContext(ctx, s.timeout)
	defer cancel()
	conn, release, err := dialDaemon(ctx, s.addr)
	if err != nil {
		return daemonFailed(ctx, "spamd: connect to "+s.addr.String(), err).Err
	}
	defer release()
	if _, err := io.WriteString(conn, "PING SPAMC/1.5\r\n\r\n"); err != nil {
		return daemonFailed(ctx, "spamd: ping", err).Err
	}
	line, err := readSpamdLine(bufio.NewReader(io.LimitReader(conn, 4<<10)))
	if err != nil {
		return daemonFailed(ctx, "spamd: ping", err).Err
	}
	if proto, rest, _ := strings.Cut(line, " "); !strings.HasPrefix(proto, "SPAMD/") || rest != "0 PONG" {
		return fmt.Errorf("spamd: ping: unexpected reply %s", quoteDaemonReply([]byte(line)))
	}
	return nil
}
