package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"250ms", 250 * time.Millisecond},
		{"30s", 30 * time.Second},
		{"5m", 5 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"5d", 5 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"12h1d", 36 * time.Hour},
		{"0d", 0},
		{"+2d", 48 * time.Hour},
		{"-1d", -24 * time.Hour},
		{"100000d", 100000 * 24 * time.Hour},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, time.Duration(got), err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, in := range []string{"", "30", "5x", "d", "5 d", "1.2.3d", ".d", "-", "5dd", "1e3d", "200000d", "106752d", "2562047h1d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, nil; want an error", in, time.Duration(got))
		}
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{90 * time.Minute, "1h30m0s"},
		{24 * time.Hour, "1d"},
		{5 * 24 * time.Hour, "5d"},
		{36 * time.Hour, "36h0m0s"},
	}
	for _, tt := range tests {
		text, err := Duration(tt.d).MarshalText()
		if err != nil || string(text) != tt.want {
			t.Errorf("Duration(%v).MarshalText() = %q, %v; want %q, nil", tt.d, text, err, tt.want)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || time.Duration(back) != tt.d {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, nil", text, time.Duration(back), err, tt.d)
		}
	}
}
