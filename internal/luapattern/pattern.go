// Derived from github.com/yuin/gopher-lua/pm (v1.1.2), Copyright (c) 2015
// Yusuke Inuzuka, MIT License: see LICENSE in this folder. pm's errors,
// match data, scanner, classes and parser, with %f frontiers, byte sets for
// classes, and limits on nesting and size (see doc.go).

package luapattern

import "fmt"

// EOS is the position of an error found at the end of the pattern.
const EOS = -1

const unknownPos = -2

// MaxDepth caps the nesting of captures in a pattern; deeper patterns fail
// with ErrTooComplex.
const MaxDepth = 200

// MaxItems caps the number of items (single characters, classes, captures …)
// of a pattern that has magic characters; longer patterns fail with
// ErrTooComplex. Patterns with no magic characters have no limit.
const MaxItems = 1 << 16

// Error is an error in a pattern, or found while matching it. Its text is
// what Lua scripts see.
type Error struct {
	Pos     int
	Message string
}

// ErrTooComplex is returned for patterns nested deeper than MaxDepth or
// longer than MaxItems.
var ErrTooComplex = &Error{Pos: unknownPos, Message: "pattern too complex"}

func newError(pos int, message string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{pos, message}
	}
	return &Error{pos, fmt.Sprintf(message, args...)}
}

func (e *Error) Error() string {
	switch e.Pos {
	case EOS:
		return fmt.Sprintf("%s at EOS", e.Message)
	case unknownPos:
		return e.Message
	default:
		return fmt.Sprintf("%s at %d", e.Message, e.Pos)
	}
}

// MatchData holds the positions of one match: slots 0 and 1 are the start
// and end of the whole match, then two slots per capture.
type MatchData struct {
	// layout of each slot
	// xxxx xxxx xxxx xxx0 : captured position
	// xxxx xxxx xxxx xxx1 : position capture
	captures []uint32
}

func (st *MatchData) addPosCapture(s, pos int) {
	for s+1 >= len(st.captures) {
		st.captures = append(st.captures, 0)
	}
	st.captures[s] = (uint32(pos) << 1) | 1
	st.captures[s+1] = (uint32(pos) << 1) | 1
}

func (st *MatchData) setCapture(s, pos int) uint32 {
	for s >= len(st.captures) {
		st.captures = append(st.captures, 0)
	}
	v := st.captures[s]
	st.captures[s] = uint32(pos) << 1
	return v
}

// CaptureLength returns the number of slots: 2 + 2 × the number of captures.
func (st *MatchData) CaptureLength() int { return len(st.captures) }

// IsPosCapture reports whether slot idx holds a position capture "()".
func (st *MatchData) IsPosCapture(idx int) bool { return (st.captures[idx] & 1) == 1 }

// Capture returns the byte offset in slot idx; for a position capture, the
// 1-based position Lua returns.
func (st *MatchData) Capture(idx int) int { return int(st.captures[idx] >> 1) }

/* scanner {{{ */

type scannerState struct {
	Pos     int
	started bool
}

type scanner struct {
	src   string
	State scannerState
	saved scannerState
	items int // pattern items parsed so far, checked against MaxItems
}

func newScanner(src string) *scanner {
	return &scanner{src: src}
}

func (sc *scanner) Length() int { return len(sc.src) }

func (sc *scanner) Next() int {
	if !sc.State.started {
		sc.State.started = true
		if len(sc.src) == 0 {
			sc.State.Pos = EOS
		}
	} else {
		sc.State.Pos = sc.NextPos()
	}
	if sc.State.Pos == EOS {
		return EOS
	}
	return int(sc.src[sc.State.Pos])
}

func (sc *scanner) CurrentPos() int {
	return sc.State.Pos
}

func (sc *scanner) NextPos() int {
	if sc.State.Pos == EOS || sc.State.Pos >= len(sc.src)-1 {
		return EOS
	}
	if !sc.State.started {
		return 0
	}
	return sc.State.Pos + 1
}

func (sc *scanner) Peek() int {
	cureof := sc.State.Pos == EOS
	ch := sc.Next()
	if !cureof {
		if sc.State.Pos == EOS {
			sc.State.Pos = len(sc.src) - 1
		} else {
			sc.State.Pos--
			if sc.State.Pos < 0 {
				sc.State.Pos = 0
				sc.State.started = false
			}
		}
	}
	return ch
}

func (sc *scanner) Save() { sc.saved = sc.State }

func (sc *scanner) Restore() { sc.State = sc.saved }

/* }}} */

/* classes {{{ */

// charset is a set of bytes.
type charset [4]uint64

func (s *charset) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }

func (s *charset) add(b int) { s[b>>6] |= 1 << (b & 63) }

type class interface {
	Matches(ch int) bool
	// set returns the bytes the class matches; callers must not modify it.
	set() *charset
}

type dotClass struct{}

func (pn *dotClass) Matches(ch int) bool { return true }

var dotSet = &charset{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

func (pn *dotClass) set() *charset { return dotSet }

type charClass struct {
	Ch int
}

func (pn *charClass) Matches(ch int) bool { return pn.Ch == ch }

func (pn *charClass) set() *charset {
	s := &charset{}
	s.add(pn.Ch)
	return s
}

type singleClass struct {
	Class int
}

func (pn *singleClass) Matches(ch int) bool {
	ret := false
	switch pn.Class {
	case 'a', 'A':
		ret = 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z'
	case 'c', 'C':
		ret = (0x00 <= ch && ch <= 0x1F) || ch == 0x7F
	case 'd', 'D':
		ret = '0' <= ch && ch <= '9'
	case 'l', 'L':
		ret = 'a' <= ch && ch <= 'z'
	case 'p', 'P':
		ret = (0x21 <= ch && ch <= 0x2f) || (0x3a <= ch && ch <= 0x40) || (0x5b <= ch && ch <= 0x60) || (0x7b <= ch && ch <= 0x7e)
	case 's', 'S':
		switch ch {
		case ' ', '\f', '\n', '\r', '\t', '\v':
			ret = true
		}
	case 'u', 'U':
		ret = 'A' <= ch && ch <= 'Z'
	case 'w', 'W':
		ret = '0' <= ch && ch <= '9' || 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z'
	case 'x', 'X':
		ret = '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
	case 'z', 'Z':
		ret = ch == 0
	default:
		return ch == pn.Class
	}
	if 'A' <= pn.Class && pn.Class <= 'Z' {
		return !ret
	}
	return ret
}

// classSets holds the sets of %a, %A, %c … built once from Matches.
var classSets = func() map[int]*charset {
	m := map[int]*charset{}
	for _, c := range "aAcCdDlLpPsSuUwWxXzZ" {
		s := &charset{}
		pn := &singleClass{int(c)}
		for b := 0; b < 256; b++ {
			if pn.Matches(b) {
				s.add(b)
			}
		}
		m[int(c)] = s
	}
	return m
}()

func (pn *singleClass) set() *charset {
	if s, ok := classSets[pn.Class]; ok {
		return s
	}
	s := &charset{}
	if pn.Class >= 0 && pn.Class < 256 {
		s.add(pn.Class)
	}
	return s
}

type setClass struct {
	IsNot   bool
	Classes []class
}

func (pn *setClass) Matches(ch int) bool {
	for _, class := range pn.Classes {
		if class.Matches(ch) {
			return !pn.IsNot
		}
	}
	return pn.IsNot
}

func (pn *setClass) set() *charset {
	s := &charset{}
	for _, c := range pn.Classes {
		for i, w := range c.set() {
			s[i] |= w
		}
	}
	if pn.IsNot {
		for i := range s {
			s[i] = ^s[i]
		}
	}
	return s
}

type rangeClass struct {
	Begin class
	End   class
}

func (pn *rangeClass) Matches(ch int) bool {
	switch begin := pn.Begin.(type) {
	case *charClass:
		end, ok := pn.End.(*charClass)
		if !ok {
			return false
		}
		return begin.Ch <= ch && ch <= end.Ch
	}
	return false
}

func (pn *rangeClass) set() *charset {
	s := &charset{}
	begin, ok1 := pn.Begin.(*charClass)
	end, ok2 := pn.End.(*charClass)
	if ok1 && ok2 {
		for c := begin.Ch; c <= end.Ch; c++ {
			s.add(c)
		}
	}
	return s
}

// }}}

// patterns {{{

type pattern any

type singlePattern struct {
	Class class
}

type seqPattern struct {
	MustHead bool
	MustTail bool
	Patterns []pattern
}

type repeatPattern struct {
	Type  int
	Class class
}

type posCapPattern struct{}

type capPattern struct {
	Pattern pattern
}

type numberPattern struct {
	N int
}

type bracePattern struct {
	Begin int
	End   int
}

type frontierPattern struct {
	Class class
}

// }}}

/* parse {{{ */

func parseClass(sc *scanner, allowset bool) class {
	ch := sc.Next()
	switch ch {
	case '%':
		return &singleClass{sc.Next()}
	case '.':
		if allowset {
			return &dotClass{}
		}
		return &charClass{ch}
	case '[':
		if allowset {
			return parseClassSet(sc)
		}
		return &charClass{ch}
	case EOS:
		panic(newError(sc.CurrentPos(), "unexpected EOS"))
	default:
		return &charClass{ch}
	}
}

func parseClassSet(sc *scanner) class {
	set := &setClass{false, []class{}}
	if sc.Peek() == '^' {
		set.IsNot = true
		sc.Next()
	}
	isrange := false
	for {
		ch := sc.Peek()
		switch ch {
		case EOS:
			panic(newError(sc.CurrentPos(), "unexpected EOS"))
		case ']':
			if len(set.Classes) > 0 {
				sc.Next()
				goto exit
			}
			fallthrough
		case '-':
			if len(set.Classes) > 0 {
				sc.Next()
				isrange = true
				continue
			}
			fallthrough
		default:
			set.Classes = append(set.Classes, parseClass(sc, false))
		}
		if isrange {
			begin := set.Classes[len(set.Classes)-2]
			end := set.Classes[len(set.Classes)-1]
			set.Classes = set.Classes[0 : len(set.Classes)-2]
			set.Classes = append(set.Classes, &rangeClass{begin, end})
			isrange = false
		}
	}
exit:
	if isrange {
		set.Classes = append(set.Classes, &charClass{'-'})
	}

	return set
}

// add appends an item to pat, counting it against MaxItems.
func (sc *scanner) add(pat *seqPattern, p pattern) {
	sc.items++
	if sc.items > MaxItems {
		panic(ErrTooComplex)
	}
	pat.Patterns = append(pat.Patterns, p)
}

func parsePattern(sc *scanner, toplevel bool, depth int) *seqPattern {
	pat := &seqPattern{}
	if toplevel {
		if sc.Peek() == '^' {
			sc.Next()
			pat.MustHead = true
		}
	}
	for {
		ch := sc.Peek()
		switch ch {
		case '%':
			sc.Save()
			sc.Next()
			switch sc.Peek() {
			case '0':
				panic(newError(sc.CurrentPos(), "invalid capture index"))
			case '1', '2', '3', '4', '5', '6', '7', '8', '9':
				sc.add(pat, &numberPattern{sc.Next() - 48})
			case 'b':
				sc.Next()
				sc.add(pat, &bracePattern{sc.Next(), sc.Next()})
			case 'f':
				sc.Next()
				if sc.Peek() != '[' {
					panic(&Error{sc.CurrentPos(), "missing '[' after '%f' in pattern"})
				}
				sc.add(pat, &frontierPattern{parseClass(sc, true)})
			default:
				sc.Restore()
				sc.add(pat, &singlePattern{parseClass(sc, true)})
			}
		case '.', '[', ']':
			sc.add(pat, &singlePattern{parseClass(sc, true)})
		case ')':
			if toplevel {
				panic(newError(sc.CurrentPos(), "invalid ')'"))
			}
			return pat
		case '(':
			sc.Next()
			if sc.Peek() == ')' {
				sc.Next()
				sc.add(pat, &posCapPattern{})
			} else {
				if depth >= MaxDepth {
					panic(ErrTooComplex)
				}
				ret := &capPattern{parsePattern(sc, false, depth+1)}
				if sc.Peek() != ')' {
					panic(newError(sc.CurrentPos(), "unfinished capture"))
				}
				sc.Next()
				sc.add(pat, ret)
			}
		case '*', '+', '-', '?':
			sc.Next()
			if len(pat.Patterns) > 0 {
				spat, ok := pat.Patterns[len(pat.Patterns)-1].(*singlePattern)
				if ok {
					pat.Patterns[len(pat.Patterns)-1] = &repeatPattern{ch, spat.Class}
					continue
				}
			}
			sc.add(pat, &singlePattern{&charClass{ch}})
		case '$':
			if toplevel && (sc.NextPos() == sc.Length()-1 || sc.NextPos() == EOS) {
				pat.MustTail = true
			} else {
				sc.add(pat, &singlePattern{&charClass{ch}})
			}
			sc.Next()
		case EOS:
			sc.Next()
			return pat
		default:
			sc.Next()
			sc.add(pat, &singlePattern{&charClass{ch}})
		}
	}
}

/* }}} parse */
