package config

import (
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The values of the keys that are enumerations.
var (
	onErrors    = []string{"tempfail", "accept", "reject", "quarantine"}
	filterKinds = []string{"exec", "folder", "clamd", "spamd", "rspamd"}
	verdicts    = []string{"clean", "infected", "spam", "ham", "error"}
	drivers     = []string{"sqlite", "postgres", "mysql"}
)

// bcrypt matches the hashes of golang.org/x/crypto/bcrypt and htpasswd -B.
var bcrypt = regexp.MustCompile(`^\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)

// validate checks every value of c that decoding alone cannot.
func validate(c *Config, k *checker) {
	validateServer(&c.Server, k)
	k.required(root("store", "dir"), c.Store.Dir)
	validateDomains(&c.Domains, k)
	for _, user := range slices.Sorted(maps.Keys(c.Users)) {
		at := root("users", user)
		k.mailAddress(at, user)
		if !bcrypt.MatchString(c.Users[user]) {
			k.errorf(at, "password is not a bcrypt hash (want $2b$…, as made by htpasswd -B)")
		}
	}
	if c.Relay.Smarthost != "" {
		k.hostPort(root("relay", "smarthost"), c.Relay.Smarthost, false)
	}
	k.oneOf(root("relay", "starttls"), c.Relay.StartTLS, "opportunistic", "required", "none")
	validateQueue(&c.Queue, k)
	validateEngine(&c.Engine, k)
	validateStages(c.Stages, k)
	for _, name := range slices.Sorted(maps.Keys(c.Filters)) {
		f := c.Filters[name]
		validateFilter(&f, root("filter", name), k)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		db := c.Databases[name]
		validateDatabase(&db, root("database", name), k)
	}
}

func validateServer(s *Server, k *checker) {
	at := root("server")
	if s.Hostname == "" || strings.ContainsAny(s.Hostname, " \t\r\n@/") {
		k.errorf(at.at("hostname"), "invalid hostname %q", s.Hostname)
	}
	for i, a := range s.Listen {
		k.hostPort(at.at("listen").index(i), a, true)
	}
	for i, a := range s.LMTP {
		k.address(at.at("lmtp").index(i), a, true)
	}
	k.positive(at.at("max_message_bytes"), s.MaxMessageBytes)
	k.positive(at.at("max_recipients"), int64(s.MaxRecipients))
	k.positive(at.at("max_connections"), int64(s.MaxConnections))
	k.positive(at.at("max_line_length"), int64(s.MaxLineLength))
	k.positiveDuration(at.at("read_timeout"), s.ReadTimeout)
	k.positiveDuration(at.at("write_timeout"), s.WriteTimeout)
	k.positiveDuration(at.at("data_timeout"), s.DataTimeout)
	for i, r := range s.RelayFrom {
		if _, err := netip.ParsePrefix(r); err != nil {
			k.errorf(at.at("relay_from").index(i), "invalid CIDR %q (want e.g. \"10.0.0.0/8\" or \"::1/128\")", r)
		}
	}
	if s.TLSCert != "" && s.TLSKey == "" {
		k.errorf(at.at("tls_cert"), "set without server.tls_key")
	}
	if s.TLSKey != "" && s.TLSCert == "" {
		k.errorf(at.at("tls_key"), "set without server.tls_cert")
	}
	if s.Control != "" {
		k.address(at.at("control"), s.Control, true)
	}
}

func validateDomains(d *Domains, k *checker) {
	at := root("domains")
	for i, dom := range d.Local {
		if dom == "" || strings.ContainsAny(dom, " \t\r\n@/") {
			k.errorf(at.at("local").index(i), "invalid domain %q", dom)
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(d.Aliases)) {
		a := at.at("aliases").at(addr)
		k.mailAddress(a, addr)
		if len(d.Aliases[addr]) == 0 {
			k.errorf(a, "no addresses to deliver to")
		}
		for i, to := range d.Aliases[addr] {
			k.mailAddress(a.index(i), to)
		}
	}
}

func validateQueue(q *Queue, k *checker) {
	at := root("queue")
	k.positive(at.at("workers"), int64(q.Workers))
	k.positiveDuration(at.at("retry_initial"), q.RetryInitial)
	if q.RetryMax < q.RetryInitial {
		k.errorf(at.at("retry_max"), "%q is shorter than queue.retry_initial %q", q.RetryMax, q.RetryInitial)
	}
	k.positiveDuration(at.at("max_age"), q.MaxAge)
	k.nonNegativeDuration(at.at("burst_hold"), q.BurstHold)
	k.oneOf(at.at("on_expire"), q.OnExpire, "bounce", "quarantine")
}

func validateEngine(e *Engine, k *checker) {
	at := root("engine")
	k.nonNegative(at.at("states"), int64(e.States))
	k.positive(at.at("max_part_bytes"), e.MaxPartBytes)
	k.positive(at.at("max_string_bytes"), e.MaxStringBytes)
	k.positive(at.at("call_stack"), int64(e.CallStack))
	if e.MemoryLimit < -1 {
		k.errorf(at.at("memory_limit"), "must be -1 (off), 0 (default) or a size in bytes, got %d", e.MemoryLimit)
	}
}

func validateStages(stages []Stage, k *checker) {
	seen := make(map[string]bool)
	for i, s := range stages {
		at := root("stage").index(i)
		if k.required(at.at("name"), s.Name) {
			k.name(at.at("name"), s.Name)
			if seen[s.Name] {
				k.errorf(at.at("name"), "duplicate stage name %q", s.Name)
			}
			seen[s.Name] = true
		}
		k.required(at.at("script"), s.Script)
		k.positiveDuration(at.at("timeout"), s.Timeout)
		k.oneOf(at.at("on_error"), s.OnError, onErrors...)
	}
}

func validateFilter(f *Filter, at path, k *checker) {
	k.name(at, at.key[len(at.key)-1])
	if !k.required(at.at("kind"), f.Kind) {
		return
	}
	if !slices.Contains(filterKinds, f.Kind) {
		k.oneOf(at.at("kind"), f.Kind, filterKinds...)
		return
	}
	validateFilterKind(f, at, k)
	for _, code := range slices.Sorted(maps.Keys(f.Verdicts)) {
		if n, err := strconv.Atoi(code); err != nil || n < 0 || n > 255 || strconv.Itoa(n) != code {
			k.errorf(at.at("verdicts").at(code), "%q is not an exit status from 0 to 255", code)
		}
		k.oneOf(at.at("verdicts").at(code), f.Verdicts[code], verdicts...)
	}
	if _, err := regexp.Compile(f.NameRegex); err != nil {
		k.errorf(at.at("name_regex"), "%v", err)
	}
	k.positiveDuration(at.at("timeout"), f.Timeout)
	k.positive(at.at("max_concurrent"), int64(f.MaxConcurrent))
	k.nonNegativeDuration(at.at("max_wait"), f.MaxWait)
	k.positive(at.at("max_output_bytes"), f.MaxOutputBytes)
	k.positive(at.at("max_bytes"), f.MaxBytes)
	k.nonNegativeFloat(at.at("threshold"), f.Threshold)
	k.oneOf(at.at("on_error"), f.OnError, onErrors...)
	k.nonNegative(at.at("breaker_failures"), int64(f.BreakerFailures))
	k.positiveDuration(at.at("breaker_cooldown"), f.BreakerCooldown)
}

// validateFilterKind checks the keys that belong to one kind of filter:
// present when required, absent when they would be ignored.
func validateFilterKind(f *Filter, at path, k *checker) {
	exec, folder := f.Kind == "exec", f.Kind == "folder"
	daemon := f.Kind == "clamd" || f.Kind == "spamd" || f.Kind == "rspamd"
	only := func(key string, set, ok bool, kinds string) {
		if set && !ok {
			k.errorf(at.at(key), "only for kind %s, not %s", kinds, f.Kind)
		}
	}
	only("command", len(f.Command) > 0, exec, "exec")
	only("input", f.Input != "file", exec, "exec")
	only("output", f.Output != "", exec, "exec")
	only("in", f.In != "", folder, "folder")
	only("out", f.Out != "", folder, "folder")
	only("address", f.Address != "", daemon, "clamd, spamd or rspamd")
	only("threshold", f.Threshold != 0, f.Kind == "spamd" || f.Kind == "rspamd", "spamd or rspamd")
	switch {
	case exec:
		if len(f.Command) == 0 || f.Command[0] == "" {
			k.errorf(at.at("command"), "required for kind exec, with the program first")
		}
		k.oneOf(at.at("input"), f.Input, "file", "stdin")
		k.oneOf(at.at("output"), f.Output, "", "message")
	case folder:
		k.required(at.at("in"), f.In)
		k.required(at.at("out"), f.Out)
		if f.In != "" && f.In == f.Out {
			k.errorf(at.at("out"), "the same folder as in")
		}
	case daemon:
		switch {
		case f.Address == "":
			k.errorf(at.at("address"), "required for kind %s", f.Kind)
		case f.Kind == "rspamd" && (strings.HasPrefix(f.Address, "http://") || strings.HasPrefix(f.Address, "https://")):
			k.httpURL(at.at("address"), f.Address)
		default:
			k.address(at.at("address"), f.Address, false)
		}
	}
}

func validateDatabase(db *Database, at path, k *checker) {
	k.name(at, at.key[len(at.key)-1])
	if k.required(at.at("driver"), db.Driver) {
		k.oneOf(at.at("driver"), db.Driver, drivers...)
	}
	k.required(at.at("dsn"), db.DSN)
	k.positive(at.at("max_open"), int64(db.MaxOpen))
	if db.MaxIdle < 0 || db.MaxIdle > db.MaxOpen {
		k.errorf(at.at("max_idle"), "must be from 0 to max_open (%d), got %d", db.MaxOpen, db.MaxIdle)
	}
	k.nonNegativeDuration(at.at("conn_max_lifetime"), db.ConnMaxLifetime)
}
