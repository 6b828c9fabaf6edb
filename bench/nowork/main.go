// Command nowork is the baseline of bench/load.sh: a go-smtp server that
// does no work at all. It accepts every sender and recipient, reads DATA
// into io.Discard and replies 250, so the load script can compare sluice
// with the cost of the SMTP protocol alone (go-smtp's reader, the command
// round trips, the kernel's TCP).
//
//	nowork [-addr 127.0.0.1:0] [-lmtp]
//
// It prints "listening on HOST:PORT" on stderr once it accepts, and runs
// until it is interrupted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2526", "address to listen on (port 0: any free port)")
	lmtp := flag.Bool("lmtp", false, "speak LMTP instead of SMTP")
	flag.Parse()

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return session{}, nil
	}))
	// The same protocol settings as sluice's defaults, so that the
	// comparison is about the work done, not the limits.
	srv.Domain = "nowork.test"
	srv.LMTP = *lmtp
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.EnableSMTPUTF8 = true

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", l.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		log.Fatal(err)
	}
}

// session accepts everything and keeps nothing.
type session struct{}

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (session) Reset()                               {}
func (session) Logout() error                        { return nil }

// Data reads the message and throws it away; under LMTP go-smtp gives its
// result to every recipient.
func (session) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
