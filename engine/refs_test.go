package engine

import (
	"context"
	"errors"
	"strings"
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

// Modules listed in Options.Modules are compiled by New: a broken one fails
// it with file:line, and a good one is not read again after New.
func TestModulesUpFront(t *testing.T) {
	src := files{
		"scripts/s.lua":     `function on_data(msg) msg:set_header("X-V", require("lib.v").v) end`,
		"scripts/lib/v.lua": `return {v = "A"}`,
	}
	opt := Options{
		Stages:   []Stage{{Name: "s", Script: "scripts/s.lua"}},
		ReadFile: src.read,
		Modules:  []string{"scripts/lib/v.lua"},
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src["scripts/lib/v.lua"] = `return {v = "B"}`
	m := &stdlib.Msg{Body: message.New([]byte(testMessage), message.Options{})}
	e.Run(context.Background(), "on_data", m, &Result{})
	if got := m.Body.Header("X-V"); got != "A" {
		t.Errorf("X-V = %q: the module was read again after New", got)
	}

	src["scripts/lib/v.lua"] = "return {v = \n"
	_, err = New(opt)
	if err == nil || !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), "scripts/lib/v.lua:") {
		t.Errorf("New with a broken module: %v; want ErrScript at scripts/lib/v.lua:LINE", err)
	}
}

// math.random with an empty interval is a Lua error at the script's line,
// as in Lua 5.1, not a panic inside gopher-lua that discards the state.
func TestMathRandomEmptyInterval(t *testing.T) {
	e := newEngine(t, `function on_data(msg)
  local a, b = math.random(3), math.random(2, 4)
  if a < 1 or a > 3 or b < 2 or b > 4 then error("out of range") end
  local ok1, e1 = pcall(math.random, 0)
  local ok2, e2 = pcall(math.random, 5, 1)
  msg:set_header("X-E", tostring(ok1) .. " " .. e1 .. " / " .. tostring(ok2) .. " " .. e2)
end`)
	m := &stdlib.Msg{Body: message.New([]byte(testMessage), message.Options{})}
	if v := e.Run(context.Background(), "on_data", m, &Result{}); v.Kind != Continue {
		t.Fatalf("verdict %v", v)
	}
	want := "false scripts/s.lua:4: bad argument #1 to 'random' (interval is empty) / " +
		"false scripts/s.lua:5: bad argument #2 to 'random' (interval is empty)"
	if got := m.Body.Header("X-E"); got != want {
		t.Errorf("X-E = %q\nwant  %q", got, want)
	}
}
