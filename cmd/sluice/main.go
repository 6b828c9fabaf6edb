// Command sluice is a mail server whose message handling is programmable in
// Lua. See the README for the commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // bad usage, configuration or script
)

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

const usage = `usage: sluice COMMAND [flags]

commands:
  serve       run the mail server (SMTP, LMTP, queue, delivery)
  run         run the pipeline on one message, offline (a dry run)
  test        run the Lua tests (*_test.lua) of the scripts
  check       load the configuration and compile every script
  queue       list, flush or delete queued messages of a running server
  quarantine  list or release quarantined messages of a running server
  reload      make a running server load its configuration and scripts again
  status      show a running server's rules (and a failed reload) and queue
  version     print the version

Run "sluice COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdin, stdout, stderr)
	case "test":
		err = cmdTest(args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(args[1:], stderr)
	case "queue":
		err = cmdQueue(args[1:], stdout, stderr)
	case "quarantine":
		err = cmdQuarantine(args[1:], stdout, stderr)
	case "reload":
		err = cmdReload(args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "sluice", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "sluice:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFail
}
