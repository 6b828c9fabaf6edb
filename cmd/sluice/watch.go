package main

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long the watcher waits after the last change of a burst
// (an editor's save is often write + rename + chmod) before it reloads.
const debounce = 20 * time.Millisecond

// watcher reloads the rules when the configuration file or a script
// changes. It watches folders, not files, so that an editor's save by
// rename (write a temporary file, rename it over the old one) is seen.
type watcher struct {
	s    *server
	fw   *fsnotify.Watcher
	quit chan struct{}
	wg   sync.WaitGroup

	dirs map[string]bool // watched now
}

// startWatch watches the configuration's folder and the scripts' folders.
// The embedded defaults have no files to watch.
func (s *server) startWatch() error {
	if s.cfg.File == "" {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	w := &watcher{s: s, fw: fw, quit: make(chan struct{}), dirs: map[string]bool{}}
	w.rewatch()
	s.watch = w
	w.wg.Add(1)
	go w.loop()
	return nil
}

func (w *watcher) close() {
	close(w.quit)
	w.fw.Close()
	w.wg.Wait()
}

// folders returns what to watch for the current configuration: its own
// folder, each stage script's folder, the folder require resolves in and
// the folders below it, and the database init files' folders.
func (w *watcher) folders() map[string]bool {
	w.s.rules.mu.Lock()
	c := w.s.rules.cfg
	w.s.rules.mu.Unlock()
	out := map[string]bool{filepath.Dir(c.File): true}
	for i, st := range c.Stages {
		dir := filepath.Dir(c.Resolve(st.Script))
		out[dir] = true
		if i > 0 {
			continue
		}
		// require resolves in the first stage's folder: watch below it too
		// (a few levels, a few hundred folders at most).
		n := 0
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if n++; n > 256 || strings.Count(p[len(dir):], string(filepath.Separator)) > 3 {
				return filepath.SkipDir
			}
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			out[p] = true
			return nil
		})
	}
	for _, db := range c.Databases {
		if db.Init != "" {
			out[filepath.Dir(c.Resolve(db.Init))] = true
		}
	}
	return out
}

// rewatch brings the watched folders in line with the configuration.
func (w *watcher) rewatch() {
	want := w.folders()
	for d := range w.dirs {
		if !want[d] {
			w.fw.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.fw.Add(d); err != nil {
			w.s.log.Warn("cannot watch a folder; changes in it need sluice reload", "dir", d, "error", err)
			continue
		}
		w.dirs[d] = true
	}
}

// relevant reports whether a change to the file name can change the rules:
// the configuration, scripts and SQL init files, not editors' swap and
// backup files nor the Lua tests.
func (w *watcher) relevant(name string) bool {
	if filepath.Clean(name) == filepath.Clean(w.s.cfg.File) {
		return true
	}
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasPrefix(base, "#") {
		return false
	}
	switch filepath.Ext(base) {
	case ".lua":
		return !strings.HasSuffix(base, "_test.lua")
	case ".toml", ".sql":
		return true
	}
	return false
}

func (w *watcher) loop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time // of the burst being debounced
	var name string
	for {
		select {
		case <-w.quit:
			timer.Stop()
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !w.relevant(ev.Name) {
				continue
			}
			if first.IsZero() {
				first, name = time.Now(), ev.Name
			}
			timer.Reset(debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.s.log.Warn("watching the rules", "error", err)
		case <-timer.C:
			w.s.reload("changed "+displayPath(name), first)
			first = time.Time{}
			w.rewatch()
		}
	}
}
