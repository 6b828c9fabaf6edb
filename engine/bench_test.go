package engine

import (
	"context"
	"maps"
	"testing"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// BenchmarkOnData is one on_data call reading two headers on a pooled
// state, including making the msg object. Target: under 5 µs.
func BenchmarkOnData(b *testing.B) {
	benchOnData(b, `function on_data(msg)
	  if msg:header("Subject") == "" or msg:header("From") == "" then
	    return reject("no")
	  end
	end`, nil, nil)
}

// benchOnData times on_data calls of script on a new msg each, with vars,
// and calls check (if set) on each msg after its call.
func benchOnData(b *testing.B, script string, vars map[string]any, check func(*stdlib.Msg)) {
	e := newEngine(b, script, func(o *Options) { o.Logger = nil })
	raw := []byte(testMessage)
	ctx := context.Background()
	st := e.stages[0]
	b.ReportAllocs()
	for b.Loop() {
		m := &stdlib.Msg{ID: "B", From: "a@b", Rcpt: []string{"c@d"}, Body: message.New(raw, message.Options{}), Vars: maps.Clone(vars)}
		v, err := e.call(ctx, st, "on_data", &msgArgs{m: m})
		if err != nil || v.Kind != Continue {
			b.Fatalf("%v %v", v, err)
		}
		if check != nil {
			check(m)
		}
	}
}

// BenchmarkOnDataParallel measures the same call from many goroutines.
func BenchmarkOnDataParallel(b *testing.B) {
	e := newEngine(b, `function on_data(msg)
	  if msg:header("Subject") == "" or msg:header("From") == "" then
	    return reject("no")
	  end
	end`, func(o *Options) { o.Logger = nil; o.States = 0 })
	raw := []byte(testMessage)
	st := e.stages[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			m := &stdlib.Msg{ID: "B", Body: message.New(raw, message.Options{})}
			if _, err := e.call(ctx, st, "on_data", &msgArgs{m: m}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOnDataVars is an on_data call that appends to msg.vars, as each
// default stage does.
func BenchmarkOnDataVars(b *testing.B) {
	benchOnData(b, `function on_data(msg)
	  msg.vars.stages = (msg.vars.stages or "") .. "x "
	end`, map[string]any{"stages": "attachments "}, func(m *stdlib.Msg) {
		if m.Vars["stages"] != "attachments x " {
			b.Fatalf("vars %v", m.Vars)
		}
	})
}
