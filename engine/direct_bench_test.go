package engine

import (
	"context"
	"testing"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

func BenchmarkOnDataDirect(b *testing.B) {
	e := newEngine(b, `function on_data(msg)
	  if msg:header("Subject") == "" or msg:header("From") == "" then
	    return reject("no")
	  end
	end`, func(o *Options) { o.Logger = nil })
	raw := []byte(testMessage)
	st := e.stages[0]
	s, _ := e.pool.get(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), st.Timeout)
		m := &stdlib.Msg{ID: "B", From: "a@b", Rcpt: []string{"c@d"}, Body: message.New(raw, message.Options{})}
		e.callOn(s, job{ctx: ctx, st: st, hook: "on_data", args: &msgArgs{m: m}})
		s.L.RemoveContext()
		cancel()
	}
}
