package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Config is the whole of sluice.toml. The zero value is not useful; start
// from [Default], [Load] or [Parse].
type Config struct {
	// Server is the [server] table.
	Server Server `toml:"server"`
	// Store is the [store] table.
	Store Store `toml:"store"`
	// Domains is the [domains] table.
	Domains Domains `toml:"domains"`
	// Users is the [users] table: address → bcrypt hash of the password
	// ("$2a$", "$2b$" or "$2y$", as made by htpasswd -B).
	Users map[string]string `toml:"users"`
	// Relay is the [relay] table.
	Relay Relay `toml:"relay"`
	// Queue is the [queue] table.
	Queue Queue `toml:"queue"`
	// Engine is the [engine] table.
	Engine Engine `toml:"engine"`
	// Stages are the [[stage]] entries in order. Empty means the server's
	// embedded default scripts.
	Stages []Stage `toml:"stage"`
	// Filters are the [filter.NAME] tables by NAME, which matches
	// [a-z0-9_-]+.
	Filters map[string]Filter `toml:"filter"`
	// Databases are the [database.NAME] tables by NAME, which matches
	// [a-z0-9_-]+.
	Databases map[string]Database `toml:"database"`

	// File is the name the configuration was read from, as given to [Load]
	// or [Parse]; "" for [Default]. [Config.Resolve] uses its folder.
	File string `toml:"-"`
}

// Load reads and parses the file at path, as [Parse] does. A file that
// cannot be read gives an error wrapping the [os.ReadFile] error (test it
// with [errors.Is] and [fs.ErrNotExist]), not [ErrInvalid].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes data, a sluice.toml document, on top of [Default] and
// validates the result. name is used in errors and becomes [Config.File].
// On error the returned error matches [ErrInvalid] and reads
// "name:LINE: message", one line per problem, sorted by line.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	c.File = name
	d := &decoder{src: string(data), file: name}
	if err := d.decode(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks c as [Parse] does and reports what is wrong. It is for
// configurations built or changed in code; errors have no line numbers.
func (c *Config) Validate() error {
	k := &checker{file: c.File}
	validate(c, k)
	return joinErrors(k.errs)
}

// Resolve returns path p relative to the folder of [Config.File]: an
// absolute or empty p is returned as it is, and so is any p when File is
// "" (relative to the working directory). The result is relative when File
// is.
func (c *Config) Resolve(p string) string {
	if p == "" || c.File == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// ControlAddr returns the address of the control socket: Server.Control,
// or when it is empty "unix:" followed by control.sock in the resolved
// Store.Dir.
func (c *Config) ControlAddr() string {
	if c.Server.Control != "" {
		return c.Server.Control
	}
	return "unix:" + filepath.Join(c.Resolve(c.Store.Dir), "control.sock")
}
