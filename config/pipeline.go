package config

// Stage is one [[stage]] entry: a Lua script in the message pipeline.
// Stages run in the order they are given.
type Stage struct {
	// Name identifies the stage in logs and traces; it matches
	// [a-z0-9_-]+ and is unique.
	Name string `toml:"name"`
	// Script is the Lua file defining the stage's hooks (required).
	// Relative to the configuration file.
	Script string `toml:"script"`
	// Timeout is the deadline of each hook call (> 0).
	Timeout Duration `toml:"timeout"`
	// OnError is the verdict when the script fails or times out:
	// "tempfail", "accept", "reject" or "quarantine".
	OnError string `toml:"on_error"`
}

// Filter is one [filter.NAME] table: an external program or daemon that
// scripts call with plugin.scan(NAME, msg).
type Filter struct {
	// Kind is "exec" (a program run per message), "folder" (the
	// InQueue/OutQueue folder protocol), "clamd", "spamd" or "rspamd".
	Kind string `toml:"kind"`
	// Command is the argv of an exec filter; Command[0] is the program. It
	// is run without a shell. Required for, and only for, kind exec.
	Command []string `toml:"command"`
	// Input is how an exec filter gets the message: "file" (its path is
	// appended to Command) or "stdin".
	Input string `toml:"input"`
	// Output is what an exec filter's standard output is: "" (log text) or
	// "message" (the message, possibly modified).
	Output string `toml:"output"`
	// Verdicts maps an exit status ("0" to "255") to a verdict: "clean",
	// "infected", "spam", "ham" or "error". When empty, 0 is clean and
	// anything else an error; a status not listed is an error.
	Verdicts map[string]string `toml:"verdicts"`
	// NameRegex is a Go regular expression whose first submatch (or whole
	// match) in the filter's output names what it found, such as a virus.
	NameRegex string `toml:"name_regex"`
	// In is the folder the message is dropped into (kind folder, required).
	In string `toml:"in"`
	// Out is the folder the message comes back in (kind folder, required).
	Out string `toml:"out"`
	// Address is the daemon's address (kinds clamd, spamd, rspamd;
	// required): "unix:/path" or "host:port", and for rspamd also an
	// "http://" or "https://" URL.
	Address string `toml:"address"`
	// Timeout is the deadline of one scan (> 0).
	Timeout Duration `toml:"timeout"`
	// MaxConcurrent is the most scans running at once (> 0).
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxWait is how long a scan waits for a free slot before failing
	// (>= 0; 0 fails at once).
	MaxWait Duration `toml:"max_wait"`
	// MaxOutputBytes caps what is kept of the filter's log output: its
	// standard error, and its standard output unless that is the message
	// (> 0).
	MaxOutputBytes int64 `toml:"max_output_bytes"`
	// MaxBytes is the largest message handed to the filter (> 0); larger
	// messages are not scanned and count as errors.
	MaxBytes int64 `toml:"max_bytes"`
	// Threshold overrides the daemon's spam score threshold (kinds spamd
	// and rspamd; >= 0); 0 keeps the daemon's.
	Threshold float64 `toml:"threshold"`
	// OnError is the verdict when the filter fails: "tempfail", "accept",
	// "reject" or "quarantine".
	OnError string `toml:"on_error"`
	// BreakerFailures is the number of failures in a row after which the
	// filter is not called for BreakerCooldown (>= 0; 0 disables the
	// breaker).
	BreakerFailures int `toml:"breaker_failures"`
	// BreakerCooldown is how long an open breaker stays open (> 0).
	BreakerCooldown Duration `toml:"breaker_cooldown"`
}

// Database is one [database.NAME] table: a database scripts open with
// db.open(NAME).
type Database struct {
	// Driver is "sqlite", "postgres" or "mysql".
	Driver string `toml:"driver"`
	// DSN is the driver's data source name (required). For sqlite it is a
	// file path, which callers resolve with [Config.Resolve].
	DSN string `toml:"dsn"`
	// Init is an SQL file run when the database is opened, such as
	// schema.sql; empty: none. Relative to the configuration file.
	Init string `toml:"init"`
	// MaxOpen is the most open connections (> 0).
	MaxOpen int `toml:"max_open"`
	// MaxIdle is the most idle connections kept (0 to MaxOpen).
	MaxIdle int `toml:"max_idle"`
	// ConnMaxLifetime is how long a connection may be reused (>= 0; 0:
	// forever).
	ConnMaxLifetime Duration `toml:"conn_max_lifetime"`
}
