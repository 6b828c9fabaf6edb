package config

import (
	"fmt"

	"github.com/BurntSushi/toml"
)

// keyLines knows the line of every key of a TOML document, including the
// keys of each [[array]] entry and each array element, which the decoder's
// MetaData does not tell apart.
type keyLines struct {
	list  []keyLine       // in document order
	first map[lineKey]int // index in list of the first of each key
}

// keyLine is one key met in the document.
type keyLine struct {
	key  path
	line int
	elem bool // an array element (the last of key.idx), not the key itself
}

type lineKey struct{ key, idx string }

func newLineKey(key toml.Key, idx []int) lineKey {
	return lineKey{key.String(), fmt.Sprint(idx)}
}

func (l *keyLines) add(key []string, idx []int, line int) {
	l.addElem(key, idx, line, false)
}

func (l *keyLines) addElem(key []string, idx []int, line int, elem bool) {
	p := path{key: append([]string(nil), key...), idx: append([]int(nil), idx...)}
	lk := newLineKey(p.key, p.idx)
	if _, ok := l.first[lk]; !ok {
		l.first[lk] = len(l.list)
	}
	l.list = append(l.list, keyLine{p, line, elem})
}

// find returns the first occurrence of key, a string as made by
// [toml.Key.String], with the indexes idx or else the longest prefix of
// idx that is found.
func (l *keyLines) find(key string, idx []int) (keyLine, bool) {
	for n := len(idx); n >= 0; n-- {
		if i, ok := l.first[lineKey{key, fmt.Sprint(idx[:n])}]; ok {
			return l.list[i], true
		}
	}
	return keyLine{}, false
}

// line returns the line of p, or else of its closest parent in the
// document, or else 0.
func (l *keyLines) line(p path) int {
	for n := len(p.key); n > 0; n-- {
		if kl, ok := l.find(toml.Key(p.key[:n]).String(), p.idx); ok {
			return kl.line
		}
	}
	return 0
}
