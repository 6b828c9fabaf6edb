package main

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// sharedFilterConfig is reviewConfig with a filter that always fails.
const sharedFilterConfig = reviewConfig + `
[filter.broken]
kind = "exec"
command = ["false"]
input = "stdin"
on_error = "accept"
breaker_failures = 2
breaker_cooldown = "1h"
timeout = "%s"
`

// scanScript records in X-V what plugin.scan said, and a tag that lets a
// reload change the script.
func scanScript(tag string) string {
	return `function on_data(msg)
  local r = plugin.scan("broken", msg)
  msg:set_header("X-V", r.verdict .. " ` + tag + `")
end
`
}

// badDatabase makes a generation fail after its filters were acquired:
// its init file is not SQL.
const badDatabase = `
[database.bad]
driver = "sqlite"
dsn = "bad.db"
init = "bad.sql"
`

// A reload that leaves a filter as it was keeps its hand-off: the breaker
// opened by the old generation stays open for the new one (it does not
// hammer a failing filter again), and only one hand-off of the name
// exists. A reload that changed the filter but failed to build leaves it
// so. A changed filter gets a fresh hand-off, and the old one goes away
// with the last generation that used it.
func TestReloadKeepsUnchangedFilters(t *testing.T) {
	s, dir := startReview(t, false, map[string]string{
		"sluice.toml":       fmt.Sprintf(sharedFilterConfig, "10s"),
		"rules/version.lua": scanScript("A"),
		"bad.sql":           "THIS IS NOT SQL;\n",
	})
	for i, want := range []string{"error A", "error A", "disabled A"} {
		if _, got := runOnData(s); got != want {
			t.Fatalf("scan %d: X-V %q, want %q", i+1, got, want)
		}
	}
	first := s.heldFilters("broken")

	writeFile(t, dir, "sluice.toml", fmt.Sprintf(sharedFilterConfig, "8s")+badDatabase)
	if _, err := s.reload("test", time.Now()); err == nil {
		t.Fatal("a reload with a broken init file succeeded")
	}
	if got := s.heldFilters("broken"); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("after a failed reload %d hand-offs are held (the first: %v), want the first alone", len(got), len(got) > 0 && got[0] == first[0])
	}

	writeFile(t, dir, "sluice.toml", fmt.Sprintf(sharedFilterConfig, "10s"))
	writeFile(t, dir, "rules/version.lua", scanScript("B"))
	if _, err := s.reload("test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, got := runOnData(s); got != "disabled B" {
		t.Fatalf("after a reload that left the filter alone: X-V %q, want %q (breaker kept)", got, "disabled B")
	}
	if got := s.heldFilters("broken"); len(got) != 1 || got[0] != first[0] {
		t.Fatal("an unchanged filter got a new hand-off on reload")
	}

	writeFile(t, dir, "sluice.toml", fmt.Sprintf(sharedFilterConfig, "9s"))
	if _, err := s.reload("test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, got := runOnData(s); got != "error B" {
		t.Fatalf("after the filter changed: X-V %q, want %q (a fresh hand-off)", got, "error B")
	}
	got := s.heldFilters("broken")
	if len(got) != 1 || got[0] == first[0] || got[0].refs != 1 {
		t.Fatalf("%d hand-offs held; want one, new, used by the current generation only", len(got))
	}
	if first[0].refs != 0 {
		t.Fatalf("the replaced hand-off still has %d users after its generations closed", first[0].refs)
	}
}

// heldFilters returns a copy of the hand-offs of filter name in use.
func (s *server) heldFilters(name string) []*sharedFilter {
	s.rules.filters.mu.Lock()
	defer s.rules.filters.mu.Unlock()
	return slices.Clone(s.rules.filters.m[name])
}
