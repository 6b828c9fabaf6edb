package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/stdlib"
)

// A script that ignores a failed scan cannot let the message through: the
// filter's on_error policy applies when the hook returns.
func TestFilterFailurePolicy(t *testing.T) {
	failing := handoff.ScannerFunc(func(ctx context.Context, msg []byte) handoff.Result {
		return handoff.Result{Verdict: handoff.Error, Err: errors.New("clamd: connection refused")}
	})
	tests := []struct {
		policy, src, want string
	}{
		{"", `function on_data(msg) plugin.scan("av", msg) end`, Tempfail},
		{"tempfail", `function on_data(msg) plugin.scan("av", msg) return accept() end`, Tempfail},
		{"reject", `function on_data(msg) plugin.scan("av", msg) end`, Reject},
		{"quarantine", `function on_data(msg) plugin.scan("av", msg) end`, Quarantine},
		{"accept", `function on_data(msg) plugin.scan("av", msg) end`, Accept},
		{"tempfail", `function on_data(msg) if plugin.scan("av", msg).verdict == "error" then return reject("no scanner") end end`, Reject},
	}
	for _, tt := range tests {
		e := newEngine(t, tt.src, func(o *Options) {
			o.Services.Filters = map[string]stdlib.Filter{"av": {Scanner: failing, OnError: tt.policy}}
		})
		r, _ := runData(t, e)
		if r.Verdict != tt.want {
			t.Errorf("on_error %q, %s: verdict %s, want %s", tt.policy, tt.src, r.Verdict, tt.want)
		}
	}
}
