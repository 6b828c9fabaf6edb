package stdlib

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/message"
)

// Msg is one message as the stages see it: the envelope, the lazily parsed
// content, and what the scripts decided so far. It outlives a hook call: the
// engine carries it from stage to stage (and the queue through restarts).
type Msg struct {
	// ID is the queue id.
	ID string
	// From is the envelope sender ("" for the null sender); Rcpt the
	// envelope recipients.
	From string
	Rcpt []string
	// Client is the remote address of the SMTP client, Helo its greeting.
	Client, Helo string
	// Body is the content; header edits and part rewrites are recorded in it.
	Body *message.Message
	// Vars is the msg.vars table, as JSON-compatible Go values.
	Vars map[string]any
	// Score is the sum of the points given with msg:score, Symbols their detail.
	Score   float64
	Symbols []Symbol
	// Actions accumulate in the order the scripts asked for them.
	Actions []Action
	// Generation is the version of the rules (engine.Options.Version) the
	// message started on; the queue's stages run on the same one while it
	// is loaded (see sluice serve's reload).
	Generation string

	// failures are the scans that failed in the hook call in progress.
	failures []FilterFailure

	// mu serialises the Lua bindings working on the message: a hook call
	// the engine gave up on (see engine.Options.Grace) may still be inside
	// one while the pipeline goes on.
	mu sync.Mutex
}

// Barrier waits until no Lua binding is working on m. The engine calls it
// after abandoning a hook call, before it touches m again.
func (m *Msg) Barrier() {
	m.mu.Lock()
	//lint:ignore SA2001 an empty critical section is the point: wait for the holder.
	m.mu.Unlock()
}

// Symbol is one msg:score entry.
type Symbol struct {
	Name   string  `json:"name"`
	Points float64 `json:"points"`
	Why    string  `json:"why,omitempty"`
	Stage  string  `json:"stage,omitempty"`
}

// Action is something a script asked to be done with the message when the
// pipeline ends: fileinto, redirect, add_rcpt, remove_rcpt, replace_part,
// remove_part, prepend_text.
type Action struct {
	Kind    string `json:"kind"`
	Folder  string `json:"folder,omitempty"`
	Address string `json:"address,omitempty"`
	Part    int    `json:"part,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// ID is what the action made, e.g. a quarantine id.
	ID    string `json:"id,omitempty"`
	Stage string `json:"stage,omitempty"`
	// Done is set for side effects a module carried out at once
	// (mailbox.deliver outside a dry run); other actions are for the
	// delivery that follows the pipeline.
	Done bool `json:"done,omitempty"`
}

// msgRef is the Go value behind a msg userdata: valid for one hook call.
type msgRef struct {
	m    *Msg
	vars *lua.LTable // built on first access to msg.vars
	dead bool
}

// PushMsg makes the Lua msg object for m, valid until Release.
func (lib *Lib) PushMsg(m *Msg) *lua.LUserData {
	ud := lib.L.NewUserData()
	lib.cur = &msgRef{m: m}
	ud.Value = lib.cur
	ud.Metatable = lib.msgMeta
	return ud
}

// Release ends the life of a msg object made by PushMsg: msg.vars goes back
// into m.Vars. It fails when vars holds what cannot be carried (functions,
// cycles).
func (lib *Lib) Release(ud *lua.LUserData) error {
	ref, ok := ud.Value.(*msgRef)
	if !ok || ref.dead {
		return nil
	}
	ref.m.mu.Lock()
	defer ref.m.mu.Unlock()
	ref.dead = true
	if ref.vars == nil {
		return nil
	}
	v, err := ToGo(ref.vars)
	if err != nil {
		return fmt.Errorf("msg.vars: %w", err)
	}
	switch v := v.(type) {
	case map[string]any:
		ref.m.Vars = v
	case []any:
		if len(v) == 0 {
			ref.m.Vars = nil
			return nil
		}
		return errors.New("msg.vars: must be a table with string keys, not an array")
	default:
		ref.m.Vars = nil
	}
	return nil
}

func (lib *Lib) newMsgMeta() *lua.LTable {
	L := lib.L
	methods := L.SetFuncs(L.NewTable(), lib.lockedFuncs(map[string]lua.LGFunction{
		"header":        lib.msgHeader,
		"headers":       lib.msgHeaders,
		"header_fields": lib.msgHeaderFields,
		"set_header":    lib.msgSetHeader,
		"add_header":    lib.msgAddHeader,
		"remove_header": lib.msgRemoveHeader,
		"subject":       lib.msgSubject,
		"text":          lib.msgText,
		"html":          lib.msgHTML,
		"parts":         lib.msgParts,
		"attachments":   lib.msgAttachments,
		"attachment":    lib.msgAttachment,
		"replace_part":  lib.msgReplacePart,
		"remove_part":   lib.msgRemovePart,
		"prepend_text":  lib.msgPrependText,
		"defects":       lib.msgDefects,
		"score":         lib.msgScore,
		"fileinto":      lib.msgFileinto,
		"redirect":      lib.msgRedirect,
		"add_rcpt":      lib.msgAddRcpt,
		"remove_rcpt":   lib.msgRemoveRcpt,
	}))
	mt := L.NewTable()
	// Methods are found by a plain table lookup (the common case, and the
	// fast one); a miss falls through to the envelope fields of the msg
	// of the current call, the only msg a script can hold.
	fields := L.NewTable()
	fields.RawSetString("__index", L.NewFunction(lib.locked(func(L *lua.LState) int {
		ref := lib.cur
		if ref == nil || ref.dead {
			L.RaiseError("msg used after its hook returned")
		}
		L.Push(lib.msgField(ref, L.CheckString(2)))
		return 1
	})))
	methods.Metatable = fields
	mt.RawSetString("__index", methods)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("msg.%s is read-only (use msg.vars for your own values)", L.CheckString(2))
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		ref := lib.checkMsg(L, 1)
		L.Push(lua.LString("msg " + ref.m.ID))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("msg"))
	return mt
}

// msgField returns the envelope field key, or LNil when key is no field.
func (lib *Lib) msgField(ref *msgRef, key string) lua.LValue {
	L, m := lib.L, ref.m
	switch key {
	case "id":
		return lua.LString(m.ID)
	case "from":
		return lua.LString(m.From)
	case "rcpt":
		t := L.CreateTable(len(m.Rcpt), 0)
		for _, r := range m.Rcpt {
			t.Append(lua.LString(r))
		}
		return t
	case "client":
		return lua.LString(m.Client)
	case "helo":
		return lua.LString(m.Helo)
	case "size":
		if m.Body == nil {
			return lua.LNumber(0)
		}
		return lua.LNumber(m.Body.Size())
	case "vars":
		if ref.vars == nil {
			// Sized for what it holds (and one more): NewTable's default
			// room for 32 array and 32 hash entries was ~3 KiB for each
			// hook call that reads msg.vars, the largest allocation of a
			// 4 KiB message's whole path.
			ref.vars = L.CreateTable(0, len(m.Vars)+1)
			for k, v := range m.Vars {
				ref.vars.RawSetString(k, ToLua(L, v))
			}
		}
		return ref.vars
	}
	return lua.LNil
}

// locked wraps a binding that works on the call's message so that it holds
// the message's lock while it runs.
func (lib *Lib) locked(fn lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if m := lib.call.Msg; m != nil {
			m.mu.Lock()
			defer m.mu.Unlock()
		}
		return fn(L)
	}
}

func (lib *Lib) lockedFuncs(fns map[string]lua.LGFunction) map[string]lua.LGFunction {
	for name, fn := range fns {
		fns[name] = lib.locked(fn)
	}
	return fns
}

// checkMsg returns the live msg at stack index n or raises a Lua error.
func (lib *Lib) checkMsg(L *lua.LState, n int) *msgRef {
	ud, ok := L.Get(n).(*lua.LUserData)
	if ok {
		if ref, ok := ud.Value.(*msgRef); ok {
			if ref.dead {
				L.RaiseError("msg used after its hook returned")
			}
			return ref
		}
	}
	L.ArgError(n, "msg expected (call methods with a colon: msg:header(...))")
	return nil
}

func (lib *Lib) body(L *lua.LState) (*msgRef, *message.Message) {
	ref := lib.checkMsg(L, 1)
	if ref.m.Body == nil {
		ref.m.Body = message.New(nil, lib.messageOptions())
	}
	return ref, ref.m.Body
}

func (lib *Lib) messageOptions() message.Options {
	return lib.limits.MessageOptions()
}

func (lib *Lib) msgHeader(L *lua.LState) int {
	_, b := lib.body(L)
	L.Push(lua.LString(b.Header(L.CheckString(2))))
	return 1
}

func (lib *Lib) msgHeaders(L *lua.LState) int {
	_, b := lib.body(L)
	vals := b.Headers(L.CheckString(2))
	t := L.CreateTable(len(vals), 0)
	for _, v := range vals {
		t.Append(lua.LString(v))
	}
	L.Push(t)
	return 1
}

// msgHeaderFields returns every header field in order as {name=, value=}.
func (lib *Lib) msgHeaderFields(L *lua.LState) int {
	_, b := lib.body(L)
	fields := b.HeaderFields()
	t := L.CreateTable(len(fields), 0)
	for _, f := range fields {
		ft := L.CreateTable(0, 2)
		ft.RawSetString("name", lua.LString(f.Name))
		ft.RawSetString("value", lua.LString(f.Value))
		t.Append(ft)
	}
	L.Push(t)
	return 1
}

func (lib *Lib) msgSubject(L *lua.LState) int {
	_, b := lib.body(L)
	L.Push(lua.LString(b.Header("Subject")))
	return 1
}

func (lib *Lib) msgSetHeader(L *lua.LState) int {
	_, b := lib.body(L)
	if err := b.SetHeader(L.CheckString(2), L.CheckString(3)); err != nil {
		L.RaiseError("msg:set_header: %v", err)
	}
	return 0
}

func (lib *Lib) msgAddHeader(L *lua.LState) int {
	_, b := lib.body(L)
	if err := b.AddHeader(L.CheckString(2), L.CheckString(3)); err != nil {
		L.RaiseError("msg:add_header: %v", err)
	}
	return 0
}

func (lib *Lib) msgRemoveHeader(L *lua.LState) int {
	_, b := lib.body(L)
	L.Push(lua.LNumber(b.RemoveHeader(L.CheckString(2))))
	return 1
}

func (lib *Lib) msgText(L *lua.LState) int {
	_, b := lib.body(L)
	s, err := b.Text()
	if err != nil {
		L.RaiseError("msg:text: %v", err)
	}
	L.Push(lua.LString(s))
	return 1
}

func (lib *Lib) msgHTML(L *lua.LState) int {
	_, b := lib.body(L)
	s, err := b.HTML()
	if err != nil {
		L.RaiseError("msg:html: %v", err)
	}
	L.Push(lua.LString(s))
	return 1
}

func (lib *Lib) msgDefects(L *lua.LState) int {
	_, b := lib.body(L)
	d := b.Defects()
	t := L.CreateTable(len(d), 0)
	for _, s := range d {
		t.Append(lua.LString(s))
	}
	L.Push(t)
	return 1
}

// parts returns the leaf parts. A body that cannot be walked at all (an
// empty message) has none; the problem is in msg:defects().
func (lib *Lib) parts(L *lua.LState, b *message.Message) []*message.Part {
	ps, _ := b.Parts()
	return ps
}

func (lib *Lib) pushParts(L *lua.LState, ref *msgRef, ps []*message.Part, keep func(*message.Part) bool) {
	t := L.CreateTable(len(ps), 0)
	for _, p := range ps {
		if keep == nil || keep(p) {
			t.Append(lib.newPart(ref, p))
		}
	}
	L.Push(t)
}

func (lib *Lib) msgParts(L *lua.LState) int {
	ref, b := lib.body(L)
	lib.pushParts(L, ref, lib.parts(L, b), nil)
	return 1
}

func (lib *Lib) msgAttachments(L *lua.LState) int {
	ref, b := lib.body(L)
	lib.pushParts(L, ref, lib.parts(L, b), func(p *message.Part) bool { return p.IsAttachment })
	return 1
}

// msgAttachment finds an attachment by file name (exact first, then
// case-insensitive), or nil.
func (lib *Lib) msgAttachment(L *lua.LState) int {
	ref, b := lib.body(L)
	name := L.CheckString(2)
	ps := lib.parts(L, b)
	for _, fold := range []bool{false, true} {
		for _, p := range ps {
			if p.Filename == name || (fold && strings.EqualFold(p.Filename, name)) {
				L.Push(lib.newPart(ref, p))
				return 1
			}
		}
	}
	L.Push(lua.LNil)
	return 1
}

func (lib *Lib) msgReplacePart(L *lua.LState) int {
	ref, b := lib.body(L)
	p := lib.checkPart(L, 2)
	if err := b.ReplacePart(p.p, L.CheckString(3)); err != nil {
		L.RaiseError("msg:replace_part: %v", err)
	}
	lib.act(ref, Action{Kind: "replace_part", Part: p.p.Index})
	return 0
}

func (lib *Lib) msgRemovePart(L *lua.LState) int {
	ref, b := lib.body(L)
	p := lib.checkPart(L, 2)
	if err := b.RemovePart(p.p); err != nil {
		L.RaiseError("msg:remove_part: %v", err)
	}
	lib.act(ref, Action{Kind: "remove_part", Part: p.p.Index})
	return 0
}

func (lib *Lib) msgPrependText(L *lua.LState) int {
	ref, b := lib.body(L)
	if err := b.PrependText(L.CheckString(2)); err != nil {
		L.RaiseError("msg:prepend_text: %v", err)
	}
	lib.act(ref, Action{Kind: "prepend_text"})
	return 0
}

// msgScore adds points under a symbol, msg:score(2.5, "NO_SUBJECT", "empty
// subject"), and returns the new total; msg:score() returns the total.
func (lib *Lib) msgScore(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	if L.GetTop() == 1 {
		L.Push(lua.LNumber(ref.m.Score))
		return 1
	}
	points := float64(L.CheckNumber(2))
	sym := L.CheckString(3)
	if sym == "" {
		L.ArgError(3, "symbol must not be empty")
	}
	ref.m.Score += points
	ref.m.Symbols = append(ref.m.Symbols, Symbol{
		Name: sym, Points: points, Why: L.OptString(4, ""), Stage: lib.call.Stage,
	})
	L.Push(lua.LNumber(ref.m.Score))
	return 1
}

func (lib *Lib) msgFileinto(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	folder := L.CheckString(2)
	if err := mailstore.CheckFolder(folder); err != nil {
		L.ArgError(2, err.Error())
	}
	lib.act(ref, Action{Kind: "fileinto", Folder: folder})
	return 0
}

func (lib *Lib) msgRedirect(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	addr := lib.checkAddr(L, 2)
	lib.act(ref, Action{Kind: "redirect", Address: addr})
	return 0
}

func (lib *Lib) msgAddRcpt(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	addr := lib.checkAddr(L, 2)
	ref.m.Rcpt = append(ref.m.Rcpt, addr)
	lib.act(ref, Action{Kind: "add_rcpt", Address: addr})
	return 0
}

func (lib *Lib) msgRemoveRcpt(L *lua.LState) int {
	ref := lib.checkMsg(L, 1)
	addr := lib.checkAddr(L, 2)
	kept := ref.m.Rcpt[:0]
	for _, r := range ref.m.Rcpt {
		if !strings.EqualFold(r, addr) {
			kept = append(kept, r)
		}
	}
	ref.m.Rcpt = kept
	lib.act(ref, Action{Kind: "remove_rcpt", Address: addr})
	return 0
}

func (lib *Lib) act(ref *msgRef, a Action) {
	a.Stage = lib.call.Stage
	ref.m.Actions = append(ref.m.Actions, a)
}

func (lib *Lib) checkAddr(L *lua.LState, n int) string {
	addr := L.CheckString(n)
	if err := CheckAddress(addr); err != nil {
		L.ArgError(n, err.Error())
	}
	return addr
}
