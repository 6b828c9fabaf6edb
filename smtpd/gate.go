package smtpd

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// gate wraps a listener: it admits at most max connections at once (a
// connection over the cap gets "421 4.7.0" and is closed, as go-smtp has no
// cap of its own), and runs the on_connect check on each new connection
// before go-smtp greets it. Checks run concurrently, so a slow script does
// not hold up the accept loop.
type gate struct {
	net.Listener
	slots chan struct{}
	// admit runs on_connect; a non-nil reply refuses the connection.
	admit func(ctx context.Context, c net.Conn) (refusal string)
	// checkTimeout bounds admit.
	checkTimeout time.Duration

	ready chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // the listener's Accept error, set before done is closed
	wg    sync.WaitGroup
}

func newGate(l net.Listener, max int, checkTimeout time.Duration, admit func(context.Context, net.Conn) string) *gate {
	g := &gate{
		Listener:     l,
		slots:        make(chan struct{}, max),
		admit:        admit,
		checkTimeout: checkTimeout,
		ready:        make(chan net.Conn),
		done:         make(chan struct{}),
	}
	g.wg.Add(1)
	go g.loop()
	return g
}

// Accept returns the next admitted connection.
func (g *gate) Accept() (net.Conn, error) {
	select {
	case c := <-g.ready:
		return c, nil
	case <-g.done:
		return nil, g.err
	}
}

// Close stops accepting and waits for the checks in progress.
func (g *gate) Close() error {
	err := g.Listener.Close()
	g.wg.Wait()
	return err
}

func (g *gate) loop() {
	defer g.wg.Done()
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			g.err = err
			close(g.done)
			return
		}
		select {
		case g.slots <- struct{}{}:
		default:
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				refuse(c, "421 4.7.0 too many connections, try again later")
			}()
			continue
		}
		g.wg.Add(1)
		go g.check(c)
	}
}

// check runs admit on c and hands it to Accept, or refuses it.
func (g *gate) check(c net.Conn) {
	defer g.wg.Done()
	if g.admit != nil {
		ctx, cancel := context.WithTimeout(context.Background(), g.checkTimeout)
		refusal := g.admit(ctx, c)
		cancel()
		if refusal != "" {
			refuse(c, refusal)
			<-g.slots
			return
		}
	}
	gc := &gatedConn{Conn: c, release: func() { <-g.slots }}
	select {
	case g.ready <- gc:
	case <-g.done:
		gc.Close()
	}
}

// refuse writes one reply line and closes c.
func refuse(c net.Conn, line string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(line + "\r\n"))
	c.Close()
}

// gatedConn frees its slot once, when closed.
type gatedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
