package engine

import (
	"context"
	"sync"
)

// pool caps the number of Lua states in use and keeps idle ones for reuse.
// A state is never shared: get hands it to one caller until put or discard.
type pool struct {
	slots chan struct{} // one token per state in use
	newFn func() (*state, error)

	mu   sync.Mutex // guards idle and closed
	idle []*state
	// closed is set by close; states put back afterwards are closed too.
	closed bool
}

func newPool(size int, newFn func() (*state, error)) *pool {
	return &pool{slots: make(chan struct{}, size), newFn: newFn}
}

// get waits for a free slot (bounded by ctx) and returns an idle state or a
// new one.
func (p *pool) get(ctx context.Context) (*state, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := p.newFn()
	if err != nil {
		<-p.slots
		return nil, err
	}
	return s, nil
}

// put returns a healthy state for reuse.
func (p *pool) put(s *state) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		s.close()
	} else {
		p.idle = append(p.idle, s)
		p.mu.Unlock()
	}
	<-p.slots
}

// discard closes a state that must not be reused and frees its slot.
func (p *pool) discard(s *state) {
	s.close()
	<-p.slots
}

// forget frees the slot of a state whose call was abandoned; the state is
// closed by its goroutine, never put back.
func (p *pool) forget() { <-p.slots }

// close closes the idle states; states in use are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, s := range idle {
		s.close()
	}
}
