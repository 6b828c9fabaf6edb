package database

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openKV(t *testing.T, path string) *KV {
	t.Helper()
	kv, err := OpenKV(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

// clock is a settable time for the KV store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKV(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"))
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	kv.now = clk.now
	ctx := t.Context()
	get := func(key string) string {
		t.Helper()
		v, ok, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<unset>"
		}
		return v
	}

	if got := get("a"); got != "<unset>" {
		t.Errorf("get a = %q before any set", got)
	}
	if err := kv.Set(ctx, "a", "one", 0); err != nil {
		t.Fatal(err)
	}
	kv.Set(ctx, "b", "'; DROP TABLE kv; --", time.Minute)
	kv.Set(ctx, "", "empty key", 0)
	if got := get("a") + "|" + get("b") + "|" + get(""); got != "one|'; DROP TABLE kv; --|empty key" {
		t.Errorf("got %q", got)
	}
	kv.Set(ctx, "a", "two", 0) // overwrite
	clk.advance(59 * time.Second)
	if got := get("a") + "|" + get("b"); got != "two|'; DROP TABLE kv; --" {
		t.Errorf("before expiry: %q", got)
	}
	clk.advance(time.Second)
	if got := get("b"); got != "<unset>" {
		t.Errorf("b after its ttl: %q", got)
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "never-set"); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
	if got := get("a"); got != "<unset>" {
		t.Errorf("a after delete: %q", got)
	}
}

func TestKVIncr(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"))
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	kv.now = clk.now
	ctx := t.Context()
	incr := func(key string, delta int64, ttl time.Duration) int64 {
		t.Helper()
		n, err := kv.Incr(ctx, key, delta, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := incr("c", 1, time.Hour); n != 1 {
		t.Errorf("first incr = %d, want 1", n)
	}
	clk.advance(30 * time.Minute)
	if n := incr("c", 5, time.Hour); n != 6 {
		t.Errorf("second incr = %d, want 6", n)
	}
	// The counter keeps the expiry it was made with: an hour after the
	// first incr, not after the last.
	clk.advance(30 * time.Minute)
	if n := incr("c", 1, time.Hour); n != 1 {
		t.Errorf("incr after the window = %d, want 1 (a new counter)", n)
	}
	if n := incr("c", -3, 0); n != -2 {
		t.Errorf("negative delta: %d, want -2", n)
	}
	kv.Set(ctx, "s", "12", 0)
	if n := incr("s", 1, 0); n != 13 {
		t.Errorf("incr of a set number: %d", n)
	}
	kv.Set(ctx, "word", "hello", 0)
	if _, err := kv.Incr(ctx, "word", 1, 0); !errors.Is(err, ErrKVNotInteger) {
		t.Errorf("incr of a word: %v, want ErrKVNotInteger", err)
	}
	kv.Set(ctx, "max", "9223372036854775807", 0)
	if _, err := kv.Incr(ctx, "max", 1, 0); !errors.Is(err, ErrKVNotInteger) {
		t.Errorf("overflow: %v, want ErrKVNotInteger", err)
	}
}

func TestKVLimits(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"))
	ctx := t.Context()
	if err := kv.Set(ctx, strings.Repeat("k", MaxKeyBytes+1), "v", 0); !errors.Is(err, ErrKVTooLarge) {
		t.Errorf("long key: %v", err)
	}
	if err := kv.Set(ctx, "k", strings.Repeat("v", MaxValueBytes+1), 0); !errors.Is(err, ErrKVTooLarge) {
		t.Errorf("long value: %v", err)
	}
	if err := kv.Set(ctx, "k", "v", -time.Second); !errors.Is(err, ErrKVTTL) {
		t.Errorf("negative ttl: %v", err)
	}
}

// Expired keys are deleted by a later write, at most once per purgeEvery.
func TestKVPurge(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"))
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	kv.now = clk.now
	ctx := t.Context()
	rows := func() int {
		var n int
		if err := kv.db.QueryRowContext(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	kv.Set(ctx, "short", "x", time.Second)
	kv.Set(ctx, "long", "x", time.Hour)
	kv.Set(ctx, "forever", "x", 0)
	clk.advance(2 * time.Second)
	kv.Set(ctx, "other", "x", 0)
	if n := rows(); n != 4 {
		t.Errorf("%d rows right after the first purge, want 4 (no purge yet)", n)
	}
	clk.advance(purgeEvery)
	kv.Set(ctx, "other", "y", 0)
	if n := rows(); n != 3 {
		t.Errorf("%d rows after a purge, want 3", n)
	}
}

// Short real ttl: the key disappears by itself.
func TestKVRealTTL(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"))
	ctx := t.Context()
	kv.Set(ctx, "k", "v", 50*time.Millisecond)
	if _, ok, _ := kv.Get(ctx, "k"); !ok {
		t.Fatal("k is missing at once")
	}
	time.Sleep(80 * time.Millisecond)
	if _, ok, _ := kv.Get(ctx, "k"); ok {
		t.Error("k is still there after its ttl")
	}
}

// Two stores on the same file (two processes, say) and many goroutines
// count without losing an increment.
func TestKVConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	stores := []*KV{openKV(t, path), openKV(t, path)}
	ctx := t.Context()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		kv := stores[w%2]
		wg.Go(func() {
			for range each {
				if _, err := kv.Incr(ctx, "hits", 1, time.Hour); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := kv.Get(ctx, "hits"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	v, _, err := stores[0].Get(ctx, "hits")
	if err != nil || v != "200" {
		t.Errorf("hits = %q, %v; want 200", v, err)
	}
}
