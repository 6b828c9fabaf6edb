package handoff

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestRspamd(t *testing.T, addr string, threshold float64) Scanner {
	t.Helper()
	s, err := newRspamd(Spec{Kind: "rspamd", Address: addr, Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRspamdReal(t *testing.T) {
	for _, addr := range []string{rspamdTCPAddr, "http://" + rspamdTCPAddr + "/", "http://" + rspamdTCPAddr + "/checkv2", rspamdUnixAddr} {
		t.Run(addr, func(t *testing.T) {
			needDaemon(t, "rspamd", addr)
			tests := []struct {
				name      string
				sample    string
				threshold float64
				want      Verdict
				action    string
				symbol    string
			}{
				{"gtube", "gtube.eml", 0, Spam, "reject", "GTUBE"},
				{"spammy", "spammy.eml", 0, Spam, "reject", ""},
				// clean.eml scores ~3.4 here (no SMTP context: HFILTER_HOSTNAME_UNKNOWN)
				{"clean", "clean.eml", 0, Ham, "no action", "MIME_GOOD"},
				{"clean over a low threshold", "clean.eml", 0.5, Spam, "no action", "MIME_GOOD"},
				{"gtube under a high threshold", "gtube.eml", 100, Ham, "reject", "GTUBE"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := newTestRspamd(t, addr, tc.threshold).Scan(t.Context(), daemonSample(t, tc.sample))
					checkDaemonResult(t, r, tc.want, tc.action)
					if tc.symbol != "" && !slices.Contains(r.Symbols, tc.symbol) {
						t.Errorf("symbols %v, want %s among them", r.Symbols, tc.symbol)
					}
					if !slices.IsSorted(r.Symbols) {
						t.Errorf("symbols %v not sorted", r.Symbols)
					}
					if r.Threshold <= 0 || (tc.threshold > 0 && r.Threshold != tc.threshold) {
						t.Errorf("threshold %v (override %v)", r.Threshold, tc.threshold)
					}
				})
			}
			if err := newTestRspamd(t, addr, 0).(Pinger).Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

func TestRspamdUnreachable(t *testing.T) {
	for _, addr := range []string{daemonClosedAddr(t), "http://" + daemonClosedAddr(t), "unix:" + t.TempDir() + "/none.sock"} {
		s := newTestRspamd(t, addr, 0)
		checkDaemonResult(t, s.Scan(t.Context(), []byte("Subject: x\r\n\r\nx\r\n")), Error, "")
		if err := s.(Pinger).Ping(t.Context()); err == nil {
			t.Errorf("Ping %s: no error", addr)
		}
	}
}

func TestRspamdBadSpec(t *testing.T) {
	for _, spec := range []Spec{{Address: ""}, {Address: "http://"}, {Address: "nowhere"},
		{Address: "http://h:1/?q=1"}, {Address: "127.0.0.1:11333", Threshold: -2}} {
		if _, err := newRspamd(spec); err == nil {
			t.Errorf("newRspamd(%+v): no error", spec)
		}
	}
}

// fakeRspamd answers every request with status and body, and hands the
// requests it saw (method, path, body) to seen.
func fakeRspamd(t *testing.T, status int, body string, seen chan<- string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if seen != nil {
			seen <- r.Method + " " + r.URL.Path + " " + string(b)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRspamdProtocol(t *testing.T) {
	seen := make(chan string, 1)
	url := fakeRspamd(t, 200, `{"score":7.5,"required_score":15.0,"action":"add header",
		"symbols":{"Z_SYM":{"score":5},"A_SYM":{"score":2.5},"M_SYM":{}},
		"messages":{"smtp_message":"go away"}}`, seen)
	msg := daemonBigMessage(100<<10, nil)
	r := newTestRspamd(t, url, 0).Scan(t.Context(), msg)
	checkDaemonResult(t, r, Spam, "add header")
	if r.Score != 7.5 || r.Threshold != 15 || !slices.Equal(r.Symbols, []string{"A_SYM", "M_SYM", "Z_SYM"}) {
		t.Errorf("got score %v threshold %v symbols %v, want 7.5 15 [A_SYM M_SYM Z_SYM]", r.Score, r.Threshold, r.Symbols)
	}
	if !slices.Contains(r.Log, "rspamd: smtp_message: go away") {
		t.Errorf("log %q, want the smtp_message", r.Log)
	}
	if got, want := <-seen, "POST /checkv2 "+string(msg); got != want {
		t.Errorf("rspamd got %.40q…, want %.40q…", got, want)
	}
}

func TestRspamdFakeReplies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Verdict
	}{
		{"no action", 200, `{"score":1,"required_score":15,"action":"no action","symbols":{}}`, Ham},
		{"greylist", 200, `{"score":4.5,"required_score":15,"action":"greylist"}`, Ham},
		{"soft reject", 200, `{"score":0,"required_score":15,"action":"soft reject"}`, Ham},
		{"rewrite subject", 200, `{"score":9,"required_score":15,"action":"rewrite subject"}`, Spam},
		{"reject", 200, `{"score":16,"required_score":15,"action":"reject"}`, Spam},
		{"unknown action", 200, `{"score":1,"required_score":15,"action":"shrug"}`, Error},
		{"no action field", 200, `{"score":1,"required_score":15}`, Error},
		{"no score", 200, `{"action":"no action"}`, Error},
		{"error object", 200, `{"error":"cannot parse message"}`, Error},
		{"not JSON", 200, `Action: no action`, Error},
		{"truncated", 200, `{"score":1,"required_score":15,"action":"no act`, Error},
		{"empty", 200, ``, Error},
		{"HTTP 500", 500, `{"error":"invalid command","error_domain":"protocol-error"}`, Error},
		{"HTTP 404", 404, `{"score":1,"action":"no action"}`, Error},
		{"huge", 200, `{"score":1,"action":"no action","x":"` + strings.Repeat("x", rspamdMaxReply) + `"}`, Error},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeRspamd(t, tc.status, tc.body, nil)
			r := newTestRspamd(t, url, 0).Scan(t.Context(), daemonSample(t, "clean.eml"))
			if r.Verdict != tc.want || (r.Err != nil) != (tc.want == Error) {
				t.Errorf("got %q (err %v), want %q", r.Verdict, r.Err, tc.want)
			}
		})
	}
}

func TestRspamdHang(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := newTestRspamd(t, srv.URL, 0).Scan(ctx, bytes.Repeat([]byte("x"), 1000))
	checkDaemonResult(t, r, Timeout, "")
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("err %v, want one wrapping context.DeadlineExceeded", r.Err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Scan took %v after a 200ms deadline", d)
	}
}
