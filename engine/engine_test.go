package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVerdicts(t *testing.T) {
	tests := []struct {
		src  string
		want Verdict
	}{
		{`function on_data(msg) end`, Verdict{Kind: Accept, Code: 250, Enhanced: "2.0.0", Text: "ok"}},
		{`function on_data(msg) return accept() end`, Verdict{Kind: Accept, Code: 250, Enhanced: "2.0.0", Text: "ok"}},
		{`function on_data(msg) return reject("no") end`, Verdict{Kind: Reject, Code: 550, Enhanced: "5.7.1", Text: "no"}},
		{`function on_data(msg) return reject(554, "no") end`, Verdict{Kind: Reject, Code: 554, Enhanced: "5.7.1", Text: "no"}},
		{`function on_data(msg) return reject("5.7.1", "virus found: X") end`, Verdict{Kind: Reject, Code: 550, Enhanced: "5.7.1", Text: "virus found: X"}},
		{`function on_data(msg) return reject(552, "5.3.4", "too big") end`, Verdict{Kind: Reject, Code: 552, Enhanced: "5.3.4", Text: "too big"}},
		{`function on_data(msg) return reject("line\r\n250 injected") end`, Verdict{Kind: Reject, Code: 550, Enhanced: "5.7.1", Text: "line  250 injected"}},
		{`function on_data(msg) return tempfail("later") end`, Verdict{Kind: Tempfail, Code: 451, Enhanced: "4.7.1", Text: "later"}},
		{`function on_data(msg) return tempfail(421, "4.3.2", "busy") end`, Verdict{Kind: Tempfail, Code: 421, Enhanced: "4.3.2", Text: "busy"}},
		{`function on_data(msg) return discard() end`, Verdict{Kind: Discard, Code: 250, Enhanced: "2.0.0", Text: "ok"}},
		{`function on_data(msg) return quarantine("looks odd") end`, Verdict{Kind: Quarantine, Code: 250, Enhanced: "2.0.0", Text: "looks odd"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			r, _ := runData(t, newEngine(t, tt.src))
			got := Verdict{Kind: r.Verdict, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadVerdictsArePolicy(t *testing.T) {
	for _, src := range []string{
		`function on_data(msg) return reject(250, "no") end`,
		`function on_data(msg) return tempfail("5.1.1", "x") end`,
		`function on_data(msg) return "accept" end`,
		`function on_data(msg) return reject({}) end`,
	} {
		t.Run(src, func(t *testing.T) {
			r, _ := runData(t, newEngine(t, src))
			if r.Verdict != Tempfail || r.Stages[0].Error == "" {
				t.Fatalf("got %s (%q), want tempfail with an error", r.Verdict, r.Stages[0].Error)
			}
			if !strings.HasPrefix(r.Stages[0].Error, "scripts/s.lua") {
				t.Errorf("error %q does not start with the script path", r.Stages[0].Error)
			}
		})
	}
}

func TestPipelineOrderAndStop(t *testing.T) {
	fs := files{
		"scripts/a.lua": `function on_data(msg) msg.vars.seen = (msg.vars.seen or "") .. "a" end
		                  function on_queue(msg) msg.vars.seen = msg.vars.seen .. "A" end`,
		"scripts/b.lua": `function on_data(msg) msg.vars.seen = msg.vars.seen .. "b" ; msg:fileinto("Orders") end
		                  function on_queue(msg) msg.vars.seen = msg.vars.seen .. "B"; return discard() end`,
		"scripts/c.lua": `function on_queue(msg) msg.vars.seen = msg.vars.seen .. "C" end`,
	}
	e := newEngine(t, "", func(o *Options) {
		o.ReadFile = fs.read
		o.Stages = []Stage{{Name: "a", Script: "scripts/a.lua"}, {Name: "b", Script: "scripts/b.lua"}, {Name: "c", Script: "scripts/c.lua"}}
	})
	m := newMsg(testMessage)
	r := e.Pipeline(context.Background(), m)
	if got := m.Vars["seen"]; got != "abAB" {
		t.Errorf("stages ran as %q, want abAB (c must not run after discard)", got)
	}
	if r.Verdict != Discard {
		t.Errorf("verdict %q, want discard", r.Verdict)
	}
	var trace []string
	for _, s := range r.Stages {
		trace = append(trace, s.Hook+":"+s.Name+":"+s.Verdict)
	}
	want := []string{"on_data:a:continue", "on_data:b:continue", "on_queue:a:continue", "on_queue:b:discard"}
	if diff := cmp.Diff(want, trace); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if len(r.Actions) != 1 || r.Actions[0].Kind != "fileinto" || r.Actions[0].Folder != "Orders" || r.Actions[0].Stage != "b" {
		t.Errorf("actions = %+v, want one fileinto Orders from b", r.Actions)
	}
}

func TestRejectStopsBeforeQueue(t *testing.T) {
	e := newEngine(t, `function on_data(msg) return reject("no") end
	                   function on_queue(msg) error("must not run") end`)
	r := e.Pipeline(context.Background(), newMsg(testMessage))
	if r.Verdict != Reject || len(r.Stages) != 1 {
		t.Fatalf("got %s after %d calls, want reject after 1", r.Verdict, len(r.Stages))
	}
}

func TestErrorsCarryScriptLine(t *testing.T) {
	tests := []struct{ src, want string }{
		{"function on_data(msg)\n  local x = nil\n  return x.y\nend", "scripts/s.lua:3:"},
		{"function on_data(msg)\n\n  error('boom')\nend", "scripts/s.lua:3: boom"},
		{"function on_data(msg)\n  msg:fileinto('../etc')\nend", "scripts/s.lua:2:"},
		{"function on_data(msg)\n  msg:set_header('Bad Name', 'x')\nend", "scripts/s.lua:2:"},
	}
	for _, tt := range tests {
		r, _ := runData(t, newEngine(t, tt.src))
		if len(r.Stages) != 1 || !strings.HasPrefix(r.Stages[0].Error, tt.want) {
			t.Errorf("%q: error %q, want prefix %q", tt.src, r.Stages[0].Error, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"function on_data(msg)\n  if x then\nend", "scripts/s.lua: at end of file"},
		{"local x = = 2", "scripts/s.lua:1:11:"},
		{"\n\nerror('at load')", "scripts/s.lua:3: at load"},
	}
	for _, tt := range tests {
		_, err := New(Options{
			Stages:   []Stage{{Name: "s", Script: "scripts/s.lua"}},
			ReadFile: files{"scripts/s.lua": tt.src}.read,
		})
		if err == nil || !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want ErrScript containing %q", tt.src, err, tt.want)
		}
	}
	_, err := New(Options{Stages: []Stage{{Name: "s", Script: "missing.lua"}}, ReadFile: files{}.read})
	if err == nil || !strings.Contains(err.Error(), "missing.lua") {
		t.Errorf("missing script: got %v", err)
	}
}

func TestOnErrorPolicies(t *testing.T) {
	for _, tt := range []struct{ policy, want string }{
		{OnErrorTempfail, Tempfail}, {"", Tempfail}, {OnErrorReject, Reject},
		{OnErrorQuarantine, Quarantine}, {OnErrorAccept, Accept},
	} {
		e := newEngine(t, `function on_data(msg) error("secret /etc/path") end`, func(o *Options) {
			o.Stages[0].OnError = tt.policy
		})
		r, _ := runData(t, e)
		if r.Verdict != tt.want {
			t.Errorf("on_error %q: verdict %q, want %q", tt.policy, r.Verdict, tt.want)
		}
		if tt.want != Quarantine && strings.Contains(r.Text, "secret") {
			t.Errorf("on_error %q: reply text %q leaks the script error", tt.policy, r.Text)
		}
	}
}

// A run must not see what an earlier run wrote: globals, top-level locals,
// library tables, metatables.
func TestIsolationBetweenRuns(t *testing.T) {
	src := `
local cache = {}
counter = counter
function on_data(msg)
  local leaks = {}
  if counter ~= nil then table.insert(leaks, "global") end
  if next(cache) ~= nil then table.insert(leaks, "upvalue") end
  if string.evil ~= nil then table.insert(leaks, "string") end
  if rawget(string, "evil") ~= nil then table.insert(leaks, "rawset string") end
  if ("x").evil ~= nil then table.insert(leaks, "string metatable") end
  if _G.planted ~= nil then table.insert(leaks, "_G") end
  if math.pi ~= 3.141592653589793 then table.insert(leaks, "math") end
  msg.vars.leaks = table.concat(leaks, ",")
  -- now try to plant things for the next run
  counter = 1
  cache.x = 1
  _G.planted = true
  pcall(function() string.evil = function() end end)
  pcall(function() math.pi = 3 end)
  pcall(function() getmetatable("").__index.evil = 1 end)
  pcall(function() setmetatable(string, {__index = {evil = 1}}) end)
  pcall(function() rawset(string, "evil", 1) end)
end`
	e := newEngine(t, src, func(o *Options) { o.States = 1 })
	for i := 0; i < 5; i++ {
		_, m := runData(t, e)
		if leaks := m.Vars["leaks"]; leaks != "" {
			t.Fatalf("run %d saw leaks from the previous run: %v", i, leaks)
		}
	}
}

func TestRequire(t *testing.T) {
	fs := files{
		"scripts/s.lua":        `local util = require("lib.util") function on_data(msg) msg.vars.x = util.twice(21) end`,
		"scripts/lib/util.lua": `local M = {} function M.twice(n) return 2 * n end return M`,
		"lib/secret.lua":       `return "outside"`,
	}
	e := newEngine(t, "", func(o *Options) { o.ReadFile = fs.read })
	_, m := runData(t, e)
	if m.Vars["x"] != int64(42) && m.Vars["x"] != float64(42) {
		t.Errorf("vars.x = %v (%T), want 42", m.Vars["x"], m.Vars["x"])
	}
	for _, name := range []string{"os", "io", "../lib/secret", "/etc/passwd", "lib/../../lib/secret", "debug"} {
		fs["scripts/s.lua"] = `function on_data(msg) require("` + name + `") end`
		e := newEngine(t, "", func(o *Options) { o.ReadFile = fs.read })
		r, _ := runData(t, e)
		if r.Verdict != Tempfail || r.Stages[0].Error == "" {
			t.Errorf("require(%q): verdict %s, want an error", name, r.Verdict)
		}
	}
}

func TestConcurrentRuns(t *testing.T) {
	e := newEngine(t, `function on_data(msg)
	  msg:set_header("X-Seen", msg.id)
	  msg.vars.subject = msg:subject()
	  msg:score(1, "ONE")
	end`, func(o *Options) { o.States = 3 })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				r, m := runData(t, e)
				if r.Verdict != Accept || m.Vars["subject"] != "café menu" || m.Score != 1 {
					t.Errorf("got %s %v %v", r.Verdict, m.Vars["subject"], m.Score)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPoolWaitHonoursDeadline(t *testing.T) {
	e := newEngine(t, `function on_data(msg) local t = 0 while true do t = t + 1 end end`, func(o *Options) {
		o.States = 1
		o.Stages[0].Timeout = 200 * time.Millisecond
	})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, _ := runData(t, e)
			if r.Verdict != Tempfail || time.Since(start) > time.Second {
				t.Errorf("got %s after %v", r.Verdict, time.Since(start))
			}
		}()
	}
	wg.Wait()
}
