package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// Regression tests from the review of hot reload (watch.go, reload.go).

const reviewConfig = `
[server]
hostname = "mx.test"
listen = ["127.0.0.1:0"]

[store]
dir = "data"

[domains]
local = ["local.test"]

[[stage]]
name = "v"
script = "rules/version.lua"
`

func reviewVersion(v string) string {
	return `function on_data(msg) msg:set_header("X-V", "` + v + `") end` + "\n"
}

// startReview writes files under a temporary folder and serves its
// sluice.toml in-process.
func startReview(t *testing.T, watch bool, files map[string]string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		writeFile(t, dir, name, body)
	}
	c, err := config.Load(filepath.Join(dir, "sluice.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := startServer(c, slog.New(slog.NewTextHandler(io.Discard, nil)), watch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.stop(ctx)
	})
	return s, dir
}

func (s *server) reviewStatus() reloadStatus {
	s.rules.mu.Lock()
	defer s.rules.mu.Unlock()
	return s.rules.status
}

// waitReviewGeneration waits up to 2 s (100 debounce periods) for
// generation gen to serve.
func waitReviewGeneration(t *testing.T, s *server, gen int, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.reviewStatus().Generation >= gen {
			return
		}
	}
	t.Fatalf("%s: generation %d never went live; status %+v", what, gen, s.reviewStatus())
}

// runOnData runs the current generation's on_data on a small message and
// returns its verdict and X-V header.
func runOnData(s *server) (engine.Verdict, string) {
	eng := s.current()
	defer eng.Release()
	m := &stdlib.Msg{ID: "t", From: "a@example.org", Rcpt: []string{"bob@local.test"},
		Body: message.New([]byte("Subject: x\r\n\r\nx\r\n"), message.Options{})}
	v := eng.Run(context.Background(), "on_data", m, &engine.Result{})
	return v, m.Body.Header("X-V")
}

// A scripts folder that is deleted and created again (a deploy by rm -rf
// and copy, or by renaming a new folder into place) is watched again.
func TestReviewWatchRecreatedFolder(t *testing.T) {
	s, dir := startReview(t, true, map[string]string{
		"sluice.toml":       reviewConfig,
		"rules/version.lua": reviewVersion("A"),
	})
	if err := os.RemoveAll(filepath.Join(dir, "rules")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the failed reload of the removal
	writeFile(t, dir, "rules/version.lua", reviewVersion("B"))
	waitReviewGeneration(t, s, 2, "rules/ deleted and recreated")
}

// A configuration change that adds a stage in a new folder fails to load
// because that script is broken; fixing the script must reload.
func TestReviewWatchFolderOfFailedReload(t *testing.T) {
	s, dir := startReview(t, true, map[string]string{
		"sluice.toml":       reviewConfig,
		"rules/version.lua": reviewVersion("A"),
	})
	writeFile(t, dir, "extra/more.lua", "function on_data(msg)\n  msg:set_header(\"X-More\", \n")
	writeFile(t, dir, "sluice.toml", reviewConfig+"\n[[stage]]\nname = \"more\"\nscript = \"extra/more.lua\"\n")
	for deadline := time.Now().Add(2 * time.Second); s.reviewStatus().Error == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the broken extra/more.lua was not reported")
		}
	}
	writeFile(t, dir, "extra/more.lua", "function on_data(msg) msg:set_header(\"X-More\", \"1\") end\n")
	waitReviewGeneration(t, s, 2, "extra/more.lua fixed")
}

// Kubernetes updates a mounted ConfigMap by swapping a "..data" symlink:
// the scripts are symlinks through it, and every name that changes starts
// with a dot.
func TestReviewWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	writeFile(t, rules, "..v1/version.lua", reviewVersion("A"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("..v1", filepath.Join(rules, "..data")))
	must(os.Symlink("..data/version.lua", filepath.Join(rules, "version.lua")))
	writeFile(t, dir, "sluice.toml", reviewConfig)
	c, err := config.Load(filepath.Join(dir, "sluice.toml"))
	must(err)
	s, err := startServer(c, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	must(err)
	defer s.stop(context.Background())

	writeFile(t, rules, "..v2/version.lua", reviewVersion("B"))
	must(os.Symlink("..v2", filepath.Join(rules, "..data_tmp")))
	must(os.Rename(filepath.Join(rules, "..data_tmp"), filepath.Join(rules, "..data")))
	waitReviewGeneration(t, s, 2, "..data swapped")
}

// A reload builds the whole generation: a required module that does not
// compile must fail the reload, not go live and tempfail every message.
func TestReviewReloadBrokenModule(t *testing.T) {
	s, dir := startReview(t, false, map[string]string{
		"sluice.toml":       reviewConfig,
		"rules/version.lua": `function on_data(msg) msg:set_header("X-V", require("lib.v").v) end` + "\n",
		"rules/lib/v.lua":   `return {v = "A"}` + "\n",
	})
	if v, x := runOnData(s); v.Kind != engine.Continue || x != "A" {
		t.Fatalf("generation 1: %v, X-V %q", v, x)
	}
	writeFile(t, dir, "rules/lib/v.lua", "return {v = \n")
	if _, err := s.reload("test", time.Now()); err == nil {
		v, x := runOnData(s)
		t.Errorf("a broken rules/lib/v.lua went live: generation %d, on_data %v %q (X-V %q)",
			s.reviewStatus().Generation, v.Kind, v.Text, x)
	} else if !strings.Contains(err.Error(), "v.lua:") {
		t.Errorf("error without file:line: %v", err)
	}
}
