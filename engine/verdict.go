package engine

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// Verdict kinds. Continue means "go on with the next stage".
const (
	Continue   = ""
	Accept     = "accept"
	Reject     = "reject"
	Tempfail   = "tempfail"
	Discard    = "discard"
	Quarantine = "quarantine"
)

// Verdict is what a hook decided.
type Verdict struct {
	// Kind is one of Continue, Accept, Reject, Tempfail, Discard, Quarantine.
	Kind string
	// Code and Enhanced are the SMTP reply codes (reject, tempfail).
	Code     int
	Enhanced string
	// Text is the reply text, or the reason for a quarantine.
	Text string
}

// Final reports whether v ends the phase.
func (v Verdict) Final() bool { return v.Kind != Continue }

var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// verdictFuncs returns the Lua functions accept, reject, tempfail, discard,
// quarantine; each returns a verdict object for the hook to return.
func verdictFuncs(L *lua.LState, meta *lua.LTable) map[string]*lua.LFunction {
	push := func(L *lua.LState, v *Verdict) int {
		ud := L.NewUserData()
		ud.Value = v
		ud.Metatable = meta
		L.Push(ud)
		return 1
	}
	return map[string]*lua.LFunction{
		"accept": L.NewFunction(func(L *lua.LState) int {
			return push(L, &Verdict{Kind: Accept, Code: 250, Enhanced: "2.0.0", Text: "ok"})
		}),
		"discard": L.NewFunction(func(L *lua.LState) int {
			return push(L, &Verdict{Kind: Discard, Code: 250, Enhanced: "2.0.0", Text: "ok"})
		}),
		"quarantine": L.NewFunction(func(L *lua.LState) int {
			reason := sanitizeText(L.OptString(1, "quarantined by policy"))
			return push(L, &Verdict{Kind: Quarantine, Code: 250, Enhanced: "2.0.0", Text: reason})
		}),
		"reject": L.NewFunction(func(L *lua.LState) int {
			return push(L, replyVerdict(L, Reject, 550, "5.7.1", "message rejected by policy"))
		}),
		"tempfail": L.NewFunction(func(L *lua.LState) int {
			return push(L, replyVerdict(L, Tempfail, 451, "4.7.1", "try again later"))
		}),
	}
}

// replyVerdict parses ([code,] [enhanced,] text) for reject and tempfail.
func replyVerdict(L *lua.LState, kind string, code int, enhanced, text string) *Verdict {
	class := code / 100
	args := make([]lua.LValue, 0, 3)
	for i := 1; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	if len(args) > 0 {
		if n, ok := args[0].(lua.LNumber); ok {
			c := int(n)
			if float64(c) != float64(n) || c/100 != class {
				L.ArgError(1, fmt.Sprintf("%s code must be %dxx, got %v", kind, class, n))
			}
			code = c
			args = args[1:]
		}
	}
	if len(args) > 1 || (len(args) == 1 && enhancedRE.MatchString(args[0].String())) {
		e := args[0].String()
		if !enhancedRE.MatchString(e) || int(e[0]-'0') != class {
			L.RaiseError("%s: enhanced status code must look like %d.x.y, got %q", kind, class, e)
		}
		enhanced = e
		args = args[1:]
	}
	if len(args) > 0 {
		s, ok := args[0].(lua.LString)
		if !ok {
			L.RaiseError("%s: text must be a string, got %s", kind, args[0].Type())
		}
		text = sanitizeText(string(s))
	}
	return &Verdict{Kind: kind, Code: code, Enhanced: enhanced, Text: text}
}

// sanitizeText makes s safe for one SMTP reply line: no control characters,
// at most 400 bytes.
func sanitizeText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		s = s[:400]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func newVerdictMeta(L *lua.LState) *lua.LTable {
	mt := L.NewTable()
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		v, _ := L.CheckUserData(1).Value.(*Verdict)
		if v == nil {
			L.Push(lua.LString("verdict"))
			return 1
		}
		L.Push(lua.LString(fmt.Sprintf("%s(%d %s %s)", v.Kind, v.Code, v.Enhanced, v.Text)))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("verdict"))
	return mt
}

// toVerdict interprets what a hook returned.
func toVerdict(ret lua.LValue) (Verdict, error) {
	switch r := ret.(type) {
	case *lua.LNilType:
		return Verdict{}, nil
	case *lua.LUserData:
		if v, ok := r.Value.(*Verdict); ok {
			return *v, nil
		}
	}
	return Verdict{}, fmt.Errorf("returned a %s; return a verdict (accept(), reject(...), tempfail(...), discard(), quarantine(...)) or nothing", ret.Type())
}
