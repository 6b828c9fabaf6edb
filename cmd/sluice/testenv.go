package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/database"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/handoff"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// testEnv is the engine.TestEnv of one test of `sluice test`: t.run builds
// an engine for the configuration the test names (or finds) and runs it on
// throw-away databases and a throw-away mail store, made on first use in a
// temporary folder that Close removes.
type testEnv struct {
	// dir is the test file's folder; cfgFlag is --config.
	dir, cfgFlag string
	log          *slog.Logger

	tmp   string
	dbs   []*testDBs // one set per configuration file, in the order opened
	store *mailstore.Store
	// filters are the configured filters built for this test, by
	// configuration file and name.
	filters map[string]stdlib.Filter
	runs    int
}

// testDBs are the throw-away databases of one configuration file.
type testDBs struct {
	cfg string // config.File
	d   *databases
}

func newTestEnv(file, cfgFlag string, log *slog.Logger) *testEnv {
	return &testEnv{dir: filepath.Dir(file), cfgFlag: cfgFlag, log: log, filters: map[string]stdlib.Filter{}}
}

// config loads the configuration of a t.run: path when given, else
// --config, else sluice.toml in the test file's folder or its parent, else
// the embedded defaults.
func (e *testEnv) config(path string) (*config.Config, error) {
	if path == "" {
		path = e.cfgFlag
	}
	if path == "" {
		path = findConfig(e.dir)
	}
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// findConfig returns sluice.toml in dir or its parent, or "".
func findConfig(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "..")} {
		p := filepath.Join(d, "sluice.toml")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Run runs one t.run.
func (e *testEnv) Run(ctx context.Context, spec engine.RunSpec) (*engine.Result, error) {
	c, err := e.config(spec.Config)
	if err != nil {
		return nil, err
	}
	opt := engineOptions(c, e.log)
	if spec.Script != "" {
		opt.Stages = []engine.Stage{scriptStage(c, spec.Script)}
		opt.ReadFile, opt.ModuleRoot = nil, "" // from disk, require beside the script
	}
	opt.States = 1 // one message at a time
	opt.DryRun = !spec.Commit
	filters, unbuilt := e.filtersFor(c, spec.Filters)
	opt.Services.Filters = filters
	dbs, err := e.databases(ctx, c)
	if err != nil {
		return nil, err
	}
	dbs.wire(&opt.Services)
	if opt.Services.Store, err = e.mailstore(); err != nil {
		return nil, err
	}
	eng, err := engine.New(opt)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	e.runs++
	m := &stdlib.Msg{
		ID:     fmt.Sprintf("test-%d", e.runs),
		From:   spec.From,
		Rcpt:   spec.Rcpt,
		Client: spec.Client,
		Helo:   spec.Helo,
		Vars:   spec.Vars,
		Body:   message.New(spec.Message, opt.Limits.MessageOptions()),
	}
	res := eng.Transaction(ctx, nil, m)
	var errs []error
	for _, u := range unbuilt {
		if u.used.Swap(false) {
			errs = append(errs, fmt.Errorf("filter %q could not be built (%v); replace it in the test with t.filter(%q, {verdict = …})", u.name, u.err, u.name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return res, nil
}

// scriptStage is the stage of t.run{script = …}: the configuration's stage
// with that script when there is one (its name, timeout and on_error), else
// one named after the file with the defaults.
func scriptStage(c *config.Config, script string) engine.Stage {
	st := engine.Stage{
		Name:    strings.TrimSuffix(filepath.Base(script), filepath.Ext(script)),
		Script:  displayPath(script),
		Timeout: 30 * time.Second,
		OnError: engine.OnErrorTempfail,
	}
	abs, _ := filepath.Abs(script)
	for _, cs := range c.Stages {
		if a, _ := filepath.Abs(c.Resolve(cs.Script)); a == abs {
			st.Name, st.Timeout, st.OnError = cs.Name, time.Duration(cs.Timeout), cs.OnError
		}
	}
	return st
}

// filtersFor returns the filters of a run: the configured ones, each
// replaced by the test's t.filter answer of the same name if any, plus the
// answers for names the configuration does not have. A configured filter
// that cannot be built is a stand-in that fails the run if it is used.
func (e *testEnv) filtersFor(c *config.Config, answers map[string]stdlib.Filter) (map[string]stdlib.Filter, []*unbuiltFilter) {
	out := map[string]stdlib.Filter{}
	var unbuilt []*unbuiltFilter
	for name, cf := range c.Filters {
		if f, ok := answers[name]; ok {
			if f.OnError == "" {
				f.OnError = cf.OnError
			}
			out[name] = f
			continue
		}
		f := e.realFilter(c, name)
		if u, ok := f.Scanner.(*unbuiltFilter); ok {
			unbuilt = append(unbuilt, u)
		}
		out[name] = f
	}
	for name, f := range answers {
		if _, ok := out[name]; !ok {
			out[name] = f
		}
	}
	return out, unbuilt
}

// realFilter builds [filter.name] of c once per test, with its private
// folders in the test's temporary folder.
func (e *testEnv) realFilter(c *config.Config, name string) stdlib.Filter {
	key := c.File + "\x00" + name
	if f, ok := e.filters[key]; ok {
		return f
	}
	one := *c
	one.Filters = map[string]config.Filter{name: c.Filters[name]}
	var built map[string]stdlib.Filter
	tmp, err := e.tempDir()
	if err == nil {
		one.Store.Dir = tmp
		built, err = buildFilters(&one, e.log)
	}
	f, ok := built[name]
	if err != nil || !ok {
		if err == nil {
			err = errors.New("not built")
		}
		f = stdlib.Filter{Scanner: &unbuiltFilter{name: name, err: err}, OnError: c.Filters[name].OnError}
	}
	e.filters[key] = f
	return f
}

// unbuiltFilter stands for a configured filter that could not be built:
// a scan fails, and the run that used it fails the test.
type unbuiltFilter struct {
	name string
	err  error
	used atomic.Bool
}

func (u *unbuiltFilter) Scan(context.Context, []byte) handoff.Result {
	u.used.Store(true)
	return handoff.Result{Verdict: handoff.Error, Err: u.err}
}

// databases returns the throw-away databases of configuration c, made on
// first use: an SQLite file for each [database.NAME] (whatever its
// driver), with its init file applied, and a KV store.
func (e *testEnv) databases(ctx context.Context, c *config.Config) (*databases, error) {
	for _, d := range e.dbs {
		if d.cfg == c.File {
			return d.d, nil
		}
	}
	tmp, err := e.tempDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, fmt.Sprintf("db%d", len(e.dbs)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	var list []*database.DB
	d := &databases{}
	fail := func(err error) (*databases, error) {
		d.Set = database.NewSet(list...)
		d.Close()
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		spec := database.Spec{Driver: "sqlite", DSN: filepath.Join(dir, name+".db"), Init: c.Resolve(c.Databases[name].Init)}
		db, err := database.Open(ctx, name, spec)
		if err != nil {
			return fail(err)
		}
		list = append(list, db)
	}
	d.Set = database.NewSet(list...)
	if d.KV, err = database.OpenKV(ctx, filepath.Join(dir, "kv.db")); err != nil {
		return fail(err)
	}
	e.dbs = append(e.dbs, &testDBs{cfg: c.File, d: d})
	return d, nil
}

// Query runs t.query on the test's copy of database name: of the
// configurations the test ran so far, else of the one a t.run without
// script or config would use.
func (e *testEnv) Query(ctx context.Context, name, query string, args ...any) ([]map[string]any, []string, error) {
	for _, d := range e.dbs {
		if db, ok := d.d.Set.Get(name); ok {
			return db.Query(ctx, query, args...)
		}
	}
	c, err := e.config("")
	if err != nil {
		return nil, nil, err
	}
	d, err := e.databases(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	db, ok := d.Set.Get(name)
	if !ok {
		return nil, nil, fmt.Errorf("no database %q in the configuration ([database.%s])", name, name)
	}
	return db.Query(ctx, query, args...)
}

// mailstore returns the test's empty mail store, made on first use.
func (e *testEnv) mailstore() (*mailstore.Store, error) {
	if e.store != nil {
		return e.store, nil
	}
	tmp, err := e.tempDir()
	if err != nil {
		return nil, err
	}
	e.store, err = mailstore.New(filepath.Join(tmp, "store"), mailstore.Options{NoFsync: true})
	return e.store, err
}

// tempDir returns the test's temporary folder, made on first use.
func (e *testEnv) tempDir() (string, error) {
	if e.tmp == "" {
		dir, err := os.MkdirTemp("", "sluice-test-")
		if err != nil {
			return "", fmt.Errorf("test: %w", err)
		}
		e.tmp = dir
	}
	return e.tmp, nil
}

// Close closes the filters and databases and removes the temporary folder.
func (e *testEnv) Close() error {
	var errs []error
	closeFilters(e.filters)
	for _, d := range e.dbs {
		errs = append(errs, d.d.Close())
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
	}
	return errors.Join(errs...)
}
