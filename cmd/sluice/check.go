package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/sluicemail/sluice/engine"
)

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("check", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration file (default: the embedded defaults)")
	strict := fset.Bool("strict", false, "exit with status 1 when a script has warnings")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return usagef("check: unexpected argument %q", fset.Arg(0))
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, slog.LevelWarn)
	opt := engineOptions(c, logger)
	opt.Modules = modulesOf(c, opt)
	filters, err := buildFilters(c, logger)
	if err != nil {
		return usageError{err}
	}
	opt.Services.Filters = filters
	dbs, err := openDatabases(context.Background(), c, dbCheck, false, logger)
	if err != nil {
		return usageError{err}
	}
	defer dbs.Close()
	dbs.wire(&opt.Services)
	eng, err := engine.New(opt)
	if err != nil {
		return usageError{err}
	}
	defer eng.Close()
	hooks := eng.StageHooks()
	for _, st := range opt.Stages {
		fmt.Fprintf(stdout, "stage %-14s %-28s %s\n", st.Name, st.Script, strings.Join(hooks[st.Name], " "))
	}
	names := make([]string, 0, len(c.Filters))
	for name := range c.Filters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(stdout, "filter %-13s %s\n", name, c.Filters[name].Kind)
	}
	for _, name := range dbs.Set.Names() {
		fmt.Fprintf(stdout, "database %-11s %s\n", name, c.Databases[name].Driver)
	}
	warnings, err := engine.LintStages(opt)
	if err != nil {
		return usageError{err}
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, w)
	}
	if *strict && len(warnings) > 0 {
		return fmt.Errorf("check: %d warnings (--strict)", len(warnings))
	}
	fmt.Fprintf(stdout, "ok: %d stages compiled, %d filters, %d warnings\n", len(opt.Stages), len(c.Filters), len(warnings))
	return nil
}
