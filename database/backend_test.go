package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The servers the tests reach on loopback; SLUICE_TEST_POSTGRES and
// SLUICE_TEST_MYSQL override the DSNs.
const (
	defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
	defaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test?timeout=3s"
)

// backend is one driver the conformance tests run against.
type backend struct {
	driver string
	// dsn returns the DSN for a test; sqlite's is a file in t.TempDir.
	dsn func(t *testing.T) string
	// types are the column types the tests use, by portable name.
	types map[string]string
	// upsertIgnore is "INSERT … that does nothing on a duplicate key",
	// with %s for the table.
	insertIgnore string
}

var backends = []backend{
	{
		driver: "sqlite",
		dsn:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "test.db") },
		types: map[string]string{
			"int": "INTEGER", "float": "DOUBLE PRECISION", "text": "TEXT", "key": "TEXT",
			"bool": "BOOLEAN", "time": "TIMESTAMP", "decimal": "DECIMAL(10,2)", "blob": "BLOB",
		},
		insertIgnore: "INSERT INTO %s(k, v) VALUES ('a;', 'x') ON CONFLICT DO NOTHING",
	},
	{
		driver: "postgres",
		dsn:    func(t *testing.T) string { return reachable(t, "postgres", "SLUICE_TEST_POSTGRES", defaultPostgresDSN) },
		types: map[string]string{
			"int": "BIGINT", "float": "DOUBLE PRECISION", "text": "TEXT", "key": "VARCHAR(100)",
			"bool": "BOOLEAN", "time": "TIMESTAMPTZ", "decimal": "NUMERIC(10,2)", "blob": "BYTEA",
		},
		insertIgnore: "INSERT INTO %s(k, v) VALUES ('a;', 'x') ON CONFLICT DO NOTHING",
	},
	{
		driver: "mysql",
		dsn:    func(t *testing.T) string { return reachable(t, "mysql", "SLUICE_TEST_MYSQL", defaultMySQLDSN) },
		types: map[string]string{
			"int": "BIGINT", "float": "DOUBLE", "text": "TEXT", "key": "VARCHAR(100)",
			"bool": "BOOLEAN", "time": "DATETIME(6)", "decimal": "DECIMAL(10,2)", "blob": "BLOB",
		},
		insertIgnore: "INSERT IGNORE INTO %s(k, v) VALUES ('a;', 'x')",
	},
}

// reachability remembers, per driver, whether its server answered.
var reachability sync.Map // driver → error (nil when reachable)

// reachable returns the DSN of a server, or skips the test with a clear
// message when the server does not answer.
func reachable(t *testing.T, driver, env, def string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		dsn = def
	}
	v, ok := reachability.Load(driver)
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		db, err := Open(ctx, "probe", Spec{Driver: driver, DSN: dsn, MaxOpen: 1})
		if err == nil {
			db.Close()
		}
		v, _ = reachability.LoadOrStore(driver, errOrNil{err})
	}
	if err := v.(errOrNil).err; err != nil {
		t.Skipf("%s is not reachable (set %s to a DSN to use another server): %v", driver, env, err)
	}
	return dsn
}

type errOrNil struct{ err error }

// forEach runs fn as a subtest for every backend.
func forEach(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.driver, func(t *testing.T) { fn(t, b) })
	}
}

// open opens the backend's test database with spec's other fields.
func (b backend) open(t *testing.T, spec Spec) *DB {
	t.Helper()
	spec.Driver = b.driver
	if spec.DSN == "" {
		spec.DSN = b.dsn(t)
	}
	if spec.MaxOpen == 0 {
		spec.MaxOpen, spec.MaxIdle = 4, 2
	}
	db, err := Open(t.Context(), "test", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// table returns a name unique to this test run and drops the table (and
// the function, for PostgreSQL) of that name when the test ends.
func (b backend) table(t *testing.T, db *DB) string {
	t.Helper()
	var r [6]byte
	rand.Read(r[:])
	name := "sluice_test_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if b.driver == "postgres" {
			db.Exec(ctx, "DROP FUNCTION IF EXISTS "+name+"_f()")
		}
	})
	return name
}

// ddl replaces {int}, {text} … in s by the backend's column types.
func (b backend) ddl(s string) string {
	var pairs []string
	for k, v := range b.types {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
