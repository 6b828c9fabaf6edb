package engine

import (
	"context"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// files maps script paths to their source, for Options.ReadFile.
type files map[string]string

func (f files) read(name string) ([]byte, error) {
	src, ok := f[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(src), nil
}

// testLogger sends the engine's logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newEngine builds an engine with one stage "s" running src as scripts/s.lua.
func newEngine(t testing.TB, src string, mod ...func(*Options)) *Engine {
	t.Helper()
	opt := Options{
		Stages:   []Stage{{Name: "s", Script: "scripts/s.lua", Timeout: 2 * time.Second}},
		ReadFile: files{"scripts/s.lua": src}.read,
		Logger:   testLogger(t),
		States:   2,
	}
	for _, m := range mod {
		m(&opt)
	}
	e, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: =?UTF-8?Q?caf=C3=A9?= menu\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hello Bob.\r\n"

// newMsg returns a message with an envelope around raw.
func newMsg(raw string) *stdlib.Msg {
	return &stdlib.Msg{
		ID:   "T1",
		From: "alice@example.org",
		Rcpt: []string{"bob@example.com"},
		Body: message.New([]byte(raw), message.Options{}),
	}
}

// runData runs on_data on a fresh test message.
func runData(t testing.TB, e *Engine) (*Result, *stdlib.Msg) {
	t.Helper()
	m := newMsg(testMessage)
	return runMsg(t, e, m), m
}

// runMsg runs on_data on m.
func runMsg(t testing.TB, e *Engine, m *stdlib.Msg) *Result {
	t.Helper()
	r := &Result{}
	e.Run(context.Background(), "on_data", m, r)
	r.finish(m)
	return r
}
