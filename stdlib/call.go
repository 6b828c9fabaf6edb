package stdlib

import (
	"context"
	"log/slog"

	"github.com/sluicemail/sluice/message"
)

// Limits caps what a script can obtain or build. The zero value means the
// defaults.
type Limits struct {
	// MaxPartBytes caps the decoded bytes a script can get from one part
	// (part:text(), part:bytes(), msg:text()). Default 10 MiB.
	MaxPartBytes int64
	// MaxString caps strings built by string.rep, string.format, gsub and
	// table.concat. Default 16 MiB.
	MaxString int
}

const (
	defaultMaxPartBytes = 10 << 20
	defaultMaxString    = 16 << 20
)

// WithDefaults returns l with zero fields replaced by their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxPartBytes <= 0 {
		l.MaxPartBytes = defaultMaxPartBytes
	}
	if l.MaxString <= 0 {
		l.MaxString = defaultMaxString
	}
	return l
}

// MessageOptions returns the options to parse messages with so that the
// part cap scripts see is l.MaxPartBytes.
func (l Limits) MessageOptions() message.Options {
	return message.Options{MaxPartBytes: l.WithDefaults().MaxPartBytes}
}

// Call is what the modules of one Lua state know about the hook call in
// progress. The engine owns one Call per Lua state, fills it in before each
// hook call and clears it afterwards; modules read it through the pointer
// they were opened with. A Call is used by one goroutine at a time.
type Call struct {
	// Ctx carries the stage deadline; nil between calls.
	Ctx context.Context
	// Logger is the engine's logger; modules add msg_id and stage.
	Logger *slog.Logger
	// Stage is the name of the running stage, Hook the hook called.
	Stage, Hook string
	// Msg is the message of the call, nil for hooks without one.
	Msg *Msg
	// DryRun is set by `sluice run`: side effects are recorded, not done.
	DryRun bool
}

// Context returns the call's context, or context.Background between calls.
func (c *Call) Context() context.Context {
	if c.Ctx == nil {
		return context.Background()
	}
	return c.Ctx
}

// Log returns the logger for the call, with the message id and stage attached.
func (c *Call) Log() *slog.Logger {
	l := c.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	args := make([]any, 0, 6)
	if c.Msg != nil && c.Msg.ID != "" {
		args = append(args, "msg_id", c.Msg.ID)
	}
	if c.Stage != "" {
		args = append(args, "stage", c.Stage)
	}
	if c.Hook != "" {
		args = append(args, "hook", c.Hook)
	}
	return l.With(args...)
}
