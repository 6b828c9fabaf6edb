package scripts

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every script of the folder is embedded and is a stage of Default; test
// files are not embedded.
func TestEmbedded(t *testing.T) {
	onDisk, err := filepath.Glob("*.lua")
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, f := range onDisk {
		if !strings.HasSuffix(f, "_test.lua") {
			scripts = append(scripts, f)
		}
	}
	embedded, err := fs.Glob(FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scripts, embedded) {
		t.Errorf("embedded %v, want the scripts %v (the go:embed line lists them)", embedded, scripts)
	}
	var stages []string
	for _, st := range Default {
		stages = append(stages, st.File)
		if _, err := fs.Stat(FS, st.File); err != nil {
			t.Errorf("stage %s: %v", st.Name, err)
		}
	}
	slices.Sort(stages)
	if !slices.Equal(stages, scripts) {
		t.Errorf("Default has %v, the folder %v", stages, scripts)
	}
}
