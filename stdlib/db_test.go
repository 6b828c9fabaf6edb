package stdlib

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

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/database"
)

// runLua runs src, which defines function f(msg), on a fresh state with
// svc, the dry-run flag and ctx as the stage's context, and returns what f
// returned (through ToGo) or the Lua error. It is safe in goroutines.
func runLua(ctx context.Context, m *Msg, svc Services, dryRun bool, src string) (any, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenMath} {
		L.Push(L.NewFunction(open))
		L.Call(0, 0)
	}
	call := &Call{Ctx: ctx, Stage: "test", Msg: m, DryRun: dryRun}
	lib := New(L, call, Limits{}, svc)
	for name, mod := range lib.Modules() {
		L.SetGlobal(name, mod)
	}
	mt := L.NewTable()
	mt.RawSetString("__index", L.GetGlobal("string"))
	L.SetMetatable(lua.LString(""), mt)
	L.SetContext(ctx)
	if err := L.DoString(src); err != nil {
		return nil, err
	}
	ud := lib.PushMsg(m)
	L.Push(L.GetGlobal("f"))
	L.Push(ud)
	if err := L.PCall(1, 1, nil); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	if err := lib.Release(ud); err != nil {
		return nil, err
	}
	return ToGo(ret)
}

// dbBackend is a database the Lua tests run against, opened as "shop".
type dbBackend struct {
	name string
	open func(t *testing.T) *database.DB
}

var dbBackends = []dbBackend{
	{"sqlite", func(t *testing.T) *database.DB {
		return openDB(t, database.Spec{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "shop.db")})
	}},
	{"postgres", func(t *testing.T) *database.DB {
		dsn := os.Getenv("SLUICE_TEST_POSTGRES")
		if dsn == "" {
			dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		db, err := database.Open(ctx, "shop", database.Spec{Driver: "postgres", DSN: dsn, MaxOpen: 4, MaxIdle: 2})
		if err != nil {
			t.Skipf("PostgreSQL is not reachable (set SLUICE_TEST_POSTGRES to a DSN to use another server): %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
}

func openDB(t *testing.T, spec database.Spec) *database.DB {
	t.Helper()
	spec.MaxOpen, spec.MaxIdle = 4, 2
	db, err := database.Open(t.Context(), "shop", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// shopTable creates a table unique to the test run, dropped at the end, and
// returns its name.
func shopTable(t *testing.T, db *database.DB) string {
	t.Helper()
	var r [6]byte
	rand.Read(r[:])
	name := "lua_test_" + hex.EncodeToString(r[:])
	_, err := db.Exec(t.Context(), "CREATE TABLE "+name+" (id VARCHAR(64) PRIMARY KEY, name TEXT, qty BIGINT, price DOUBLE PRECISION, paid BOOLEAN)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.Exec(ctx, "DROP TABLE IF EXISTS "+name)
	})
	return name
}

// forEachDB runs fn against every backend with a fresh table, whose name
// replaces {T} in the script.
func forEachDB(t *testing.T, fn func(t *testing.T, db *database.DB, svc Services, sub func(string) string)) {
	for _, b := range dbBackends {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			tbl := shopTable(t, db)
			svc := Services{DB: database.NewSet(db)}
			fn(t, db, svc, func(src string) string { return strings.ReplaceAll(src, "{T}", tbl) })
		})
	}
}

func TestDBExecQuery(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *database.DB, svc Services, sub func(string) string) {
		got, err := runLua(t.Context(), newTestMsg(mixed), svc, false, sub(`function f(msg)
		  local h = db.open("shop")
		  local n = 0
		  n = n + h:exec("INSERT INTO {T}(id, name, qty, price, paid) VALUES (?, ?, ?, ?, ?)", "o1", "O'Brien", 2, 9.5, true)
		  n = n + h:exec("INSERT INTO {T}(id, name, qty, price, paid) VALUES (?, ?, ?, ?, ?)", "o2", "'; DROP TABLE x; --", nil, 0.25, false)
		  n = n + h:exec("INSERT INTO {T}(id, name, qty, price, paid) VALUES (?, ?, 9007199254740993, ?, ?)", "o3", nil, 1, json.null)
		  local rows, cols = h:query("SELECT id, name, qty, price, paid FROM {T} WHERE id LIKE ? ORDER BY id", "o%")
		  local updated = h:exec("UPDATE {T} SET qty = qty + 1 WHERE qty IS NOT NULL")
		  return {n = n, rows = rows, cols = cols, updated = updated, none = #h:query("SELECT id FROM {T} WHERE id = ?", "nope"),
		          str = tostring(h)}
		end`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"n": int64(3), "updated": int64(2), "none": int64(0), "str": "db(shop)",
			"cols": []any{"id", "name", "qty", "price", "paid"},
			"rows": []any{
				map[string]any{"id": "o1", "name": "O'Brien", "qty": int64(2), "price": 9.5, "paid": true},
				map[string]any{"id": "o2", "name": "'; DROP TABLE x; --", "price": 0.25, "paid": false},
				// 2^53+1 does not fit a Lua number: it comes as a string.
				map[string]any{"id": "o3", "qty": "9007199254740993", "price": int64(1)},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestDBTx(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *database.DB, svc Services, sub func(string) string) {
		got, err := runLua(t.Context(), newTestMsg(mixed), svc, false, sub(`function f(msg)
		  local h = db.open("shop")
		  local a, b = h:tx(function(tx)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "a", 1)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "b", 2)
		    return #tx:query("SELECT id FROM {T}"), "done"
		  end)
		  local ok, err = pcall(h.tx, h, function(tx)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "c", 3)
		    error("inconsistent order")
		  end)
		  local ok2, err2 = pcall(h.tx, h, function(tx)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "d", 4)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "a", 5) -- duplicate key
		  end)
		  local ok5, err5 = pcall(h.tx, h, function(tx) error({code = 7}) end)
		  local kept
		  local ok3, err3 = pcall(h.tx, h, function(tx) kept = tx; h:exec("DELETE FROM {T}") end)
		  local ok4, err4 = pcall(function() return kept:exec("DELETE FROM {T}") end)
		  local ids = {}
		  for _, r in ipairs(h:query("SELECT id FROM {T} ORDER BY id")) do ids[#ids+1] = r.id end
		  return {a = a, b = b, ok = ok, err = err, ok2 = ok2, err2 = err2, err3 = err3, err4 = err4, ids = ids, err5 = err5}
		end`))
		if err != nil {
			t.Fatal(err)
		}
		r := got.(map[string]any)
		if r["a"] != int64(2) || r["b"] != "done" {
			t.Errorf("h:tx returned %v, %v; want 2, done", r["a"], r["b"])
		}
		if diff := cmp.Diff([]any{"a", "b"}, r["ids"]); diff != "" {
			t.Errorf("rows after the transactions (-want +got):\n%s", diff)
		}
		if e := r["err"].(string); r["ok"] != false || !strings.HasPrefix(e, "<string>:") || !strings.HasSuffix(e, ": inconsistent order") {
			t.Errorf("error in fn: got %v %q; want the script's own error, with its position", r["ok"], r["err"])
		}
		if r["ok2"] != false || !strings.Contains(r["err2"].(string), ": db.exec: shop: ") {
			t.Errorf("duplicate key: got %q", r["err2"])
		}
		if diff := cmp.Diff(map[string]any{"code": int64(7)}, r["err5"]); diff != "" {
			t.Errorf("a table raised in fn comes back as it is (-want +got):\n%s", diff)
		}
		if !strings.Contains(r["err3"].(string), "db.exec: shop: a transaction (h:tx) is in progress on this database; use its tx") {
			t.Errorf("handle used inside h:tx: got %q", r["err3"])
		}
		if !strings.Contains(r["err4"].(string), "db.exec: shop: transaction used after h:tx returned") {
			t.Errorf("tx used after h:tx: got %q", r["err4"])
		}
	})
}

// In a dry run nothing stays in the database, and the statements that may
// write are recorded.
func TestDBDryRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *database.DB, svc Services, sub func(string) string) {
		m := newTestMsg(mixed)
		got, err := runLua(t.Context(), m, svc, true, sub(`function f(msg)
		  local h = db.open("shop")
		  local n = h:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "x", 1)
		  local seen = h:tx(function(tx)
		    tx:exec("INSERT INTO {T}(id, qty) VALUES (?, ?)", "y", 2)
		    tx:exec("UPDATE {T} SET qty = ? WHERE id = ?", 3, "y")
		    return tx:query("SELECT qty FROM {T} WHERE id = ?", "y")[1].qty
		  end)
		  local ret = h:query("INSERT INTO {T}(id, qty) VALUES (?, ?) RETURNING id", "z", 9)[1].id
		  return {n, seen, #h:query("SELECT id FROM {T}"), ret}
		end`))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]any{int64(1), int64(3), int64(0), "z"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		rows, _, err := db.Query(t.Context(), sub("SELECT id FROM {T}"))
		if err != nil || len(rows) != 0 {
			t.Errorf("after the dry run: %v, %v; want no rows", rows, err)
		}
		var stmts []string
		for _, a := range m.Actions {
			if a.Kind != "sql" || a.Done || a.Stage != "test" {
				t.Errorf("action %+v", a)
			}
			stmts = append(stmts, a.Reason)
		}
		want := []string{
			sub("INSERT INTO {T}(id, qty) VALUES (?, ?)"),
			sub("INSERT INTO {T}(id, qty) VALUES (?, ?)"),
			sub("UPDATE {T} SET qty = ? WHERE id = ?"),
			sub("INSERT INTO {T}(id, qty) VALUES (?, ?) RETURNING id"),
		}
		if diff := cmp.Diff(want, stmts); diff != "" {
			t.Errorf("recorded statements (-want +got):\n%s", diff)
		}
	})
}

func TestDBErrors(t *testing.T) {
	db := dbBackends[0].open(t)
	tbl := shopTable(t, db)
	svc := Services{DB: database.NewSet(db)}
	for _, tc := range []struct{ call, want string }{
		{`db.open("nope")`, `db.open: no database "nope" in the configuration ([database.nope])`},
		{`db.open("shop"):exec("INSERT INTO ` + tbl + `(id) VALUES (?)", {1})`, "db.exec: parameter 1 is a table; only strings, numbers, booleans and nil can be bound"},
		{`db.open("shop"):query("SELECT ?, ?", 1, print)`, "db.query: parameter 2 is a function"},
		{`db.open("shop"):exec("SELECT ?", 0/0)`, "db.exec: parameter 1: cannot bind NaN"},
		{`db.open("shop"):exec("SELECT ?", msg)`, "db.exec: parameter 1 is a userdata"},
		{`db.open("shop").exec("SELECT 1")`, "db.exec: call it as a method of a database handle, with a colon: h:exec(sql, ...)"},
		{`db.open("shop"):exec("INSERT INTO no_such_table VALUES (1)")`, "db.exec: shop: SQL logic error: no such table: no_such_table"},
		{`db.open("shop"):exec("COMMIT")`, "db.exec: shop: transaction statements are not allowed"},
		{`db.open("shop"):tx("not a function")`, "function expected"},
		{`local h = db.open("shop"); h:tx(function(tx) h:tx(function() end) end)`, "db.tx: shop: a transaction (h:tx) is in progress"},
		{`local h = db.open("shop"); h:tx(function(tx) tx:tx(function() end) end)`, "attempt to call a non-function"},
		{`local h = db.open("shop"); h:tx(function(tx) h.tx(tx, function() end) end)`, "db.tx: shop: transactions do not nest"},
	} {
		_, err := runLua(t.Context(), newTestMsg(mixed), svc, false, "function f(msg) "+tc.call+" end")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.call, err, tc.want)
		}
	}
	_, err := runLua(t.Context(), newTestMsg(mixed), Services{}, false, `function f(msg) db.open("shop") end`)
	if err == nil || !strings.Contains(err.Error(), `no database "shop"`) {
		t.Errorf("without databases: got %v", err)
	}
}

// Every call carries the stage's deadline.
func TestDBDeadline(t *testing.T) {
	db := dbBackends[0].open(t)
	svc := Services{DB: database.NewSet(db)}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := runLua(ctx, newTestMsg(mixed), svc, false, `function f(msg)
	  return db.open("shop"):query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c")
	end`)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v; want an error soon after 200ms", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "db.query: shop: ") {
		t.Errorf("got %v", err)
	}
}

// Several Lua states write to one database at once.
func TestDBConcurrent(t *testing.T) {
	db := dbBackends[0].open(t)
	tbl := shopTable(t, db)
	svc := Services{DB: database.NewSet(db)}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			_, err := runLua(t.Context(), newTestMsg(mixed), svc, false, `function f(msg)
			  local h = db.open("shop")
			  for i = 1, 10 do
			    h:tx(function(tx) tx:exec("INSERT INTO `+tbl+`(id, qty) VALUES (?, ?)", "w`+string(rune('0'+w))+`-" .. i, i) end)
			  end
			end`)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rows, _, err := db.Query(t.Context(), "SELECT id FROM "+tbl)
	if err != nil || len(rows) != 40 {
		t.Errorf("%d rows, %v; want 40", len(rows), err)
	}
}
