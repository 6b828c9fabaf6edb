package luapattern

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/yuin/gopher-lua/pm"
)

// render shows matches as the strings and positions Lua would return:
// the whole match, then each capture ("()" captures as numbers).
func render(src string, mds []*MatchData) []string {
	out := []string{}
	for _, md := range mds {
		out = append(out, renderOne(src, md.CaptureLength(), md.IsPosCapture, md.Capture))
	}
	return out
}

func renderPM(src string, mds []*pm.MatchData) []string {
	out := []string{}
	for _, md := range mds {
		out = append(out, renderOne(src, md.CaptureLength(), md.IsPosCapture, md.Capture))
	}
	return out
}

func renderOne(src string, n int, isPos func(int) bool, at func(int) int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%q", at(0), src[at(0):at(1)])
	for i := 2; i+1 < n; i += 2 {
		if isPos(i) {
			fmt.Fprintf(&b, " %d", at(i))
		} else {
			fmt.Fprintf(&b, " %q", src[at(i):at(i+1)])
		}
	}
	return b.String()
}

func TestFind(t *testing.T) {
	tests := []struct {
		name, pat, src string
		offset, limit  int
		want           []string
	}{
		{"empty pattern", "", "ab", 0, -1, []string{`0:""`, `1:""`, `2:""`}},
		{"empty subject", "a*", "", 0, -1, []string{`0:""`}},
		{"literal", "lo", "hello world, lo", 0, -1, []string{`3:"lo"`, `13:"lo"`}},
		{"literal offset", "lo", "hello world, lo", 4, -1, []string{`13:"lo"`}},
		{"escaped literal", "%.%-", "a.-b.-", 0, -1, []string{`1:".-"`, `4:".-"`}},
		{"limit", "%d", "a1b2c3", 0, 2, []string{`1:"1"`, `3:"2"`}},
		{"class", "%u%l+", "hello World", 0, -1, []string{`6:"World"`}},
		{"set and range", "[a-c%d]+", "xxab1cz", 0, 1, []string{`2:"ab1c"`}},
		{"negated set", "[^%s]+", "  to be ", 0, -1, []string{`2:"to"`, `5:"be"`}},
		{"star greedy", "a.*b", "a1b2b3", 0, -1, []string{`0:"a1b2b"`}},
		{"minus lazy", "a.-b", "a1b2b3", 0, -1, []string{`0:"a1b"`}},
		{"optional", "colou?r", "color colour", 0, -1, []string{`0:"color"`, `6:"colour"`}},
		{"anchor head", "^ab", "abab", 0, -1, []string{`0:"ab"`}},
		{"anchor head miss", "^b", "abab", 0, -1, []string{}},
		{"anchor head at offset", "^b", "abab", 1, -1, []string{`1:"b"`}},
		{"anchor tail", "b$", "abab", 0, -1, []string{`3:"b"`}},
		{"dollar inside", "a$b", "a$b", 0, -1, []string{`0:"a$b"`}},
		{"both anchors", "^%w+$", "word", 0, -1, []string{`0:"word"`}},
		{"captures", "(%w+)=(%w+)", "a=1, bb=22", 0, -1, []string{`0:"a=1" "a" "1"`, `5:"bb=22" "bb" "22"`}},
		{"nested captures", "((%w)%w*)", "ab cd", 0, 1, []string{`0:"ab" "ab" "a"`}},
		{"position captures", "()%w+()", "ab cd", 0, -1, []string{`0:"ab" 1 3`, `3:"cd" 4 6`}},
		{"back reference", "(%w)%1", "abccd", 0, -1, []string{`2:"cc" "c"`}},
		{"quoted", `(["'])(.-)%1`, `say "hi" or 'yo'`, 0, -1, []string{`4:"\"hi\"" "\"" "hi"`, `12:"'yo'" "'" "yo"`}},
		{"balanced", "%b()", "f(a(b)c) (d", 0, -1, []string{`1:"(a(b)c)"`}},
		{"balanced same", "%b''", "x 'a' 'b'", 0, -1, []string{`2:"'a'"`, `6:"'b'"`}},
		{"frontier word", "%f[%w]%w+", "THE (quick) fox", 0, -1, []string{`0:"THE"`, `5:"quick"`, `12:"fox"`}},
		{"frontier end", "%f[%z]", "ab", 0, -1, []string{`2:""`}},
		{"frontier start", "%f[%a]", "ab", 0, -1, []string{`0:""`}},
		{"frontier whole word", "%f[%a]the%f[%A]", "other the there the", 0, -1, []string{`6:"the"`, `16:"the"`}},
		{"empty matches after match", "%w*", "ab cd", 0, -1, []string{`0:"ab"`, `2:""`, `3:"cd"`, `5:""`}},
		{"header", "^Subject:%s*(.-)%s*$", "Subject:  Hello there  ", 0, 1, []string{`0:"Subject:  Hello there  " "Hello there"`}},
		{"limit zero, match at offset", "a", "aba", 0, 0, []string{`0:"a"`, `2:"a"`}},
		{"limit zero, no match at offset", "a", "ba", 0, 0, []string{}},
		{"offset past end", "a*", "aa", 5, -1, []string{}},
		{"negative offset", "a", "aa", -3, 1, []string{`0:"a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mds, err := Find(tt.pat, []byte(tt.src), tt.offset, tt.limit, nil)
			if err != nil {
				t.Fatalf("Find(%q, %q): %v", tt.pat, tt.src, err)
			}
			if diff := cmp.Diff(tt.want, render(tt.src, mds)); diff != "" {
				t.Errorf("Find(%q, %q) (-want +got):\n%s", tt.pat, tt.src, diff)
			}
		})
	}
}

func TestFindErrors(t *testing.T) {
	tests := []struct{ pat, src, want string }{
		{"(a", "a", "unfinished capture at EOS"},
		{"a)", "a", "invalid ')' at 0"},
		{"[a", "a", "unexpected EOS at 1"},
		{"%0", "a", "invalid capture index at 0"},
		{"%1(a)", "a", "invalid capture index"},
		{"(a%1)", "aa", "invalid capture index"},
		{"%fx", "a", "missing '[' after '%f' in pattern at 1"},
		{strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), "a", "pattern too complex"},
		{strings.Repeat("a?", MaxItems+1), "a", "pattern too complex"},
	}
	for _, tt := range tests {
		_, err := Find(tt.pat, []byte(tt.src), 0, -1, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Find(%.20q, %q) error = %v, want %q", tt.pat, tt.src, err, tt.want)
		}
	}
	deep := strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth)
	if _, err := Find(deep, []byte("a"), 0, -1, nil); err != nil {
		t.Errorf("Find with %d nested captures: %v", MaxDepth, err)
	}
	_, err := Find(strings.Repeat("(", 1000), nil, 0, -1, nil)
	if !errors.Is(err, ErrTooComplex) {
		t.Errorf("deep nesting: error = %v, want ErrTooComplex", err)
	}
}

// TestBackrefUnclosed covers back-references that crashed pm.
func TestBackrefUnclosed(t *testing.T) {
	for _, p := range []string{"(()%1)", "x(a%1)", "((a)%1)"} {
		_, err := Find(p, []byte("xxaa"), 0, -1, nil)
		if err == nil || err.Error() != "invalid capture index" {
			t.Errorf("Find(%q) error = %v, want invalid capture index", p, err)
		}
	}
	mds, err := Find("()a%1", []byte("ba"), 0, -1, nil)
	if err != nil || len(mds) != 1 {
		t.Errorf(`Find("()a%%1") = %v, %v; want one match`, mds, err)
	}
}

func TestCheckStops(t *testing.T) {
	src := []byte(strings.Repeat("a", 50000))
	stop := errors.New("stop")
	for _, p := range []string{".-.-.-.-.-.-b", "a*a*a*a*a*b", "(.-)%1%1b", "%b()"} {
		calls := 0
		check := func() error {
			calls++
			if calls == 5 {
				return stop
			}
			return nil
		}
		_, err := Find(p, src, 0, -1, check)
		if !errors.Is(err, stop) {
			t.Errorf("Find(%q) error = %v, want the check's error", p, err)
		}
		if calls != 5 {
			t.Errorf("Find(%q) called check %d times, want 5", p, calls)
		}
	}
}

func TestCheckDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Find(".-.-.-.-.-.-b", []byte(strings.Repeat("a", 50000)), 0, -1, ctx.Err)
	took := time.Since(start)
	t.Logf("stopped after %v", took)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want context.DeadlineExceeded", err)
	}
	if took > 400*time.Millisecond {
		t.Errorf("took %v, want about 50ms", took)
	}
}

// TestMatcherSharesBudget checks that many cheap matches still reach check.
func TestMatcherSharesBudget(t *testing.T) {
	for _, p := range []string{".", "a"} {
		pat, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		m := pat.Matcher([]byte(strings.Repeat("a", 10000)), 0, func() error { calls++; return nil })
		n := 0
		for {
			md, err := m.Next()
			if err != nil {
				t.Fatal(err)
			}
			if md == nil {
				break
			}
			n++
		}
		if n != 10000 || calls < 5 {
			t.Errorf("%q: %d matches, %d checks; want 10000 matches and several checks", p, n, calls)
		}
	}
}

func TestLongSubject(t *testing.T) {
	// pm recursed once per character here and gave up at 1e6.
	src := []byte(strings.Repeat("a", 2_000_000))
	for _, p := range []string{"^a*.?$", "^a-.?$", "^(a+)$"} {
		mds, err := Find(p, src, 0, 1, nil)
		if err != nil || len(mds) != 1 || mds[0].Capture(1) != len(src) {
			t.Errorf("Find(%q) = %d matches, %v", p, len(mds), err)
		}
	}
	if mds, err := Find("^a*.?b$", src, 0, 1, nil); err != nil || len(mds) != 0 {
		t.Errorf("Find(^a*.?b$) = %d matches, %v", len(mds), err)
	}
}

// TestLiteralPath checks that patterns without magic characters, matched
// with bytes.Index, give what the matcher gives.
func TestLiteralPath(t *testing.T) {
	src := []byte("a.b a.b aa..bb %% x")
	for _, p := range []string{"a", ".", "a%.b", "%%", "", " x", "zz", "%]", "]"} {
		fast, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := literal(p); !ok && p != "." {
			t.Errorf("literal(%q) = false", p)
		}
		slow, err := compileSlow(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{-1, 0, 1, 2} {
			for _, off := range []int{0, 1, 4, len(src), len(src) + 1} {
				a, _ := fast.Find(src, off, limit, nil)
				b, _ := slow.Find(src, off, limit, nil)
				if diff := cmp.Diff(render(string(src), b), render(string(src), a)); diff != "" {
					t.Errorf("%q offset %d limit %d (-matcher +literal):\n%s", p, off, limit, diff)
				}
			}
		}
	}
}

// compileSlow compiles p without the literal shortcut.
func compileSlow(p string) (*Pattern, error) {
	seq := parsePattern(newScanner(p), true, 0)
	cp := &compiler{insts: []inst{{op: opSave, a: 0}}, capture: 2}
	cp.compile(seq)
	if seq.MustTail {
		cp.insts = append(cp.insts, inst{op: opSave, a: 1}, inst{op: opTailMatch})
	}
	cp.insts = append(cp.insts, inst{op: opSave, a: 1}, inst{op: opMatch})
	return &Pattern{insts: cp.insts, anchored: seq.MustHead}, nil
}

// pmFind runs gopher-lua's matcher, turning its crashes into errors.
func pmFind(p string, src []byte, offset, limit int) (mds []*pm.MatchData, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pm panic: %v", v)
		}
	}()
	return pm.Find(p, src, offset, limit)
}

// same reports whether Find and pm.Find agree on p and src. It skips what
// differs on purpose: %f, and cases where pm crashes.
func same(t *testing.T, p, src string, offset, limit int) {
	t.Helper()
	if strings.Contains(p, "%f") {
		return
	}
	want, werr := pmFind(p, []byte(src), offset, limit)
	if werr != nil && strings.HasPrefix(werr.Error(), "pm panic") {
		return
	}
	got, gerr := Find(p, []byte(src), offset, limit, nil)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("Find(%q, %q, %d, %d) error = %v, pm: %v", p, src, offset, limit, gerr, werr)
	}
	if diff := cmp.Diff(renderPM(src, want), render(src, got)); diff != "" {
		t.Fatalf("Find(%q, %q, %d, %d) (-pm +luapattern):\n%s", p, src, offset, limit, diff)
	}
}

// TestSameAsPM compares with gopher-lua's pm on random small patterns.
func TestSameAsPM(t *testing.T) {
	atoms := []string{"a", "b", ".", "%a", "%d", "%s", "[ab]", "[^a]", "[a-c]", "%.", "x", "(", ")", "()",
		"%1", "%2", "%bab", "^", "$", "*", "+", "-", "?", "]", "[%d%s]", "%", "[]", "[a-]"}
	subjects := []string{"", "a", "ab", "aab", "abba", "a1 b2", "x.ab.", "aaaa", "abab ab", "1 22 333", "baab"}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(atoms[rng.IntN(len(atoms))])
		}
		p := b.String()
		src := subjects[rng.IntN(len(subjects))]
		same(t, p, src, rng.IntN(len(src)+2), rng.IntN(4)-1)
	}
}

// FuzzSameAsPM compares with gopher-lua's pm on fuzzed input.
func FuzzSameAsPM(f *testing.F) {
	for _, s := range []string{"(%w+)=(%w+)", "^a-b$", "()a%1", "%b()", "[^%s]+", "a?b*c+d-", "%1(a)"} {
		f.Add(s, "a=1 b=(2) aab", 0)
	}
	f.Fuzz(func(t *testing.T, p, src string, offset int) {
		// Keep pm, which has no budget, out of exponential cases.
		if len(p) > 16 || len(src) > 24 || strings.Count(p, "*")+strings.Count(p, "-")+strings.Count(p, "+") > 3 {
			t.Skip()
		}
		if offset < 0 { // pm misbehaves there; Find clamps to 0
			offset = -offset
		}
		same(t, p, src, offset%(len(src)+2), -1)
	})
}

// benchHeaders are header lines with the patterns scripts match them with.
var benchHeaders = []struct{ pat, src string }{
	{"^([%w%-]+):%s*(.-)%s*$", "Subject: [SPAM]   Cheap   offers today  "},
	{"<([^>]+)>", "From: Alice Example <alice@example.org>"},
	{"@example%.org$", "alice@example.org"},
	{"[Vv][1Ii][Aa][Gg][Rr][Aa]", "Subject: [SPAM]   Cheap   V1agra and other offers"},
	{"^%[SPAM%]", "[SPAM] Cheap offers"},
	{"%s+", "from mx.example.org (mx.example.org [192.0.2.1]) by mail.example.com with ESMTPS id 4Xyz"},
	{"example.org", "Received: from mx.example.org (mx.example.org [192.0.2.1])"},
}

// BenchmarkFind compares Find with gopher-lua's pm.Find on header matching.
func BenchmarkFind(b *testing.B) {
	check := context.Background().Err
	b.Run("pm", func(b *testing.B) {
		for b.Loop() {
			for _, h := range benchHeaders {
				if _, err := pm.Find(h.pat, []byte(h.src), 0, -1); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("luapattern-uncached", func(b *testing.B) {
		for b.Loop() {
			for _, h := range benchHeaders {
				pat, err := compile(h.pat)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pat.Find([]byte(h.src), 0, -1, check); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("luapattern", func(b *testing.B) {
		for b.Loop() {
			for _, h := range benchHeaders {
				if _, err := Find(h.pat, []byte(h.src), 0, -1, check); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
