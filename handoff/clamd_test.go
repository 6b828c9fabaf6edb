package handoff

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// daemonEICARHex is the EICAR test string, kept as hex so that this file is not
// itself flagged by a virus scanner.
const daemonEICARHex = "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a"

const daemonEICARName = "Eicar-Test-Signature.UNOFFICIAL"

func daemonEICAR(t *testing.T) []byte {
	b, err := hex.DecodeString(daemonEICARHex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// daemonBigMessage is a plain-text message of about size bytes with extra in
// the last line of its body.
func daemonBigMessage(size int, extra []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.com\r\nSubject: big\r\n\r\n")
	for b.Len() < size {
		b.WriteString("All work and no play makes Jack a dull boy. 0123456789\r\n")
	}
	b.Write(extra)
	b.WriteString("\r\n")
	return b.Bytes()
}

func newTestClamd(t *testing.T, addr string) Scanner {
	t.Helper()
	s, err := newClamd(Spec{Kind: "clamd", Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClamdReal(t *testing.T) {
	for _, addr := range []string{clamdUnixAddr, clamdTCPAddr} {
		t.Run(addr, func(t *testing.T) {
			needDaemon(t, "clamd", addr)
			tests := []struct {
				name string
				msg  []byte
				want Verdict
				virs string
			}{
				{"eicar.eml", daemonSample(t, "eicar.eml"), Infected, daemonEICARName},
				{"clean.eml", daemonSample(t, "clean.eml"), Clean, ""},
				{"empty", nil, Clean, ""},
				// several 64 KiB chunks, the virus in the last one
				{"300KiB+eicar", daemonBigMessage(300<<10, daemonEICAR(t)), Infected, daemonEICARName},
				{"300KiB", daemonBigMessage(300<<10, nil), Clean, ""},
			}
			s := newTestClamd(t, addr)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := s.Scan(t.Context(), tc.msg)
					checkDaemonResult(t, r, tc.want, tc.virs)
					if r.Duration <= 0 {
						t.Errorf("Duration %v, want > 0", r.Duration)
					}
				})
			}
			if err := s.(Pinger).Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

func TestClamdUnreachable(t *testing.T) {
	for _, addr := range []string{daemonClosedAddr(t), "unix:" + filepath.Join(t.TempDir(), "none.sock")} {
		s := newTestClamd(t, addr)
		r := s.Scan(t.Context(), []byte("Subject: x\r\n\r\nx\r\n"))
		checkDaemonResult(t, r, Error, "")
		if err := s.(Pinger).Ping(t.Context()); err == nil {
			t.Errorf("Ping %s: no error", addr)
		}
	}
}

func TestClamdBadAddress(t *testing.T) {
	for _, addr := range []string{"", "unix:", "localhost", ":3310", "host:"} {
		if _, err := newClamd(Spec{Kind: "clamd", Address: addr}); err == nil {
			t.Errorf("newClamd(%q): no error", addr)
		}
	}
}

// readClamdInstream reads an INSTREAM command as clamd does and returns the
// message and the chunk sizes.
func readClamdInstream(c net.Conn) ([]byte, []int, error) {
	cmd := make([]byte, len("zINSTREAM\x00"))
	if _, err := io.ReadFull(c, cmd); err != nil {
		return nil, nil, err
	}
	if string(cmd) != "zINSTREAM\x00" {
		return nil, nil, errors.New("bad command " + string(cmd))
	}
	var msg []byte
	var sizes []int
	for {
		var n uint32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return nil, nil, err
		}
		if n == 0 {
			return msg, sizes, nil
		}
		sizes = append(sizes, int(n))
		chunk := make([]byte, n)
		if _, err := io.ReadFull(c, chunk); err != nil {
			return nil, nil, err
		}
		msg = append(msg, chunk...)
	}
}

func TestClamdProtocol(t *testing.T) {
	type got struct {
		msg   []byte
		sizes []int
	}
	ch := make(chan got, 1)
	addr := fakeDaemon(t, func(c net.Conn) {
		msg, sizes, err := readClamdInstream(c)
		if err != nil {
			t.Errorf("fake clamd: %v", err)
			return
		}
		ch <- got{msg, sizes}
		io.WriteString(c, "stream: OK\x00")
	})
	msg := daemonBigMessage(200<<10, nil)
	r := newTestClamd(t, addr).Scan(t.Context(), msg)
	checkDaemonResult(t, r, Clean, "")
	g := <-ch
	if !bytes.Equal(g.msg, msg) {
		t.Errorf("clamd got %d bytes, want the %d-byte message", len(g.msg), len(msg))
	}
	for _, n := range g.sizes {
		if n > clamdChunk {
			t.Errorf("chunk of %d bytes, want at most %d", n, clamdChunk)
		}
	}
	if want := (len(msg) + clamdChunk - 1) / clamdChunk; len(g.sizes) != want {
		t.Errorf("got %d chunks, want %d", len(g.sizes), want)
	}
}

func TestClamdFakeReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply string // after the whole stream; "" = hang up without a word
		want  Verdict
		virus string
	}{
		{"ok", "stream: OK\x00", Clean, ""},
		{"found", "stream: Some.Virus-1 FOUND\x00", Infected, "Some.Virus-1"},
		{"found without a name", "stream:  FOUND\x00", Error, ""},
		{"error", "stream: Can't allocate memory ERROR\x00", Error, ""},
		{"size limit", "INSTREAM size limit exceeded. ERROR\x00", Error, ""},
		{"unknown command", "UNKNOWN COMMAND\x00", Error, ""},
		{"garbage", "HTTP/1.1 400 Bad Request\r\n\r\n\x00", Error, ""},
		{"no NUL", "stream: OK", Error, ""},
		{"hang up", "", Error, ""},
		{"endless", strings.Repeat("x", 10<<10), Error, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeDaemon(t, func(c net.Conn) {
				if _, _, err := readClamdInstream(c); err != nil {
					return
				}
				io.WriteString(c, tc.reply)
			})
			r := newTestClamd(t, addr).Scan(t.Context(), daemonSample(t, "clean.eml"))
			checkDaemonResult(t, r, tc.want, tc.virus)
			if tc.name == "size limit" && !errors.Is(r.Err, ErrTooLarge) {
				t.Errorf("err %v, want one wrapping ErrTooLarge", r.Err)
			}
		})
	}
}

// TestClamdEarlyReply: clamd refuses a stream over StreamMaxLength as soon
// as it sees it and hangs up; the reply must still be read.
func TestClamdEarlyReply(t *testing.T) {
	addr := fakeDaemon(t, func(c net.Conn) {
		var hdr [14]byte // the command and the first chunk's size
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		io.WriteString(c, "INSTREAM size limit exceeded. ERROR\x00")
		io.Copy(io.Discard, c) // let the client finish, as clamd does
	})
	r := newTestClamd(t, addr).Scan(t.Context(), daemonBigMessage(1<<20, nil))
	checkDaemonResult(t, r, Error, "")
	if !errors.Is(r.Err, ErrTooLarge) {
		t.Errorf("err %v, want one wrapping ErrTooLarge", r.Err)
	}
}

// TestClamdEarlyOK: an answer of OK before the whole message was sent
// cannot be a verdict on it.
func TestClamdEarlyOK(t *testing.T) {
	addr := fakeDaemon(t, func(c net.Conn) {
		var hdr [14]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		io.WriteString(c, "stream: OK\x00")
	})
	// 16 MiB: more than the socket buffers hold, so the write fails
	r := newTestClamd(t, addr).Scan(t.Context(), daemonBigMessage(16<<20, nil))
	checkDaemonResult(t, r, Error, "")
}

func TestClamdHang(t *testing.T) {
	addr := fakeDaemon(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // reads everything, never answers
	})
	s := newTestClamd(t, addr)
	msg := daemonSample(t, "clean.eml")

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := s.Scan(ctx, msg)
	checkDaemonResult(t, r, Timeout, "")
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("err %v, want one wrapping context.DeadlineExceeded", r.Err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Scan took %v after a 200ms deadline", d)
	}

	// Cancelled without a deadline: unblocked too, an Error.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	r = s.Scan(ctx, msg)
	checkDaemonResult(t, r, Error, "")
	if !errors.Is(r.Err, context.Canceled) {
		t.Errorf("err %v, want one wrapping context.Canceled", r.Err)
	}

	// The filter's own timeout applies as well.
	s, err := newClamd(Spec{Kind: "clamd", Address: addr, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkDaemonResult(t, s.Scan(t.Context(), msg), Timeout, "")
}

// privateClamd starts a clamd of this test's own with a small
// StreamMaxLength on a unix socket in a temporary folder, or skips.
func privateClamd(t *testing.T, streamMax string) string {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		bin = "/usr/sbin/clamd"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("clamd not installed (run shared/tools/install-filters.sh)")
		}
	}
	db := daemonEnv("CLAMAV_TEST_DB", "/var/lib/clamav-test")
	if _, err := os.Stat(filepath.Join(db, "eicar.ndb")); err != nil {
		t.Skipf("no EICAR database: %v (run shared/tools/install-filters.sh)", err)
	}
	dir, err := os.MkdirTemp("", "clamd") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	conf := "LocalSocket " + sock + "\nDatabaseDirectory " + db + "\nForeground true\n" +
		"StreamMaxLength " + streamMax + "\nLogFile " + filepath.Join(dir, "log") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "conf"))
	if err := cmd.Start(); err != nil {
		t.Skipf("start clamd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := "unix:" + sock
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if daemonPing("clamd", addr) == nil {
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Skipf("private clamd did not answer in 20s; log:\n%s", log)
		}
	}
}

func TestClamdStreamMaxLengthReal(t *testing.T) {
	addr := privateClamd(t, "4K")
	s := newTestClamd(t, addr)
	checkDaemonResult(t, s.Scan(t.Context(), daemonSample(t, "clean.eml")), Clean, "")
	for _, size := range []int{8 << 10, 1 << 20} {
		r := s.Scan(t.Context(), daemonBigMessage(size, nil))
		checkDaemonResult(t, r, Error, "")
		if !errors.Is(r.Err, ErrTooLarge) {
			t.Errorf("%d bytes: err %v, want one wrapping ErrTooLarge", size, r.Err)
		}
	}
}
