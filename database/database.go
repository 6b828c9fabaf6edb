// Package database opens the SQL databases of the configuration
// ([database.NAME]) for scripts: the embedded SQLite (modernc.org/sqlite, no
// cgo), PostgreSQL (jackc/pgx) and MySQL or MariaDB (go-sql-driver/mysql).
// It knows nothing of Lua; stdlib's db and kv modules are built on it.
//
// Statements always take their values through placeholders, written ? for
// every driver: for PostgreSQL each ? outside literals, quoted identifiers
// and comments becomes $1, $2 … before the statement is sent (write ?? for
// the jsonb operator ?), so the same statement runs everywhere. Results
// come back as plain Go values (see [DB.Query]). Statements that control
// transactions (BEGIN, COMMIT …) are refused: use [DB.Tx].
//
// A dry run ([DB.DryRun]) runs statements inside a transaction that is
// rolled back. On MySQL and MariaDB a statement that commits implicitly
// (CREATE, ALTER, DROP, TRUNCATE …) is not run in a dry run at all.
//
// [KV] is a small key-value store with expiry on an SQLite file, for the
// state scripts keep between messages.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// Spec says how to open one database; it mirrors config.Database, with
// paths already resolved by the caller.
type Spec struct {
	// Driver is "sqlite", "postgres" or "mysql" (also for MariaDB).
	Driver string
	// DSN is, for sqlite, the path of the database file (":memory:" is one
	// in-memory database on a single connection): WAL mode, a busy
	// timeout of 5 s, foreign keys and BEGIN IMMEDIATE transactions are
	// added (parameters after a ? in DSN follow them, and win). For
	// postgres, a URL or key=value string as pgx reads it. For mysql, a
	// go-sql-driver DSN; parseTime=true is forced.
	DSN string
	// Init is the path of an SQL file run at Open; "" for none. Its
	// statements end with a ; at the end of a line and should be
	// idempotent (CREATE TABLE IF NOT EXISTS …): they run at every start.
	Init string
	// MaxOpen caps the open connections (default 4); MaxIdle is how many
	// idle ones are kept (0: none).
	MaxOpen, MaxIdle int
	// ConnMaxLifetime is how long a connection may be reused; 0: forever.
	ConnMaxLifetime time.Duration
	// MaxRows caps the rows one query returns (default 10000).
	MaxRows int
}

// Defaults of a Spec's zero fields.
const (
	DefaultMaxOpen = 4
	DefaultMaxRows = 10000
)

// Errors of this package; failures of the database itself come as *Error.
var (
	// ErrDriver: Spec.Driver is none of sqlite, postgres, mysql.
	ErrDriver = errors.New("database: unknown driver")
	// ErrTooManyRows: a query returned more than Spec.MaxRows rows.
	ErrTooManyRows = errors.New("database: too many rows")
	// ErrTxStatement: BEGIN, COMMIT, ROLLBACK, SAVEPOINT … passed to Exec
	// or Query; transactions are made with Tx.
	ErrTxStatement = errors.New("database: transaction statements are not allowed (use a transaction function)")
)

// Error is a failed operation on a database. Its text names the database
// and the operation and carries the driver's message; it never contains the
// DSN.
type Error struct {
	// DB is the database's name, Op the operation ("exec", "query",
	// "commit", "init schema.sql: statement 3 (line 12)" …).
	DB, Op string
	// Err is the driver's error (or ErrTooManyRows, ErrTxStatement).
	Err error
}

func (e *Error) Error() string { return "database: " + e.DB + ": " + e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// DB is one opened database: a pool of connections, safe for concurrent use.
type DB struct {
	name, driver string
	d            dialect
	pool         *sql.DB
	initFile     string
	init         []stmt
	maxRows      int
}

// Open opens the database name as spec says, connects to it and runs its
// init file. The error names the database, never the DSN.
func Open(ctx context.Context, name string, spec Spec) (*DB, error) {
	db, err := New(name, spec)
	if err != nil {
		return nil, err
	}
	if err := db.Init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// New prepares the database name without connecting to it: it checks the
// driver and the DSN and reads the init file, which [DB.Init] runs. The
// first statement opens a connection. `sluice check` uses it.
func New(name string, spec Spec) (*DB, error) {
	pool, err := openPool(spec)
	if err != nil {
		return nil, &Error{DB: name, Op: "open", Err: err}
	}
	db := &DB{name: name, driver: spec.Driver, d: dialectOf(spec.Driver), pool: pool,
		initFile: spec.Init, maxRows: spec.MaxRows}
	if db.maxRows <= 0 {
		db.maxRows = DefaultMaxRows
	}
	maxOpen, maxIdle, lifetime := spec.MaxOpen, spec.MaxIdle, spec.ConnMaxLifetime
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpen
	}
	if spec.Driver == "sqlite" && strings.HasPrefix(spec.DSN, ":memory:") {
		// Each connection has its own in-memory database: keep just one.
		maxOpen, maxIdle, lifetime = 1, 1, 0
	}
	pool.SetMaxOpenConns(maxOpen)
	pool.SetMaxIdleConns(min(max(maxIdle, 0), maxOpen))
	pool.SetConnMaxLifetime(max(lifetime, 0))
	if spec.Init != "" {
		src, err := os.ReadFile(spec.Init)
		if err != nil {
			pool.Close()
			return nil, &Error{DB: name, Op: "init", Err: err}
		}
		db.init = split(string(src), db.d)
	}
	return db, nil
}

// openPool makes the connection pool of spec's driver.
func openPool(spec Spec) (*sql.DB, error) {
	switch spec.Driver {
	case "sqlite":
		if spec.DSN == "" {
			return nil, errors.New("no database file given")
		}
		c, err := sqlite.NewConnector(sqliteDSN(spec.DSN))
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(c), nil
	case "postgres":
		cfg, err := pgx.ParseConfig(spec.DSN)
		if err != nil {
			return nil, hideDSN(err)
		}
		return stdlib.OpenDB(*cfg), nil
	case "mysql":
		cfg, err := mysql.ParseDSN(spec.DSN)
		if err != nil {
			return nil, err
		}
		cfg.ParseTime = true
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(c), nil
	}
	return nil, fmt.Errorf("%w %q (want sqlite, postgres or mysql)", ErrDriver, spec.Driver)
}

// sqliteParams are added to every SQLite DSN.
const sqliteParams = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"

func sqliteDSN(path string) string {
	if base, query, ok := strings.Cut(path, "?"); ok {
		return base + "?" + sqliteParams + "&" + query
	}
	return path + "?" + sqliteParams
}

// hideDSN drops the connection string pgx puts in its parse errors (it
// redacts the password only on a best-effort basis).
func hideDSN(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if inner := errors.Unwrap(pe); inner != nil {
			return fmt.Errorf("invalid DSN: %w", inner)
		}
		return errors.New("invalid DSN")
	}
	return err
}

// Name returns the database's name, Driver its driver.
func (db *DB) Name() string { return db.name }

// Driver returns "sqlite", "postgres" or "mysql".
func (db *DB) Driver() string { return db.driver }

// Stats returns the statistics of the connection pool.
func (db *DB) Stats() sql.DBStats { return db.pool.Stats() }

// Close closes the pool; statements in progress finish first.
func (db *DB) Close() error { return db.pool.Close() }

// Init connects and runs the statements of the init file in order, on one
// connection, outside any transaction. It may be called again (the
// statements should be idempotent). Its error names the file, the
// statement's number and its line.
func (db *DB) Init(ctx context.Context) error {
	conn, err := db.pool.Conn(ctx)
	if err != nil {
		return db.err("connect", err)
	}
	defer conn.Close()
	for i, st := range db.init {
		if _, err := conn.ExecContext(ctx, st.text); err != nil {
			return db.err(fmt.Sprintf("init %s: statement %d (line %d)", db.initFile, i+1, st.line), err)
		}
	}
	return nil
}

func (db *DB) err(op string, err error) error {
	return &Error{DB: db.name, Op: op, Err: err}
}

// conn is what runs statements: the pool or a transaction.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Exec runs a statement that returns no rows and returns how many rows it
// changed. args bind the ? placeholders: nil, bool, int64, float64, string,
// []byte or time.Time.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return db.exec(ctx, db.pool, query, args)
}

// Query runs a statement that returns rows and returns them, each a map
// from column name to value, with the column names in order. Values are
// nil (NULL), int64, float64, bool or string: text and binary columns
// become strings, times RFC 3339 strings in UTC, DECIMAL and NUMERIC an
// int64 or float64 when one holds the value exactly (a string otherwise).
// MySQL and MariaDB have no boolean type (BOOLEAN columns are 0 or 1);
// SQLite columns declared BOOLEAN or BOOL come back as bool. When two
// columns have the same name, the last one wins in the map.
func (db *DB) Query(ctx context.Context, query string, args ...any) ([]map[string]any, []string, error) {
	return db.query(ctx, db.pool, query, args)
}

func (db *DB) exec(ctx context.Context, c conn, query string, args []any) (int64, error) {
	if err := checkStatement(query); err != nil {
		return 0, db.err("exec", err)
	}
	res, err := c.ExecContext(ctx, db.rebind(query), args...)
	if err != nil {
		return 0, db.err("exec", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.err("exec", err)
	}
	return n, nil
}

func (db *DB) query(ctx context.Context, c conn, query string, args []any) ([]map[string]any, []string, error) {
	if err := checkStatement(query); err != nil {
		return nil, nil, db.err("query", err)
	}
	rows, err := c.QueryContext(ctx, db.rebind(query), args...)
	if err != nil {
		return nil, nil, db.err("query", err)
	}
	defer rows.Close()
	out, cols, err := db.collect(rows)
	if err != nil {
		return nil, nil, db.err("query", err)
	}
	return out, cols, nil
}

// collect reads and normalises every row.
func (db *DB) collect(rows *sql.Rows) ([]map[string]any, []string, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	typeNames := make([]string, len(types))
	for i, t := range types {
		typeNames[i] = strings.ToUpper(t.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := []map[string]any{}
	for rows.Next() {
		if len(out) >= db.maxRows {
			return nil, nil, fmt.Errorf("%w: more than %d (add a LIMIT)", ErrTooManyRows, db.maxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = normalize(vals[i], typeNames[i])
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return out, cols, nil
}

// rebind rewrites placeholders for the driver.
func (db *DB) rebind(query string) string {
	if db.driver == "postgres" {
		return rebind(query)
	}
	return query
}

// checkStatement refuses statements that control transactions: on a pool
// they would apply to whichever connection runs them, and in a dry run they
// could commit what must be rolled back.
func checkStatement(query string) error {
	switch Keyword(query) {
	case "BEGIN", "COMMIT", "ROLLBACK", "START", "SAVEPOINT", "RELEASE", "END", "ABORT":
		return ErrTxStatement
	}
	return nil
}

// Tx runs fn in a transaction: committed when fn returns nil, rolled back
// when it returns an error (returned as it is) or panics (the panic goes
// on). The transaction is also rolled back when ctx ends first.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.pool.BeginTx(ctx, nil)
	if err != nil {
		return db.err("begin", err)
	}
	tx := &Tx{db: db, tx: stx}
	done := false
	defer func() {
		if !done {
			stx.Rollback() // fn panicked
		}
	}()
	err = fn(tx)
	done = true
	if err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return db.err("commit", err)
	}
	return nil
}

// DryRun begins a transaction for a dry run: the caller runs statements in
// it and must call Rollback. On MySQL and MariaDB, statements that would
// commit implicitly are skipped (see the package documentation).
func (db *DB) DryRun(ctx context.Context) (*Tx, error) {
	stx, err := db.pool.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.err("begin", err)
	}
	return &Tx{db: db, tx: stx, dry: true}, nil
}

// Tx is a transaction, used by one goroutine at a time.
type Tx struct {
	db  *DB
	tx  *sql.Tx
	dry bool
}

// Exec is DB.Exec in the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if tx.skip(query) {
		return 0, nil
	}
	return tx.db.exec(ctx, tx.tx, query, args)
}

// Query is DB.Query in the transaction.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) ([]map[string]any, []string, error) {
	if tx.skip(query) {
		return []map[string]any{}, nil, nil
	}
	return tx.db.query(ctx, tx.tx, query, args)
}

// Rollback ends a transaction from DryRun. Inside a Tx function, return an
// error instead.
func (tx *Tx) Rollback() error {
	if err := tx.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return tx.db.err("rollback", err)
	}
	return nil
}

// skip reports whether a dry run must not run query because MySQL would
// commit the transaction before it.
func (tx *Tx) skip(query string) bool {
	return tx.dry && tx.db.driver == "mysql" && ImplicitCommit(query)
}

// ImplicitCommit reports whether MySQL and MariaDB commit the transaction
// in progress before running query (data definition and administration
// statements).
func ImplicitCommit(query string) bool {
	switch Keyword(query) {
	case "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "UNLOCK",
		"ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "FLUSH", "RESET", "INSTALL", "UNINSTALL",
		"CACHE", "SET":
		return true
	}
	return false
}
