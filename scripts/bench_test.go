package scripts

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// BenchmarkDefaultHooks runs what the default stages do for one 4 KiB
// message: on_data of every stage at SMTP time, then on_queue, as sluice
// serve calls them (each hook on a pooled Lua state, with its deadline).
func BenchmarkDefaultHooks(b *testing.B) {
	var stages []engine.Stage
	for _, st := range Default {
		stages = append(stages, engine.Stage{Name: st.Name, Script: st.File})
	}
	e, err := engine.New(engine.Options{Stages: stages, ReadFile: func(name string) ([]byte, error) { return fs.ReadFile(FS, name) }})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	raw := []byte("From: a@example.org\r\nTo: bob@localhost\r\nSubject: a load test\r\nDate: Thu, 26 Nov 2026 03:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n" +
		strings.Repeat("La De Da de da 1.\r\n", 4000/19))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := &stdlib.Msg{ID: "B", From: "a@example.org", Rcpt: []string{"bob@localhost"}, Body: message.New(raw, message.Options{})}
		if v := e.Run(ctx, "on_data", m, &engine.Result{}); v.Kind != engine.Continue {
			b.Fatalf("on_data: %+v", v)
		}
		vars, err := m.MarshalState()
		if err != nil {
			b.Fatal(err)
		}
		q := &stdlib.Msg{ID: "B", From: "a@example.org", Rcpt: []string{"bob@localhost"}, Body: message.New(raw, message.Options{})}
		if err := q.UnmarshalState(vars); err != nil {
			b.Fatal(err)
		}
		if v := e.Run(ctx, "on_queue", q, &engine.Result{}); v.Kind != engine.Continue {
			b.Fatalf("on_queue: %+v", v)
		}
		if q.Body.Header("X-Sluice-Stages") != "attachments score filing" {
			b.Fatalf("X-Sluice-Stages: %q", q.Body.Header("X-Sluice-Stages"))
		}
	}
}
