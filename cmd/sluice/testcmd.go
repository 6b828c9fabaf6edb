package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/engine"
)

const testUsage = `usage: sluice test [--config F] [--run REGEXP] [--timeout D] [-v] [PATH...]

Runs the Lua tests in the *_test.lua files of each PATH: a file, or a folder
searched recursively (skipping testdata, hidden folders and the store folder).
Without PATH: the folders of the stage scripts of --config, or the current
folder when there is no --config.

A test file registers tests with test(name, fn); fn(t) runs stages on fixture
messages with t.run{...} and asserts on the result, which has the fields of
"sluice run --json". Paths in a test file are relative to its folder.
t.run{script = "x.lua", ...} runs that one script as the only stage;
t.run{config = "sluice.toml", ...} runs that configuration's pipeline. With
neither, and for the filters and databases of a script run, the configuration
is --config, else sluice.toml in the test file's folder or its parent, else
the embedded defaults (the default scripts). Runs are dry runs (side effects
are recorded as actions) unless commit = true. Each test gets throw-away
SQLite databases (every [database.NAME], its init file applied), a KV store
and an empty mail store. Filters are the configured ones unless the test
replaces them with t.filter(name, {verdict = ...}).

Prints one line per test ("ok   FILE  NAME  (TIME)" or
"FAIL FILE:LINE  NAME: MESSAGE" followed by the test's log), then
"N passed, N failed". Exit status 1 when a test failed, 2 for bad usage.

flags:
`

func cmdTest(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("test", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration of the runs that name none (default: sluice.toml beside the test file or in its parent folder, else the embedded defaults)")
	runRE := fset.String("run", "", "run only the tests whose name matches this regular expression")
	timeout := fset.Duration("timeout", 30*time.Second, "deadline of each test")
	verbose := fset.Bool("v", false, "print the log of every test, not only of failed ones")
	fset.Usage = func() {
		fmt.Fprint(stderr, testUsage)
		fset.PrintDefaults()
	}
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	var match func(string) bool
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			return usagef("test: --run: %v", err)
		}
		match = re.MatchString
	}
	if *timeout <= 0 {
		return usagef("test: --timeout must be positive")
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	paths := fset.Args()
	if len(paths) == 0 {
		paths = defaultTestPaths(c)
	}
	files, err := findTestFiles(paths, c.Resolve(c.Store.Dir))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("test: no *_test.lua files in %s", strings.Join(paths, " "))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // a second Ctrl-C kills at once
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	passed, failed := 0, 0
	for _, file := range files {
		results := engine.RunTestFile(ctx, file, engine.TestOptions{
			NewEnv: func(file string, log *slog.Logger) (engine.TestEnv, error) {
				return newTestEnv(file, *cfgPath, log), nil
			},
			Timeout:  *timeout,
			Match:    match,
			LogLevel: level,
			Report: func(r engine.TestResult) {
				printTestResult(stdout, r, *verbose)
				if r.Failed {
					failed++
				} else {
					passed++
				}
			},
			Limits: engineOptions(c, nil).Limits,
		})
		if len(results) == 0 && match == nil {
			fmt.Fprintf(stdout, "?    %s  (no tests)\n", file)
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if ctx.Err() != nil {
		return fmt.Errorf("test: interrupted")
	}
	if failed > 0 {
		return fmt.Errorf("test: %d of %d tests failed", failed, passed+failed)
	}
	return nil
}

// printTestResult prints the line of one test, and its log when it failed
// (or always with -v).
func printTestResult(w io.Writer, r engine.TestResult, verbose bool) {
	name := r.Name
	if name == "" {
		name = "(loading the file)"
	}
	if r.Failed {
		fmt.Fprintf(w, "FAIL %s  %s: %s\n", r.Where, name, r.Message)
	} else {
		fmt.Fprintf(w, "ok   %s  %s  (%.1f ms)\n", r.File, name, float64(r.Duration.Microseconds())/1000)
	}
	if r.Failed || verbose {
		for _, line := range r.Log {
			fmt.Fprintf(w, "       %s\n", line)
		}
	}
}

// defaultTestPaths are the folders of the stage scripts of c, or "." when
// c comes from no file or has no stages.
func defaultTestPaths(c *config.Config) []string {
	if c.File == "" {
		return []string{"."}
	}
	var dirs []string
	for _, st := range c.Stages {
		if d := filepath.Dir(c.Resolve(st.Script)); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		dirs = append(dirs, filepath.Dir(c.File))
	}
	return dirs
}

// findTestFiles lists the test files of paths: a file as it is, a folder's
// *_test.lua files at any depth, but not under testdata, hidden or _
// folders, or the store folder store.
func findTestFiles(paths []string, store string) ([]string, error) {
	storeAbs, _ := filepath.Abs(store)
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, usageError{fmt.Errorf("test: %w", err)}
		}
		if !st.IsDir() {
			out = append(out, filepath.Clean(p))
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path == p {
					return nil
				}
				name := d.Name()
				if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
					return filepath.SkipDir
				}
				if abs, _ := filepath.Abs(path); abs == storeAbs {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(d.Name(), "_test.lua") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, usageError{fmt.Errorf("test: %w", err)}
		}
	}
	var uniq []string
	for _, f := range out {
		if !slices.Contains(uniq, f) {
			uniq = append(uniq, f)
		}
	}
	return uniq, nil
}
