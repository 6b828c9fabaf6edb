package main

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/stdlib"
)

// buildFilters makes the [filter.NAME] hand-offs of c. The private
// per-hand-off folders go under store.dir/handoff when the store exists,
// else the system's temporary folder.
func buildFilters(c *config.Config, logger *slog.Logger) (map[string]stdlib.Filter, error) {
	specs := filterSpecs(c)
	out := map[string]stdlib.Filter{}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		h, err := handoff.New(name, specs[name], logger.With("filter", name))
		if err != nil {
			closeFilters(out)
			return nil, fmt.Errorf("filter %s: %w", name, err)
		}
		out[name] = stdlib.Filter{Scanner: h, OnError: c.Filters[name].OnError}
	}
	return out, nil
}

// filterSpecs turns the [filter.NAME] tables of c into hand-off specs.
func filterSpecs(c *config.Config) map[string]handoff.Spec {
	if len(c.Filters) == 0 {
		return nil
	}
	work, err := filepath.Abs(filepath.Join(c.Resolve(c.Store.Dir), "handoff"))
	if err != nil || os.MkdirAll(work, 0o700) != nil {
		work = "" // the system's temporary folder
	}
	out := make(map[string]handoff.Spec, len(c.Filters))
	for name, f := range c.Filters {
		spec := handoff.Spec{
			Kind: f.Kind, Command: f.Command, Input: f.Input, Output: f.Output, Verdicts: f.Verdicts,
			NameRegex: f.NameRegex, Address: f.Address, Threshold: f.Threshold,
			Timeout: time.Duration(f.Timeout), MaxConcurrent: f.MaxConcurrent, MaxWait: time.Duration(f.MaxWait),
			MaxOutputBytes: f.MaxOutputBytes, MaxBytes: f.MaxBytes,
			BreakerFailures: f.BreakerFailures, BreakerCooldown: time.Duration(f.BreakerCooldown),
			WorkDir: work,
		}
		if spec.MaxWait == 0 {
			spec.MaxWait = -1 // the config's 0 is "fail at once"; handoff's 0 is its default
		}
		if f.In != "" {
			spec.In, _ = filepath.Abs(c.Resolve(f.In))
		}
		if f.Out != "" {
			spec.Out, _ = filepath.Abs(c.Resolve(f.Out))
		}
		out[name] = spec
	}
	return out
}

// sharedFilters holds the hand-offs of sluice serve's open generations by
// filter name, so that a reload which leaves a [filter.NAME] as it was
// keeps its hand-off: one concurrency limit (max_concurrent) rather than
// one per open generation, the breaker's failure count and open state,
// the folder kind's watcher. A filter whose settings changed gets a new
// hand-off; each is closed when the last generation using it closes. A
// change of on_error alone keeps the hand-off.
type sharedFilters struct {
	mu sync.Mutex
	m  map[string][]*sharedFilter // the hand-offs in use, by name
}

// sharedFilter is one hand-off and the number of open generations using it.
type sharedFilter struct {
	spec    handoff.Spec
	scanner stdlib.Scanner
	refs    int
}

// acquire returns the filters of c for a new generation, reusing the
// hand-offs of the same name and spec, and the function the generation
// calls once, when it closes (or when it fails to build).
func (sf *sharedFilters) acquire(c *config.Config, logger *slog.Logger) (map[string]stdlib.Filter, func(), error) {
	specs := filterSpecs(c)
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.m == nil {
		sf.m = map[string][]*sharedFilter{}
	}
	type use struct {
		name string
		e    *sharedFilter
	}
	var used []use
	drop := func() {
		for _, u := range used {
			sf.drop(u.name, u.e)
		}
	}
	out := map[string]stdlib.Filter{}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		spec := specs[name]
		i := slices.IndexFunc(sf.m[name], func(e *sharedFilter) bool { return reflect.DeepEqual(e.spec, spec) })
		var e *sharedFilter
		if i >= 0 {
			e = sf.m[name][i]
		} else {
			h, err := handoff.New(name, spec, logger.With("filter", name))
			if err != nil {
				drop()
				return nil, nil, fmt.Errorf("filter %s: %w", name, err)
			}
			e = &sharedFilter{spec: spec, scanner: h}
			sf.m[name] = append(sf.m[name], e)
		}
		e.refs++
		used = append(used, use{name, e})
		out[name] = stdlib.Filter{Scanner: e.scanner, OnError: c.Filters[name].OnError}
	}
	return out, func() {
		sf.mu.Lock()
		defer sf.mu.Unlock()
		drop()
	}, nil
}

// drop ends one generation's use of e, the hand-off of filter name, and
// closes it when no open generation uses it any more. sf.mu is held.
func (sf *sharedFilters) drop(name string, e *sharedFilter) {
	if e.refs--; e.refs > 0 {
		return
	}
	closeScanner(e.scanner)
	sf.m[name] = slices.DeleteFunc(sf.m[name], func(x *sharedFilter) bool { return x == e })
	if len(sf.m[name]) == 0 {
		delete(sf.m, name)
	}
}

// closeFilters releases what the filters hold (the folder kind's watcher).
func closeFilters(filters map[string]stdlib.Filter) {
	for _, f := range filters {
		closeScanner(f.Scanner)
	}
}

func closeScanner(s stdlib.Scanner) {
	if c, ok := s.(interface{ Close() error }); ok {
		c.Close()
	}
}
