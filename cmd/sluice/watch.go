package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/sluicemail/sluice/config"
)

// debounce is how long the watcher waits after the last change of a burst
// (an editor's save is often write + rename + chmod) before it reloads.
const debounce = 20 * time.Millisecond

// watcher reloads the rules when the configuration file or a script
// changes. It watches folders, not files, so that an editor's save by
// rename (write a temporary file, rename it over the old one) is seen.
type watcher struct {
	s     *server
	fw    *fsnotify.Watcher
	quit  chan struct{}
	kicks chan struct{} // capacity 1: a reload happened elsewhere
	wg    sync.WaitGroup

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
	w := &watcher{s: s, fw: fw, quit: make(chan struct{}), kicks: make(chan struct{}, 1), dirs: map[string]bool{}}
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

// kick asks the watcher to bring its folders in line with the
// configuration, after a reload that did not come from it.
func (w *watcher) kick() {
	select {
	case w.kicks <- struct{}{}:
	default:
	}
}

// folders returns what to watch: for the configuration in force and for
// the last one tried (a failed reload may have named new folders), its own
// folder, each stage script's folder (and the folder a symlinked script
// points into), the folder require resolves in and the folders below it,
// and the database init files' folders.
func (w *watcher) folders() map[string]bool {
	w.s.rules.mu.Lock()
	cfgs := []*config.Config{w.s.rules.cfg, w.s.rules.tried}
	w.s.rules.mu.Unlock()
	out := map[string]bool{}
	add := func(file string) {
		out[filepath.Dir(file)] = true
		if real, err := filepath.EvalSymlinks(file); err == nil && real != file {
			out[filepath.Dir(real)] = true
		}
	}
	for _, c := range cfgs {
		if c == nil {
			continue
		}
		add(c.File)
		store := c.Resolve(c.Store.Dir)
		for i, st := range c.Stages {
			add(c.Resolve(st.Script))
			if i == 0 {
				for _, d := range moduleDirs(filepath.Dir(c.Resolve(st.Script)), store) {
					out[d] = true
				}
			}
		}
		for _, db := range c.Databases {
			if db.Init != "" {
				add(c.Resolve(db.Init))
			}
		}
	}
	return out
}

// moduleDirs returns root and the folders below it that may hold modules:
// a few levels, a few hundred folders at most, without hidden folders,
// testdata and the store.
func moduleDirs(root, store string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || sameDir(p, store)) {
			return filepath.SkipDir
		}
		if len(out) >= 256 || strings.Count(p[len(root):], string(filepath.Separator)) > 3 {
			return filepath.SkipDir
		}
		out = append(out, p)
		return nil
	})
	return out
}

// moduleFiles lists the Lua files under root that require can load (not
// the tests), as paths joined to root.
func moduleFiles(root, store string) []string {
	var out []string
	for _, d := range moduleDirs(root, store) {
		m, _ := filepath.Glob(filepath.Join(d, "*.lua"))
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.lua") && len(out) < 1000 {
				out = append(out, f)
			}
		}
	}
	return out
}

func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// rewatch brings the watched folders in line with the configuration. Every
// folder wanted is added again, so that one deleted and created anew (the
// kernel drops the watch with the folder) is watched again. It reports
// whether a folder is watched now that was not before.
func (w *watcher) rewatch() (added bool) {
	want := w.folders()
	for d := range w.dirs {
		if !want[d] {
			w.fw.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range want {
		err := w.fw.Add(d)
		switch {
		case err != nil && w.dirs[d]:
			delete(w.dirs, d) // gone: a reload sees what is missing
			added = true
		case err != nil:
		case !w.dirs[d]:
			w.dirs[d] = true
			added = true
		}
	}
	return added
}

// relevant reports whether a change to the file name can change the rules:
// the configuration, scripts and SQL init files, a watched folder itself,
// the "..data" symlinks of a Kubernetes volume — not editors' swap and
// backup files nor the Lua tests.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	name := ev.Name
	if filepath.Clean(name) == filepath.Clean(w.s.cfg.File) || w.dirs[name] {
		return true
	}
	base := filepath.Base(name)
	if strings.HasPrefix(base, "..") {
		return true
	}
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasPrefix(base, "#") {
		return false
	}
	switch filepath.Ext(base) {
	case ".lua":
		return !strings.HasSuffix(base, "_test.lua")
	case ".toml", ".sql":
		return true
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(name); err == nil && fi.IsDir() {
			return true // a folder put in place: maybe the scripts'
		}
	}
	return false
}

// recheck is how often the watcher adds its folders again, in case one was
// deleted and created where no watched folder saw it.
const recheck = 2 * time.Second

func (w *watcher) loop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	var first time.Time // of the burst being debounced
	var name string
	changed := func(what string) {
		if first.IsZero() {
			first, name = time.Now(), what
		}
		timer.Reset(debounce)
	}
	for {
		select {
		case <-w.quit:
			timer.Stop()
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !w.relevant(ev) {
				continue
			}
			changed(ev.Name)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.s.log.Warn("watching the rules", "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				changed("(events lost)")
			}
		case <-w.kicks:
			w.rewatch()
		case <-tick.C:
			if w.rewatch() {
				changed("(a folder came back)")
			}
		case <-timer.C:
			w.s.reload("changed "+displayPath(name), first)
			first = time.Time{}
			if w.rewatch() {
				changed("(new folders)")
			}
		}
	}
}
