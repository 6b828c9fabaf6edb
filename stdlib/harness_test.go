package stdlib

import (
	"context"
	"errors"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/message"
)

// luaRun runs src, which defines function f(msg), against m and returns
// what f returned (converted with ToGo) or the Lua error.
func luaRun(t testing.TB, m *Msg, lim Limits, src string) (any, error) {
	t.Helper()
	return luaRunWith(t, m, lim, Services{}, false, src)
}

// luaRunWith is luaRun with services and the dry-run flag.
func luaRunWith(t testing.TB, m *Msg, lim Limits, svc Services, dryRun bool, src string) (any, error) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenMath} {
		L.Push(L.NewFunction(open))
		L.Call(0, 0)
	}
	call := &Call{Ctx: context.Background(), Stage: "test", Msg: m, DryRun: dryRun}
	lib := New(L, call, lim, svc)
	for name, mod := range lib.Modules() {
		L.SetGlobal(name, mod)
	}
	mt := L.NewTable()
	mt.RawSetString("__index", L.GetGlobal("string"))
	L.SetMetatable(lua.LString(""), mt)
	L.SetContext(context.Background())
	if err := L.DoString(src); err != nil {
		t.Fatalf("load: %v", err)
	}
	ud := lib.PushMsg(m)
	L.Push(L.GetGlobal("f"))
	L.Push(ud)
	if err := L.PCall(1, 1, nil); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	if err := lib.Release(ud); err != nil {
		return nil, err
	}
	return ToGo(ret)
}

// newTestMsg wraps raw in a Msg with an envelope.
func newTestMsg(raw string) *Msg {
	return &Msg{
		ID: "Q1", From: "alice@example.org", Rcpt: []string{"bob@example.com", "carol@example.com"},
		Body: message.New([]byte(strings.ReplaceAll(raw, "\n", "\r\n")), message.Options{}),
	}
}

// newBody parses raw as it arrives, without line-ending changes.
func newBody(raw []byte) *message.Message {
	return message.New(raw, message.Options{})
}

func asAPIError(err error, target **lua.ApiError) bool {
	return errors.As(err, target)
}
