// Derived from github.com/yuin/gopher-lua/pm (v1.1.2), Copyright (c) 2015
// Yusuke Inuzuka, MIT License: see LICENSE in this folder. pm's compiler,
// with repetitions as single instructions, byte sets for classes, a cache,
// and a shortcut for patterns without magic characters.

package luapattern

import (
	"strings"
	"sync"
	"sync/atomic"
)

/* compile {{{ */

type opCode uint8

const (
	opLit       opCode = iota // one byte equal to c
	opClass                   // one byte in set
	opStar                    // greedy '*' over set
	opPlus                    // greedy '+' over set
	opOpt                     // '?' over set
	opMinus                   // lazy '-' over set
	opSave                    // slot a := current position
	opPSave                   // position capture in slots a, a+1
	opBrace                   // %b with open a, close b
	opNumber                  // back-reference to capture a
	opFrontier                // %f[set]
	opTailMatch               // '$': a match only at the end of the subject
	opMatch                   // a match
)

// inst is one instruction. The program of a pattern is straight: every
// instruction but a repetition runs at most once per attempt, which bounds
// the backtracking stack by the length of the program.
type inst struct {
	op  opCode
	c   byte
	set *charset
	a   int
	b   int
}

type compiler struct {
	insts   []inst
	capture int
}

func (cp *compiler) compile(p pattern) {
	switch pat := p.(type) {
	case *singlePattern:
		if cc, ok := pat.Class.(*charClass); ok {
			cp.insts = append(cp.insts, inst{op: opLit, c: byte(cc.Ch)})
		} else {
			cp.insts = append(cp.insts, inst{op: opClass, set: pat.Class.set()})
		}
	case *seqPattern:
		for _, sub := range pat.Patterns {
			cp.compile(sub)
		}
	case *repeatPattern:
		var op opCode
		switch pat.Type {
		case '*':
			op = opStar
		case '+':
			op = opPlus
		case '-':
			op = opMinus
		default: // '?'
			op = opOpt
		}
		cp.insts = append(cp.insts, inst{op: op, set: pat.Class.set()})
	case *posCapPattern:
		cp.insts = append(cp.insts, inst{op: opPSave, a: cp.capture})
		cp.capture += 2
	case *capPattern:
		c0, c1 := cp.capture, cp.capture+1
		cp.capture += 2
		cp.insts = append(cp.insts, inst{op: opSave, a: c0})
		cp.compile(pat.Pattern)
		cp.insts = append(cp.insts, inst{op: opSave, a: c1})
	case *bracePattern:
		cp.insts = append(cp.insts, inst{op: opBrace, a: pat.Begin, b: pat.End})
	case *numberPattern:
		cp.insts = append(cp.insts, inst{op: opNumber, a: pat.N})
	case *frontierPattern:
		cp.insts = append(cp.insts, inst{op: opFrontier, set: pat.Class.set()})
	}
}

// Pattern is a compiled Lua pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	insts    []inst
	anchored bool
	slots    int // capture slots a match has
	// literal is set when the pattern has no magic characters; it is then
	// matched as plain bytes and insts is nil.
	literal   []byte
	isLiteral bool
}

// cache holds compiled patterns by their text: scripts use few patterns,
// many times. It is cleared when full.
var cache struct {
	m sync.Map // string → *Pattern
	n atomic.Int64
}

const (
	cacheEntries  = 4096 // most patterns kept
	cacheMaxBytes = 1024 // longest pattern kept
)

// Compile parses a Lua pattern. Errors are *Error values with the messages
// gopher-lua gives (and ErrTooComplex). Patterns are cached: the same text
// may give the same *Pattern.
func Compile(p string) (*Pattern, error) {
	if v, ok := cache.m.Load(p); ok {
		return v.(*Pattern), nil
	}
	pat, err := compile(p)
	if err != nil || len(p) > cacheMaxBytes {
		return pat, err
	}
	if cache.n.Add(1) > cacheEntries {
		cache.m.Clear()
		cache.n.Store(1)
	}
	cache.m.Store(p, pat)
	return pat, nil
}

func compile(p string) (pat *Pattern, err error) {
	if lit, ok := literal(p); ok {
		return &Pattern{literal: lit, isLiteral: true}, nil
	}
	defer func() {
		if v := recover(); v != nil {
			perr, ok := v.(*Error)
			if !ok {
				panic(v)
			}
			err = perr
		}
	}()
	sc := newScanner(p)
	seq := parsePattern(sc, true, 0)
	cp := &compiler{insts: make([]inst, 1, 2*sc.items+5), capture: 2}
	cp.insts[0] = inst{op: opSave, a: 0}
	cp.compile(seq)
	if seq.MustTail {
		cp.insts = append(cp.insts, inst{op: opSave, a: 1}, inst{op: opTailMatch})
	}
	cp.insts = append(cp.insts, inst{op: opSave, a: 1}, inst{op: opMatch})
	return &Pattern{insts: cp.insts, anchored: seq.MustHead, slots: cp.capture}, nil
}

// Anchored reports whether the pattern starts with '^': it then matches
// only at the offset it is given.
func (p *Pattern) Anchored() bool { return p.anchored }

// literal returns the bytes a pattern stands for when it has no magic
// characters; '%' followed by a character that is not a letter or digit
// stands for that character.
func literal(p string) ([]byte, bool) {
	if !strings.ContainsAny(p, "^$*+?.([%-)") {
		return []byte(p), true
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case strings.IndexByte("^$*+?.([-)", c) >= 0:
			return nil, false
		case c == '%':
			if i+1 == len(p) || isAlnum(p[i+1]) {
				return nil, false
			}
			i++
			c = p[i]
		}
		out = append(out, c)
	}
	return out, true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

/* }}} */
