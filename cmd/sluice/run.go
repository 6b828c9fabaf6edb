package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdRun(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("run", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration file (default: the embedded defaults)")
	script := fset.String("script", "", "run this one script as the only stage")
	from := fset.String("from", "sender@example.org", "envelope sender")
	var rcpt stringList
	fset.Var(&rcpt, "rcpt", "envelope recipient (repeatable; default postmaster@localhost)")
	client := fset.String("client", engine.TestClient, "the SMTP client's address, IP or IP:PORT")
	helo := fset.String("helo", "", "the name the SMTP client gives in HELO/EHLO")
	asJSON := fset.Bool("json", false, "print the result as one JSON object")
	commit := fset.Bool("commit", false, "do the side effects instead of recording them")
	verbose := fset.Bool("v", false, "show debug logs of the scripts")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice run [--config F | --script F.lua] [--client IP[:PORT]] [--helo NAME] [--from A] [--rcpt B]... [--json] MSG.eml")
		fset.PrintDefaults()
	}
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return usagef("run: want exactly one message file (or - for standard input)")
	}
	if *cfgPath != "" && *script != "" {
		return usagef("run: --config and --script exclude each other")
	}
	clientAddr, err := engine.ClientAddr(*client)
	if err != nil {
		return usagef("run: --client: %v", err)
	}
	raw, err := readMessage(fset.Arg(0), stdin)
	if err != nil {
		return usageError{err}
	}
	if len(rcpt) == 0 {
		rcpt = stringList{"postmaster@localhost"}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := newLogger(stderr, level)
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	opt := engineOptions(c, logger)
	if *script != "" {
		opt = scriptOptions(*script, logger)
	}
	opt.DryRun = !*commit
	if *script == "" {
		filters, err := buildFilters(c, logger)
		if err != nil {
			return usageError{err}
		}
		opt.Services.Filters = filters
		defer closeFilters(filters)
	}
	if st, err := openStore(c, *commit); err != nil {
		return err
	} else if st != nil {
		opt.Services.Store = st
	}
	dbs, err := openDatabases(context.Background(), c, dbRun, *commit, logger)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer dbs.Close()
	dbs.wire(&opt.Services)
	eng, err := engine.New(opt)
	if err != nil {
		return usageError{err}
	}
	defer eng.Close()

	m := &stdlib.Msg{
		ID:     "run-" + fmt.Sprint(os.Getpid()),
		From:   *from,
		Rcpt:   rcpt,
		Client: clientAddr,
		Helo:   *helo,
		Body:   message.New(raw, opt.Limits.MessageOptions()),
	}
	res := eng.Transaction(context.Background(), nil, m)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printTrace(stdout, fset.Arg(0), m, rcpt, res, isTerminal(stdout))
	return nil
}

// readMessage reads the message file, "-" meaning standard input.
func readMessage(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}
