package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/delivery"
	"github.com/sluicemail/sluice/engine"
	"github.com/sluicemail/sluice/internal/pipeline"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/queue"
	"github.com/sluicemail/sluice/smtpd"
)

func cmdServe(args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "configuration file (default: the embedded defaults)")
	verbose := fset.Bool("v", false, "debug logging")
	watch := fset.Bool("watch", true, "reload the rules when the configuration file or a script changes")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := newLogger(stderr, level)
	setGCPercent()
	setMinProcs()
	// Signals are caught from here on: a SIGHUP while starting must not
	// kill the server (it reloads once running).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	srv, err := startServer(c, logger, *watch)
	if err != nil {
		return err
	}
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				srv.reload("SIGHUP", time.Now())
				continue
			}
			logger.Info("shutting down", "signal", s.String())
			break wait
		case err := <-srv.failed:
			logger.Error("listener failed", "error", err)
			break wait
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.stop(ctx)
}

// server is a running sluice serve: its parts, wired.
type server struct {
	log     *slog.Logger
	cfg     *config.Config
	store   *mailstore.Store
	eng     atomic.Pointer[engine.Engine]
	queue   *queue.Queue
	spool   *queue.DirSpool
	smtp    *smtpd.Server
	control net.Listener
	rules   rules
	local   atomic.Pointer[map[string]bool] // the local domains, lower case
	watch   *watcher
	failed  chan error
	wg      sync.WaitGroup
}

// startServer builds every part from c and starts the listeners and, with
// watch, the watcher that reloads the rules when their files change.
func startServer(c *config.Config, logger *slog.Logger, watch bool) (*server, error) {
	s := &server{log: logger, cfg: c, failed: make(chan error, 8)}
	dir := c.Resolve(c.Store.Dir)
	st, err := mailstore.New(dir, mailstore.Options{NoFsync: !c.Store.Fsync})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.rules.cfg = c
	eng, warnings, err := s.build(c, 1)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		logger.Warn("script warning", "warning", w.String())
	}
	s.eng.Store(eng)
	s.rules.status = reloadStatus{Generation: 1, Version: eng.Version(), Config: c.File, LoadedAt: time.Now()}
	for _, w := range warnings {
		s.rules.status.Warnings = append(s.rules.status.Warnings, w.String())
	}
	opt := engineOptions(c, logger)

	s.local.Store(localDomains(c))
	p := &pipeline.Pipeline{
		Engine:   s.queueEngine,
		Local:    &delivery.Local{Store: st},
		IsLocal:  func(d string) bool { return (*s.local.Load())[d] },
		Hostname: c.Server.Hostname,
		OnExpire: c.Queue.OnExpire,
		Limits:   opt.Limits,
		Logger:   logger.With("component", "queue"),
	}
	if c.Relay.Smarthost != "" {
		p.Relay = &delivery.Relay{Addr: c.Relay.Smarthost, Hostname: c.Server.Hostname, StartTLS: c.Relay.StartTLS}
	}
	syncMode := queue.SyncAuto
	if !c.Store.Fsync {
		syncMode = queue.SyncNone
	}
	s.spool, err = queue.OpenDir(filepath.Join(dir, "queue"), queue.DirOptions{Sync: syncMode, Logger: logger.With("component", "spool")})
	if err != nil {
		return nil, err
	}
	s.queue, err = queue.Open(s.spool, p, queue.Options{
		Workers:      c.Queue.Workers,
		RetryInitial: time.Duration(c.Queue.RetryInitial),
		RetryMax:     time.Duration(c.Queue.RetryMax),
		MaxAge:       time.Duration(c.Queue.MaxAge),
		BurstHold:    time.Duration(c.Queue.BurstHold),
		OnFail:       p.OnFail,
		Logger:       logger.With("component", "queue"),
	})
	if err != nil {
		return nil, err
	}
	p.Queue = s.queue
	if err := s.queue.Start(context.Background()); err != nil {
		return nil, err
	}

	var tlsConf *tls.Config
	if c.Server.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.Resolve(c.Server.TLSCert), c.Resolve(c.Server.TLSKey))
		if err != nil {
			return nil, fmt.Errorf("serve: TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s.smtp = smtpd.New(smtpd.Options{
		Hostname:        c.Server.Hostname,
		MaxMessageBytes: c.Server.MaxMessageBytes,
		MaxRecipients:   c.Server.MaxRecipients,
		MaxLineLength:   c.Server.MaxLineLength,
		MaxConnections:  c.Server.MaxConnections,
		ReadTimeout:     time.Duration(c.Server.ReadTimeout),
		WriteTimeout:    time.Duration(c.Server.WriteTimeout),
		DataTimeout:     time.Duration(c.Server.DataTimeout),
		TLS:             tlsConf,
		Policy:          s.policyOf(c),
		Engine:          s.current,
		Keep:            s.keep,
		Spool:           spoolAdapter{s.queue},
		Quarantine:      quarantiner{st},
		Limits:          opt.Limits,
		Logger:          logger.With("component", "smtpd"),
		MailLog:         logger.With("component", "maillog"),
	})
	for _, addr := range c.Server.Listen {
		if err := s.listen(addr, false); err != nil {
			s.stop(context.Background())
			return nil, err
		}
	}
	for _, addr := range c.Server.LMTP {
		if err := s.listen(addr, true); err != nil {
			s.stop(context.Background())
			return nil, err
		}
	}
	if err := s.startControl(); err != nil {
		s.stop(context.Background())
		return nil, err
	}
	if watch {
		if err := s.startWatch(); err != nil {
			logger.Warn("cannot watch the rules for changes; use sluice reload or SIGHUP", "error", err)
		}
	}
	logger.Info("sluice serving", "smtp", c.Server.Listen, "lmtp", c.Server.LMTP, "store", dir,
		"stages", len(opt.Stages), "version", version)
	return s, nil
}

// listen opens one SMTP or LMTP listener ("host:port" or "unix:/path").
func (s *server) listen(addr string, lmtp bool) error {
	network, address := config.SplitAddr(addr)
	if network == "unix" {
		os.Remove(address)
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return fmt.Errorf("serve: listen %s: %w", addr, err)
	}
	kind := "smtp"
	if lmtp {
		kind = "lmtp"
	}
	s.log.Info("listening", "proto", kind, "addr", l.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.smtp.Serve(l, lmtp); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.failed <- fmt.Errorf("%s %s: %w", kind, addr, err)
		}
	}()
	return nil
}

// stop shuts everything down in order: listeners, sessions, queue.
func (s *server) stop(ctx context.Context) error {
	var errs []error
	if s.control != nil {
		s.control.Close()
	}
	if s.smtp != nil {
		errs = append(errs, s.smtp.Shutdown(ctx))
	}
	s.wg.Wait()
	if s.queue != nil {
		errs = append(errs, s.queue.Close(ctx))
	}
	if s.spool != nil {
		errs = append(errs, s.spool.Close())
	}
	if s.watch != nil {
		s.watch.close()
	}
	for _, id := range s.rules.kept.ids() {
		s.unkeep(id)
	}
	if e := s.eng.Load(); e != nil {
		e.Close()
	}
	return errors.Join(errs...)
}

// localDomains returns the set of c's local domains, in lower case.
func localDomains(c *config.Config) *map[string]bool {
	local := map[string]bool{}
	for _, d := range c.Domains.Local {
		local[strings.ToLower(d)] = true
	}
	return &local
}

// policyOf builds the SMTP policy of c: local domains, aliases, users and
// the networks allowed to relay. A reload applies a new one.
func (s *server) policyOf(c *config.Config) *smtpd.Policy {
	users := map[string]string{}
	for u, h := range c.Users {
		users[strings.ToLower(u)] = h
	}
	aliases := map[string][]string{}
	for a, t := range c.Domains.Aliases {
		aliases[strings.ToLower(a)] = t
	}
	var relayFrom []netip.Prefix
	for _, n := range c.Server.RelayFrom {
		if pfx, err := netip.ParsePrefix(n); err == nil {
			relayFrom = append(relayFrom, pfx)
		}
	}
	return &smtpd.Policy{
		Local: *localDomains(c), AcceptAll: c.Domains.AcceptAll, Aliases: aliases, Users: users,
		RelayFrom: relayFrom, CanRelay: s.cfg.Relay.Smarthost != "", Exists: s.store.Exists,
		Deliverable: func(addr string) bool { _, _, err := mailstore.CheckAddress(addr); return err == nil },
	}
}

// serverGCPercent is the collector's target for sluice serve: a server's
// heap is small (4–9 MiB live at 20 sessions), so it pays for collecting
// less often with a little memory rather than CPU. Measured with
// bench/load.sh: on tmpfs, 4 KiB messages took 305 µs of CPU each instead
// of 320, 100 KiB ones 667 instead of 700; on the root disk, where the
// queue backs up, peak RSS rose from 30–31 to 33–34 MiB. (200 saved a
// little more CPU but reached 37–40 MiB there: too close to the 40 MiB the
// server is held to at 20 sessions.)
const serverGCPercent = 150

// setGCPercent applies serverGCPercent unless the environment sets GOGC,
// which keeps its usual meaning.
func setGCPercent() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(serverGCPercent)
	}
}

// minProcs is the least GOMAXPROCS sluice serve runs with, even on one
// core. The spool's group sync is a syncfs(2) that blocks for 0.3–2 ms,
// and a goroutine in a blocking system call keeps its P until the
// runtime's sysmon takes it back. sysmon does so only once it has seen the
// same call on two of its ticks, and its tick backs off from 20 µs to
// 10 ms after a millisecond with nothing to take. With a single P (one
// core, or a container held to one) most syncs then ran to their end on
// the only P, the whole server stopped for each, and nothing brought
// sysmon's tick back down: a runtime trace of a slow run showed 1736 of
// 1777 syncfs calls (avg 411 µs, 28 % of the run) holding the P, and
// bench/load.sh-style runs on one core fell into that state at random,
// accepting 600–670 100 KiB messages a second instead of 1100–1800. With
// a second P the other goroutines run during the sync; on one core the
// kernel shares it between the two threads. Six alternating runs each on
// one core: 100 KiB 1166–1449 msgs/s with two Ps against 605–670 with one
// (in that state throughout); 4 KiB a median of 3056 against 2810, and no
// slow run (one of the six with one P took 1244).
const minProcs = 2

// setMinProcs raises GOMAXPROCS to minProcs unless the environment sets
// GOMAXPROCS. Where the runtime's default is already larger it is left
// alone, and so is its automatic update (which an explicit setting stops).
func setMinProcs() {
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok && runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
}
