package database

import (
	"strconv"
	"strings"
)

// dialect is what the lexer must know of a driver's SQL to tell code from
// string literals, quoted identifiers and comments.
type dialect struct {
	// backslash: a backslash escapes the next character in '…' and "…"
	// (MySQL and MariaDB by default).
	backslash bool
	// dollar: $tag$…$tag$ quoting, E'…' strings with backslash escapes and
	// nested /* */ comments (PostgreSQL).
	dollar bool
	// hash: # starts a comment (MySQL and MariaDB).
	hash bool
}

func dialectOf(driver string) dialect {
	switch driver {
	case "postgres":
		return dialect{dollar: true}
	case "mysql":
		return dialect{backslash: true, hash: true}
	}
	return dialect{}
}

// skip returns the index just past the literal, quoted identifier or comment
// that starts at s[i], or i when none starts there. An unterminated one runs
// to the end of s.
func (d dialect) skip(s string, i int) int {
	switch c := s[i]; {
	case c == '\'':
		esc := d.backslash || d.dollar && i > 0 && (s[i-1] == 'e' || s[i-1] == 'E') && (i < 2 || !d.identByte(s[i-2]))
		return quoted(s, i, '\'', esc)
	case c == '"':
		return quoted(s, i, '"', d.backslash)
	case c == '`':
		return quoted(s, i, '`', false)
	case c == '-' && strings.HasPrefix(s[i:], "--"), c == '#' && d.hash:
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(s)
	case c == '/' && strings.HasPrefix(s[i:], "/*"):
		return d.blockComment(s, i)
	case c == '$' && d.dollar:
		return dollarQuoted(s, i, d)
	}
	return i
}

// quoted skips a literal delimited by q, where a doubled q stands for itself
// and, with esc, a backslash escapes the next byte.
func quoted(s string, i int, q byte, esc bool) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if esc {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// blockComment skips /* … */, nested in PostgreSQL.
func (d dialect) blockComment(s string, i int) int {
	depth := 0
	for j := i; j+1 < len(s); j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*' && (d.dollar || depth == 0):
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// dollarQuoted skips a PostgreSQL $tag$…$tag$ string. A $ that ends an
// identifier or starts a parameter ($1) is not a quote.
func dollarQuoted(s string, i int, d dialect) int {
	if i > 0 && d.identByte(s[i-1]) {
		return i
	}
	j := i + 1
	for j < len(s) && d.identByte(s[j]) && s[j] != '$' {
		j++
	}
	if j >= len(s) || s[j] != '$' || (j > i+1 && s[i+1] >= '0' && s[i+1] <= '9') {
		return i
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}

func (d dialect) identByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c >= 0x80 || c == '$' && d.dollar
}

// walk calls fn with the index of every byte of s that is SQL code: outside
// literals, quoted identifiers and comments. fn returns false to stop.
func (d dialect) walk(s string, fn func(i int) bool) {
	for i := 0; i < len(s); {
		if j := d.skip(s, i); j > i {
			i = j
			continue
		}
		if !fn(i) {
			return
		}
		i++
	}
}

// rebind rewrites the ? placeholders of query as $1, $2 … for PostgreSQL;
// ?? stands for a literal ? (the jsonb operators ?, ?| and ?&). A ? inside a
// literal, a quoted identifier or a comment is left alone, and so is a query
// without ?, so $1 written by hand works too.
func rebind(query string) string {
	d := dialect{dollar: true}
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, last := 0, 0
	d.walk(query, func(i int) bool {
		if query[i] != '?' || i < last {
			return true
		}
		b.WriteString(query[last:i])
		if i+1 < len(query) && query[i+1] == '?' {
			b.WriteByte('?')
			last = i + 2
			return true
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		last = i + 1
		return true
	})
	b.WriteString(query[last:])
	return b.String()
}

// Keyword returns the first word of the statement sql in upper case, after
// blanks, comments and opening parentheses: "INSERT", "SELECT", "WITH" … or
// "" when there is none. The dry run uses it to tell reads from writes.
func Keyword(sql string) string {
	d := dialect{dollar: true, hash: true}
	i := 0
scan:
	for i < len(sql) {
		switch c := sql[i]; {
		case isSpace(c) || c == '(':
			i++
		case c == '#' || strings.HasPrefix(sql[i:], "--") || strings.HasPrefix(sql[i:], "/*"):
			i = d.skip(sql, i)
		default:
			break scan
		}
	}
	j := i
	for j < len(sql) && (sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z' || sql[j] == '_') {
		j++
	}
	return strings.ToUpper(sql[i:j])
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// split cuts an init file into statements: at each ; that ends a line (only
// blanks or a -- comment may follow it) outside literals and comments.
// Statements that hold nothing but blanks and comments are dropped. Each
// statement comes with the line it starts on.
func split(src string, d dialect) []stmt {
	var out []stmt
	start := 0
	add := func(end int) {
		seg, first := src[start:end], -1
		d.walk(seg, func(i int) bool {
			if isSpace(seg[i]) {
				return true
			}
			first = i
			return false
		})
		if first >= 0 {
			out = append(out, stmt{text: strings.TrimSpace(seg), line: 1 + strings.Count(src[:start+first], "\n")})
		}
	}
	d.walk(src, func(i int) bool {
		if src[i] != ';' || !lineEnds(src[i+1:]) {
			return true
		}
		add(i)
		start = i + 1
		return true
	})
	add(len(src))
	return out
}

// stmt is one statement of an init file and the line it starts on.
type stmt struct {
	text string
	line int
}

// lineEnds reports whether rest, what follows a ;, is blank up to the end of
// its line or only has a -- comment there.
func lineEnds(rest string) bool {
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ' ', '\t', '\r':
		case '\n':
			return true
		case '-':
			return strings.HasPrefix(rest[i:], "--")
		default:
			return false
		}
	}
	return true
}
