package engine

import (
	"context"
	"testing"

	"github.com/sluicemail/sluice/stdlib"
)

func TestSessionHooks(t *testing.T) {
	e := newEngine(t, `
function on_connect(conn)
  if conn.ip == "192.0.2.66" then return reject(554, "5.7.1", "go away") end
end
function on_helo(conn)
  if conn.helo == "localhost" and not conn.tls then return tempfail("say who you are") end
end
function on_mail(tx)
  if tx.from:match("@spam%.example$") then return reject("5.7.1", "no thanks") end
end
function on_rcpt(tx, rcpt)
  if #tx.rcpt >= 2 then return tempfail(452, "4.5.3", "one at a time") end
  if rcpt == "nobody@example.com" then return reject(550, "5.1.1", "no such user") end
end`)
	conn := &stdlib.Conn{ID: "S1", IP: "198.51.100.7", Port: 4242, Helo: "mx.example.org"}
	tests := []struct {
		hook string
		s    Session
		want Verdict
	}{
		{"on_connect", Session{Conn: conn}, Verdict{}},
		{"on_connect", Session{Conn: &stdlib.Conn{IP: "192.0.2.66"}}, Verdict{Kind: Reject, Code: 554, Enhanced: "5.7.1", Text: "go away"}},
		{"on_helo", Session{Conn: conn}, Verdict{}},
		{"on_helo", Session{Conn: &stdlib.Conn{Helo: "localhost"}}, Verdict{Kind: Tempfail, Code: 451, Enhanced: "4.7.1", Text: "say who you are"}},
		{"on_helo", Session{Conn: &stdlib.Conn{Helo: "localhost", TLS: true}}, Verdict{}},
		{"on_mail", Session{Conn: conn, Tx: &stdlib.Tx{Conn: conn, From: "a@spam.example"}}, Verdict{Kind: Reject, Code: 550, Enhanced: "5.7.1", Text: "no thanks"}},
		{"on_mail", Session{Conn: conn, Tx: &stdlib.Tx{Conn: conn, From: ""}}, Verdict{}},
		{"on_rcpt", Session{Conn: conn, Tx: &stdlib.Tx{Conn: conn}, Rcpt: "nobody@example.com"}, Verdict{Kind: Reject, Code: 550, Enhanced: "5.1.1", Text: "no such user"}},
		{"on_rcpt", Session{Conn: conn, Tx: &stdlib.Tx{Conn: conn, Rcpt: []string{"a@x", "b@x"}}, Rcpt: "c@x"}, Verdict{Kind: Tempfail, Code: 452, Enhanced: "4.5.3", Text: "one at a time"}},
	}
	for _, tt := range tests {
		r := &Result{}
		got := e.RunSession(context.Background(), tt.hook, tt.s, r)
		if got != tt.want {
			t.Errorf("%s %+v: got %+v, want %+v (%v)", tt.hook, tt.s.Conn, got, tt.want, r.Stages)
		}
	}
	if !e.Has("on_rcpt") || e.Has("on_data") {
		t.Errorf("Has: on_rcpt %v on_data %v", e.Has("on_rcpt"), e.Has("on_data"))
	}
}
