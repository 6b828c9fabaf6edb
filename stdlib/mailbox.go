package stdlib

import (
	"bytes"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/database"
	"github.com/sluicemail/sluice/mailstore"
)

// Services are the Go components the modules reach. A nil field makes the
// module that needs it raise "not configured" errors.
type Services struct {
	// Store holds the mailboxes and the quarantine (module mailbox).
	Store *mailstore.Store
	// Filters are the [filter.NAME] hand-offs by name (module plugin).
	Filters map[string]Filter
	// DB holds the [database.NAME] databases by name (module db).
	DB *database.Set
	// KV is the store of the kv module, on the embedded SQLite.
	KV *database.KV
}

// mailboxModule is the `mailbox` module: the mailstore seen from Lua.
// Reads always go to the store; in a dry run (sluice run) deliver, create
// and quarantine are recorded as actions instead of done.
//
//	if mailbox.exists(rcpt) then ... end
//	local total, unseen = mailbox.count("bob@example.com", "INBOX")
//	mailbox.deliver(msg, "archive@example.com", "2026")
func (lib *Lib) mailboxModule() *lua.LTable {
	return lib.L.SetFuncs(lib.L.NewTable(), lib.lockedFuncs(map[string]lua.LGFunction{
		"exists":     lib.mbExists,
		"folders":    lib.mbFolders,
		"count":      lib.mbCount,
		"create":     lib.mbCreate,
		"deliver":    lib.mbDeliver,
		"quarantine": lib.mbQuarantine,
	}))
}

func (lib *Lib) store(L *lua.LState, fn string) *mailstore.Store {
	if lib.svc.Store == nil {
		L.RaiseError("mailbox.%s: no mail store is configured here", fn)
	}
	return lib.svc.Store
}

func (lib *Lib) mbExists(L *lua.LState) int {
	addr := L.CheckString(1)
	L.Push(lua.LBool(lib.store(L, "exists").Exists(addr)))
	return 1
}

func (lib *Lib) mbFolders(L *lua.LState) int {
	names, err := lib.store(L, "folders").Folders(L.CheckString(1))
	if err != nil {
		L.RaiseError("mailbox.folders: %v", err)
	}
	t := L.CreateTable(len(names), 0)
	for _, n := range names {
		t.Append(lua.LString(n))
	}
	L.Push(t)
	return 1
}

func (lib *Lib) mbCount(L *lua.LState) int {
	total, unseen, err := lib.store(L, "count").Count(L.CheckString(1), L.OptString(2, mailstore.Inbox))
	if err != nil {
		L.RaiseError("mailbox.count: %v", err)
	}
	L.Push(lua.LNumber(total))
	L.Push(lua.LNumber(unseen))
	return 2
}

func (lib *Lib) mbCreate(L *lua.LState) int {
	addr, folder := L.CheckString(1), L.CheckString(2)
	if err := checkMailbox(addr, folder); err != nil {
		L.RaiseError("mailbox.create: %v", err)
	}
	done := !lib.call.DryRun
	if done {
		if err := lib.store(L, "create").Create(addr, folder); err != nil {
			L.RaiseError("mailbox.create: %v", err)
		}
	}
	lib.record(Action{Kind: "create", Address: addr, Folder: folder, Done: done})
	return 0
}

// mbDeliver delivers an extra copy of msg now: mailbox.deliver(msg, addr [, folder]).
func (lib *Lib) mbDeliver(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	addr, folder := L.CheckString(2), L.OptString(3, mailstore.Inbox)
	if err := checkMailbox(addr, folder); err != nil {
		L.RaiseError("mailbox.deliver: %v", err)
	}
	done := !lib.call.DryRun
	if done {
		st := lib.store(L, "deliver")
		raw := lib.rawOf(ref)
		if _, err := st.Deliver(lib.call.Context(), addr, folder, mailstore.LF(bytes.NewReader(raw))); err != nil {
			L.RaiseError("mailbox.deliver: %v", err)
		}
	}
	lib.record(Action{Kind: "deliver", Address: addr, Folder: folder, Done: done})
	return 0
}

// mbQuarantine holds a copy of msg with a reason and returns its id ("" in
// a dry run). The pipeline goes on; return quarantine(reason) instead to
// stop it and hold the message itself.
func (lib *Lib) mbQuarantine(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	reason := L.CheckString(2)
	id := ""
	done := !lib.call.DryRun
	if done {
		m := ref.m
		info := mailstore.QuarantineInfo{
			Reason: reason, Stage: lib.call.Stage, MsgID: m.ID, From: m.From,
			Rcpt: append([]string(nil), m.Rcpt...),
		}
		var err error
		id, err = lib.store(L, "quarantine").Quarantine(lib.call.Context(), bytes.NewReader(lib.rawOf(ref)), info)
		if err != nil {
			L.RaiseError("mailbox.quarantine: %v", err)
		}
	}
	lib.record(Action{Kind: "quarantine", Reason: reason, ID: id, Done: done})
	L.Push(lua.LString(id))
	return 1
}

func (lib *Lib) rawOf(ref *msgRef) []byte {
	if ref.m.Body == nil {
		return nil
	}
	return ref.m.Body.Bytes()
}

func (lib *Lib) record(a Action) {
	a.Stage = lib.call.Stage
	if m := lib.call.Msg; m != nil {
		m.Actions = append(m.Actions, a)
	}
}

// checkMailbox validates what the mailstore would, so a dry run reports
// the same errors as the server.
func checkMailbox(addr, folder string) error {
	if _, _, err := mailstore.CheckAddress(addr); err != nil {
		return err
	}
	return mailstore.CheckFolder(folder)
}
