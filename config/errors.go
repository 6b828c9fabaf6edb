package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalid is matched by [errors.Is] for every error about the content
// of a configuration: TOML syntax, unknown keys, wrong types and bad
// values. Errors reading the file do not match it.
var ErrInvalid = errors.New("config: invalid configuration")

// Error is one problem in a configuration file.
type Error struct {
	// File is the name given to [Load] or [Parse]; it may be "".
	File string
	// Line is the 1-based line of the offending key or value; 0 when there
	// is none, as for [Config.Validate].
	Line int
	// Message says what is wrong, usually as "KEY: problem".
	Message string

	err error // the decoder's error, if any
}

// Error returns "FILE:LINE: MESSAGE", leaving out what is unknown.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	case e.File != "":
		return e.File + ": " + e.Message
	case e.Line > 0:
		return fmt.Sprintf("config: line %d: %s", e.Line, e.Message)
	}
	return "config: " + e.Message
}

// Unwrap returns [ErrInvalid] and the decoder's error, if any.
func (e *Error) Unwrap() []error {
	if e.err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.err}
}

// joinErrors sorts errs by line, those without a line last, and joins them.
func joinErrors(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Compare(sortLine(a.Line), sortLine(b.Line))
	})
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

func sortLine(line int) int {
	if line <= 0 {
		return int(^uint(0) >> 1)
	}
	return line
}
