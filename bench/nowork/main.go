// Command nowork is the baseline of bench/load.sh: a go-smtp server that
// does no work at all. It accepts every sender and recipient, reads DATA
// into io.Discard and replies 250, so the load script can compare sluice
// with the cost of the SMTP protocol alone (go-smtp's reader, the command
// round trips, the kernel's TCP).
//
//	nowork [-addr 127.0.0.1:0] [-lmtp] [-durable DIR [-hold] [-fdatasync]]
//
// With -durable it is the durable floor instead (floor.go): each message
// is made durable in a spool file before the 250 and then delivered into
// the Maildir DIR with tmp/, sync, rename and sync — the least a server
// with sluice's guarantees must do, for bench/load.sh to show what the disk
// leaves for the rest. -hold has its deliveries wait while messages
// arrive, as sluice's [queue] burst_hold does, and -fdatasync syncs its
// one spool file instead of the file system (see floorOptions).
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
	"runtime"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2526", "address to listen on (port 0: any free port)")
	lmtp := flag.Bool("lmtp", false, "speak LMTP instead of SMTP")
	durable := flag.String("durable", "", "be the durable floor: spool and Maildir under `DIR`")
	var opt floorOptions
	flag.BoolVar(&opt.hold, "hold", false, "durable floor: deliveries wait while messages arrive (at most 1s)")
	flag.BoolVar(&opt.fdatasync, "fdatasync", false, "durable floor: sync the spool file with fdatasync, not the file system with syncfs")
	flag.Parse()
	if *durable == "" && (opt.hold || opt.fdatasync) {
		log.Fatal("-hold and -fdatasync need -durable")
	}

	var fl *floor
	if *durable != "" {
		// Two Ps even on one core, as sluice serve has (setMinProcs in
		// cmd/sluice/serve.go): with one, a group sync in progress holds
		// the only P and stops every session until it ends.
		if _, ok := os.LookupEnv("GOMAXPROCS"); !ok && runtime.GOMAXPROCS(0) < 2 {
			runtime.GOMAXPROCS(2)
		}
		var err error
		if fl, err = newFloor(*durable, opt); err != nil {
			log.Fatal(err)
		}
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return session{fl}, nil
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
	if fl != nil {
		fl.close()
		if n := fl.fails.Load(); n > 0 {
			log.Fatalf("%d deliveries failed", n)
		}
	}
}

// session accepts everything and keeps nothing, or, with a floor, hands
// the message to it.
type session struct{ floor *floor }

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (session) Reset()                               {}
func (session) Logout() error                        { return nil }

// Data reads the message and throws it away (or gives it to the floor);
// under LMTP go-smtp gives its result to every recipient.
func (s session) Data(r io.Reader) error {
	if s.floor != nil {
		return s.floor.accept(r)
	}
	_, err := io.Copy(io.Discard, r)
	return err
}
