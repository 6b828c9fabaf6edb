// Package handoff runs external mail filters safely: programs run per
// message (exec), the InQueue/OutQueue folder protocol of Mailtraq-style
// filters (folder), and the daemons' own protocols (clamd INSTREAM, spamd
// SPAMC, rspamd's HTTP /checkv2).
//
// Every kind shares the same safety (Filter): the filter only ever sees a
// private copy of the message in a 0700 folder of its own, removed
// afterwards; a deadline, after which an external process's whole group is
// killed; capped output; a concurrency limit with a bounded wait; a
// circuit breaker after repeated failures; and a rewritten message is
// accepted back only if it parses and fits the size limit. Failures are
// reported as a Result with Verdict Error, Timeout or Disabled and an Err:
// what they mean for the message is the caller's policy (on_error).
//
// The package knows nothing of Lua; stdlib's plugin module exposes it.
package handoff

import (
	"context"
	"errors"
	"time"
)

// Verdict is what a filter concluded.
type Verdict string

// Verdicts.
const (
	Clean    Verdict = "clean"
	Infected Verdict = "infected"
	Spam     Verdict = "spam"
	Ham      Verdict = "ham"
	Error    Verdict = "error"    // the filter failed; Result.Err says why
	Timeout  Verdict = "timeout"  // the filter overran its deadline
	Disabled Verdict = "disabled" // the filter is switched off (folder without .active, open breaker)
)

// Result is the outcome of one scan.
type Result struct {
	Verdict Verdict
	// Name is what the filter found (a virus or rule name), if any.
	Name string
	// Score and Threshold are the spam score and the filter's threshold
	// (spamd, rspamd); Symbols the rules that matched.
	Score, Threshold float64
	Symbols          []string
	// Modified is the message as the filter rewrote it, or nil when the
	// filter did not change it (or the change was refused: see Log).
	Modified []byte
	// Log holds the lines the filter logged (standard error, a folder
	// filter's log files) and the notes of the hand-off itself.
	Log []string
	// Duration is how long the scan took.
	Duration time.Duration
	// Err says why Verdict is Error, Timeout or Disabled.
	Err error
}

// Scanner is one kind of filter. Scan must honour ctx and must not keep or
// modify msg.
type Scanner interface {
	Scan(ctx context.Context, msg []byte) Result
}

// ScannerFunc adapts a function to Scanner.
type ScannerFunc func(ctx context.Context, msg []byte) Result

// Scan calls f.
func (f ScannerFunc) Scan(ctx context.Context, msg []byte) Result { return f(ctx, msg) }

// Spec describes one filter; it mirrors the [filter.NAME] table of the
// configuration with paths already resolved.
type Spec struct {
	Kind string // exec, folder, clamd, spamd, rspamd

	// exec
	Command   []string          // argv; "{file}" is replaced by the message's path
	Input     string            // "file" (default) or "stdin"
	Output    string            // "" (log text) or "message"
	Verdicts  map[string]string // exit status → verdict; empty: 0 clean, others error
	NameRegex string            // first submatch (or match) in the output names the finding

	// folder
	In, Out string

	// clamd, spamd, rspamd
	Address   string
	Threshold float64

	// every kind
	Timeout         time.Duration
	MaxConcurrent   int
	MaxWait         time.Duration
	MaxOutputBytes  int64
	MaxBytes        int64
	BreakerFailures int
	BreakerCooldown time.Duration
	// WorkDir is where the private per-hand-off folders are made
	// (default os.TempDir()).
	WorkDir string
}

// Sentinel errors, matched with errors.Is on Result.Err.
var (
	ErrBusy        = errors.New("handoff: too many scans at once")
	ErrBreakerOpen = errors.New("handoff: filter skipped after repeated failures")
	ErrTooLarge    = errors.New("handoff: message larger than the filter's max_bytes")
	ErrNotActive   = errors.New("handoff: folder filter not active (no .active file)")
	ErrBadOutput   = errors.New("handoff: filter output refused")
)

// newScanner builds the kind-specific scanner of spec.
func newScanner(spec Spec) (Scanner, error) {
	switch spec.Kind {
	case "exec":
		return newExec(spec)
	case "folder":
		return newFolder(spec)
	case "clamd":
		return newClamd(spec)
	case "spamd":
		return newSpamd(spec)
	case "rspamd":
		return newRspamd(spec)
	}
	return nil, errors.New("handoff: unknown filter kind " + spec.Kind)
}
