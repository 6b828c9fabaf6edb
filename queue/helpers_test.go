package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// testLogger sends log lines to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer collects log lines for tests that check what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// jsonText renders v for comparisons and failure messages.
func jsonText(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameItem(t testing.TB, got, want *Item) {
	t.Helper()
	if g, w := jsonText(t, got), jsonText(t, want); g != w {
		t.Errorf("item:\ngot  %s\nwant %s", g, w)
	}
}

func readBody(t testing.TB, s Spool, id string) string {
	t.Helper()
	b, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Size() {
		t.Errorf("Size() = %d, read %d bytes", b.Size(), len(data))
	}
	return string(data)
}

// memSpool is a Spool in memory: a second implementation for the
// conformance suite (so that the suite tests the contract, not DirSpool)
// and a fast spool for scheduling tests.
type memSpool struct {
	mu     sync.Mutex
	msgs   map[string]*memMsg
	closed bool
}

type memMsg struct {
	body  []byte
	state []byte // encodeState
	done  map[string]DeliveryRecord
}

func newMemSpool() *memSpool { return &memSpool{msgs: make(map[string]*memMsg)} }

func (m *memSpool) get(id string) (*memMsg, error) {
	if m.closed {
		return nil, ErrClosed
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	msg := m.msgs[id]
	if msg == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return msg, nil
}

func (m *memSpool) Create(ctx context.Context, it *Item, body io.Reader) error {
	gen := it.ID == ""
	if !gen {
		if err := checkID(it.ID); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return body.Read(p)
	})); err != nil {
		return fmt.Errorf("queue: reading message: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	id := it.ID
	if gen {
		id = NewID()
	}
	if m.msgs[id] != nil {
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	it.ID, it.Size = id, int64(buf.Len())
	st, err := encodeState(it)
	if err != nil {
		return err
	}
	m.msgs[id] = &memMsg{body: buf.Bytes(), state: st}
	return nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type memBody struct{ *io.SectionReader }

func (memBody) Close() error { return nil }

func (m *memSpool) Open(id string) (Body, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, err := m.get(id)
	if err != nil {
		return nil, err
	}
	return memBody{io.NewSectionReader(bytes.NewReader(msg.body), 0, int64(len(msg.body)))}, nil
}

func (m *memSpool) Load(id string) (*Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, err := m.get(id)
	if err != nil {
		return nil, err
	}
	it, err := decodeState(id, msg.state)
	if err != nil {
		return nil, err
	}
	if len(msg.done) > 0 {
		it.Done = maps.Clone(msg.done)
	}
	return it, nil
}

func (m *memSpool) SaveState(ctx context.Context, it *Item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, err := m.get(it.ID)
	if err != nil {
		return err
	}
	st, err := encodeState(it)
	if err != nil {
		return err
	}
	msg.state = st
	return nil
}

func (m *memSpool) Record(ctx context.Context, id, rcpt string, rec DeliveryRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, err := m.get(id)
	if err != nil {
		return err
	}
	if msg.done == nil {
		msg.done = make(map[string]DeliveryRecord)
	}
	// Store what a round trip through JSON gives, as a real spool does.
	b, _ := json.Marshal(rec)
	var r DeliveryRecord
	json.Unmarshal(b, &r)
	msg.done[rcpt] = r
	return nil
}

func (m *memSpool) Remove(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.get(id); err != nil {
		return err
	}
	delete(m.msgs, id)
	return nil
}

func (m *memSpool) List() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	return slices.Sorted(maps.Keys(m.msgs)), nil
}

func (m *memSpool) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// failingReader returns n bytes of 'x', then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// gatedHandler counts the handlers running and blocks each until gate is
// closed.
type gatedHandler struct {
	running, peak, total atomic.Int32
	gate                 chan struct{}
}

func newGatedHandler() *gatedHandler { return &gatedHandler{gate: make(chan struct{})} }

func (g *gatedHandler) Handle(ctx context.Context, it *Item) Outcome {
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	<-g.gate
	g.running.Add(-1)
	g.total.Add(1)
	return Done()
}
