package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/engine"
)

// A generation of the rules is what a reload replaces as one: the stages'
// scripts compiled into an engine, with the filters and databases they
// reach; a filter whose settings a reload leaves alone is shared with the
// generation before (sharedFilters). The engine owns the filters and
// databases (Options.OnClose releases them), and it stays open while
// anything holds it (engine.Acquire): an SMTP session, from its greeting
// to its end (each MAIL moves it to the current generation, so a
// transaction runs on one generation throughout; an idle connection keeps
// the last one open), and a message from its commit to the end of its
// first on_queue attempt. So a message in flight finishes every stage on
// the generation it started with, and an old generation closes by itself
// once the last such message is through.

// reloadStatus is what "sluice status" shows of the rules.
type reloadStatus struct {
	Generation int       `json:"generation"`
	Version    string    `json:"version"`
	Config     string    `json:"config,omitempty"`
	LoadedAt   time.Time `json:"loaded_at"`
	Warnings   []string  `json:"warnings,omitempty"`
	// Restart lists settings changed in the file that only a restart
	// applies.
	Restart []string `json:"restart_needed,omitempty"`
	// Error is the last failed reload's, kept until a reload succeeds;
	// the generation above is still the one serving.
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
	// Open counts the generations still open: the current one, and older
	// ones while messages that started on them are in flight.
	Open int `json:"open_generations"`
	// Took is how long the last successful reload took, from its trigger
	// (the file event, the signal or the request) to the swap.
	Took string `json:"took,omitempty"`
}

// rules holds the generations of a running server.
type rules struct {
	// reloading serialises reloads, held while one builds; mu guards
	// status, cfg and tried, held only to read or set them, so that
	// status and the watcher never wait for a build.
	reloading sync.Mutex
	mu        sync.Mutex
	status    reloadStatus
	cfg       *config.Config // of the current generation
	tried     *config.Config // the last one loaded, even if its generation failed

	// filters are the filters' hand-offs, shared by the generations whose
	// configuration leaves them unchanged.
	filters sharedFilters

	live sync.Map // version → *engine.Engine, while open
	kept holds    // queue id → *engine.Engine held for its first attempt
}

// holds maps queue IDs to the generation held for each, one entry per
// message waiting for its first attempt: a plain map under a mutex, whose
// entries cost a quarter of a sync.Map's (27 bytes against 122, at 10,000
// entries), since a burst leaves thousands of them.
type holds struct {
	mu   sync.Mutex
	m    map[string]*engine.Engine
	peak int // len(m) at its largest since m was made
}

func (h *holds) store(id string, e *engine.Engine) {
	h.mu.Lock()
	if h.m == nil {
		h.m = make(map[string]*engine.Engine)
	}
	h.m[id] = e
	h.peak = max(h.peak, len(h.m))
	h.mu.Unlock()
}

// take removes and returns the hold of id.
func (h *holds) take(id string) (*engine.Engine, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[id]
	if !ok {
		return nil, false
	}
	delete(h.m, id)
	if len(h.m) == 0 && h.peak > 1024 {
		h.m, h.peak = nil, 0 // a map keeps its size: let the burst's go
	}
	return e, true
}

// ids returns the IDs held.
func (h *holds) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.m))
	for id := range h.m {
		ids = append(ids, id)
	}
	return ids
}

// build makes generation gen from c: filters, databases and the compiled
// engine, or an error naming the file and line at fault. Nothing of it is
// left open on error. Its version is "GEN-HASH", HASH from the
// configuration file and the stage scripts.
func (s *server) build(c *config.Config, gen int) (*engine.Engine, []engine.Warning, error) {
	opt := engineOptions(c, s.log)
	opt.Services.Store = s.store
	h := sha256.New()
	if c.File != "" {
		if err := hashFile(h, c.File); err != nil {
			return nil, nil, err
		}
	}
	// Each file is read once: the lint, the version's hash and the compile
	// all see the same bytes, even if an editor is saving meanwhile.
	read := opt.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	var mu sync.Mutex
	seen := map[string][]byte{}
	opt.ReadFile = func(name string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if b, ok := seen[name]; ok {
			return b, nil
		}
		b, err := read(name)
		if err == nil {
			seen[name] = b
			fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
			h.Write(b)
		}
		return b, err
	}
	// Every module is compiled up front (a broken one fails the reload
	// rather than every message that requires it) and is part of the hash.
	opt.Modules = modulesOf(c, opt)
	warnings, err := engine.LintStages(opt) // reads each script and module
	if err != nil {
		return nil, nil, err
	}
	opt.Version = fmt.Sprintf("%d-%s", gen, hex.EncodeToString(h.Sum(nil))[:8])
	filters, releaseFilters, err := s.rules.filters.acquire(c, s.log)
	if err != nil {
		return nil, nil, usageError{err}
	}
	dbs, err := openDatabases(context.Background(), c, dbServe, true, s.log.With("component", "database"))
	if err != nil {
		releaseFilters()
		return nil, nil, err
	}
	opt.Services.Filters = filters
	dbs.wire(&opt.Services)
	version := opt.Version
	opt.OnClose = func() {
		releaseFilters()
		if err := dbs.Close(); err != nil {
			s.log.Warn("closing the databases of a generation", "version", version, "error", err)
		}
		s.rules.live.Delete(version)
		s.log.Debug("generation closed", "version", version)
	}
	eng, err := engine.New(opt)
	if err != nil {
		releaseFilters()
		dbs.Close()
		return nil, nil, usageError{err}
	}
	s.rules.live.Store(version, eng)
	return eng, warnings, nil
}

// modulesOf lists the files require can load for the stages of c: the Lua
// files under the first stage's folder (not the tests, testdata or the
// store). The embedded defaults have none.
func modulesOf(c *config.Config, opt engine.Options) []string {
	if c.File == "" || len(opt.Stages) == 0 {
		return nil
	}
	root := opt.ModuleRoot
	if root == "" {
		root = path.Dir(opt.Stages[0].Script) // as engine.New's default
	}
	return moduleFiles(filepath.FromSlash(root), c.Resolve(c.Store.Dir))
}

func hashFile(h hash.Hash, name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
	h.Write(b)
	return nil
}

// current returns the current generation with a hold on it, or nil when
// the server is stopping (its last generation is shut).
func (s *server) current() *engine.Engine {
	for {
		e := s.eng.Load()
		if e.Acquire() {
			return e
		}
		if s.eng.Load() == e {
			return nil // shut and not replaced: stop closed it
		}
		// Swapped and shut between the load and the hold: load again.
	}
}

// queueEngine is the pipeline's Engine: the generation message id was
// accepted on (the hold its session kept for it, or gen while loaded),
// else the current one.
func (s *server) queueEngine(id, gen string) *engine.Engine {
	if e, ok := s.rules.kept.take(id); ok {
		return e
	}
	if gen != "" {
		if v, ok := s.rules.live.Load(gen); ok {
			if e := v.(*engine.Engine); e.Acquire() {
				return e
			}
		}
	}
	return s.current()
}

// keep holds eng for message id until its first on_queue attempt.
func (s *server) keep(id string, eng *engine.Engine) (undo func()) {
	s.rules.kept.store(id, eng)
	return func() { s.unkeep(id) }
}

// unkeep drops the hold kept for id, if any (the message was deleted, or
// its commit failed).
func (s *server) unkeep(id string) {
	if e, ok := s.rules.kept.take(id); ok {
		e.Release()
	}
}

// reload loads the configuration file again (the embedded defaults when
// the server runs on them) and, if the whole new generation builds,
// swaps it in. A failure leaves the current generation serving; its error
// is logged, returned and kept in the status until a reload succeeds.
func (s *server) reload(why string, start time.Time) (reloadStatus, error) {
	s.rules.reloading.Lock()
	defer s.rules.reloading.Unlock()
	s.rules.mu.Lock()
	gen, path := s.rules.status.Generation+1, s.rules.cfg.File
	s.rules.mu.Unlock()
	fail := func(err error) (reloadStatus, error) {
		s.rules.mu.Lock()
		defer s.rules.mu.Unlock()
		st := &s.rules.status
		st.Error, st.ErrorAt = err.Error(), time.Now()
		s.log.Error("reload failed; the rules in force stay", "trigger", why, "version", st.Version, "error", err)
		return *st, err
	}
	c := config.Default()
	if path != "" {
		var err error
		if c, err = config.Load(path); err != nil {
			return fail(err)
		}
	}
	s.rules.mu.Lock()
	s.rules.tried = c
	s.rules.mu.Unlock()
	eng, warnings, err := s.build(c, gen)
	if err != nil {
		return fail(err)
	}
	old := s.eng.Swap(eng)
	s.smtp.SetPolicy(s.policyOf(c))
	s.local.Store(localDomains(c))
	took := time.Since(start)
	restart := restartNeeded(s.cfg, c)
	st := reloadStatus{
		Generation: gen, Version: eng.Version(), Config: c.File, LoadedAt: time.Now(),
		Restart: restart, Took: took.Round(10 * time.Microsecond).String(),
	}
	for _, w := range warnings {
		st.Warnings = append(st.Warnings, w.String())
		s.log.Warn("script warning", "warning", w.String())
	}
	// Logged before the status shows the generation, so that whoever
	// sees it there finds these lines written.
	s.log.Info("rules reloaded", "trigger", why, "version", eng.Version(), "took", took)
	for _, r := range restart {
		s.log.Warn("changed setting needs a restart; the old value stays in force", "setting", r)
	}
	s.rules.mu.Lock()
	s.rules.status, s.rules.cfg = st, c
	s.rules.mu.Unlock()
	old.Close()
	if s.watch != nil {
		s.watch.kick()
	}
	return st, nil
}

// restartNeeded names the settings that differ between the configuration
// the server started with and c, and that a reload does not apply — the
// listeners and limits of [server] (all but relay_from), the store, the
// queue, the smarthost and the parser's caps — each as "table.key: old →
// new". The stages, filters, databases, [engine], [domains], [users] and
// relay_from are applied.
func restartNeeded(started, c *config.Config) []string {
	var out []string
	a, b := started.Server, c.Server
	a.RelayFrom, b.RelayFrom = nil, nil
	out = diffFields(out, "server", a, b)
	out = diffFields(out, "store", started.Store, c.Store)
	out = diffFields(out, "queue", started.Queue, c.Queue)
	out = diffFields(out, "relay", started.Relay, c.Relay)
	// The scripts get the new caps; the SMTP server and the queue parse
	// messages with the old ones until a restart.
	type caps struct {
		MaxPartBytes   int64 `toml:"max_part_bytes"`
		MaxStringBytes int64 `toml:"max_string_bytes"`
	}
	return diffFields(out, "engine",
		caps{int64(started.Engine.MaxPartBytes), int64(started.Engine.MaxStringBytes)},
		caps{int64(c.Engine.MaxPartBytes), int64(c.Engine.MaxStringBytes)})
}

// diffFields appends "table.key: old → new" for each field of the structs a
// and b (of one type) that differs, named by its toml tag.
func diffFields(out []string, table string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			continue
		}
		key, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			key = va.Type().Field(i).Name
		}
		show := func(v reflect.Value) string {
			if strings.Contains(strings.ToLower(key), "pass") || strings.Contains(strings.ToLower(key), "key") {
				return "…" // no secrets in logs
			}
			return fmt.Sprintf("%v", v.Interface())
		}
		out = append(out, fmt.Sprintf("%s.%s: %s → %s", table, key, show(fa), show(fb)))
	}
	return out
}
