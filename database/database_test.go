package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExecQuery(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx := t.Context()
		tbl := b.table(t, db)
		if _, err := db.Exec(ctx, b.ddl("CREATE TABLE "+tbl+" (id {int} PRIMARY KEY, name {text}, qty {int}, price {float})")); err != nil {
			t.Fatal(err)
		}
		for i, row := range [][]any{{1, "apple", 3, 0.5}, {2, "pear", nil, 1.25}, {3, "fig", int64(7), float64(2)}} {
			n, err := db.Exec(ctx, "INSERT INTO "+tbl+" (id, name, qty, price) VALUES (?, ?, ?, ?)", row...)
			if err != nil || n != 1 {
				t.Fatalf("insert %d: %d rows, %v", i, n, err)
			}
		}
		n, err := db.Exec(ctx, "UPDATE "+tbl+" SET qty = qty + ? WHERE qty IS NOT NULL", 1)
		if err != nil || n != 2 {
			t.Errorf("update: got %d rows, %v; want 2", n, err)
		}
		rows, cols, err := db.Query(ctx, "SELECT id, name, qty, price FROM "+tbl+" WHERE id >= ? ORDER BY id", 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{
			{"id": int64(1), "name": "apple", "qty": int64(4), "price": 0.5},
			{"id": int64(2), "name": "pear", "qty": nil, "price": 1.25},
			{"id": int64(3), "name": "fig", "qty": int64(8), "price": 2.0},
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"id", "name", "qty", "price"}, cols); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
		rows, _, err = db.Query(ctx, "SELECT id FROM "+tbl+" WHERE id > ?", 10)
		if err != nil || rows == nil || len(rows) != 0 {
			t.Errorf("no rows: got %#v, %v; want an empty slice", rows, err)
		}
	})
}

// Values of every kind come back normalised, whatever the driver.
func TestConversions(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx := t.Context()
		tbl := b.table(t, db)
		if _, err := db.Exec(ctx, b.ddl("CREATE TABLE "+tbl+
			" (i {int}, f {float}, s {text}, ok {bool}, at {time}, amount {decimal}, big {decimal}, bin {blob}, absent {text})")); err != nil {
			t.Fatal(err)
		}
		text := "héllo\x00wörld"
		if b.driver == "postgres" {
			text = "héllo wörld" // PostgreSQL text cannot hold NUL
		}
		at := "'2026-03-04 05:06:07'"
		if b.driver == "postgres" {
			at = "'2026-03-04 05:06:07+00'" // whatever the server's TimeZone
		}
		_, err := db.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?, ?, ?, "+at+", ?, ?, ?, ?)",
			int64(-9007199254740993), 2.5, text, true, "19.50", "12345678.91", []byte{0xff, 'a'}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, _, err := db.Query(ctx, "SELECT * FROM "+tbl)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"i": int64(-9007199254740993), "f": 2.5, "s": text, "ok": true,
			"at": "2026-03-04T05:06:07Z", "amount": 19.5, "big": 12345678.91, "bin": "\xffa", "absent": nil,
		}
		if b.driver == "mysql" {
			want["ok"] = int64(1) // BOOLEAN is TINYINT(1)
		}
		if diff := cmp.Diff([]map[string]any{want}, rows); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestConversionsExpressions(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		rows, _, err := db.Query(t.Context(), "SELECT NULL AS n, 42 AS i, 0.5 AS f, 'x' AS s, 1 = 1 AS yes, ? AS arg", "bound")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"n": nil, "i": int64(42), "f": 0.5, "s": "x", "yes": int64(1), "arg": "bound"}
		if b.driver == "postgres" {
			want["yes"] = true
		}
		if diff := cmp.Diff([]map[string]any{want}, rows); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestTx(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx := t.Context()
		tbl := b.table(t, db)
		if _, err := db.Exec(ctx, b.ddl("CREATE TABLE "+tbl+" (k {key} PRIMARY KEY, v {int})")); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			t.Helper()
			rows, _, err := db.Query(ctx, "SELECT k FROM "+tbl)
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}

		err := db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "a", 1); err != nil {
				return err
			}
			rows, _, err := tx.Query(ctx, "SELECT v FROM "+tbl+" WHERE k = ?", "a")
			if err != nil || len(rows) != 1 {
				return fmt.Errorf("own write not visible: %v %v", rows, err)
			}
			_, err = tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "b", 2)
			return err
		})
		if err != nil || count() != 2 {
			t.Fatalf("commit: %v, %d rows", err, count())
		}

		boom := errors.New("boom")
		err = db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "c", 3); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count() != 2 {
			t.Errorf("rollback on error: got %v, %d rows; want boom, 2 rows", err, count())
		}

		// A failed statement fails the transaction: nothing of it stays.
		err = db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "d", 4); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "a", 5) // duplicate key
			return err
		})
		var dbErr *Error
		if !errors.As(err, &dbErr) || dbErr.Op != "exec" || count() != 2 {
			t.Errorf("duplicate key: got %v, %d rows; want an exec error, 2 rows", err, count())
		}

		func() {
			defer func() {
				if p := recover(); p != "panic in fn" {
					t.Errorf("recovered %v, want the panic of fn", p)
				}
			}()
			db.Tx(ctx, func(tx *Tx) error {
				tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "e", 5)
				panic("panic in fn")
			})
		}()
		if n := count(); n != 2 {
			t.Errorf("after a panic: %d rows, want 2", n)
		}
		// The connection of the panicking transaction went back usable.
		if _, err := db.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "f", 6); err != nil {
			t.Errorf("after a panic: %v", err)
		}
	})
}

func TestDryRun(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx := t.Context()
		tbl := b.table(t, db)
		if _, err := db.Exec(ctx, b.ddl("CREATE TABLE "+tbl+" (k {key} PRIMARY KEY, v {int})")); err != nil {
			t.Fatal(err)
		}
		other := b.table(t, db)
		tx, err := db.DryRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := tx.Exec(ctx, "INSERT INTO "+tbl+" VALUES (?, ?)", "a", 1); err != nil || n != 1 {
			t.Fatalf("dry insert: %d, %v", n, err)
		}
		if rows, _, err := tx.Query(ctx, "SELECT k FROM "+tbl); err != nil || len(rows) != 1 {
			t.Errorf("inside the dry run: %v, %v; want the row", rows, err)
		}
		// DDL is rolled back too, or not run at all on MySQL, where it
		// would commit.
		if _, err := tx.Exec(ctx, b.ddl("CREATE TABLE "+other+" (k {int})")); err != nil {
			t.Errorf("dry create: %v", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if rows, _, err := db.Query(ctx, "SELECT k FROM "+tbl); err != nil || len(rows) != 0 {
			t.Errorf("after the dry run: %v, %v; want no rows", rows, err)
		}
		if _, _, err := db.Query(ctx, "SELECT k FROM "+other); err == nil {
			t.Errorf("the table created in the dry run exists")
		}
	})
}

// A ? inside a literal or a comment is not a placeholder.
func TestPlaceholders(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		q := "SELECT '?' AS lit, ? AS a, 'it''s ?' AS quoted /* ? */, ? AS b -- ?\n"
		rows, _, err := db.Query(t.Context(), q, "one", "two")
		if err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{{"lit": "?", "a": "one", "quoted": "it's ?", "b": "two"}}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// Hostile values are data: they never become SQL.
func TestInjection(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx := t.Context()
		tbl := b.table(t, db)
		if _, err := db.Exec(ctx, b.ddl("CREATE TABLE "+tbl+" (id {int}, name {text})")); err != nil {
			t.Fatal(err)
		}
		evil := []string{
			"'; DROP TABLE " + tbl + "; --",
			"O'Brien",
			`Robert"); DROP TABLE ` + tbl + `;--`,
			`\'; DROP TABLE ` + tbl + `; -- `,
			"? $1 $$ $tag$ `x` /* ?",
			"1 OR 1=1",
		}
		for i, s := range evil {
			if _, err := db.Exec(ctx, "INSERT INTO "+tbl+" (id, name) VALUES (?, ?)", i, s); err != nil {
				t.Fatalf("insert %q: %v", s, err)
			}
		}
		rows, _, err := db.Query(ctx, "SELECT name FROM "+tbl+" ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r["name"].(string))
		}
		if diff := cmp.Diff(evil, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		rows, _, err = db.Query(ctx, "SELECT id FROM "+tbl+" WHERE name = ?", "1 OR 1=1")
		if err != nil || len(rows) != 1 {
			t.Errorf("lookup by a hostile value: %v, %v; want one row", rows, err)
		}
	})
}

func TestInit(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		db := b.open(t, Spec{DSN: dsn})
		tbl := b.table(t, db)
		schema := b.ddl(`-- the schema of the test; a quote in a comment: don't
CREATE TABLE IF NOT EXISTS ` + tbl + ` (
	k {key} PRIMARY KEY, -- the key; another ; here
	v {text}
);
/* a block comment;
   with a ; at a line end; */
` + fmt.Sprintf(b.insertIgnore, tbl) + `;   -- trailing comment
INSERT INTO ` + tbl + ` (k, v) SELECT 'b', 'one;
two' WHERE NOT EXISTS (SELECT 1 FROM ` + tbl + ` WHERE k = 'b');
`)
		if b.driver == "postgres" {
			schema += "CREATE OR REPLACE FUNCTION " + tbl + "_f() RETURNS int AS $$\n  SELECT 1;\n$$ LANGUAGE sql;\n"
		}
		path := filepath.Join(t.TempDir(), "schema.sql")
		os.WriteFile(path, []byte(schema), 0o644)
		for range 2 { // idempotent: the second open changes nothing
			db2 := b.open(t, Spec{DSN: dsn, Init: path})
			rows, _, err := db2.Query(t.Context(), "SELECT k, v FROM "+tbl+" ORDER BY k")
			if err != nil {
				t.Fatal(err)
			}
			want := []map[string]any{{"k": "a;", "v": "x"}, {"k": "b", "v": "one;\ntwo"}}
			if diff := cmp.Diff(want, rows); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}

		bad := filepath.Join(t.TempDir(), "bad.sql")
		os.WriteFile(bad, []byte("-- comment\nSELECT 1;\n\nSELECT * FROM no_such_table_here;\n"), 0o644)
		_, err := Open(t.Context(), "test", Spec{Driver: b.driver, DSN: dsn, Init: bad})
		var dbErr *Error
		if !errors.As(err, &dbErr) || !strings.Contains(err.Error(), "bad.sql: statement 2 (line 4)") {
			t.Errorf("bad init: got %v; want an error naming bad.sql, statement 2, line 4", err)
		}
	})
}

func TestPool(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{MaxOpen: 2, MaxIdle: 1})
		ctx := t.Context()
		var wg sync.WaitGroup
		var mu sync.Mutex
		peak := 0
		for range 6 {
			wg.Go(func() {
				err := db.Tx(ctx, func(tx *Tx) error {
					mu.Lock()
					peak = max(peak, db.Stats().InUse)
					mu.Unlock()
					time.Sleep(30 * time.Millisecond)
					_, _, err := tx.Query(ctx, "SELECT 1 AS one")
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st := db.Stats()
		if st.MaxOpenConnections != 2 || peak > 2 || st.WaitCount == 0 {
			t.Errorf("max open %d, peak in use %d, waits %d; want 2, at most 2, some", st.MaxOpenConnections, peak, st.WaitCount)
		}
		if st.Idle > 1 {
			t.Errorf("%d idle connections, want at most 1", st.Idle)
		}
	})
}

func TestDeadline(t *testing.T) {
	slow := map[string]string{
		"sqlite":   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) AS n FROM c",
		"postgres": "SELECT pg_sleep(30) AS n",
		"mysql":    "SELECT SLEEP(30) AS n",
	}
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{})
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := db.Query(ctx, slow[b.driver])
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("got %v after %v; want an error soon after 200ms", err, time.Since(start))
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("error (not matching context.DeadlineExceeded): %v", err)
		}
		// The pool is still usable.
		if _, _, err := db.Query(t.Context(), "SELECT 1 AS one"); err != nil {
			t.Errorf("after the deadline: %v", err)
		}
	})
}

func TestRefused(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := b.open(t, Spec{MaxRows: 3})
		ctx := t.Context()
		for _, q := range []string{"BEGIN", "commit", "  ROLLBACK", "/* x */ START TRANSACTION", "SAVEPOINT a", "END"} {
			if _, err := db.Exec(ctx, q); !errors.Is(err, ErrTxStatement) {
				t.Errorf("%s: got %v, want ErrTxStatement", q, err)
			}
		}
		_, _, err := db.Query(ctx, "SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4")
		if !errors.Is(err, ErrTooManyRows) {
			t.Errorf("4 rows with MaxRows 3: got %v, want ErrTooManyRows", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Driver: "oracle", DSN: "x"}, `database: x: open: database: unknown driver "oracle"`},
		{Spec{Driver: "sqlite"}, "no database file"},
		{Spec{Driver: "postgres", DSN: "postgres://u:secret@127.0.0.1:notaport/db"}, "invalid DSN"},
		{Spec{Driver: "mysql", DSN: "u:secret@tcp(127.0.0.1:3306"}, "invalid DSN"},
		{Spec{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "x.db"), Init: "/nonexistent/schema.sql"}, "schema.sql"},
	} {
		_, err := New("x", tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: got %v, want an error with %q and no password", tc.spec, err, tc.want)
		}
	}
	if _, err := New("x", Spec{Driver: "oracle"}); !errors.Is(err, ErrDriver) {
		t.Errorf("got %v, want ErrDriver", err)
	}
	// A server that is down: the error names the database, not the DSN.
	_, err := Open(t.Context(), "orders", Spec{Driver: "postgres", DSN: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2"})
	if err == nil || !strings.HasPrefix(err.Error(), "database: orders: connect: ") || strings.Contains(err.Error(), "secret") {
		t.Errorf("got %v", err)
	}
}

func TestSet(t *testing.T) {
	dir := t.TempDir()
	specs := map[string]Spec{
		"a": {Driver: "sqlite", DSN: filepath.Join(dir, "a.db")},
		"b": {Driver: "sqlite", DSN: filepath.Join(dir, "b.db")},
	}
	s, err := OpenSet(t.Context(), specs)
	if err != nil {
		t.Fatal(err)
	}
	if db, ok := s.Get("a"); !ok || db.Name() != "a" || db.Driver() != "sqlite" {
		t.Errorf("Get(a) = %v, %v", db, ok)
	}
	if _, ok := s.Get("c"); ok {
		t.Errorf("Get(c) found something")
	}
	if diff := cmp.Diff([]string{"a", "b"}, s.Names()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	var none *Set
	if _, ok := none.Get("a"); ok || none.Names() != nil || none.Close() != nil {
		t.Errorf("a nil Set is not empty")
	}

	specs["c"] = Spec{Driver: "sqlite", DSN: filepath.Join(dir, "c.db"), Init: filepath.Join(dir, "missing.sql")}
	if _, err := OpenSet(t.Context(), specs); err == nil || !strings.Contains(err.Error(), "database: c: ") {
		t.Errorf("got %v, want the error of c", err)
	}
}

// ":memory:" is one database, not one per pooled connection.
func TestSQLiteMemory(t *testing.T) {
	db, err := Open(t.Context(), "mem", Spec{Driver: "sqlite", DSN: ":memory:", MaxOpen: 4, MaxIdle: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := db.Exec(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := db.Exec(ctx, "INSERT INTO t VALUES (?)", i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rows, _, err := db.Query(ctx, "SELECT x FROM t")
	if err != nil || len(rows) != 8 {
		t.Errorf("%d rows, %v; want 8", len(rows), err)
	}
}
