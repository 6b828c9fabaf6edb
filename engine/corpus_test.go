package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicemail/sluice/message"
	"github.com/sluicemail/sluice/stdlib"
)

// corpusDir finds ../shared/corpus (or $SLUICE_CORPUS) or skips the test.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SLUICE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("corpus not found at %s (set SLUICE_CORPUS): skipping", dir)
	}
	return dir
}

// corpusScript reads every header, walks every part and asks for its text.
const corpusScript = `
function on_data(msg)
  local n = 0
  for _, f in ipairs(msg:header_fields()) do
    n = n + #f.name + #f.value
    n = n + #msg:header(f.name)
  end
  n = n + #msg:subject() + #msg:text() + #msg:html()
  local parts = msg:parts()
  for _, p in ipairs(parts) do
    local ok, text = pcall(p.text, p)
    if ok then n = n + #text
    elseif not tostring(text):find("too large") then error(text) end
    n = n + #p.content_type + #p.filename + #p.charset + p.size
  end
  msg.vars.parts = #parts
  msg.vars.defects = #msg:defects()
end`

// Every corpus message goes through a script that touches everything: no
// panic, no error, each within 2 s, memory bounded.
func TestCorpusThroughLua(t *testing.T) {
	dir := corpusDir(t)
	e := newEngine(t, corpusScript, func(o *Options) {
		o.Stages[0].Timeout = 2 * time.Second
		o.Stages[0].OnError = OnErrorReject
		o.Logger = nil
	})
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap while the corpus runs
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	var clean, defective, failed int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".eml") {
			return err
		}
		if testing.Short() && strings.Contains(path, "stress") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m := &stdlib.Msg{ID: filepath.Base(path), Body: message.New(raw, message.Options{})}
		start := time.Now()
		r := &Result{}
		e.Run(context.Background(), "on_data", m, r)
		took := time.Since(start)
		rel, _ := filepath.Rel(dir, path)
		switch {
		case r.Verdict != Continue:
			failed++
			t.Errorf("%s: %s: %s", rel, r.Verdict, r.Stages[0].Error)
		case took > 2*time.Second:
			failed++
			t.Errorf("%s: took %v", rel, took)
		case m.Vars["defects"] != nil && m.Vars["defects"] != int64(0) && m.Vars["defects"] != float64(0):
			defective++
		default:
			clean++
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("corpus through Lua: %d clean, %d with defects, %d failed; peak heap %d MiB",
		clean, defective, failed, peak.Load()>>20)
	if clean+defective < 700 && !testing.Short() {
		t.Errorf("only %d messages went through; want the whole corpus (774)", clean+defective)
	}
	if p := peak.Load(); p > 768<<20 {
		t.Errorf("peak heap %d MiB, want bounded (< 768 MiB)", p>>20)
	}
}
