package config

import (
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

// TestKeyLines checks the line found for keys in the corners of TOML: quoted
// and dotted keys, strings that look like keys, arrays of tables and tables
// inside their entries, inline tables and arrays over several lines.
func TestKeyLines(t *testing.T) {
	src := "\uFEFF" + `a = 1 # 1
"b.c" = """
not = "a key"
[nor.a.table]
""" # 5
'd'.e = '''x'''
[ t . "q\"k" ]   # 7
x = [
  1, # 9
  [2, 3],
  { y = 4, z = { w = "}" } },
]
[[arr]] # 13
k = 'v'
[arr.sub]
m = 1
[[arr]] # 17
k = "\"" # 18
[[arr.deep]] # 19
n = 1
[[arr.deep]] # 21
n = 2
inl = { a = 1,
        b = 2 } # 24
`
	var v map[string]any
	if _, err := toml.Decode(src, &v); err != nil {
		t.Fatalf("test document is not TOML: %v", err)
	}
	lines := indexLines(src)
	tests := []struct {
		key  path
		want int
	}{
		{root("a"), 1},
		{root("b.c"), 2},
		{root("nor"), 0},
		{root("d"), 6},
		{root("d", "e"), 6},
		{root("t", `q"k`), 7},
		{root("t", `q"k`, "x"), 8},
		{root("t", `q"k`, "x").index(0), 9},
		{root("t", `q"k`, "x").index(1), 10},
		{root("t", `q"k`, "x").index(1).index(1), 10},
		{root("t", `q"k`, "x", "y").index(2), 11},
		{root("t", `q"k`, "x", "z", "w").index(2), 11},
		{root("arr"), 13},
		{root("arr").index(0), 13},
		{root("arr", "k").index(0), 14},
		{root("arr", "sub").index(0), 15},
		{root("arr", "sub", "m").index(0), 16},
		{root("arr").index(1), 17},
		{root("arr", "k").index(1), 18},
		{root("arr", "deep").index(1).index(0), 19},
		{root("arr", "deep", "n").index(1).index(1), 22},
		{root("arr", "deep", "inl", "b").index(1).index(1), 24},
		{root("arr", "missing").index(1), 17}, // the entry's header
		{root("arr", "k").index(5), 13},       // no such entry: the array
		{root("t", `q"k`, "x").index(9), 8},   // no such element: the key
		{root("arr", "deep", "n").index(1).index(0), 20},
	}
	for _, tt := range tests {
		if got := lines.line(tt.key); got != tt.want {
			t.Errorf("line(%v %v) = %d, want %d", tt.key.key, tt.key.idx, got, tt.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		`plain`:            "plain",
		`a\"b`:             `a"b`,
		`tab\there`:        "tab\there",
		`\u00e9\U0001F600`: "é😀",
		`\x41\e`:           "A\x1b",
		`bad\q`:            `bad\q`,
		`end\`:             `end\`,
	}
	got := make(map[string]string)
	for in := range tests {
		got[in] = unescape(in)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("unescape (-want +got):\n%s", diff)
	}
}
