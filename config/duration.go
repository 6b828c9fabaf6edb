package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the unit "d" that [Duration] accepts besides those of
// [time.ParseDuration].
const day = 24 * time.Hour

// Duration is a [time.Duration] written in TOML as a string: the syntax of
// [time.ParseDuration] ("250ms", "1h30m") plus the unit "d" for 24 hours
// ("5d", "1.5d", "1d12h").
type Duration time.Duration

// ParseDuration parses s as described at [Duration].
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("invalid duration %q (want e.g. \"250ms\", \"30s\", \"5m\", \"2h\", \"5d\")", s)
	rest, neg := s, false
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg, rest = rest[0] == '-', rest[1:]
	}
	if rest == "0" {
		return 0, nil
	}
	if rest == "" {
		return 0, bad
	}
	var total time.Duration
	for rest != "" {
		num := strings.IndexFunc(rest, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
		if num <= 0 {
			return 0, bad
		}
		end := strings.IndexFunc(rest[num:], func(r rune) bool { return r == '.' || (r >= '0' && r <= '9') })
		if end < 0 {
			end = len(rest)
		} else {
			end += num
		}
		d, err := component(rest[:num], rest[num:end])
		if err != nil || total > math.MaxInt64-d {
			return 0, bad
		}
		total += d
		rest = rest[end:]
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

// component converts one number and unit of a duration.
func component(num, unit string) (time.Duration, error) {
	if unit != "d" {
		return time.ParseDuration(num + unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	if f*float64(day) >= math.MaxInt64 {
		return 0, strconv.ErrRange
	}
	return time.Duration(f * float64(day)), nil
}

// String formats d as whole days ("5d") when it is a non-zero multiple of
// 24 hours and as [time.Duration.String] otherwise.
func (d Duration) String() string {
	if d != 0 && d%Duration(day) == 0 {
		return strconv.FormatInt(int64(d/Duration(day)), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseDuration].
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements [encoding.TextMarshaler] with [Duration.String].
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}
