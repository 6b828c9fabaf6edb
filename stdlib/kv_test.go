package stdlib

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicemail/sluice/database"
)

func newKV(t *testing.T) *database.KV {
	t.Helper()
	kv, err := database.OpenKV(t.Context(), filepath.Join(t.TempDir(), "kv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

func TestKVModule(t *testing.T) {
	svc := Services{KV: newKV(t)}
	got, err := runLua(t.Context(), newTestMsg(mixed), svc, false, `function f(msg)
	  local before = kv.get("greeted:" .. msg.from)
	  kv.set("greeted:" .. msg.from, "yes")
	  kv.set("n", 42)
	  kv.set("quote", "'; DROP TABLE kv; --")
	  kv.set("short", "x", 0.05)
	  local a = kv.incr("hits")
	  local b = kv.incr("hits", 10)
	  local c = kv.incr("hits", -1, 60)
	  kv.set("gone", "x")
	  kv.delete("gone")
	  kv.delete("never")
	  return {before = before, greeted = kv.get("greeted:" .. msg.from), n = kv.get("n"), quote = kv.get("quote"),
	          short = kv.get("short"), hits = {a, b, c}, gone = kv.get("gone")}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"greeted": "yes", "n": "42", "quote": "'; DROP TABLE kv; --", "short": "x",
		"hits": []any{int64(1), int64(11), int64(10)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	time.Sleep(100 * time.Millisecond) // past the ttl of short
	got, err = runLua(t.Context(), newTestMsg(mixed), svc, false, `function f(msg)
	  return {short = kv.get("short"), greeted = kv.get("greeted:" .. msg.from)}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"greeted": "yes"}, got); diff != "" {
		t.Errorf("after the ttl (-want +got):\n%s", diff)
	}
}

// In a dry run, writes are recorded and not done; incr says what it would
// return.
func TestKVDryRun(t *testing.T) {
	store := newKV(t)
	store.Set(t.Context(), "hits", "5", 0)
	svc := Services{KV: store}
	m := newTestMsg(mixed)
	got, err := runLua(t.Context(), m, svc, true, `function f(msg)
	  kv.set("a", "1")
	  kv.delete("hits")
	  return {kv.incr("hits", 2), kv.incr("new"), kv.get("a") == nil}
	end`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{int64(7), int64(1), true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v, _, _ := store.Get(t.Context(), "hits"); v != "5" {
		t.Errorf("hits = %q after the dry run, want 5", v)
	}
	var kinds []string
	for _, a := range m.Actions {
		kinds = append(kinds, a.Kind+" "+a.Reason)
	}
	if diff := cmp.Diff([]string{"kv.set a", "kv.delete hits", "kv.incr hits", "kv.incr new"}, kinds); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestKVErrors(t *testing.T) {
	svc := Services{KV: newKV(t)}
	for _, tc := range []struct{ call, want string }{
		{`kv.set("k", {})`, "a string or a number expected, got table"},
		{`kv.set("k", "v", -1)`, "a ttl in seconds"},
		{`kv.set("k", "v", 0/0)`, "a ttl in seconds"},
		{`kv.incr("k", 1.5)`, "an integer expected"},
		{`kv.set("w", "word"); kv.incr("w")`, `kv.incr: not an integer: "word"`},
		{`kv.get()`, "string expected"},
		{`kv.set(string.rep("k", 2000), "v")`, "kv.set: too large: key of 2000 bytes"},
	} {
		for _, dry := range []bool{false, true} {
			if dry && strings.Contains(tc.call, `"word"`) {
				continue // the dry run does not store "word"
			}
			_, err := runLua(t.Context(), newTestMsg(mixed), svc, dry, "function f(msg) "+tc.call+" end")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (dry run %v):\n got %v\nwant %q", tc.call, dry, err, tc.want)
			}
		}
	}
	_, err := runLua(t.Context(), newTestMsg(mixed), Services{}, false, `function f(msg) kv.get("k") end`)
	if err == nil || !strings.Contains(err.Error(), "kv: not configured") {
		t.Errorf("without a store: got %v", err)
	}
}

// Many Lua states count at once without losing an increment.
func TestKVConcurrentStates(t *testing.T) {
	svc := Services{KV: newKV(t)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := runLua(t.Context(), newTestMsg(mixed), svc, false, `function f(msg)
			  for i = 1, 20 do kv.incr("hits", 1, 3600); kv.get("hits") end
			end`)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	v, _, err := svc.KV.Get(t.Context(), "hits")
	if err != nil || v != "160" {
		t.Errorf("hits = %q, %v; want 160", v, err)
	}
}
