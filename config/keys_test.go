package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestPathString(t *testing.T) {
	tests := []struct {
		p    path
		want string
	}{
		{root("server", "listen"), "server.listen"},
		{root("server", "listen").index(2), "server.listen[2]"},
		{root("stage", "on_error").index(1), "stage[1].on_error"},
		{root("domains", "aliases", "a@b").index(0), `domains.aliases."a@b"[0]`},
		{root("filter", "x y", "kind"), `filter."x y".kind`},
		{root("nope", "x").index(3), "nope.x"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("path%v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestKnown(t *testing.T) {
	tests := []struct {
		key  toml.Key
		want bool
	}{
		{toml.Key{"server"}, true},
		{toml.Key{"server", "relay_from"}, true},
		{toml.Key{"server", "Relay_From"}, false},
		{toml.Key{"server", "File"}, false},
		{toml.Key{"File"}, false},
		{toml.Key{"stage", "on_error"}, true},
		{toml.Key{"stage", "x"}, false},
		{toml.Key{"filter", "any-name", "verdicts", "7"}, true},
		{toml.Key{"filter", "any-name", "verdicts", "7", "x"}, false},
		{toml.Key{"domains", "aliases", "a@b"}, true},
		{toml.Key{"users", "a@b", "x"}, false},
	}
	for _, tt := range tests {
		if got := known(tt.key); got != tt.want {
			t.Errorf("known(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}
