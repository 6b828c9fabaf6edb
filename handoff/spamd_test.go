package handoff

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestSpamd(t *testing.T, addr string, threshold float64) Scanner {
	t.Helper()
	s, err := newSpamd(Spec{Kind: "spamd", Address: addr, Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpamdReal(t *testing.T) {
	for _, addr := range []string{spamdUnixAddr, spamdTCPAddr} {
		t.Run(addr, func(t *testing.T) {
			needDaemon(t, "spamd", addr)
			tests := []struct {
				name      string
				sample    string
				threshold float64 // override; 0: the daemon's
				want      Verdict
				minScore  float64
				symbol    string // one of the symbols expected
				wantTh    float64
			}{
				{"gtube", "gtube.eml", 0, Spam, 1000, "GTUBE", 5},
				{"spammy", "spammy.eml", 0, Spam, 10, "ADVANCE_FEE_5_NEW_MONEY", 5},
				{"clean", "clean.eml", 0, Ham, -5, "NO_RELAYS", 5},
				{"spammy over a higher threshold", "spammy.eml", 50, Ham, 10, "LOTTO_AGENT", 50},
				{"clean under a lower threshold", "clean.eml", 0.001, Ham, -5, "", 0.001},
				{"gtube over a higher threshold", "gtube.eml", 2000, Ham, 1000, "GTUBE", 2000},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := newTestSpamd(t, addr, tc.threshold).Scan(t.Context(), daemonSample(t, tc.sample))
					checkDaemonResult(t, r, tc.want, "")
					if r.Score < tc.minScore || r.Threshold != tc.wantTh {
						t.Errorf("got score %v threshold %v, want score ≥ %v threshold %v",
							r.Score, r.Threshold, tc.minScore, tc.wantTh)
					}
					if tc.symbol != "" && !slices.Contains(r.Symbols, tc.symbol) {
						t.Errorf("symbols %v, want %s among them", r.Symbols, tc.symbol)
					}
					if !slices.IsSorted(r.Symbols) {
						t.Errorf("symbols %v not sorted", r.Symbols)
					}
				})
			}
			if err := newTestSpamd(t, addr, 0).(Pinger).Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

func TestSpamdUnreachable(t *testing.T) {
	for _, addr := range []string{daemonClosedAddr(t), "unix:" + filepath.Join(t.TempDir(), "none.sock")} {
		s := newTestSpamd(t, addr, 0)
		checkDaemonResult(t, s.Scan(t.Context(), []byte("Subject: x\r\n\r\nx\r\n")), Error, "")
		if err := s.(Pinger).Ping(t.Context()); err == nil {
			t.Errorf("Ping %s: no error", addr)
		}
	}
}

func TestSpamdBadSpec(t *testing.T) {
	for _, spec := range []Spec{{Address: ""}, {Address: "nowhere"}, {Address: "127.0.0.1:783", Threshold: -1}} {
		if _, err := newSpamd(spec); err == nil {
			t.Errorf("newSpamd(%+v): no error", spec)
		}
	}
}

// readSpamcRequest reads a SPAMC request as spamd does: the request line,
// the headers and Content-length bytes of message.
func readSpamcRequest(br *bufio.Reader) (line string, headers map[string]string, msg []byte, err error) {
	line, err = br.ReadString('\n')
	if err != nil {
		return "", nil, nil, err
	}
	headers = map[string]string{}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return "", nil, nil, err
		}
		if h == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimRight(h, "\r\n"), ": ")
		headers[name] = value
	}
	n, err := strconv.Atoi(headers["Content-length"])
	if err != nil {
		return "", nil, nil, err
	}
	msg = make([]byte, n)
	_, err = io.ReadFull(br, msg)
	return strings.TrimRight(line, "\r\n"), headers, msg, err
}

func TestSpamdProtocol(t *testing.T) {
	type request struct {
		line    string
		headers map[string]string
		msg     []byte
		eof     bool // the client closed its half after the message
	}
	ch := make(chan request, 1)
	addr := fakeDaemon(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, headers, msg, err := readSpamcRequest(br)
		if err != nil {
			t.Errorf("fake spamd: %v", err)
			return
		}
		_, err = br.ReadByte()
		ch <- request{line, headers, msg, err == io.EOF}
		io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: 17\r\nSpam: True ; 7.5 / 5.0\r\n\r\nZ_RULE,A_RULE,M_X")
	})
	msg := daemonBigMessage(100<<10, nil)
	r := newTestSpamd(t, addr, 0).Scan(t.Context(), msg)
	checkDaemonResult(t, r, Spam, "")
	if r.Score != 7.5 || r.Threshold != 5 || !slices.Equal(r.Symbols, []string{"A_RULE", "M_X", "Z_RULE"}) {
		t.Errorf("got score %v threshold %v symbols %v, want 7.5 5 [A_RULE M_X Z_RULE]", r.Score, r.Threshold, r.Symbols)
	}
	req := <-ch
	if req.line != "SYMBOLS SPAMC/1.5" || req.headers["User"] != "sluice" || !bytes.Equal(req.msg, msg) || !req.eof {
		t.Errorf("spamd got %q %v, %d bytes (want %d), end %v", req.line, req.headers, len(req.msg), len(msg), req.eof)
	}
}

// TestSpamdFakeReplies: every answer that is not a complete verdict is an
// Error, never Ham.
func TestSpamdFakeReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  Verdict
	}{
		{"ham", "SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: False ; 1.2 / 5.0\r\n\r\nA_B,C_D\r\n", Ham},
		{"spam, no symbols", "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; 5.0 / 5.0\r\n\r\n", Spam},
		{"spam, LF only, no length", "SPAMD/1.1 0 EX_OK\nSpam: yes ; 9 / 5\n\nX", Spam},
		{"0/0", "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0 / 0\r\n\r\n", Error},
		{"0.0/0.0", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 0.0\r\n\r\n", Error},
		{"no Spam header", "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n", Error},
		{"error code", "SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 5 bytes, got 4 bytes)\r\n", Error},
		{"EX_TEMPFAIL", "SPAMD/1.5 75 EX_TEMPFAIL\r\n\r\n", Error},
		{"bad flag", "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n", Error},
		{"bad numbers", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; x / y\r\n\r\n", Error},
		{"NaN", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; NaN / 5\r\n\r\n", Error},
		{"no separator", "SPAMD/1.1 0 EX_OK\r\nSpam: False 1 / 5\r\n\r\n", Error},
		{"garbage", "HTTP/1.1 200 OK\r\n\r\n", Error},
		{"binary", "\x00\x01\x02\r\n", Error},
		{"nothing", "", Error},
		{"cut in the headers", "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1 / 5\r\n", Error},
		{"cut in the symbols", "SPAMD/1.1 0 EX_OK\r\nContent-length: 100\r\nSpam: False ; 1 / 5\r\n\r\nA_B", Error},
		{"huge length", "SPAMD/1.1 0 EX_OK\r\nContent-length: 99999999999\r\nSpam: False ; 1 / 5\r\n\r\n", Error},
		{"endless line", "SPAMD/1.1 0 EX_OK\r\nX-Junk: " + strings.Repeat("x", 64<<10), Error},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeDaemon(t, func(c net.Conn) {
				if _, _, _, err := readSpamcRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, tc.reply)
			})
			r := newTestSpamd(t, addr, 0).Scan(t.Context(), daemonSample(t, "clean.eml"))
			checkDaemonResult(t, r, tc.want, "")
		})
	}
}

func TestSpamdHang(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c net.Conn, stop <-chan struct{})
	}{
		{"never reads", func(c net.Conn, stop <-chan struct{}) { <-stop }},
		{"never answers", func(c net.Conn, stop <-chan struct{}) {
			io.Copy(io.Discard, c)
			<-stop
		}},
		{"stops after the status line", func(c net.Conn, stop <-chan struct{}) {
			readSpamcRequest(bufio.NewReader(c))
			io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\n")
			<-stop
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			addr := fakeDaemon(t, func(c net.Conn) { tc.serve(c, stop) })
			t.Cleanup(func() { close(stop) }) // before fakeDaemon's: cleanups run last first
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			// 4 MiB: more than the socket buffers take, so the write blocks
			// when the fake does not read.
			r := newTestSpamd(t, addr, 0).Scan(ctx, daemonBigMessage(4<<20, nil))
			checkDaemonResult(t, r, Timeout, "")
			if !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Errorf("err %v, want one wrapping context.DeadlineExceeded", r.Err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Scan took %v after a 200ms deadline", d)
			}
		})
	}
}
