package config

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// document is the top level of sluice.toml as the decoder first sees it:
// each part is decoded later on top of its defaults, so that stages,
// filters and databases get theirs, and an error says which entry it is in.
// Its tags are those of [Config].
type document struct {
	Server    toml.Primitive            `toml:"server"`
	Store     toml.Primitive            `toml:"store"`
	Domains   toml.Primitive            `toml:"domains"`
	Users     toml.Primitive            `toml:"users"`
	Relay     toml.Primitive            `toml:"relay"`
	Queue     toml.Primitive            `toml:"queue"`
	Engine    toml.Primitive            `toml:"engine"`
	Stages    []toml.Primitive          `toml:"stage"`
	Filters   map[string]toml.Primitive `toml:"filter"`
	Databases map[string]toml.Primitive `toml:"database"`
}

// decoder decodes one document into a Config and collects its errors.
type decoder struct {
	src, file string
	md        toml.MetaData
	lines     *keyLines  // built when first needed
	failed    []toml.Key // tables whose decoding stopped at an error
	errs      []*Error
}

// decode fills c from the document and validates it.
func (d *decoder) decode(c *Config) error {
	var doc document
	md, err := toml.Decode(d.src, &doc)
	d.md = md
	if err != nil {
		if len(md.Keys()) == 0 { // not TOML: the parser's error
			d.syntaxError(err)
		} else {
			d.typeError(err, root())
		}
		return joinErrors(d.errs)
	}
	d.part(doc.Server, &c.Server, root("server"))
	d.part(doc.Store, &c.Store, root("store"))
	d.part(doc.Domains, &c.Domains, root("domains"))
	d.part(doc.Users, &c.Users, root("users"))
	d.part(doc.Relay, &c.Relay, root("relay"))
	d.part(doc.Queue, &c.Queue, root("queue"))
	d.part(doc.Engine, &c.Engine, root("engine"))
	for i, p := range doc.Stages {
		s := defaultStage()
		d.part(p, &s, root("stage").index(i))
		c.Stages = append(c.Stages, s)
	}
	c.Filters = decodeNamed(d, doc.Filters, defaultFilter, "filter")
	c.Databases = decodeNamed(d, doc.Databases, defaultDatabase, "database")
	typeErrors := len(d.errs) > 0
	d.unknownKeys()
	if !typeErrors { // values half decoded would give false alarms
		k := &checker{file: d.file, lines: d.keyLines()}
		validate(c, k)
		d.errs = append(d.errs, k.errs...)
	}
	return joinErrors(d.errs)
}

// decodeNamed decodes the [table.NAME] tables in prims, each on top of
// def(). It returns nil for none.
func decodeNamed[T any](d *decoder, prims map[string]toml.Primitive, def func() T, table string) map[string]T {
	if len(prims) == 0 {
		return nil
	}
	m := make(map[string]T, len(prims))
	for _, name := range slices.Sorted(maps.Keys(prims)) {
		v := def()
		d.part(prims[name], &v, root(table, name))
		m[name] = v
	}
	return m
}

// part decodes p into v, the value at path at.
func (d *decoder) part(p toml.Primitive, v any, at path) {
	if err := d.md.PrimitiveDecode(p, v); err != nil {
		d.failed = append(d.failed, at.key)
		d.typeError(err, at)
	}
}

func (d *decoder) keyLines() *keyLines {
	if d.lines == nil {
		d.lines = indexLines(d.src)
	}
	return d.lines
}

func (d *decoder) syntaxError(err error) {
	e := &Error{File: d.file, Message: strings.TrimPrefix(err.Error(), "toml: "), err: err}
	if pe, ok := errors.AsType[toml.ParseError](err); ok {
		e.Line, e.Message = pe.Position.Line, pe.Message
	}
	d.errs = append(d.errs, e)
}

// lastKey matches the decoder's errors that are not a [toml.ParseError].
var lastKey = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): ((?s).*)$`)

// typeError reports an error of the decoder inside the table at: a value
// of the wrong type, or one its UnmarshalText refused.
func (d *decoder) typeError(err error, at path) {
	key, msg, line := "", strings.TrimPrefix(err.Error(), "toml: "), 0
	if pe, ok := errors.AsType[toml.ParseError](err); ok {
		key, msg, line = pe.LastKey, pe.Message, pe.Position.Line
	} else if m := lastKey.FindStringSubmatch(err.Error()); m != nil {
		key, msg = m[2], m[3]
		key, _ = strconv.Unquote(key)
		line, _ = strconv.Atoi(m[1])
	}
	msg = typeMessage(msg)
	where := key
	if kl, ok := d.keyLines().find(key, at.idx); ok {
		where, line = kl.key.String(), kl.line
	}
	if where != "" {
		msg = where + ": " + msg
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Message: msg, err: err})
}

var (
	incompatible = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
	notTable     = regexp.MustCompile(`^type mismatch for .+: expected table but found (.+)$`)
	typeNames    = map[string]string{
		"int64": "integer", "float64": "float", "bool": "boolean",
		"map[string]any": "table", "[]any": "array", "[]map[string]any": "array of tables",
		"time.Time": "datetime", "slice": "array", "map": "table", "primitive (string-like)": "string",
	}
)

// typeMessage rewrites the decoder's type errors as "want T, got T" in
// TOML's names of types.
func typeMessage(msg string) string {
	name := func(t string) string {
		if n, ok := typeNames[t]; ok {
			return n
		}
		return t
	}
	if m := incompatible.FindStringSubmatch(msg); m != nil {
		return "want " + name(m[2]) + ", got " + name(m[1])
	}
	if m := notTable.FindStringSubmatch(msg); m != nil {
		return "want table, got " + name(m[1])
	}
	return msg
}

// unknownKeys reports the keys that are not in the schema, each at the
// line of its first occurrence in every [[array]] entry it is in. A key
// inside an unknown table is not reported again.
func (d *decoder) unknownKeys() {
	undecoded := make(map[string]bool)
	for _, k := range d.md.Undecoded() {
		undecoded[k.String()] = true
	}
	unknown := make(map[string]bool)
	for _, k := range d.md.Keys() {
		if (undecoded[k.String()] || !known(k)) && !d.inFailed(k) {
			unknown[k.String()] = true
		}
	}
	if len(unknown) == 0 {
		return
	}
	top := func(key []string) bool {
		for n := 1; n < len(key); n++ {
			if unknown[toml.Key(key[:n]).String()] {
				return false
			}
		}
		return true
	}
	reported := make(map[lineKey]bool)
	found := make(map[string]bool)
	for _, kl := range d.keyLines().list {
		lk := newLineKey(kl.key.key, kl.key.idx)
		if kl.elem || !unknown[lk.key] || !top(kl.key.key) || reported[lk] {
			continue
		}
		reported[lk], found[lk.key] = true, true
		d.unknownKey(kl.key.String(), kl.line)
	}
	for _, k := range d.md.Keys() { // not found by the scanner: no line
		if s := k.String(); unknown[s] && top(k) && !found[s] {
			found[s] = true
			d.unknownKey(s, 0)
		}
	}
}

func (d *decoder) unknownKey(key string, line int) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Message: "unknown key " + strconv.Quote(key)})
}

// inFailed reports whether key is inside a table whose decoding failed.
func (d *decoder) inFailed(key toml.Key) bool {
	for _, f := range d.failed {
		if len(key) >= len(f) && slices.Equal(key[:len(f)], f) {
			return true
		}
	}
	return false
}
