// Package config is the schema of sluice.toml: the types, their defaults,
// and the checks that make a file either fully understood or rejected.
//
// [Load] and [Parse] start from [Default], decode the file on top of it and
// validate the result, so every key is optional and a missing key keeps its
// default. The schema is strict: an unknown key, a value of the wrong type
// or a value out of range is an error, and every error reads
// "FILE:LINE: message", where message names the key in TOML syntax with
// array indexes, such as "stage[1].on_error" (0-based). Several errors are
// joined with [errors.Join], sorted by line; each matches [ErrInvalid] with
// [errors.Is] and is an [*Error] for [errors.As].
//
// Paths (store.dir, stage.script, database init, filter in/out) are kept as
// written; [Config.Resolve] makes them relative to the configuration file.
// Durations are strings such as "250ms", "30s" or "5d" ([Duration]); sizes
// are integers in bytes.
//
// Implementation: the file is decoded by BurntSushi/toml into sections held
// as toml.Primitive values, so that each section, stage, filter and database
// is decoded on top of its own defaults and a failure in one does not stop
// the others. Unknown keys come from MetaData.Undecoded plus a
// case-sensitive walk of the schema (the decoder matches field names
// without regard to case). The decoder does not say where array-of-table
// entries are, so scan.go indexes the document itself: every key, with its
// array indexes, to the line it is on.
package config
