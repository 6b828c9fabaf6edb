package database

import (
	"context"
	"errors"
	"maps"
	"slices"
)

// Set is the databases of a configuration by name. It does not change once
// made and is safe for concurrent use. A nil *Set has no databases.
type Set struct {
	dbs map[string]*DB
}

// OpenSet opens every database of specs (see [Open]), in name order. When
// one fails, those already opened are closed and the error is returned.
func OpenSet(ctx context.Context, specs map[string]Spec) (*Set, error) {
	s := &Set{dbs: make(map[string]*DB, len(specs))}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		db, err := Open(ctx, name, specs[name])
		if err != nil {
			s.Close()
			return nil, err
		}
		s.dbs[name] = db
	}
	return s, nil
}

// NewSet makes a Set of dbs, by their names; a later db replaces an
// earlier one of the same name. Use it with [New] for a set that has not
// connected yet (sluice check), or in tests.
func NewSet(dbs ...*DB) *Set {
	s := &Set{dbs: make(map[string]*DB, len(dbs))}
	for _, db := range dbs {
		s.dbs[db.name] = db
	}
	return s
}

// Get returns the database name, and whether there is one.
func (s *Set) Get(name string) (*DB, bool) {
	if s == nil {
		return nil, false
	}
	db, ok := s.dbs[name]
	return db, ok
}

// Names returns the names of the databases, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.dbs))
}

// Close closes every database and returns their errors joined.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}
