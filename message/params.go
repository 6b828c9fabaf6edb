package message

import (
	"sort"
	"strconv"
	"strings"
)

// parseParams parses a Content-Type or Content-Disposition value leniently:
// "value; name=token; name="quoted"; name*=charset'lang'%XX; name*0*=...".
// It returns the lower-cased value, the parameters (nil when none; names lower-cased,
// RFC 2231 continuations joined and decoded to UTF-8; values not RFC 2047
// decoded) and a problem description, "" if the value was well formed.
// Comments are skipped, missing semicolons and closing quotes tolerated,
// duplicate parameters keep the first value.
func parseParams(v string) (value string, params map[string]string, problem string) {
	i := skipCFWS(v, 0)
	start := i
	for i < len(v) && v[i] != ';' && v[i] != '(' && !isWSP(v[i]) {
		i++
	}
	value = strings.ToLower(v[start:i])
	var buf [8]rawParam
	raws := buf[:0]
	for {
		i = skipCFWS(v, i)
		for i < len(v) && v[i] == ';' {
			i = skipCFWS(v, i+1)
		}
		if i >= len(v) {
			break
		}
		ns := i
		for i < len(v) && v[i] != '=' && v[i] != ';' && !isWSP(v[i]) {
			i++
		}
		name := strings.ToLower(v[ns:i])
		i = skipCFWS(v, i)
		if i >= len(v) || v[i] != '=' {
			problem = "parameter " + strconv.Quote(name) + " has no value"
			for i < len(v) && v[i] != ';' {
				i++
			}
			continue
		}
		i = skipCFWS(v, i+1)
		var val string
		if i < len(v) && v[i] == '"' {
			var closed bool
			val, i, closed = quotedString(v, i)
			if !closed {
				problem = "parameter " + strconv.Quote(name) + " lacks its closing quote"
			}
		} else {
			vs := i
			for i < len(v) && v[i] != ';' {
				i++
			}
			val = strings.TrimRight(v[vs:i], " \t")
			if j := strings.Index(val, " ("); j >= 0 && strings.HasSuffix(val, ")") {
				val = strings.TrimRight(val[:j], " \t") // a trailing comment
			}
		}
		if name == "" {
			problem = "parameter without a name"
			continue
		}
		raws = append(raws, splitParamName(name, val))
	}
	params, p := joinParams(raws)
	if problem == "" {
		problem = p
	}
	return value, params, problem
}

// skipCFWS skips white space, line breaks and (nested) comments.
func skipCFWS(v string, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			depth := 0
			for i < len(v) {
				c := v[i]
				i++
				if c == '\\' {
					i++
				} else if c == '(' {
					depth++
				} else if c == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
		default:
			return i
		}
	}
	return min(i, len(v))
}

// quotedString reads the quoted string at v[i] (a '"'). A backslash quotes
// a following quote or backslash and is kept before anything else, as
// unescaped Windows paths (C:\dir\x.txt) are common. Without a closing
// quote it takes the rest of v.
func quotedString(v string, i int) (s string, next int, closed bool) {
	i++
	start := i
	plain := true
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			plain = false
			i++
		case '"':
			if plain {
				return v[start:i], i + 1, true
			}
			return unquote(v[start:i]), i + 1, true
		}
	}
	if plain {
		return v[start:], len(v), false
	}
	return unquote(v[start:]), len(v), false
}

func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rawParam is one parameter as written, its RFC 2231 name split up.
type rawParam struct {
	name    string // without "*" and section number
	section int    // -1 when the name has no section number
	ext     bool   // the value is charset'lang'percent-encoded (or a later encoded section)
	value   string
}

func splitParamName(name, value string) rawParam {
	p := rawParam{name: name, section: -1, value: value}
	if strings.HasSuffix(p.name, "*") {
		p.ext = true
		p.name = p.name[:len(p.name)-1]
	}
	if j := strings.LastIndexByte(p.name, '*'); j > 0 {
		if n, err := strconv.Atoi(p.name[j+1:]); err == nil && n >= 0 && n < 1000 {
			p.section, p.name = n, p.name[:j]
		}
	}
	return p
}

// joinParams assembles RFC 2231 continuations and decodes extended values.
// An extended value (name* or sections) wins over a plain one; otherwise
// the first of duplicates wins.
func joinParams(raws []rawParam) (map[string]string, string) {
	if len(raws) == 0 {
		return nil, ""
	}
	params := make(map[string]string, len(raws))
	problem := ""
	var sectioned []string
	for _, p := range raws {
		switch {
		case p.section >= 0:
			if !containsString(sectioned, p.name) {
				sectioned = append(sectioned, p.name)
			}
		case p.ext:
			params[p.name] = decode2231(p.value, true)
		default:
			old, dup := params[p.name]
			if !dup {
				params[p.name] = p.value
			} else if old != p.value && !hasExt(raws, p.name) {
				problem = "duplicate parameter " + strconv.Quote(p.name)
			}
		}
	}
	for _, name := range sectioned {
		var secs []rawParam
		for _, p := range raws {
			if p.name == name && p.section >= 0 {
				secs = append(secs, p)
			}
		}
		sort.SliceStable(secs, func(a, b int) bool { return secs[a].section < secs[b].section })
		params[name] = joinSections(secs)
	}
	return params, problem
}

func hasExt(raws []rawParam, name string) bool {
	for _, p := range raws {
		if p.name == name && (p.ext || p.section >= 0) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinSections joins name*0, name*1 ... (sorted). The charset comes from
// the first section when it is extended.
func joinSections(secs []rawParam) string {
	var data []byte
	cs := ""
	for k, p := range secs {
		v := p.value
		if p.ext {
			if k == 0 {
				cs, v = split2231(v)
			}
			data = append(data, percentDecode(v)...)
		} else {
			data = append(data, v...)
		}
	}
	return charsetText(cs, data)
}

// decode2231 decodes an extended value "charset'lang'percent-encoded".
func decode2231(v string, first bool) string {
	cs := ""
	if first {
		cs, v = split2231(v)
	}
	return charsetText(cs, percentDecode(v))
}

// split2231 splits "charset'lang'rest" into the canonical charset and rest.
// Without the two quotes the whole value is the rest.
func split2231(v string) (cs, rest string) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v
	}
	return canonCharset(v[:i]), v[i+1+j+1:]
}

// charsetText converts b from the charset cs to UTF-8; an unknown or empty
// charset keeps b when valid UTF-8 and reads it as windows-1252 otherwise.
func charsetText(cs string, b []byte) string {
	if t, ok := toUTF8(cs, b); ok {
		return t
	}
	return lenientUTF8(b)
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			out = append(out, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
