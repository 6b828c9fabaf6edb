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
	"sync"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/database"
	"github.com/sluicemail/sluice/stdlib"
)

// dbMode says how far openDatabases goes.
type dbMode int

const (
	// dbCheck prepares the databases without connecting (sluice check):
	// driver, DSN and init file are checked; there is no KV store.
	dbCheck dbMode = iota
	// dbRun connects and runs the init files now, and fails when one
	// cannot (sluice run). Without commit, an SQLite file or a KV store
	// that does not exist yet is made in a temporary folder, so that a dry
	// run creates nothing.
	dbRun
	// dbServe runs the init files at start, and when a database cannot be
	// connected to then, goes on and retries its init in the background:
	// scripts that use it fail (and their stage's on_error applies) until
	// it is back (sluice serve). An init file that fails is an error.
	dbServe
)

// initRetry is how often sluice serve retries the init of a database that
// was unreachable at start.
const initRetry = 5 * time.Second

// databases are the [database.NAME] databases and the KV store of a
// configuration, as the Lua modules db and kv reach them.
type databases struct {
	Set *database.Set
	KV  *database.KV // nil for dbCheck

	tmp    string             // temporary folder of a dry run, removed by Close
	cancel context.CancelFunc // stops the init retries
	wg     sync.WaitGroup     // the init retries
}

// openDatabases opens the databases of c, and the KV store on
// store.dir/kv.db, as mode says.
func openDatabases(ctx context.Context, c *config.Config, mode dbMode, commit bool, logger *slog.Logger) (*databases, error) {
	d := &databases{}
	ctx, d.cancel = context.WithCancel(ctx)
	var dbs []*database.DB
	fail := func(err error) (*databases, error) {
		d.Set = database.NewSet(dbs...)
		d.Close()
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		spec, err := d.spec(c, name, mode, commit)
		if err != nil {
			return fail(err)
		}
		db, err := database.New(name, spec)
		if err != nil {
			return fail(err)
		}
		dbs = append(dbs, db)
	}
	d.Set = database.NewSet(dbs...)
	if mode == dbCheck {
		return d, nil
	}
	for _, db := range dbs {
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := db.Init(ictx)
		cancel()
		if err == nil {
			continue
		}
		var de *database.Error
		if mode == dbRun || !errors.As(err, &de) || de.Op != "connect" {
			return fail(err) // sluice run, or a bad init file: say so now
		}
		logger.Warn("database unreachable at start; scripts using it fail until it is back, init retried",
			"database", db.Name(), "every", initRetry, "error", err)
		d.wg.Add(1)
		go d.retryInit(ctx, db, logger)
	}
	kv, err := d.openKV(ctx, c, mode == dbRun && !commit)
	if err != nil {
		return fail(err)
	}
	d.KV = kv
	return d, nil
}

// spec makes the database.Spec of [database.NAME]: the SQLite file and the
// init file resolved against the configuration's folder, and its folder
// made. For a dry run, an SQLite file that does not exist is put in the
// temporary folder instead.
func (d *databases) spec(c *config.Config, name string, mode dbMode, commit bool) (database.Spec, error) {
	cd := c.Databases[name]
	spec := database.Spec{
		Driver: cd.Driver, DSN: cd.DSN, Init: c.Resolve(cd.Init),
		MaxOpen: cd.MaxOpen, MaxIdle: cd.MaxIdle, ConnMaxLifetime: time.Duration(cd.ConnMaxLifetime),
	}
	if cd.Driver != "sqlite" {
		return spec, nil
	}
	path, query, _ := strings.Cut(cd.DSN, "?")
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return spec, nil
	}
	scheme := ""
	if p, ok := strings.CutPrefix(path, "file:"); ok {
		scheme, path = "file:", p
	}
	path = c.Resolve(path)
	switch _, err := os.Stat(path); {
	case mode == dbCheck || err == nil:
	case mode == dbRun && !commit:
		tmp, err := d.tempDir()
		if err != nil {
			return spec, err
		}
		path = filepath.Join(tmp, name+".db")
	default:
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return spec, fmt.Errorf("database %s: %w", name, err)
		}
	}
	spec.DSN = scheme + path
	if query != "" {
		spec.DSN += "?" + query
	}
	return spec, nil
}

// openKV opens the KV store on store.dir/kv.db; for a dry run, on a file
// in the temporary folder when that does not exist yet.
func (d *databases) openKV(ctx context.Context, c *config.Config, dry bool) (*database.KV, error) {
	path := filepath.Join(c.Resolve(c.Store.Dir), "kv.db")
	if _, err := os.Stat(path); err != nil && dry {
		tmp, err := d.tempDir()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(tmp, "kv.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("kv: %w", err)
	}
	return database.OpenKV(ctx, path)
}

// tempDir returns the temporary folder of a dry run, made on first use.
func (d *databases) tempDir() (string, error) {
	if d.tmp == "" {
		dir, err := os.MkdirTemp("", "sluice-run-")
		if err != nil {
			return "", fmt.Errorf("run: %w", err)
		}
		d.tmp = dir
	}
	return d.tmp, nil
}

// retryInit runs db's init every initRetry until it succeeds or ctx ends.
func (d *databases) retryInit(ctx context.Context, db *database.DB, logger *slog.Logger) {
	defer d.wg.Done()
	t := time.NewTicker(initRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := db.Init(ictx)
		cancel()
		if err == nil {
			logger.Info("database back; init done", "database", db.Name())
			return
		}
	}
}

// Close stops the init retries and closes the databases and the KV store.
func (d *databases) Close() error {
	if d == nil {
		return nil
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	var errs []error
	errs = append(errs, d.Set.Close())
	if d.KV != nil {
		errs = append(errs, d.KV.Close())
	}
	if d.tmp != "" {
		errs = append(errs, os.RemoveAll(d.tmp))
	}
	return errors.Join(errs...)
}

// wire hands the databases and the KV store to the Lua modules db and kv.
func (d *databases) wire(svc *stdlib.Services) {
	svc.DB = d.Set
	svc.KV = d.KV
}
