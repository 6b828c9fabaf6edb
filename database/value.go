package database

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// normalize turns a value a driver returned into one of nil, int64,
// float64, bool or string, whatever the driver. dbType is the column's
// type name as the driver reports it (upper case), used where a driver
// hands over text for a number (DECIMAL) or a number for a boolean (a
// SQLite column declared BOOLEAN).
func normalize(v any, dbType string) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return normalizeText(string(x), dbType)
	case string:
		return normalizeText(x, dbType)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case bool, float64:
		return x
	case int64:
		if isBoolType(dbType) && (x == 0 || x == 1) {
			return x == 1
		}
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return strconv.FormatUint(x, 10)
		}
		return int64(x)
	case uint32:
		return int64(x)
	case uint16:
		return int64(x)
	case uint8:
		return int64(x)
	case uint:
		return normalize(uint64(x), dbType)
	case float32:
		return float64(x)
	}
	return fmt.Sprint(v)
}

func normalizeText(s, dbType string) any {
	if isDecimalType(dbType) {
		return decimal(s)
	}
	return s
}

// isDecimalType reports whether t is a fixed-point type whose values the
// drivers return as text: NUMERIC, DECIMAL(10,2) …
func isDecimalType(t string) bool {
	return strings.HasPrefix(t, "DECIMAL") || strings.HasPrefix(t, "NUMERIC") ||
		strings.HasPrefix(t, "UNSIGNED DECIMAL")
}

// isBoolType reports whether t is a declared boolean type.
func isBoolType(t string) bool {
	return t == "BOOLEAN" || t == "BOOL"
}

// decimal converts the text of a fixed-point value to an int64 when it is an
// integer that fits, to a float64 when a float64 holds it exactly as
// written (19.50 becomes 19.5), and leaves it as a string otherwise, so that
// no value is rounded silently.
func decimal(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	if i, frac, ok := strings.Cut(s, "."); ok && canonDecimal(i, frac) == canonDecimal(splitFloat(f)) {
		if f == 0 {
			return 0.0
		}
		return f
	}
	return s
}

// splitFloat writes f in the shortest decimal form that reads back as f and
// returns the integer and fraction digits.
func splitFloat(f float64) (string, string) {
	i, frac, _ := strings.Cut(strconv.FormatFloat(f, 'f', -1, 64), ".")
	return i, frac
}

// canonDecimal writes a decimal number without a plus sign, leading zeros
// in the integer part, trailing zeros in the fraction or a negative zero.
func canonDecimal(i, frac string) string {
	neg := strings.HasPrefix(i, "-")
	i = strings.TrimLeft(strings.TrimLeft(i, "+-"), "0")
	frac = strings.TrimRight(frac, "0")
	if i == "" {
		i = "0"
	}
	out := i
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}
