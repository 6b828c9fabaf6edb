// Package scripts holds the default pipeline shipped inside the sluice
// binary. The Lua files here are also the first documentation of the Lua
// API: read them top to bottom. Each has its tests beside it
// (NAME_test.lua, run by `sluice test scripts`), with their messages in
// testdata/; those are not embedded.
package scripts

import "embed"

// FS holds the default scripts, by file name ("attachments.lua", …). A new
// script is added here and to Default.
//
//go:embed attachments.lua score.lua filing.lua
var FS embed.FS

// Stage is one stage of the default pipeline.
type Stage struct {
	// Name of the stage; File is its script in FS.
	Name, File string
}

// Default is the pipeline used when the configuration names no stages.
var Default = []Stage{
	{Name: "attachments", File: "attachments.lua"},
	{Name: "score", File: "score.lua"},
	{Name: "filing", File: "filing.lua"},
}
