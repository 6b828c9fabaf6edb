package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/scripts"
	"github.com/sluicemail/sluice/stdlib"
)

// errHelp is returned when -h was asked for; the usage is already printed.
var errHelp = errors.New("help requested")

// parseFlags parses args with fs, turning flag errors into usage errors.
func parseFlags(fset *flag.FlagSet, args []string) error {
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	return nil
}

// loadConfig loads the file at path, or the embedded defaults when path is "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// embeddedPrefix is the chunk-name prefix of the default scripts, so their
// errors read "scripts/filing.lua:3: …".
const embeddedPrefix = "scripts/"

// engineOptions builds the engine options of c: its stages, or the embedded
// default pipeline when it has none.
func engineOptions(c *config.Config, logger *slog.Logger) engine.Options {
	opt := engine.Options{
		States:    c.Engine.States,
		CallStack: c.Engine.CallStack,
		Limits: stdlib.Limits{
			MaxPartBytes: c.Engine.MaxPartBytes,
			MaxString:    int(c.Engine.MaxStringBytes),
		},
		MemoryLimit: c.Engine.MemoryLimit,
		Logger:      logger,
	}
	if len(c.Stages) == 0 {
		opt.ReadFile = func(name string) ([]byte, error) {
			rel, ok := strings.CutPrefix(name, embeddedPrefix)
			if !ok {
				return nil, fs.ErrNotExist
			}
			return fs.ReadFile(scripts.FS, rel)
		}
		opt.ModuleRoot = strings.TrimSuffix(embeddedPrefix, "/")
		for _, st := range scripts.Default {
			opt.Stages = append(opt.Stages, engine.Stage{
				Name: st.Name, Script: path.Join(embeddedPrefix, st.File),
				Timeout: 30 * time.Second, OnError: engine.OnErrorTempfail,
			})
		}
		return opt
	}
	for _, st := range c.Stages {
		opt.Stages = append(opt.Stages, engine.Stage{
			Name:    st.Name,
			Script:  displayPath(c.Resolve(st.Script)),
			Timeout: time.Duration(st.Timeout),
			OnError: st.OnError,
		})
	}
	return opt
}

// scriptOptions builds engine options for one script given with --script.
func scriptOptions(file string, logger *slog.Logger) engine.Options {
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return engine.Options{
		Stages: []engine.Stage{{Name: name, Script: displayPath(file), Timeout: 30 * time.Second}},
		Logger: logger,
	}
}

// displayPath shortens p relative to the working directory when it is
// inside it, so errors read "scripts/x.lua:3" rather than an absolute path.
func displayPath(p string) string {
	if !filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if wd, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return p
}

// openStore opens the mail store of c for sluice run: always with --commit,
// otherwise only when it exists already (a dry run creates nothing).
func openStore(c *config.Config, commit bool) (*mailstore.Store, error) {
	dir := c.Resolve(c.Store.Dir)
	if !commit {
		if _, err := os.Stat(filepath.Join(dir, "mail")); err != nil {
			return nil, nil
		}
	}
	st, err := mailstore.New(dir, mailstore.Options{NoFsync: !c.Store.Fsync})
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return st, nil
}

// newLogger writes text logs to w at the given level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
