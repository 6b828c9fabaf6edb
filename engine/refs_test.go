package engine

import (
	"context"
	"testing"
	"time"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// A hold keeps a closed engine usable until it is released; OnClose runs
// once, at the last release, and a shut engine cannot be acquired again.
func TestAcquireRelease(t *testing.T) {
	closed := 0
	e, err := New(Options{
		Stages:   []Stage{{Name: "s", Script: "scripts/s.lua", Timeout: 2 * time.Second}},
		ReadFile: files{"scripts/s.lua": `function on_data(msg) msg:set_header("X-Gen", "1") end`}.read,
		Version:  "v1",
		OnClose:  func() { closed++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.Version() != "v1" {
		t.Errorf("Version = %q", e.Version())
	}
	if !e.Acquire() {
		t.Fatal("Acquire on an open engine failed")
	}
	e.Close()
	if closed != 0 {
		t.Fatal("OnClose ran while a hold was outstanding")
	}
	m := &stdlib.Msg{Body: message.New([]byte(testMessage), message.Options{})}
	if v := e.Run(context.Background(), "on_data", m, &Result{}); v.Kind != Continue {
		t.Errorf("run on a held engine after Close: %v", v)
	}
	if got := m.Body.Header("X-Gen"); got != "1" {
		t.Errorf("X-Gen = %q, want 1", got)
	}
	e.Release()
	if closed != 1 {
		t.Fatalf("OnClose ran %d times, want 1", closed)
	}
	if e.Acquire() {
		t.Error("Acquire succeeded on a shut engine")
	}
	defer func() {
		if recover() == nil {
			t.Error("Release without a hold did not panic")
		}
	}()
	e.Release()
}
