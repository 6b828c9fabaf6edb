package stdlib

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicemail/sluice/message"
)

const mixed = `From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>
To: bob@example.com
Subject: =?UTF-8?B?w4lsw6h2ZXM=?= and more
Received: from a by b
Received: from c by d
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: multipart/alternative; boundary="YY"

--YY
Content-Type: text/plain; charset=koi8-r
Content-Transfer-Encoding: 8bit

` + "\xf0\xd2\xc9\xd7\xc5\xd4" + `
--YY
Content-Type: text/html; charset=utf-8

<p>Hi</p>
--YY--

--XX
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--XX
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt

euro
--XX--
`

func TestMsgAPI(t *testing.T) {
	tests := []struct {
		name, src string
		want      any
	}{
		{"envelope", `function f(msg) return {msg.id, msg.from, msg.rcpt[2], #msg.rcpt} end`,
			[]any{"Q1", "alice@example.org", "carol@example.com", int64(2)}},
		{"header decoded", `function f(msg) return msg:header("from") end`, "André <andre@example.org>"},
		{"subject", `function f(msg) return msg:subject() end`, "Élèves and more"},
		{"absent header", `function f(msg) return msg:header("X-None") end`, ""},
		{"headers", `function f(msg) return msg:headers("Received") end`, []any{"from a by b", "from c by d"}},
		{"text charset", `function f(msg) return msg:text() end`, "Привет"},
		{"html", `function f(msg) return msg:html() end`, "<p>Hi</p>"},
		{"parts", `function f(msg)
		   local out = {}
		   for _, p in ipairs(msg:parts()) do table.insert(out, p.content_type .. "|" .. p.filename .. "|" .. tostring(p.is_attachment)) end
		   return out end`,
			[]any{"text/plain||false", "text/html||false", "application/pdf|report.pdf|true", "application/octet-stream|€ rates.txt|true"}},
		{"attachments", `function f(msg) return #msg:attachments() end`, int64(2)},
		{"attachment bytes", `function f(msg) return msg:attachment("report.pdf"):bytes() end`, "%PDF-1.4\n"},
		{"attachment by folded name", `function f(msg) return msg:attachment("REPORT.PDF").size > 0 end`, true},
		{"no attachment", `function f(msg) return msg:attachment("nope") == nil end`, true},
		{"part text", `function f(msg) return msg:parts()[4]:text() end`, "euro"},
		{"size", `function f(msg) return msg.size > 100 end`, true},
		{"score", `function f(msg) msg:score(1.5, "A") msg:score(-0.5, "B", "why") return msg:score() end`, int64(1)},
		{"vars", `function f(msg) msg.vars.a = {1, 2, {x = "y"}} return msg.vars.a[3].x end`, "y"},
		{"read-only field", `function f(msg) return pcall(function() msg.id = "x" end) end`, false},
		{"method with dot", `function f(msg) return pcall(msg.header, "Subject") end`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := luaRun(t, newTestMsg(mixed), Limits{}, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMsgVarsCarried(t *testing.T) {
	m := newTestMsg(mixed)
	if _, err := luaRun(t, m, Limits{}, `function f(msg) msg.vars.n = 1 msg.vars.list = {"a", "b"} end`); err != nil {
		t.Fatal(err)
	}
	got, err := luaRun(t, m, Limits{}, `function f(msg) msg.vars.n = msg.vars.n + 1 return msg.vars.list[2] end`)
	if err != nil || got != "b" {
		t.Fatalf("got %v, %v; want b", got, err)
	}
	if m.Vars["n"] != int64(2) && m.Vars["n"] != float64(2) {
		t.Errorf("vars.n = %v, want 2", m.Vars["n"])
	}
	_, err = luaRun(t, m, Limits{}, `function f(msg) msg.vars.fn = print end`)
	if err == nil || !strings.Contains(err.Error(), "msg.vars") {
		t.Errorf("a function in vars: got %v, want a msg.vars error", err)
	}
}

func TestMsgActions(t *testing.T) {
	m := newTestMsg(mixed)
	_, err := luaRun(t, m, Limits{}, `function f(msg)
	  msg:fileinto("Orders")
	  msg:redirect("archive@example.com")
	  msg:add_rcpt("dave@example.com")
	  msg:remove_rcpt("BOB@example.com")
	end`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{
		{Kind: "fileinto", Folder: "Orders", Stage: "test"},
		{Kind: "redirect", Address: "archive@example.com", Stage: "test"},
		{Kind: "add_rcpt", Address: "dave@example.com", Stage: "test"},
		{Kind: "remove_rcpt", Address: "BOB@example.com", Stage: "test"},
	}
	if diff := cmp.Diff(want, m.Actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"carol@example.com", "dave@example.com"}, m.Rcpt); diff != "" {
		t.Errorf("rcpt (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`msg:fileinto("../x")`, `msg:fileinto("a/b")`, `msg:fileinto("")`, `msg:fileinto(".hidden")`,
		`msg:redirect("no-at")`, `msg:redirect("a b@c")`, `msg:add_rcpt("<x@y>")`} {
		if _, err := luaRun(t, newTestMsg(mixed), Limits{}, "function f(msg) "+bad+" end"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// Header edits rewrite the header block only: the body stays byte-identical.
func TestHeaderEditsKeepBody(t *testing.T) {
	m := newTestMsg(mixed)
	before := m.Body.Bytes()
	_, err := luaRun(t, m, Limits{}, `function f(msg)
	  msg:set_header("Subject", "Neuer Betreff ✓")
	  msg:add_header("X-Sluice", "seen")
	  msg:remove_header("Received")
	end`)
	if err != nil {
		t.Fatal(err)
	}
	after := m.Body.Bytes()
	if !bytes.Equal(body(before), body(after)) {
		t.Fatalf("body changed by header edits")
	}
	got, err := luaRun(t, m, Limits{}, `function f(msg) return {msg:subject(), msg:header("X-Sluice"), #msg:headers("Received")} end`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"Neuer Betreff ✓", "seen", int64(0)}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func body(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	return nil
}

// What a script can get from one part is capped, with a clear error.
func TestPartCap(t *testing.T) {
	big := "From: a@b\nSubject: big\nContent-Type: text/plain\n\n" + strings.Repeat("0123456789\n", 2000)
	lim := Limits{MaxPartBytes: 1000}
	m := newTestMsg(big)
	m.Body = message.New(m.Body.Bytes(), lim.MessageOptions())
	_, err := luaRun(t, m, lim, `function f(msg) return msg:parts()[1]:text() end`)
	if err == nil || !strings.Contains(err.Error(), "max_part_bytes") {
		t.Fatalf("got %v, want an error naming max_part_bytes", err)
	}
	got, err := luaRun(t, m, lim, `function f(msg) return msg:parts()[1].size end`)
	if err != nil || got.(int64) < 20000 {
		t.Fatalf("size of a capped part: got %v, %v", got, err)
	}
}

func TestRewrites(t *testing.T) {
	m := newTestMsg(mixed)
	_, err := luaRun(t, m, Limits{}, `function f(msg)
	  msg:remove_part(msg:attachment("report.pdf"))
	  msg:prepend_text("Scanned by sluice.")
	end`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := luaRun(t, m, Limits{}, `function f(msg) return {#msg:attachments(), msg:text()} end`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1), "Scanned by sluice.\nПривет"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(m.Actions) != 2 || m.Actions[0].Kind != "remove_part" || m.Actions[1].Kind != "prepend_text" {
		t.Errorf("actions = %+v", m.Actions)
	}
}
