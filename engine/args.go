package engine

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/stdlib"
)

// hookArgs makes the arguments of one hook call on a state and takes back
// what the call changed.
type hookArgs interface {
	// push returns the Lua arguments of the hook.
	push(s *state) []lua.LValue
	// finish runs after the call, success or not.
	finish(s *state) error
	// msg is the message of the call, nil for session hooks.
	msg() *stdlib.Msg
	// id names the message or session in logs.
	id() string
}

// msgArgs passes msg to on_data and on_queue.
type msgArgs struct {
	m  *stdlib.Msg
	ud *lua.LUserData
}

func (a *msgArgs) push(s *state) []lua.LValue {
	a.ud = s.lib.PushMsg(a.m)
	return []lua.LValue{a.ud}
}

func (a *msgArgs) finish(s *state) error {
	if a.ud == nil {
		return nil
	}
	return s.lib.Release(a.ud)
}

func (a *msgArgs) msg() *stdlib.Msg { return a.m }
func (a *msgArgs) id() string       { return a.m.ID }

// sessionArgs passes conn, tx and rcpt to the SMTP-time hooks.
type sessionArgs struct {
	s    Session
	hook string
}

func (a *sessionArgs) push(s *state) []lua.LValue {
	switch a.hook {
	case "on_connect", "on_helo":
		return []lua.LValue{s.lib.ConnTable(a.s.Conn)}
	case "on_rcpt":
		return []lua.LValue{s.lib.TxTable(a.s.Tx), lua.LString(a.s.Rcpt)}
	default:
		return []lua.LValue{s.lib.TxTable(a.s.Tx)}
	}
}

func (a *sessionArgs) finish(*state) error { return nil }
func (a *sessionArgs) msg() *stdlib.Msg    { return nil }

func (a *sessionArgs) id() string {
	if a.s.Conn != nil {
		return a.s.Conn.ID
	}
	return ""
}
