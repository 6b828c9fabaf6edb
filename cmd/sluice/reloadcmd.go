package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// cmdReload is "sluice reload": the running server loads its configuration
// and scripts again and swaps them in if all of it builds. A failure exits
// 1 with the error (file:line); the rules in force stay.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fset, c, err := controlCommand("reload", args, "reload [--config F]   (the running server loads its configuration and scripts again)", stderr)
	if err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return usagef("reload: unexpected argument %q", fset.Arg(0))
	}
	start := time.Now()
	var st reloadStatus
	if err := controlCall(c, controlRequest{Cmd: "reload"}, &st); err != nil {
		var nr notRunning
		if errors.As(err, &nr) {
			return err
		}
		return fmt.Errorf("reload failed, the rules in force stay: %w", err)
	}
	fmt.Fprintf(stdout, "reloaded: generation %d, version %s, in %s\n", st.Generation, st.Version, time.Since(start).Round(100*time.Microsecond))
	printRulesNotes(stdout, st)
	return nil
}

// cmdStatus is "sluice status": the running server's rules (generation,
// last reload error) and queue.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fset, c, err := controlCommand("status", args, "status [--config F]   (the running server's rules, a failed reload, the queue)", stderr)
	if err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return usagef("status: unexpected argument %q", fset.Arg(0))
	}
	var st serverStatus
	if err := controlCall(c, controlRequest{Cmd: "status"}, &st); err != nil {
		return err
	}
	r := st.Rules
	fmt.Fprintf(stdout, "sluice %s\n", st.Version)
	fmt.Fprintf(stdout, "rules: generation %d, version %s, loaded %s ago (%d open: older ones stay open while they finish their messages)\n", r.Generation, r.Version, time.Since(r.LoadedAt).Round(time.Second), r.Open)
	printRulesNotes(stdout, r)
	q := st.Queue
	fmt.Fprintf(stdout, "queue: %d queued, %d running; %d accepted, %d done, %d retried, %d failed, %d expired\n",
		q.Queued, q.Running, q.Accepted, q.Done, q.Retried, q.Failed, q.Expired)
	if r.Error != "" {
		return errors.New("the last reload failed (see above)")
	}
	return nil
}

func printRulesNotes(w io.Writer, r reloadStatus) {
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "  "+warn)
	}
	if len(r.Restart) > 0 {
		fmt.Fprintf(w, "  changed settings that need a restart: %s\n", strings.Join(r.Restart, " "))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "last reload FAILED %s ago, still serving generation %d:\n  %s\n",
			time.Since(r.ErrorAt).Round(time.Second), r.Generation, strings.ReplaceAll(r.Error, "\n", "\n  "))
	}
}
