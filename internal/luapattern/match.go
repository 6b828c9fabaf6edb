// Derived from github.com/yuin/gopher-lua/pm (v1.1.2), Copyright (c) 2015
// Yusuke Inuzuka, MIT License: see LICENSE in this folder. The recursive
// virtual machine of pm is rewritten as a loop over an explicit backtracking
// stack that spends a step budget and calls a cancellation check.

package luapattern

import "bytes"

// CheckEvery is the number of matcher steps (instructions run, bytes
// scanned) between two calls of the check function.
const CheckEvery = 1000

var errCaptureIndex = newError(unknownPos, "invalid capture index")

// maxSubject is the longest subject: MatchData keeps positions in 31 bits.
const maxSubject = 1<<31 - 2

var errSubjectTooLong = newError(unknownPos, "subject too long for pattern matching")

// Matcher walks one subject with one pattern, a match at a time, in the
// order of Find (the order of string.gmatch and string.gsub). A Matcher is
// used by one goroutine at a time.
type Matcher struct {
	p     *Pattern
	src   []byte
	check func() error
	pos   int
	done  bool
	err   error
	steps int

	caps  MatchData // the attempt in progress
	stack []frame
}

// frame is one entry of the backtracking stack.
type frame struct {
	kind frameKind
	pc   int // greedy, lazy: the repetition instruction; restore: the slot
	sp   int // greedy: where the repetition starts; lazy: where it ends now
	n    int // greedy: repetitions taken now; restore: the old slot value
	min  int // greedy: fewest repetitions allowed
}

type frameKind uint8

const (
	restoreFrame frameKind = iota
	greedyFrame
	lazyFrame
)

// Matcher returns a Matcher over src that starts at byte offset. check, if
// not nil, is called every CheckEvery steps; its error stops the match and
// is returned as is by Next (so errors.Is(err, context.DeadlineExceeded)
// works when check is ctx.Err).
func (p *Pattern) Matcher(src []byte, offset int, check func() error) *Matcher {
	if offset < 0 {
		offset = 0
	}
	m := &Matcher{p: p, src: src, check: check, pos: offset}
	if len(src) > maxSubject {
		m.err = errSubjectTooLong
	}
	if !p.isLiteral {
		m.caps.captures = make([]uint32, 0, p.slots)
		m.stack = make([]frame, 0, min(len(p.insts), 32))
	}
	return m
}

// Next returns the next match, or nil when there is none left. After an
// error, Next returns the same error again.
func (m *Matcher) Next() (*MatchData, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.p.isLiteral {
		return m.nextLiteral()
	}
	for !m.done && m.pos <= len(m.src) {
		if md, err := m.attempt(); md != nil || err != nil {
			return md, err
		}
	}
	m.done = true
	return nil, nil
}

// attempt tries the pattern at the current position only, and moves on.
func (m *Matcher) attempt() (*MatchData, error) {
	if m.err != nil || m.done || m.pos > len(m.src) {
		return nil, m.err
	}
	sp := m.pos
	m.pos++
	if m.p.anchored {
		m.done = true
	}
	var ok bool
	var end int
	if m.p.isLiteral {
		end = sp + len(m.p.literal)
		ok = bytes.HasPrefix(m.src[sp:], m.p.literal)
		m.err = m.spend(len(m.p.literal) + 1)
	} else {
		ok, end, m.err = m.matchAt(sp)
	}
	if m.err != nil || !ok {
		return nil, m.err
	}
	m.pos = max(m.pos, end)
	if m.p.isLiteral {
		return &MatchData{captures: []uint32{uint32(sp) << 1, uint32(end) << 1}}, nil
	}
	return &MatchData{captures: append([]uint32{}, m.caps.captures...)}, nil
}

func (m *Matcher) nextLiteral() (*MatchData, error) {
	if m.done || m.pos > len(m.src) {
		m.done = true
		return nil, nil
	}
	lit := m.p.literal
	i := bytes.Index(m.src[m.pos:], lit)
	if i < 0 {
		m.done = true
		m.err = m.spend(len(m.src) - m.pos)
		return nil, m.err
	}
	if m.err = m.spend(i + len(lit) + 1); m.err != nil {
		return nil, m.err
	}
	start := m.pos + i
	end := start + len(lit)
	m.pos = max(start+1, end)
	return &MatchData{captures: []uint32{uint32(start) << 1, uint32(end) << 1}}, nil
}

// spend adds n steps and calls check when the budget is used up.
func (m *Matcher) spend(n int) error {
	m.steps += n
	if m.steps < CheckEvery {
		return nil
	}
	m.steps = 0
	if m.check == nil {
		return nil
	}
	return m.check()
}

// Find returns up to limit matches (all when limit < 0) of the pattern in
// src, trying positions from byte offset on, as gopher-lua's pm.Find does;
// like pm, a limit of 0 returns nothing when there is no match at offset and
// every match otherwise. check is as for Matcher.
func (p *Pattern) Find(src []byte, offset, limit int, check func() error) ([]*MatchData, error) {
	if offset < 0 {
		offset = 0
	}
	m := p.Matcher(src, offset, check)
	if m.err != nil {
		return nil, m.err
	}
	matches := []*MatchData{}
	if limit == 0 {
		// pm: with limit 0, no match at offset means no match at all, and a
		// match there means every match.
		md, err := m.attempt()
		if md == nil || err != nil {
			return matches, err
		}
		matches = append(matches, md)
	}
	for limit <= 0 || len(matches) < limit {
		md, err := m.Next()
		if err != nil {
			return nil, err
		}
		if md == nil {
			break
		}
		matches = append(matches, md)
	}
	return matches, nil
}

// Find compiles p and returns its matches in src, as Pattern.Find.
func Find(p string, src []byte, offset, limit int, check func() error) ([]*MatchData, error) {
	pat, err := Compile(p)
	if err != nil {
		return nil, err
	}
	return pat.Find(src, offset, limit, check)
}

// matchAt tries the pattern at sp and returns whether it matched and where
// the match ends; the slots are left in m.caps.
func (m *Matcher) matchAt(sp int) (bool, int, error) {
	src, insts := m.src, m.p.insts
	n := len(src)
	m.caps.captures = m.caps.captures[:0]
	m.stack = m.stack[:0]
	pc := 0
	for {
		m.steps++
		if m.steps >= CheckEvery {
			if err := m.spend(0); err != nil {
				return false, 0, err
			}
		}
		in := &insts[pc]
		switch in.op {
		case opLit:
			if sp < n && src[sp] == in.c {
				sp++
				pc++
				continue
			}
		case opClass:
			if sp < n && in.set.has(src[sp]) {
				sp++
				pc++
				continue
			}
		case opStar, opPlus, opOpt:
			most := n - sp
			if in.op == opOpt && most > 1 {
				most = 1
			}
			i := 0
			for i < most && in.set.has(src[sp+i]) {
				i++
			}
			m.steps += i
			least := 0
			if in.op == opPlus {
				least = 1
			}
			if i >= least {
				if i > least {
					m.stack = append(m.stack, frame{kind: greedyFrame, pc: pc, sp: sp, n: i, min: least})
				}
				sp += i
				pc++
				continue
			}
		case opMinus:
			m.stack = append(m.stack, frame{kind: lazyFrame, pc: pc, sp: sp})
			pc++
			continue
		case opSave:
			old := m.caps.setCapture(in.a, sp)
			m.stack = append(m.stack, frame{kind: restoreFrame, pc: in.a, n: int(old)})
			pc++
			continue
		case opPSave:
			m.caps.addPosCapture(in.a, sp+1)
			pc++
			continue
		case opBrace:
			if end, ok := m.brace(in, sp); ok {
				sp = end
				pc++
				continue
			}
		case opNumber:
			end, ok, err := m.backref(in, sp)
			if err != nil {
				return false, 0, err
			}
			if ok {
				sp = end
				pc++
				continue
			}
		case opFrontier:
			var prev, cur byte
			if sp > 0 {
				prev = src[sp-1]
			}
			if sp < n {
				cur = src[sp]
			}
			if !in.set.has(prev) && in.set.has(cur) {
				pc++
				continue
			}
		case opTailMatch:
			if sp >= n {
				return true, sp, nil
			}
		case opMatch:
			return true, sp, nil
		}
		var ok bool
		if pc, sp, ok = m.backtrack(); !ok {
			return false, 0, nil
		}
	}
}

// backtrack pops the stack down to the next alternative and returns where
// to resume, or false when there is none.
func (m *Matcher) backtrack() (pc, sp int, ok bool) {
	for len(m.stack) > 0 {
		top := len(m.stack) - 1
		f := &m.stack[top]
		switch f.kind {
		case restoreFrame:
			m.caps.captures[f.pc] = uint32(f.n)
		case greedyFrame:
			f.n--
			pc, sp = f.pc+1, f.sp+f.n
			if f.n == f.min {
				m.stack = m.stack[:top]
			}
			return pc, sp, true
		case lazyFrame:
			in := &m.p.insts[f.pc]
			if f.sp < len(m.src) && in.set.has(m.src[f.sp]) {
				f.sp++
				return f.pc + 1, f.sp, true
			}
		}
		m.stack = m.stack[:top]
	}
	return 0, 0, false
}

// brace matches %bxy at sp and returns where the balanced run ends.
func (m *Matcher) brace(in *inst, sp int) (int, bool) {
	src := m.src
	if sp >= len(src) || int(src[sp]) != in.a {
		return 0, false
	}
	count := 1
	for i := sp + 1; i < len(src); i++ {
		if int(src[i]) == in.b {
			count--
		}
		if count == 0 {
			m.steps += i - sp
			return i + 1, true
		}
		if int(src[i]) == in.a {
			count++
		}
	}
	m.steps += len(src) - sp
	return 0, false
}

// backref matches %N at sp. A back-reference to a position capture matches
// the empty string, as in pm; one to a capture that is not closed yet is an
// error (pm crashed or read stale positions).
func (m *Matcher) backref(in *inst, sp int) (int, bool, error) {
	md := &m.caps
	idx := in.a * 2
	if idx >= md.CaptureLength()-1 {
		return 0, false, errCaptureIndex
	}
	if md.IsPosCapture(idx) {
		return sp, true, nil
	}
	start, end := md.Capture(idx), md.Capture(idx+1)
	if end < start {
		return 0, false, errCaptureIndex
	}
	c := m.src[start:end]
	if len(m.src)-sp < len(c) || !bytes.Equal(m.src[sp:sp+len(c)], c) {
		return 0, false, nil
	}
	m.steps += len(c)
	return sp + len(c), true, nil
}
