package stdlib

import (
	lua "github.com/yuin/gopher-lua"
)

// Conn is an SMTP client connection as on_connect and on_helo see it (the
// `conn` argument; also tx.conn).
type Conn struct {
	// ID identifies the session in logs.
	ID string
	// IP and Port of the client; Local is the listener's address.
	IP    string
	Port  int
	Local string
	// Helo is the name the client gave in HELO/EHLO ("" before it).
	Helo string
	// TLS is set once the session is encrypted; User once authenticated.
	TLS  bool
	User string
	// LMTP is set on LMTP sessions.
	LMTP bool
}

// Tx is the transaction in progress as on_mail and on_rcpt see it.
type Tx struct {
	// Conn is the session the transaction belongs to.
	Conn *Conn
	// From is the envelope sender ("" for the null sender); Rcpt the
	// recipients accepted so far.
	From string
	Rcpt []string
	// Size is the SIZE= the client announced, 0 when none.
	Size int64
}

// ConnTable makes the Lua table for c: {id, ip, port, local, helo, tls,
// user, lmtp}. A script may write into it; nothing goes back.
func (lib *Lib) ConnTable(c *Conn) *lua.LTable {
	L := lib.L
	t := L.CreateTable(0, 8)
	if c == nil {
		return t
	}
	t.RawSetString("id", lua.LString(c.ID))
	t.RawSetString("ip", lua.LString(c.IP))
	t.RawSetString("port", lua.LNumber(c.Port))
	t.RawSetString("local", lua.LString(c.Local))
	t.RawSetString("helo", lua.LString(c.Helo))
	t.RawSetString("tls", lua.LBool(c.TLS))
	t.RawSetString("user", lua.LString(c.User))
	t.RawSetString("lmtp", lua.LBool(c.LMTP))
	return t
}

// TxTable makes the Lua table for tx: {from, rcpt = {...}, size, conn}.
func (lib *Lib) TxTable(tx *Tx) *lua.LTable {
	L := lib.L
	t := L.CreateTable(0, 4)
	if tx == nil {
		return t
	}
	t.RawSetString("from", lua.LString(tx.From))
	rcpt := L.CreateTable(len(tx.Rcpt), 0)
	for _, r := range tx.Rcpt {
		rcpt.Append(lua.LString(r))
	}
	t.RawSetString("rcpt", rcpt)
	t.RawSetString("size", lua.LNumber(tx.Size))
	t.RawSetString("conn", lib.ConnTable(tx.Conn))
	return t
}
