package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/stdlib"
)

// buildFilters makes the [filter.NAME] hand-offs of c. The private
// per-hand-off folders go under store.dir/handoff when the store exists,
// else the system's temporary folder.
func buildFilters(c *config.Config, logger *slog.Logger) (map[string]stdlib.Filter, error) {
	if len(c.Filters) == 0 {
		return nil, nil
	}
	work, err := filepath.Abs(filepath.Join(c.Resolve(c.Store.Dir), "handoff"))
	if err != nil || os.MkdirAll(work, 0o700) != nil {
		work = "" // the system's temporary folder
	}
	names := make([]string, 0, len(c.Filters))
	for name := range c.Filters {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]stdlib.Filter{}
	for _, name := range names {
		f := c.Filters[name]
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
		h, err := handoff.New(name, spec, logger.With("filter", name))
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", name, err)
		}
		out[name] = stdlib.Filter{Scanner: h, OnError: f.OnError}
	}
	return out, nil
}

// closeFilters releases what the filters hold (the folder kind's watcher).
func closeFilters(filters map[string]stdlib.Filter) {
	for _, f := range filters {
		if c, ok := f.Scanner.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}
