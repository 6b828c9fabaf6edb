package stdlib

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicemail/sluice/handoff"
)

func fixed(r handoff.Result) Scanner {
	return handoff.ScannerFunc(func(ctx context.Context, msg []byte) handoff.Result {
		if len(msg) == 0 {
			return handoff.Result{Verdict: handoff.Error, Err: errors.New("empty message")}
		}
		return r
	})
}

func TestPluginScan(t *testing.T) {
	svc := Services{Filters: map[string]Filter{
		"av":   {Scanner: fixed(handoff.Result{Verdict: handoff.Infected, Name: "Eicar", Duration: 3 * time.Millisecond, Log: []string{"scanned"}})},
		"sa":   {Scanner: fixed(handoff.Result{Verdict: handoff.Spam, Score: 13.1, Threshold: 5, Symbols: []string{"Z_RULE", "A_RULE"}})},
		"rw":   {Scanner: fixed(handoff.Result{Verdict: handoff.Clean, Modified: []byte("Subject: rewritten\r\n\r\nnew body\r\n")})},
		"down": {Scanner: fixed(handoff.Result{Verdict: handoff.Timeout, Err: errors.New("deadline")}), OnError: "reject"},
	}}
	m := newTestMsg(mixed)
	got, err := luaRunWith(t, m, Limits{}, svc, false, `function f(msg)
	  local av = plugin.scan("av", msg)
	  local sa = plugin.scan("sa", msg)
	  local rw = plugin.scan("rw", msg)
	  return {av.verdict, av.name, av.duration_ms, av.log[1], sa.verdict, sa.score, sa.symbols, rw.modified, msg:subject(), msg:text()}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"infected", "Eicar", int64(3), "scanned", "spam", 13.1, []any{"A_RULE", "Z_RULE"}, true, "rewritten", "new body\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if m.TakeFilterFailure() != nil {
		t.Error("a failure recorded for successful scans")
	}
	got, err = luaRunWith(t, m, Limits{}, svc, false, `function f(msg)
	  local r = plugin.scan("down", msg)
	  return {r.verdict, r.error}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"timeout", "deadline"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	f := m.TakeFilterFailure()
	if f == nil || f.Filter != "down" || f.Policy != "reject" {
		t.Errorf("failure = %+v, want down/reject", f)
	}
	_, err = luaRunWith(t, m, Limits{}, svc, false, `function f(msg) plugin.scan("nope", msg) end`)
	if err == nil || !strings.Contains(err.Error(), `no filter "nope"`) {
		t.Errorf("unknown filter: %v", err)
	}
}

// A filter skipped because its breaker is open left the message unchecked:
// its on_error applies as for a timeout. One switched off on purpose (a
// folder filter without .active) does not fail the message.
func TestPluginScanDisabled(t *testing.T) {
	svc := Services{Filters: map[string]Filter{
		"broken": {Scanner: fixed(handoff.Result{Verdict: handoff.Disabled, Err: fmt.Errorf("filter broken: %w", handoff.ErrBreakerOpen)}), OnError: "quarantine"},
		"off":    {Scanner: fixed(handoff.Result{Verdict: handoff.Disabled, Err: handoff.ErrNotActive}), OnError: "reject"},
	}}
	for _, tc := range []struct {
		filter, policy string
	}{{"broken", "quarantine"}, {"off", ""}} {
		m := newTestMsg(mixed)
		got, err := luaRunWith(t, m, Limits{}, svc, false, `function f(msg) return plugin.scan("`+tc.filter+`", msg).verdict end`)
		if err != nil || got != "disabled" {
			t.Fatalf("%s: %v, %v", tc.filter, got, err)
		}
		f := m.TakeFilterFailure()
		switch {
		case tc.policy == "" && f != nil:
			t.Errorf("%s: failure %+v recorded for a filter switched off", tc.filter, f)
		case tc.policy != "" && (f == nil || f.Policy != tc.policy):
			t.Errorf("%s: failure = %+v, want policy %s", tc.filter, f, tc.policy)
		}
	}
}
