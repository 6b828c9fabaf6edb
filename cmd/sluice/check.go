package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sluicemail/sluice/engine"
)

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("check", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration file (default: the embedded defaults)")
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
	opt := engineOptions(c, newLogger(stderr, slog.LevelWarn))
	eng, err := engine.New(opt)
	if err != nil {
		return usageError{err}
	}
	defer eng.Close()
	hooks := eng.StageHooks()
	for _, st := range opt.Stages {
		fmt.Fprintf(stdout, "stage %-14s %-28s %s\n", st.Name, st.Script, strings.Join(hooks[st.Name], " "))
	}
	fmt.Fprintf(stdout, "ok: %d stages compiled\n", len(opt.Stages))
	return nil
}
