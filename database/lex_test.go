package database

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"INSERT INTO t VALUES (?, ?, ?)", "INSERT INTO t VALUES ($1, $2, $3)"},
		{"SELECT '?', ?", "SELECT '?', $1"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "col?" FROM t WHERE a = ?`, `SELECT "col?" FROM t WHERE a = $1`},
		{"SELECT E'\\'?', ?", "SELECT E'\\'?', $1"},
		{"SELECT '\\', ?", "SELECT '\\', $1"}, // standard strings: no backslash escapes
		{"SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1"},
		{"SELECT $tag$ ? $x$ ? $tag$, ?", "SELECT $tag$ ? $x$ ? $tag$, $1"},
		{"SELECT ? -- ?\n, ?", "SELECT $1 -- ?\n, $2"},
		{"SELECT /* ? /* ? */ ? */ ?", "SELECT /* ? /* ? */ ? */ $1"},
		{"SELECT data ?? 'k', ?", "SELECT data ? 'k', $1"},
		{"SELECT $1, $2", "SELECT $1, $2"},
		{"SELECT a$b, ?", "SELECT a$b, $1"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
		{"SELECT ?, 'é?', ?", "SELECT $1, 'é?', $2"},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKeyword(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"select 1", "SELECT"},
		{"  \n\tInsert into t", "INSERT"},
		{"-- comment\n/* block */ (SELECT 1)", "SELECT"},
		{"# mysql comment\nUPDATE t", "UPDATE"},
		{"", ""},
		{"-- only a comment", ""},
		{"'literal'", ""},
		{"WITH x AS (SELECT 1) DELETE FROM t", "WITH"},
	} {
		if got := Keyword(tc.in); got != tc.want {
			t.Errorf("Keyword(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    dialect
		in   string
		want []stmt
	}{
		{"simple", dialect{}, "CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n",
			[]stmt{{"CREATE TABLE a (x int)", 1}, {"CREATE TABLE b (y int)", 2}}},
		{"no final semicolon", dialect{}, "SELECT 1;\nSELECT 2",
			[]stmt{{"SELECT 1", 1}, {"SELECT 2", 2}}},
		{"semicolon inside a line", dialect{}, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);\n",
			[]stmt{{"INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", 1}}},
		{"literal spanning lines", dialect{}, "INSERT INTO t VALUES ('a;\nb');\nSELECT 1;",
			[]stmt{{"INSERT INTO t VALUES ('a;\nb')", 1}, {"SELECT 1", 3}}},
		{"comments", dialect{}, "-- don't;\n/* x;\n y; */\nSELECT 1; -- done\n-- trailing\n",
			[]stmt{{"-- don't;\n/* x;\n y; */\nSELECT 1", 4}}},
		{"dollar quotes", dialect{dollar: true}, "CREATE FUNCTION f() RETURNS int AS $$\n SELECT 1;\n$$ LANGUAGE sql;\n",
			[]stmt{{"CREATE FUNCTION f() RETURNS int AS $$\n SELECT 1;\n$$ LANGUAGE sql", 1}}},
		{"mysql backslash", dialect{backslash: true, hash: true}, "INSERT INTO t VALUES ('\\';\n');\n# c;\nSELECT 1;\n",
			[]stmt{{"INSERT INTO t VALUES ('\\';\n')", 1}, {"# c;\nSELECT 1", 4}}},
		{"empty", dialect{}, "\n\n-- nothing\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := split(tc.in, tc.d)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(stmt{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"19", int64(19)},
		{"-7", int64(-7)},
		{"19.50", 19.5},
		{"0.10", 0.1},
		{"-0.00", 0.0},
		{"12345678.91", 12345678.91},
		{"123456789012345678.5", "123456789012345678.5"},
		{"99999999999999999999", "99999999999999999999"},
		{"NaN", "NaN"},
		{"0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827"},
	} {
		if got := decimal(tc.in); !cmp.Equal(got, tc.want) {
			t.Errorf("decimal(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
