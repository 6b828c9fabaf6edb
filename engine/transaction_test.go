package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// sessionRules has every hook; what it decides depends on the envelope, and
// the "probe" cases refuse with what the hook saw.
const sessionRules = `
function on_connect(conn)
  if conn.ip == "192.0.2.66" then return reject(554, "5.7.1", "go away") end
  if conn.ip == "192.0.2.7" then
    return reject(string.format("connect %s %s:%d helo=[%s] tls=%s", conn.id, conn.ip, conn.port, conn.helo, tostring(conn.tls)))
  end
  if conn.ip == "192.0.2.8" then return quarantine("let through") end
end
function on_helo(conn)
  if conn.helo == "bad.example" then return tempfail("say who you are") end
  if conn.helo == "probe.example" then return reject(string.format("helo %s %s:%d", conn.helo, conn.ip, conn.port)) end
end
function on_mail(tx)
  if tx.from:match("@spam%.example$") then return reject("5.7.1", "no thanks") end
  if tx.from == "probe@example.org" then
    return reject(string.format("mail %d %d %s %s", tx.size, #tx.rcpt, tx.conn.helo, tx.conn.ip))
  end
  if tx.from == "vip@example.org" then return accept() end
end
function on_rcpt(tx, rcpt)
  if rcpt:match("^nobody@") then return reject(550, "5.1.1", "no such user") end
  if rcpt:match("^later@") then return tempfail(452, "4.2.2", "mailbox full") end
  if rcpt:match("^seen@") then return reject("seen " .. table.concat(tx.rcpt, ",") .. " from " .. tx.from) end
  if rcpt:match("^boom@") then error("boom") end
  if rcpt:match("^discard@") then return discard() end
end
function on_data(msg)
  msg:add_header("X-Rcpt", table.concat(msg.rcpt, ","))
end
function on_queue(msg)
  msg:fileinto("Seen")
end`

// txOutcome is what the transaction tests compare.
type txOutcome struct {
	Verdict, Reply string
	Stages         []string // hook:verdict
	Refused        []RcptRefusal
	Rcpt           []string // m.Rcpt afterwards
	Headers        [][2]string
}

func outcomeOf(r *Result, m *stdlib.Msg) txOutcome {
	o := txOutcome{Verdict: r.Verdict, Refused: r.RcptRefused, Rcpt: m.Rcpt, Headers: r.Headers.Added}
	o.Reply = r.Enhanced + " " + r.Text
	for _, s := range r.Stages {
		o.Stages = append(o.Stages, s.Hook+":"+s.Verdict)
	}
	return o
}

func TestTransaction(t *testing.T) {
	e := newEngine(t, sessionRules)
	all := []string{"on_connect:continue", "on_helo:continue", "on_mail:continue"}
	tests := []struct {
		name         string
		client, helo string
		from         string
		rcpt         []string
		want         txOutcome
	}{
		{
			name: "accepted", client: "198.51.100.7:4242", helo: "mx.example.org", from: "a@example.org",
			rcpt: []string{"bob@example.com", "carol@example.com"},
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages:  append(all, "on_rcpt:continue", "on_rcpt:continue", "on_data:continue", "on_queue:continue"),
				Rcpt:    []string{"bob@example.com", "carol@example.com"},
				Headers: [][2]string{{"X-Rcpt", "bob@example.com,carol@example.com"}}},
		},
		{
			name: "refused at connect", client: "192.0.2.66:25", helo: "mx.example.org", from: "a@example.org",
			rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Reject, Reply: "5.7.1 go away", Stages: []string{"on_connect:reject"},
				Rcpt: []string{"bob@example.com"}, Headers: [][2]string{}},
		},
		{
			name: "connect sees the client without helo", client: "192.0.2.7:2525", helo: "mx.example.org",
			from: "a@example.org", rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Reject, Reply: "5.7.1 connect T1 192.0.2.7:2525 helo=[] tls=false",
				Stages: []string{"on_connect:reject"}, Rcpt: []string{"bob@example.com"}, Headers: [][2]string{}},
		},
		{
			name: "refused at helo", client: "198.51.100.7:4242", helo: "bad.example", from: "a@example.org",
			rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Tempfail, Reply: "4.7.1 say who you are",
				Stages: []string{"on_connect:continue", "on_helo:tempfail"}, Rcpt: []string{"bob@example.com"},
				Headers: [][2]string{}},
		},
		{
			name: "helo sees the name and a bare ip", client: "2001:db8::1", helo: "probe.example", from: "a@example.org",
			rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Reject, Reply: "5.7.1 helo probe.example 2001:db8::1:0",
				Stages: []string{"on_connect:continue", "on_helo:reject"}, Rcpt: []string{"bob@example.com"},
				Headers: [][2]string{}},
		},
		{
			name: "refused at mail", client: "198.51.100.7:4242", helo: "mx.example.org", from: "x@spam.example",
			rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Reject, Reply: "5.7.1 no thanks",
				Stages: []string{"on_connect:continue", "on_helo:continue", "on_mail:reject"},
				Rcpt:   []string{"bob@example.com"}, Headers: [][2]string{}},
		},
		{
			name: "mail sees the size and no recipient", client: "[::ffff:198.51.100.7]:25", helo: "mx.example.org",
			from: "probe@example.org", rcpt: []string{"bob@example.com"},
			want: txOutcome{Verdict: Reject, Reply: fmt.Sprintf("5.7.1 mail %d 0 mx.example.org 198.51.100.7", len(testMessage)),
				Stages: []string{"on_connect:continue", "on_helo:continue", "on_mail:reject"},
				Rcpt:   []string{"bob@example.com"}, Headers: [][2]string{}},
		},
		{
			name: "one of two recipients refused", client: "198.51.100.7:4242", helo: "mx.example.org", from: "a@example.org",
			rcpt: []string{"nobody@example.com", "bob@example.com"},
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages: append(all, "on_rcpt:reject", "on_rcpt:continue", "on_data:continue", "on_queue:continue"),
				Refused: []RcptRefusal{{Rcpt: "nobody@example.com", Verdict: Reject, Code: 550, Enhanced: "5.1.1",
					Text: "no such user", Stage: "s"}},
				Rcpt:    []string{"bob@example.com"},
				Headers: [][2]string{{"X-Rcpt", "bob@example.com"}}},
		},
		{
			name: "rcpt sees the recipients accepted before", client: "198.51.100.7:4242", helo: "mx.example.org",
			from: "a@example.org", rcpt: []string{"bob@example.com", "nobody@example.com", "carol@example.com", "seen@example.com"},
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages: append(all, "on_rcpt:continue", "on_rcpt:reject", "on_rcpt:continue", "on_rcpt:reject",
					"on_data:continue", "on_queue:continue"),
				Refused: []RcptRefusal{
					{Rcpt: "nobody@example.com", Verdict: Reject, Code: 550, Enhanced: "5.1.1", Text: "no such user", Stage: "s"},
					{Rcpt: "seen@example.com", Verdict: Reject, Code: 550, Enhanced: "5.7.1",
						Text: "seen bob@example.com,carol@example.com from a@example.org", Stage: "s"},
				},
				Rcpt:    []string{"bob@example.com", "carol@example.com"},
				Headers: [][2]string{{"X-Rcpt", "bob@example.com,carol@example.com"}}},
		},
		{
			name: "all recipients refused", client: "198.51.100.7:4242", helo: "mx.example.org", from: "a@example.org",
			rcpt: []string{"nobody@example.com", "later@example.com"},
			want: txOutcome{Verdict: Tempfail, Reply: "4.2.2 mailbox full",
				Stages: append(all, "on_rcpt:reject", "on_rcpt:tempfail"),
				Refused: []RcptRefusal{
					{Rcpt: "nobody@example.com", Verdict: Reject, Code: 550, Enhanced: "5.1.1", Text: "no such user", Stage: "s"},
					{Rcpt: "later@example.com", Verdict: Tempfail, Code: 452, Enhanced: "4.2.2", Text: "mailbox full", Stage: "s"},
				},
				Rcpt: []string{}, Headers: [][2]string{}},
		},
		{
			name: "a failing on_rcpt applies on_error", client: "198.51.100.7:4242", helo: "mx.example.org", from: "a@example.org",
			rcpt: []string{"boom@example.com", "bob@example.com"},
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages: append(all, "on_rcpt:tempfail", "on_rcpt:continue", "on_data:continue", "on_queue:continue"),
				Refused: []RcptRefusal{{Rcpt: "boom@example.com", Verdict: Tempfail, Code: 451, Enhanced: "4.3.0",
					Text: "temporary local problem, try again later", Stage: "s"}},
				Rcpt:    []string{"bob@example.com"},
				Headers: [][2]string{{"X-Rcpt", "bob@example.com"}}},
		},
		{
			name: "other verdicts let the client through", client: "192.0.2.8:25", helo: "mx.example.org", from: "vip@example.org",
			rcpt: []string{"discard@example.com"},
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages: []string{"on_connect:quarantine", "on_helo:continue", "on_mail:accept", "on_rcpt:discard",
					"on_data:continue", "on_queue:continue"},
				Rcpt:    []string{"discard@example.com"},
				Headers: [][2]string{{"X-Rcpt", "discard@example.com"}}},
		},
		{
			name: "no recipient runs on_data", client: "198.51.100.7:4242", helo: "mx.example.org", from: "a@example.org",
			want: txOutcome{Verdict: Accept, Reply: "2.0.0 ok",
				Stages: append(all, "on_data:continue", "on_queue:continue"), Headers: [][2]string{{"X-Rcpt", ""}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMsg(testMessage)
			m.Client, m.Helo, m.From, m.Rcpt = tt.client, tt.helo, tt.from, tt.rcpt
			orig := append([]string(nil), tt.rcpt...)
			r := e.Transaction(t.Context(), nil, m)
			if diff := cmp.Diff(tt.want, outcomeOf(r, m), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(orig, tt.rcpt, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the caller's recipient list changed (-want +got):\n%s", diff)
			}
			if r.Stages == nil || r.Symbols == nil || r.Actions == nil {
				t.Errorf("nil lists in %+v; want empty ones, as in Pipeline's result", r)
			}
		})
	}
}

// A refusal stops the hook at the stage that refused: later stages do not
// see the client, and the trace names the stage.
func TestTransactionStopsAtRefusingStage(t *testing.T) {
	fs := files{
		"scripts/a.lua": `function on_mail(tx) end
		                  function on_rcpt(tx, rcpt) if rcpt == "x@y" then return reject("a says no") end end`,
		"scripts/b.lua": `function on_mail(tx) return tempfail("b says later") end`,
		"scripts/c.lua": `function on_mail(tx) error("must not run") end
		                  function on_data(msg) error("must not run") end`,
	}
	e := newEngine(t, "", func(o *Options) {
		o.ReadFile = fs.read
		o.Stages = []Stage{{Name: "a", Script: "scripts/a.lua"}, {Name: "b", Script: "scripts/b.lua"}, {Name: "c", Script: "scripts/c.lua"}}
	})
	r := e.Transaction(t.Context(), nil, newMsg(testMessage))
	var trace []string
	for _, s := range r.Stages {
		trace = append(trace, s.Hook+":"+s.Name+":"+s.Verdict)
	}
	if diff := cmp.Diff([]string{"on_mail:a:continue", "on_mail:b:tempfail"}, trace); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
	if r.Verdict != Tempfail || r.Code != 451 || r.Text != "b says later" || r.RcptRefused != nil {
		t.Errorf("got %s %d %q %v, want tempfail 451 \"b says later\" and no refused recipient", r.Verdict, r.Code, r.Text, r.RcptRefused)
	}
}

// The conn given to Transaction is what the session hooks see.
func TestTransactionConn(t *testing.T) {
	e := newEngine(t, `function on_helo(conn)
  return reject(string.format("%s %s %s %s", conn.id, conn.helo, tostring(conn.tls), conn.user))
end`)
	conn := &stdlib.Conn{ID: "S9", IP: "203.0.113.5", Port: 25, Helo: "given.example", TLS: true, User: "ann"}
	r := e.Transaction(t.Context(), conn, newMsg(testMessage))
	if want := "S9 given.example true ann"; r.Text != want {
		t.Errorf("on_helo saw %q, want %q", r.Text, want)
	}
}

// Stages without session hooks give exactly what Pipeline gives.
func TestTransactionWithoutSessionHooks(t *testing.T) {
	fs := files{
		"scripts/a.lua": `function on_data(msg) msg:score(2, "A", "why"); msg:add_header("X-A", "1") end
		                  function on_queue(msg) msg:fileinto("Orders") end`,
		"scripts/b.lua": `function on_data(msg) if msg.from == "bad@example.org" then return reject("no") end end`,
		"scripts/c.lua": `function on_queue(msg) if #msg.rcpt > 1 then return quarantine("many") end end`,
		"scripts/d.lua": `local x = 1`,
	}
	e := newEngine(t, "", func(o *Options) {
		o.ReadFile = fs.read
		o.Stages = []Stage{{Name: "a", Script: "scripts/a.lua"}, {Name: "b", Script: "scripts/b.lua"},
			{Name: "c", Script: "scripts/c.lua"}, {Name: "d", Script: "scripts/d.lua"}}
	})
	tests := []struct {
		name, from string
		rcpt       []string
		raw        string
	}{
		{"accept", "alice@example.org", []string{"bob@example.com"}, testMessage},
		{"reject", "bad@example.org", []string{"bob@example.com"}, testMessage},
		{"quarantine", "alice@example.org", []string{"bob@example.com", "carol@example.com"}, testMessage},
		{"no recipient", "alice@example.org", nil, testMessage},
		{"defects", "alice@example.org", []string{"bob@example.com"}, "Subject: x\nno blank line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := func() *stdlib.Msg {
				return &stdlib.Msg{ID: "T1", From: tt.from, Rcpt: tt.rcpt, Client: "127.0.0.1:0",
					Body: message.New([]byte(tt.raw), message.Options{})}
			}
			want := e.Pipeline(context.Background(), msg())
			m := msg()
			got := e.Transaction(context.Background(), nil, m)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(StageRun{}, "Ms")); diff != "" {
				t.Errorf("Transaction differs from Pipeline (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.rcpt, m.Rcpt); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:0", "127.0.0.1:0", true},
		{"192.0.2.1", "192.0.2.1:0", true},
		{"192.0.2.1:2525", "192.0.2.1:2525", true},
		{"2001:db8::1", "[2001:db8::1]:0", true},
		{"[2001:db8::1]:25", "[2001:db8::1]:25", true},
		{"mx.example.org", "", false},
		{"192.0.2.1:port", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ClientAddr(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ClientAddr(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestClientConn(t *testing.T) {
	tests := []struct {
		client, ip string
		port       int
	}{
		{"198.51.100.7:4242", "198.51.100.7", 4242},
		{"[::ffff:198.51.100.7]:25", "198.51.100.7", 25},
		{"[2001:db8::1]:25", "2001:db8::1", 25},
		{"2001:db8::1", "2001:db8::1", 0},
		{"unix-socket", "unix-socket", 0},
	}
	for _, tt := range tests {
		m := &stdlib.Msg{ID: "Q1", Client: tt.client, Helo: "mx.example.org"}
		want := &stdlib.Conn{ID: "Q1", IP: tt.ip, Port: tt.port, Helo: "mx.example.org"}
		if diff := cmp.Diff(want, ClientConn(m)); diff != "" {
			t.Errorf("ClientConn(%q) (-want +got):\n%s", tt.client, diff)
		}
	}
}
