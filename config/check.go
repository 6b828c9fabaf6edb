package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// checker collects validation errors, placing each at the line of its key
// when the document is known.
type checker struct {
	file  string
	lines *keyLines // nil: no document, no lines
	errs  []*Error
}

func (k *checker) errorf(at path, format string, args ...any) {
	line := 0
	if k.lines != nil {
		line = k.lines.line(at)
	}
	msg := at.String() + ": " + fmt.Sprintf(format, args...)
	k.errs = append(k.errs, &Error{File: k.file, Line: line, Message: msg})
}

func (k *checker) positive(at path, v int64) {
	if v <= 0 {
		k.errorf(at, "must be > 0, got %d", v)
	}
}

func (k *checker) nonNegative(at path, v int64) {
	if v < 0 {
		k.errorf(at, "must be >= 0, got %d", v)
	}
}

func (k *checker) positiveDuration(at path, d Duration) {
	if d <= 0 {
		k.errorf(at, "must be > 0, got %q", d)
	}
}

func (k *checker) nonNegativeDuration(at path, d Duration) {
	if d < 0 {
		k.errorf(at, "must be >= 0, got %q", d)
	}
}

func (k *checker) required(at path, v string) bool {
	if v == "" {
		k.errorf(at, "required")
	}
	return v != ""
}

func (k *checker) oneOf(at path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		k.errorf(at, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// name checks the name of a stage, filter or database.
func (k *checker) name(at path, name string) {
	if !validName(name) {
		k.errorf(at, "invalid name %q: want lower-case letters, digits, '_' and '-'", name)
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// hostPort checks a "host:port" address. A listen address may leave the
// host out and use port 0; a remote one may not.
func (k *checker) hostPort(at path, v string, listen bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		k.errorf(at, "%q is not host:port", v)
		return
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case err != nil:
		k.errorf(at, "%q: port %q is not a number from 0 to 65535", v, port)
	case !listen && (host == "" || n == 0):
		k.errorf(at, "%q: want a host and a port > 0", v)
	case strings.ContainsAny(host, " \t/"):
		k.errorf(at, "%q: bad host %q", v, host)
	}
}

// address checks "unix:/path" or "host:port".
func (k *checker) address(at path, v string, listen bool) {
	if network, p := SplitAddr(v); network == "unix" {
		if p == "" {
			k.errorf(at, "%q: empty unix socket path", v)
		}
		return
	}
	k.hostPort(at, v, listen)
}

// httpURL checks an http:// or https:// URL with a host.
func (k *checker) httpURL(at path, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		k.errorf(at, "%q is not an http:// or https:// URL", v)
	}
}

// mailAddress checks that v looks like local@domain.
func (k *checker) mailAddress(at path, v string) {
	i := strings.LastIndexByte(v, '@')
	if i <= 0 || i == len(v)-1 || strings.ContainsAny(v, " \t\r\n<>") {
		k.errorf(at, "%q is not an address (want local@domain)", v)
	}
}

func (k *checker) nonNegativeFloat(at path, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		k.errorf(at, "must be a number >= 0, got %v", f)
	}
}
