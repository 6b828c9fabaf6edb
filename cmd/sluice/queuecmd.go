package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/mailstore"
)

// controlCommand parses the flags of a command that talks to the running
// server and loads the configuration that locates it. A configuration that
// does not load — being edited, say — still locates the server when its
// [store] dir and [server] control can be read from it: status and reload
// are wanted most just then. The error is shown as a warning.
func controlCommand(name string, args []string, usage string, stderr io.Writer) (*flag.FlagSet, *config.Config, error) {
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration of the running server (default: the embedded defaults)")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice "+usage)
		fset.PrintDefaults()
	}
	if err := parseFlags(fset, args); err != nil {
		return nil, nil, err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		if lc, ok := locate(*cfgPath); ok {
			fmt.Fprintf(stderr, "sluice: warning: %v\nsluice: warning: reaching the server at %s all the same\n", err, lc.ControlAddr())
			return fset, lc, nil
		}
		return nil, nil, err
	}
	return fset, c, nil
}

// locate reads only what locates the control socket from a configuration
// file that does not load; when even that fails (a TOML syntax error), the
// defaults are tried. It reports false unless the socket it finds exists.
func locate(path string) (*config.Config, bool) {
	var part struct {
		Server struct {
			Control string `toml:"control"`
		} `toml:"server"`
		Store struct {
			Dir string `toml:"dir"`
		} `toml:"store"`
	}
	if path == "" {
		return nil, false
	}
	c := config.Default()
	c.File = path
	if _, err := toml.DecodeFile(path, &part); err == nil {
		c.Server.Control = part.Server.Control
		if part.Store.Dir != "" {
			c.Store.Dir = part.Store.Dir
		}
	}
	network, address := config.SplitAddr(c.ControlAddr())
	if network == "unix" {
		if _, err := os.Stat(address); err != nil {
			return nil, false
		}
	}
	return c, true
}

// cmdQueue is "sluice queue list|flush|delete ID".
func cmdQueue(args []string, stdout, stderr io.Writer) error {
	fset, c, err := controlCommand("queue", args, "queue [--config F] list | flush | delete ID", stderr)
	if err != nil {
		return err
	}
	switch sub := fset.Arg(0); {
	case sub == "list" && fset.NArg() == 1:
		var items []queueEntry
		if err := controlCall(c, controlRequest{Cmd: "queue.list"}, &items); err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tAGE\tSIZE\tTRIES\tNEXT\tFROM\tTO\tLAST ERROR")
		for _, it := range items {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t<%s>\t%s\t%s\n", it.ID, time.Since(it.Received).Round(time.Second),
				it.Size, it.Attempts, time.Until(it.NextTry).Round(time.Second), it.From, strings.Join(it.Rcpt, ","), it.LastError)
		}
		w.Flush()
		fmt.Fprintf(stdout, "%d messages\n", len(items))
		return nil
	case sub == "flush" && fset.NArg() == 1:
		var n int
		if err := controlCall(c, controlRequest{Cmd: "queue.flush"}, &n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d messages scheduled now\n", n)
		return nil
	case sub == "delete" && fset.NArg() == 2:
		if err := controlCall(c, controlRequest{Cmd: "queue.delete", ID: fset.Arg(1)}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", fset.Arg(1))
		return nil
	}
	return usagef("usage: sluice queue [--config F] list | flush | delete ID")
}

// cmdQuarantine is "sluice quarantine list|release ID".
func cmdQuarantine(args []string, stdout, stderr io.Writer) error {
	fset, c, err := controlCommand("quarantine", args, "quarantine [--config F] list | release ID", stderr)
	if err != nil {
		return err
	}
	switch sub := fset.Arg(0); {
	case sub == "list" && fset.NArg() == 1:
		var items []mailstore.QuarantineInfo
		if err := controlCall(c, controlRequest{Cmd: "quarantine.list"}, &items); err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tWHEN\tSTAGE\tMSG\tFROM\tREASON")
		for _, q := range items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t<%s>\t%s\n", q.ID, q.Time.Format(time.DateTime), q.Stage, q.MsgID, q.From, q.Reason)
		}
		w.Flush()
		fmt.Fprintf(stdout, "%d messages in quarantine\n", len(items))
		return nil
	case sub == "release" && fset.NArg() == 2:
		var qid string
		if err := controlCall(c, controlRequest{Cmd: "quarantine.release", ID: fset.Arg(1)}, &qid); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "released %s, queued as %s\n", fset.Arg(1), qid)
		return nil
	}
	return usagef("usage: sluice quarantine [--config F] list | release ID")
}
