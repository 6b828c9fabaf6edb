package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSpool is the conformance suite of the Spool interface. newSpool
// returns a new, empty spool that the test may use (it closes it itself,
// e.g. in t.Cleanup; closing twice must be harmless).
func testSpool(t *testing.T, newSpool func(t *testing.T) Spool) {
	received := time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC)
	newItem := func() *Item {
		return &Item{
			Envelope: Envelope{
				From: "alice@example.org", Rcpt: []string{"bob@localhost", "carol@example.com"},
				Client: "192.0.2.1:4242", Helo: "mx.example.org", Auth: "alice", Received: received,
			},
			NextTry: received,
			Vars:    json.RawMessage(`{"score":1.5,"tags":["a"]}`),
		}
	}
	const body = "From: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

	create := func(t *testing.T, s Spool) *Item {
		t.Helper()
		it := newItem()
		if err := s.Create(t.Context(), it, strings.NewReader(body)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		return it
	}

	t.Run("CreateOpenLoad", func(t *testing.T) {
		s := newSpool(t)
		it := create(t, s)
		if !ValidID(it.ID) {
			t.Fatalf("Create gave ID %q; not valid", it.ID)
		}
		if it.Size != int64(len(body)) {
			t.Errorf("Size = %d, want %d", it.Size, len(body))
		}
		if got := readBody(t, s, it.ID); got != body {
			t.Errorf("body = %q, want %q", got, body)
		}
		b, err := s.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 7)
		if _, err := b.ReadAt(p, 6); err != nil || string(p) != body[6:13] {
			t.Errorf("ReadAt = %q, %v; want %q", p, err, body[6:13])
		}
		b.Close()
		got, err := s.Load(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameItem(t, got, it)
		ids, err := s.List()
		if err != nil || !slices.Equal(ids, []string{it.ID}) {
			t.Errorf("List = %v, %v; want [%s]", ids, err, it.ID)
		}
	})

	t.Run("EmptyBody", func(t *testing.T) {
		s := newSpool(t)
		it := newItem()
		if err := s.Create(t.Context(), it, strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
		if it.Size != 0 || readBody(t, s, it.ID) != "" {
			t.Errorf("Size = %d", it.Size)
		}
		if _, err := s.Load(it.ID); err != nil {
			t.Error(err)
		}
	})

	t.Run("GivenID", func(t *testing.T) {
		s := newSpool(t)
		it := newItem()
		id := NewID()
		it.ID = id
		if err := s.Create(t.Context(), it, strings.NewReader(body)); err != nil || it.ID != id {
			t.Fatalf("Create = %v, ID %q; want nil, %q", err, it.ID, id)
		}
		again := newItem()
		again.ID = id
		if err := s.Create(t.Context(), again, strings.NewReader("other")); !errors.Is(err, ErrExists) {
			t.Errorf("second Create = %v, want ErrExists", err)
		}
		if got := readBody(t, s, id); got != body {
			t.Errorf("body after refused Create = %q", got)
		}
	})

	t.Run("BadIDs", func(t *testing.T) {
		s := newSpool(t)
		bad := []string{
			"x", "../../../../etc/passwd", strings.Repeat("A", idLen), strings.Repeat("w", idLen),
			NewID() + "0", NewID()[1:], "000000000000000000000/..", "00000000000000000000000\n",
		}
		for _, id := range bad {
			if _, err := s.Open(id); !errors.Is(err, ErrBadID) {
				t.Errorf("Open(%q) = %v, want ErrBadID", id, err)
			}
			if _, err := s.Load(id); !errors.Is(err, ErrBadID) {
				t.Errorf("Load(%q) = %v, want ErrBadID", id, err)
			}
			if err := s.Remove(t.Context(), id); !errors.Is(err, ErrBadID) {
				t.Errorf("Remove(%q) = %v, want ErrBadID", id, err)
			}
			if err := s.Record(t.Context(), id, "x@y", DeliveryRecord{}); !errors.Is(err, ErrBadID) {
				t.Errorf("Record(%q) = %v, want ErrBadID", id, err)
			}
			it := newItem()
			it.ID = id
			if err := s.SaveState(t.Context(), it); !errors.Is(err, ErrBadID) {
				t.Errorf("SaveState(%q) = %v, want ErrBadID", id, err)
			}
			if err := s.Create(t.Context(), it, strings.NewReader(body)); !errors.Is(err, ErrBadID) {
				t.Errorf("Create with ID %q = %v, want ErrBadID", id, err)
			}
		}
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("List = %v, want none", ids)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newSpool(t)
		create(t, s) // another message must not matter
		id := NewID()
		if _, err := s.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open = %v, want ErrNotFound", err)
		}
		if _, err := s.Load(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load = %v, want ErrNotFound", err)
		}
		if err := s.Remove(t.Context(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Remove = %v, want ErrNotFound", err)
		}
		if err := s.Record(t.Context(), id, "x@y", DeliveryRecord{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Record = %v, want ErrNotFound", err)
		}
		it := newItem()
		it.ID = id
		if err := s.SaveState(t.Context(), it); !errors.Is(err, ErrNotFound) {
			t.Errorf("SaveState = %v, want ErrNotFound", err)
		}
	})

	t.Run("SaveState", func(t *testing.T) {
		s := newSpool(t)
		it := create(t, s)
		it.Attempts = 3
		it.NextTry = received.Add(time.Hour)
		it.LastError = "451 try later"
		it.Failed = "550 no"
		it.Vars = json.RawMessage(`{"n":2}`)
		it.Rcpt = append(it.Rcpt, "dave@localhost")
		if err := s.SaveState(t.Context(), it); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameItem(t, got, it)
		if readBody(t, s, it.ID) != body {
			t.Error("SaveState changed the body")
		}
		it.Vars = nil
		if err := s.SaveState(t.Context(), it); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(it.ID); got == nil || got.Vars != nil {
			t.Errorf("Vars after saving none = %s", got.Vars)
		}
	})

	t.Run("Record", func(t *testing.T) {
		s := newSpool(t)
		it := create(t, s)
		when := received.Add(time.Minute)
		recs := []struct {
			rcpt string
			rec  DeliveryRecord
		}{
			{"bob@localhost", DeliveryRecord{When: when, Result: Delivered, Detail: "INBOX"}},
			{"carol@example.com", DeliveryRecord{When: when, Result: Bounced, Detail: "550 5.1.1 no such user\nsecond line"}},
			{"bob@localhost", DeliveryRecord{When: when.Add(time.Second), Result: Relayed, Detail: "250 ok"}},
		}
		for _, r := range recs {
			if err := s.Record(t.Context(), it.ID, r.rcpt, r.rec); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]DeliveryRecord{"bob@localhost": recs[2].rec, "carol@example.com": recs[1].rec}
		got, err := s.Load(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := jsonText(t, got.Done), jsonText(t, want); g != w {
			t.Errorf("Done = %s, want %s", g, w)
		}
		if p := got.Pending(); len(p) != 0 {
			t.Errorf("Pending = %v, want none", p)
		}
		// SaveState neither drops nor replaces the records.
		got.Done = map[string]DeliveryRecord{"eve@x": {}}
		got.Attempts++
		if err := s.SaveState(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.Load(it.ID)
		if g, w := jsonText(t, again.Done), jsonText(t, want); g != w {
			t.Errorf("Done after SaveState = %s, want %s", g, w)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		s := newSpool(t)
		a, b := create(t, s), create(t, s)
		if err := s.Record(t.Context(), a.ID, "bob@localhost", DeliveryRecord{Result: Delivered}); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(t.Context(), a.ID); err != nil {
			t.Fatal(err)
		}
		if ids, _ := s.List(); !slices.Equal(ids, []string{b.ID}) {
			t.Errorf("List = %v, want [%s]", ids, b.ID)
		}
		if _, err := s.Load(a.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load after Remove = %v", err)
		}
		if _, err := s.Open(a.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after Remove = %v", err)
		}
		if err := s.Remove(t.Context(), a.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Remove = %v", err)
		}
	})

	t.Run("ListSorted", func(t *testing.T) {
		s := newSpool(t)
		var want []string
		for i := 0; i < 5; i++ {
			want = append(want, create(t, s).ID)
		}
		slices.Sort(want)
		ids, err := s.List()
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("List = %v, %v; want %v", ids, err, want)
		}
	})

	t.Run("PartialWrite", func(t *testing.T) {
		s := newSpool(t)
		broken := errors.New("connection reset")
		it := newItem()
		err := s.Create(t.Context(), it, &failingReader{n: 200 << 10, err: broken})
		if !errors.Is(err, broken) || errors.Is(err, ErrSpool) {
			t.Errorf("Create = %v; want the reader's error, not ErrSpool", err)
		}
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("List after failed Create = %v", ids)
		}
		if it.ID != "" {
			if _, err := s.Load(it.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Load after failed Create = %v", err)
			}
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		s := newSpool(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Create(ctx, newItem(), strings.NewReader(body))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create = %v, want context.Canceled", err)
		}
		if ids, _ := s.List(); len(ids) != 0 {
			t.Errorf("List after canceled Create = %v", ids)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newSpool(t)
		const workers, each = 20, 5
		var mu sync.Mutex
		bodies := map[string]string{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					it := newItem()
					b := fmt.Sprintf("message %d/%d\r\n", w, i)
					if err := s.Create(t.Context(), it, strings.NewReader(b)); err != nil {
						t.Error(err)
						return
					}
					if err := s.Record(t.Context(), it.ID, "bob@localhost", DeliveryRecord{Result: Delivered}); err != nil {
						t.Error(err)
					}
					mu.Lock()
					bodies[it.ID] = b
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		ids, _ := s.List()
		if len(ids) != workers*each || len(bodies) != workers*each {
			t.Fatalf("List has %d, created %d unique; want %d", len(ids), len(bodies), workers*each)
		}
		for _, id := range ids {
			if readBody(t, s, id) != bodies[id] {
				t.Errorf("body of %s mixed up", id)
			}
			if it, err := s.Load(id); err != nil || len(it.Done) != 1 {
				t.Errorf("Load(%s) = %v, %v", id, it, err)
			}
		}
	})

	t.Run("BodyReadSeek", func(t *testing.T) {
		s := newSpool(t)
		it := create(t, s)
		b, err := s.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.Seek(-7, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(b)
		if string(rest) != "hello\r\n" {
			t.Errorf("after Seek: %q", rest)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := newSpool(t)
		it := create(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if err := s.Create(t.Context(), newItem(), strings.NewReader(body)); !errors.Is(err, ErrClosed) {
			t.Errorf("Create after Close = %v", err)
		}
		if _, err := s.List(); !errors.Is(err, ErrClosed) {
			t.Errorf("List after Close = %v", err)
		}
		if _, err := s.Load(it.ID); !errors.Is(err, ErrClosed) {
			t.Errorf("Load after Close = %v", err)
		}
		if err := s.SaveState(t.Context(), it); !errors.Is(err, ErrClosed) {
			t.Errorf("SaveState after Close = %v", err)
		}
	})
}

func TestMemSpool(t *testing.T) {
	testSpool(t, func(t *testing.T) Spool {
		s := newMemSpool()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
