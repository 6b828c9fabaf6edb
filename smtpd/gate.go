package smtpd

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// gate wraps a listener: it admits at most max connections at once (a
// connection over the cap gets "421 4.7.0" and is closed, as go-smtp has no
// cap of its own), and runs the on_connect check on each new connection
// before go-smtp greets it. Checks run concurrently, so a slow script does
// not hold up the accept loop; when there is nothing to check (no stage
// has on_connect) the loop hands the connection over itself, which spares
// a goroutine per connection.
type gate struct {
	net.Listener
	slots chan struct{}
	// admit runs on_connect; a non-nil reply refuses the connection.
	admit func(ctx context.Context, c net.Conn) (refusal string)
	// needed reports whether admit has anything to check now; nil: always.
	needed func() bool
	// checkTimeout bounds admit.
	checkTimeout time.Duration
	// logf logs accept errors the gate waits out.
	logf func(format string, v ...any)

	ready chan net.Conn
	done  chan struct{}
	err   error // the listener's Accept error, set before done is closed
	// closing is closed by Close: nobody takes connections from ready any more.
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newGate(l net.Listener, max int, checkTimeout time.Duration, admit func(context.Context, net.Conn) string, needed func() bool, logf func(string, ...any)) *gate {
	g := &gate{
		Listener:     l,
		slots:        make(chan struct{}, max),
		admit:        admit,
		needed:       needed,
		checkTimeout: checkTimeout,
		logf:         logf,
		ready:        make(chan net.Conn),
		done:         make(chan struct{}),
		closing:      make(chan struct{}),
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
	g.closeOnce.Do(func() { close(g.closing) })
	err := g.Listener.Close()
	g.wg.Wait()
	return err
}

func (g *gate) loop() {
	defer g.wg.Done()
	var delay time.Duration // backoff while out of file descriptors
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if busy(err) {
				// The listener is fine: wait for connections to close,
				// as net/http does, rather than stop accepting for good.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				g.logf("accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			g.err = err
			close(g.done)
			return
		}
		delay = 0
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
		if g.admit == nil || (g.needed != nil && !g.needed()) {
			g.handOver(c)
			continue
		}
		g.wg.Add(1)
		go g.check(c)
	}
}

// busy reports accept errors that pass: the process or the system is out
// of file descriptors, or a client left before its connection was accepted.
func busy(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
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
	g.handOver(c)
}

// handOver gives an admitted connection to Accept, holding its slot until
// it is closed, or closes it when the gate is closing.
func (g *gate) handOver(c net.Conn) {
	gc := &gatedConn{Conn: c, release: func() { <-g.slots }}
	select {
	case g.ready <- gc:
	case <-g.done:
		gc.Close()
	case <-g.closing:
		gc.Close()
	}
}

// refuse writes one reply line and closes c.
func refuse(c net.Conn, line string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(line + "\r\n"))
	c.Close()
}

// gatedConn frees its slot once, when closed, and makes a read timeout
// final.
type gatedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// timedOut is set by the first read that hits its deadline. go-smtp
	// reads commands with bufio.Reader.ReadLine, which drops the timeout
	// error when part of a line has arrived (golang/go#56390): the
	// fragment runs as a command and the session waits again, so a client
	// sending a byte a second would never time out. Every read after a
	// timeout fails, so the session ends with "421 4.4.2".
	timedOut atomic.Bool
}

func (c *gatedConn) Read(b []byte) (int, error) {
	if c.timedOut.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	n, err := c.Conn.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
