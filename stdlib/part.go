package stdlib

import (
	"errors"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/message"
)

// partRef is the Go value behind a part userdata.
type partRef struct {
	msg *msgRef
	p   *message.Part
}

func (lib *Lib) newPart(ref *msgRef, p *message.Part) *lua.LUserData {
	ud := lib.L.NewUserData()
	ud.Value = &partRef{msg: ref, p: p}
	ud.Metatable = lib.partMeta
	return ud
}

func (lib *Lib) checkPart(L *lua.LState, n int) *partRef {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if ref, ok := ud.Value.(*partRef); ok {
			if ref.msg.dead {
				L.RaiseError("part used after its hook returned")
			}
			return ref
		}
	}
	L.ArgError(n, "part expected (from msg:parts() or msg:attachment())")
	return nil
}

func (lib *Lib) newPartMeta() *lua.LTable {
	L := lib.L
	methods := L.SetFuncs(L.NewTable(), lib.lockedFuncs(map[string]lua.LGFunction{
		"text":  lib.partText,
		"bytes": lib.partBytes,
	}))
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		ref := lib.checkPart(L, 1)
		key := L.CheckString(2)
		if v := partField(ref.p, key); v != nil {
			L.Push(v)
			return 1
		}
		L.Push(methods.RawGetString(key))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("part.%s is read-only", L.CheckString(2))
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		ref := lib.checkPart(L, 1)
		L.Push(lua.LString("part " + ref.p.ContentType + " " + ref.p.Filename))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("part"))
	return mt
}

func partField(p *message.Part, key string) lua.LValue {
	switch key {
	case "content_type":
		return lua.LString(p.ContentType)
	case "filename":
		return lua.LString(p.Filename)
	case "safe_filename":
		return lua.LString(p.SafeFilename())
	case "size":
		return lua.LNumber(p.Size)
	case "is_attachment":
		return lua.LBool(p.IsAttachment)
	case "charset":
		return lua.LString(p.Charset)
	case "encoding":
		return lua.LString(p.Encoding)
	case "disposition":
		return lua.LString(p.Disposition)
	case "content_id":
		return lua.LString(p.ContentID)
	case "index":
		return lua.LNumber(p.Index)
	}
	return nil
}

func (lib *Lib) partText(L *lua.LState) int {
	ref := lib.checkPart(L, 1)
	s, err := ref.msg.m.Body.PartText(ref.p)
	if err != nil {
		lib.partError(L, "part:text", err)
	}
	L.Push(lua.LString(s))
	return 1
}

func (lib *Lib) partBytes(L *lua.LState) int {
	ref := lib.checkPart(L, 1)
	b, err := ref.msg.m.Body.PartBytes(ref.p)
	if err != nil {
		lib.partError(L, "part:bytes", err)
	}
	L.Push(lua.LString(b))
	return 1
}

func (lib *Lib) partError(L *lua.LState, op string, err error) {
	if errors.Is(err, message.ErrTooLarge) {
		L.RaiseError("%s: %v (limit engine.max_part_bytes = %d)", op, err, lib.limits.MaxPartBytes)
	}
	L.RaiseError("%s: %v", op, err)
}
