package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestEmptyConfig(t *testing.T) {
	for _, src := range []string{"", "# nothing\n\n", "[server]\n[store]\n"} {
		got, err := Parse([]byte(src), "empty.toml")
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if got.File != "empty.toml" {
			t.Errorf("File = %q, want %q", got.File, "empty.toml")
		}
		if diff := cmp.Diff(Default(), got, cmpopts.IgnoreFields(Config{}, "File")); diff != "" {
			t.Errorf("Parse(%q) differs from Default() (-want +got):\n%s", src, diff)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

// TestRoundTrip checks that the toml tags of Config are those Parse reads.
func TestRoundTrip(t *testing.T) {
	want, err := Load("testdata/good/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(want); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.Bytes(), want.File)
	if err != nil {
		t.Fatalf("Parse(encoded full.toml): %v\n%s", err, buf.String())
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("encoded and parsed again (-want +got):\n%s", diff)
	}
}

func TestFull(t *testing.T) {
	got, err := Load("testdata/good/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "testdata/good/full.toml"
	want.Server = Server{
		Hostname:        "mx.example.com",
		Listen:          []string{"0.0.0.0:25", "[::]:25"},
		LMTP:            []string{"unix:/run/sluice/lmtp.sock", "127.0.0.1:24"},
		MaxMessageBytes: 52428800,
		MaxRecipients:   50,
		MaxConnections:  200,
		MaxLineLength:   2000,
		ReadTimeout:     Duration(2 * time.Minute),
		WriteTimeout:    Duration(time.Minute),
		DataTimeout:     Duration(15 * time.Minute),
		RelayFrom:       []string{"127.0.0.0/8", "::1/128", "192.168.0.0/16"},
		TLSCert:         "tls/cert.pem",
		TLSKey:          "tls/key.pem",
		Control:         "unix:/run/sluice/control.sock",
	}
	want.Store = Store{Dir: "/var/lib/sluice", Fsync: true}
	want.Domains = Domains{
		Local: []string{"example.com", "example.org"},
		Aliases: map[string][]string{
			"postmaster@example.com": {"alice@example.com"},
			"sales@example.com":      {"alice@example.com", "bob@example.org"},
		},
	}
	want.Users = map[string]string{
		"alice@example.com": "$2y$10$bAyzKNMOnrBl4xuG6FzsbO9P8tCGBvHRuxTI.UDqzKmdBrMYOWmxO",
	}
	want.Relay = Relay{Smarthost: "smtp.provider.net:587", StartTLS: "required"}
	want.Queue = Queue{
		Workers:      8,
		RetryInitial: Duration(30 * time.Second),
		RetryMax:     Duration(2 * time.Hour),
		MaxAge:       Duration(72 * time.Hour),
		BurstHold:    Duration(500 * time.Millisecond),
		OnExpire:     "quarantine",
	}
	want.Engine = Engine{
		States:         16,
		MaxPartBytes:   5 << 20,
		MaxStringBytes: 8 << 20,
		CallStack:      100,
		MemoryLimit:    256 << 20,
	}
	want.Stages = []Stage{
		{Name: "antivirus", Script: "scripts/antivirus.lua", Timeout: Duration(time.Minute), OnError: "tempfail"},
		{Name: "spam", Script: "scripts/spam.lua", Timeout: Duration(30 * time.Second), OnError: "tempfail"},
		{Name: "orders", Script: "examples/orders/orders.lua", Timeout: Duration(30 * time.Second), OnError: "quarantine"},
	}
	filter := func(edit func(*Filter)) Filter {
		f := defaultFilter()
		edit(&f)
		return f
	}
	want.Filters = map[string]Filter{
		"clamav": filter(func(f *Filter) {
			f.Kind, f.Address = "clamd", "unix:/run/clamav/clamd.ctl"
			f.Timeout, f.MaxConcurrent, f.MaxWait = Duration(20*time.Second), 8, Duration(2*time.Second)
			f.MaxBytes, f.OnError = 10<<20, "tempfail"
			f.BreakerFailures, f.BreakerCooldown = 3, Duration(time.Minute)
		}),
		"spamassassin": filter(func(f *Filter) {
			f.Kind, f.Address, f.Threshold = "spamd", "127.0.0.1:783", 6.5
		}),
		"rspamd": filter(func(f *Filter) {
			f.Kind, f.Address, f.OnError = "rspamd", "http://127.0.0.1:11333", "accept"
		}),
		"scanner": filter(func(f *Filter) {
			f.Kind = "exec"
			f.Command = []string{"/usr/bin/clamscan", "--no-summary", "--stdout"}
			f.NameRegex = `: (\S+) FOUND$`
			f.MaxOutputBytes = 65536
			f.Verdicts = map[string]string{"0": "clean", "1": "infected"}
		}),
		"legacy": filter(func(f *Filter) {
			f.Kind, f.In, f.Out = "folder", "filters/legacy/in", "filters/legacy/out"
		}),
	}
	want.Databases = map[string]Database{
		"orders": {
			Driver: "sqlite", DSN: "orders.db", Init: "examples/orders/schema.sql",
			MaxOpen: 2, MaxIdle: 1, ConnMaxLifetime: Duration(time.Hour),
		},
		"crm": {
			Driver: "postgres", DSN: "postgres://sluice@db.example.com/crm?sslmode=verify-full",
			MaxOpen: 4, MaxIdle: 2, ConnMaxLifetime: Duration(30 * time.Minute),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(full.toml) (-want +got):\n%s", diff)
	}
}

// TestPartialTables checks that a key given in a table keeps the defaults of
// the keys beside it, and that lists replace their default.
func TestPartialTables(t *testing.T) {
	got, err := Parse([]byte(`
[server]
relay_from = ["10.0.0.0/8"]
[[stage]]
name = "a"
script = "a.lua"
timeout = "1s"
[filter.f]
kind = "clamd"
address = "localhost:3310"
`), "partial.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "partial.toml"
	want.Server.RelayFrom = []string{"10.0.0.0/8"}
	want.Stages = []Stage{{Name: "a", Script: "a.lua", Timeout: Duration(time.Second), OnError: "tempfail"}}
	f := defaultFilter()
	f.Kind, f.Address = "clamd", "localhost:3310"
	want.Filters = map[string]Filter{"f": f}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResolve(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "x")
	tests := []struct {
		file, path, want string
	}{
		{"", "data", "data"},
		{"", "../data", "../data"},
		{"", abs, abs},
		{"sluice.toml", "data", "data"},
		{"etc/sluice.toml", "data", "etc/data"},
		{"etc/sluice.toml", "../scripts/a.lua", "scripts/a.lua"},
		{"/etc/sluice/sluice.toml", "scripts/a.lua", "/etc/sluice/scripts/a.lua"},
		{"/etc/sluice/sluice.toml", abs, abs},
		{"/etc/sluice/sluice.toml", "", ""},
	}
	for _, tt := range tests {
		c := &Config{File: tt.file}
		if got := c.Resolve(tt.path); got != filepath.FromSlash(tt.want) {
			t.Errorf("Config{File: %q}.Resolve(%q) = %q, want %q", tt.file, tt.path, got, tt.want)
		}
	}
}

func TestControlAddr(t *testing.T) {
	c := Default()
	c.File = "/etc/sluice/sluice.toml"
	if got, want := c.ControlAddr(), "unix:/etc/sluice/data/control.sock"; got != want {
		t.Errorf("ControlAddr() = %q, want %q", got, want)
	}
	c.Server.Control = "127.0.0.1:2526"
	if got, want := c.ControlAddr(), "127.0.0.1:2526"; got != want {
		t.Errorf("ControlAddr() = %q, want %q", got, want)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("Load(missing) = %v, should not match ErrInvalid", err)
	}
}

// TestBad loads each testdata/bad/*.toml, whose first line is
// "# want: TEXT", and checks that the error contains TEXT.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Errorf("found %d bad configurations, want at least 20", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line is %q, want \"# want: TEXT\"", first)
			}
			_, err = Load(file)
			if err == nil {
				t.Fatalf("Load: no error, want %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load: got error\n%v\nwant it to contain\n%s", err, want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Load: errors.Is(%v, ErrInvalid) = false, want true", err)
			}
		})
	}
}

// TestErrorOrder checks that several errors are all reported, by line.
func TestErrorOrder(t *testing.T) {
	src := `[queue]
on_expire = "never"
[server]
bogus = 1
max_recipients = -1
[[stage]]
name = "a"
[[stage]]
nme = "b"
`
	_, err := Parse([]byte(src), "many.toml")
	want := []string{
		`many.toml:2: queue.on_expire: "never" is not one of bounce, quarantine`,
		`many.toml:4: unknown key "server.bogus"`,
		`many.toml:5: server.max_recipients: must be > 0, got -1`,
		`many.toml:6: stage[0].script: required`,
		`many.toml:8: stage[1].name: required`,
		`many.toml:8: stage[1].script: required`,
		`many.toml:9: unknown key "stage[1].nme"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if e, ok := errors.AsType[*Error](err); !ok || e.Line != 2 {
		t.Errorf("errors.AsType[*Error] = %v, %v; want the error on line 2", e, ok)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Stages = []Stage{{Name: "x", Script: "x.lua", OnError: "explode", Timeout: Duration(time.Second)}}
	err := c.Validate()
	want := `config: stage[0].on_error: "explode" is not one of tempfail, accept, reject, quarantine`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false, want true", err)
	}
}
