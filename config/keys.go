package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// path names a key of the configuration: its parts, as in a TOML dotted
// key, and the indexes into the arrays on the way, such as stage 1's
// on_error: {key: ["stage", "on_error"], idx: [1]}.
type path struct {
	key []string
	idx []int
}

// root returns the path of a key given by its parts.
func root(parts ...string) path { return path{key: parts} }

// at returns the path of p's child name.
func (p path) at(name string) path {
	return path{key: append(p.key[:len(p.key):len(p.key)], name), idx: p.idx}
}

// index returns the path of p's element i.
func (p path) index(i int) path {
	return path{key: p.key, idx: append(p.idx[:len(p.idx):len(p.idx)], i)}
}

// String returns p as it is shown in errors: a TOML key with the indexes
// after the arrays, such as `stage[1].on_error` or `domains.aliases."a@b"`.
func (p path) String() string {
	var b strings.Builder
	t, idx := reflect.TypeFor[Config](), p.idx
	for i, part := range p.key {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(toml.Key{part}.String())
		t = child(t, part)
		for t != nil && t.Kind() == reflect.Slice && len(idx) > 0 {
			fmt.Fprintf(&b, "[%d]", idx[0])
			t, idx = t.Elem(), idx[1:]
		}
	}
	return b.String()
}

// known reports whether key is in the schema, with names matched exactly.
// (The decoder matches struct fields without regard to case.)
func known(key toml.Key) bool {
	t := reflect.TypeFor[Config]()
	for _, part := range key {
		for t != nil && t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t = child(t, part); t == nil {
			return false
		}
	}
	return true
}

// child returns the type of the key name inside a value of type t, or nil
// when there is no such key. Array indexes are not followed.
func child(t reflect.Type, name string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == name && tag != "-" {
				return f.Type
			}
		}
	}
	return nil
}
