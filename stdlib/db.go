package stdlib

import (
	"context"
	"errors"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/sluicemail/sluice/database"
)

// dbModule is the `db` module: the [database.NAME] databases of the
// configuration, through placeholders only.
//
//	local orders = db.open("orders")
//	local n = orders:exec("UPDATE stock SET qty = qty - ? WHERE sku = ?", 2, "A-1")
//	local rows, columns = orders:query("SELECT sku, qty FROM stock WHERE qty < ?", 5)
//	for _, r in ipairs(rows) do log.info(r.sku, r.qty) end
//	orders:tx(function(tx)
//	  tx:exec("INSERT INTO orders(id, total) VALUES (?, ?)", id, total)
//	  for _, it in ipairs(items) do tx:exec("INSERT INTO items VALUES (?, ?, ?)", id, it.sku, it.qty) end
//	end)
//
// Parameters are strings, numbers, booleans, nil and json.null (NULL);
// placeholders are written ? for every driver. Rows are tables by column
// name: NULL is nil (the key is absent), numbers are numbers, booleans
// booleans (MySQL has none: 0 and 1), times RFC 3339 strings in UTC.
// h:tx(fn) calls fn(tx) in a transaction: committed when fn returns (h:tx
// returns what fn returned), rolled back when fn raises an error, which h:tx
// raises again. While fn runs, its database is used through tx only: h:exec
// on the same database is an error (it would wait for the transaction's
// locks). Every call carries the stage's deadline.
//
// In a dry run (sluice run) each h:exec and h:query runs in a transaction
// of its own that is rolled back, and h:tx's transaction is rolled back
// when fn returns; every statement that may write is recorded as an action
// {kind = "sql", reason = statement}. So in a dry run a statement does not
// see the writes of an earlier h:exec: put statements that depend on each
// other in one h:tx.
func (lib *Lib) dbModule() *lua.LTable {
	L := lib.L
	m := &dbLib{lib: lib, busy: map[*database.DB]bool{}}
	m.handleMeta = m.meta("db", map[string]lua.LGFunction{
		"exec":  lib.locked(m.exec),
		"query": lib.locked(m.query),
		"tx":    m.tx, // not locked: fn's own bindings take the lock
	})
	m.txMeta = m.meta("db.tx", map[string]lua.LGFunction{
		"exec":  lib.locked(m.exec),
		"query": lib.locked(m.query),
	})
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{"open": m.open})
}

// dbLib is the state of the db module in one Lua state.
type dbLib struct {
	lib                *Lib
	handleMeta, txMeta *lua.LTable
	// busy are the databases with an h:tx in progress on this state.
	busy map[*database.DB]bool
}

// dbHandle is the value of a db.open userdata.
type dbHandle struct {
	db *database.DB
}

// dbTx is the value of the tx userdata h:tx passes to its function; it
// dies when h:tx returns.
type dbTx struct {
	tx   *database.Tx
	db   *database.DB
	dead bool
}

// meta makes the metatable of a userdata type with methods.
func (m *dbLib) meta(name string, methods map[string]lua.LGFunction) *lua.LTable {
	L := m.lib.L
	mt := L.NewTable()
	mt.RawSetString("__index", L.SetFuncs(L.NewTable(), methods))
	mt.RawSetString("__metatable", lua.LString(name))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		switch v := L.CheckUserData(1).Value.(type) {
		case *dbHandle:
			L.Push(lua.LString("db(" + v.db.Name() + ")"))
		case *dbTx:
			L.Push(lua.LString("db.tx(" + v.db.Name() + ")"))
		default:
			L.Push(lua.LString(name))
		}
		return 1
	}))
	return mt
}

// open is db.open(name).
func (m *dbLib) open(L *lua.LState) int {
	name := L.CheckString(1)
	db, ok := m.lib.svc.DB.Get(name)
	if !ok {
		L.RaiseError("db.open: no database %q in the configuration ([database.%s])", name, name)
	}
	ud := L.NewUserData()
	ud.Value = &dbHandle{db: db}
	ud.Metatable = m.handleMeta
	L.Push(ud)
	return 1
}

// target is what a method runs on: a handle or a live tx.
type target struct {
	db *database.DB
	tx *database.Tx // nil for a handle
}

// check returns the handle or tx a method was called on.
func (m *dbLib) check(L *lua.LState, fn string) target {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		switch v := ud.Value.(type) {
		case *dbHandle:
			if m.busy[v.db] {
				L.RaiseError("%s: %s: a transaction (h:tx) is in progress on this database; use its tx", fn, v.db.Name())
			}
			return target{db: v.db}
		case *dbTx:
			if v.dead {
				L.RaiseError("%s: %s: transaction used after h:tx returned", fn, v.db.Name())
			}
			return target{db: v.db, tx: v.tx}
		}
	}
	L.RaiseError("%s: call it as a method of a database handle, with a colon: h:%s(sql, ...)", fn, strings.TrimPrefix(fn, "db."))
	return target{}
}

// exec is h:exec(sql, ...) and tx:exec(sql, ...) → rows affected.
func (m *dbLib) exec(L *lua.LState) int {
	t := m.check(L, "db.exec")
	query := L.CheckString(2)
	args := dbArgs(L, 3, "db.exec")
	ctx := m.lib.call.Context()
	var n int64
	err := m.run(ctx, t, query, true, func(tx *database.Tx) (err error) {
		if tx == nil {
			n, err = t.db.Exec(ctx, query, args...)
		} else {
			n, err = tx.Exec(ctx, query, args...)
		}
		return err
	})
	if err != nil {
		L.RaiseError("db.exec: %s", dbError(t.db, err))
	}
	L.Push(lua.LNumber(n))
	return 1
}

// query is h:query(sql, ...) and tx:query(sql, ...) → rows, columns.
func (m *dbLib) query(L *lua.LState) int {
	t := m.check(L, "db.query")
	query := L.CheckString(2)
	args := dbArgs(L, 3, "db.query")
	ctx := m.lib.call.Context()
	var rows []map[string]any
	var cols []string
	err := m.run(ctx, t, query, !isRead(query), func(tx *database.Tx) (err error) {
		if tx == nil {
			rows, cols, err = t.db.Query(ctx, query, args...)
		} else {
			rows, cols, err = tx.Query(ctx, query, args...)
		}
		return err
	})
	if err != nil {
		L.RaiseError("db.query: %s", dbError(t.db, err))
	}
	list := make([]any, len(rows))
	for i, r := range rows {
		list[i] = r
	}
	L.Push(ToLua(L, list))
	L.Push(ToLua(L, cols))
	return 2
}

// run calls do on t's transaction, or on the pool (tx nil). In a dry run,
// a statement on the pool runs in a transaction of its own that is rolled
// back, and one that may write is recorded.
func (m *dbLib) run(ctx context.Context, t target, query string, write bool, do func(tx *database.Tx) error) error {
	if !m.lib.call.DryRun {
		return do(t.tx)
	}
	if write {
		m.lib.record(Action{Kind: "sql", Reason: query})
	}
	if t.tx != nil {
		return do(t.tx)
	}
	tx, err := t.db.DryRun(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return do(tx)
}

// tx is h:tx(fn).
func (m *dbLib) tx(L *lua.LState) int {
	t := m.check(L, "db.tx")
	if t.tx != nil { // h.tx(tx, fn)
		L.RaiseError("db.tx: %s: transactions do not nest", t.db.Name())
	}
	fn := L.CheckFunction(2)
	ctx := m.lib.call.Context()
	m.busy[t.db] = true
	defer delete(m.busy, t.db)

	var luaErr error
	nret := 0
	body := func(tx *database.Tx) error {
		ud := L.NewUserData()
		state := &dbTx{tx: tx, db: t.db}
		ud.Value, ud.Metatable = state, m.txMeta
		defer func() { state.dead = true }()
		base := L.GetTop()
		L.Push(fn)
		L.Push(ud)
		if err := L.PCall(1, lua.MultRet, nil); err != nil {
			luaErr = err
			return errScriptRaised
		}
		nret = L.GetTop() - base
		return nil
	}
	var err error
	if m.lib.call.DryRun {
		var tx *database.Tx
		if tx, err = t.db.DryRun(ctx); err == nil {
			err = body(tx)
			tx.Rollback()
		}
	} else {
		err = t.db.Tx(ctx, body)
	}
	if luaErr != nil {
		var ae *lua.ApiError
		if errors.As(luaErr, &ae) {
			L.Error(ae.Object, 0) // as fn raised it, position included
		}
		L.RaiseError("db.tx: %v", luaErr)
	}
	if err != nil {
		L.RaiseError("db.tx: %s", dbError(t.db, err))
	}
	return nret
}

// errScriptRaised tells database.Tx to roll back: fn raised an error.
var errScriptRaised = errors.New("the transaction function raised an error")

// dbArgs converts the Lua values from index from to the top into
// parameters. Tables, functions and the like are refused: there is no way
// to paste values into SQL.
func dbArgs(L *lua.LState, from int, fn string) []any {
	top := L.GetTop()
	if top < from {
		return nil
	}
	args := make([]any, 0, top-from+1)
	for i := from; i <= top; i++ {
		var v any
		switch x := L.Get(i).(type) {
		case *lua.LNilType:
		case lua.LBool:
			v = bool(x)
		case lua.LString:
			v = string(x)
		case lua.LNumber:
			n, err := numberToGo(float64(x))
			if err != nil {
				L.RaiseError("%s: parameter %d: cannot bind %s", fn, i-from+1, nonFinite(float64(x)))
			}
			v = n
		case *lua.LUserData:
			if _, ok := x.Value.(jsonNullValue); !ok {
				L.RaiseError("%s: parameter %d is a userdata; only strings, numbers, booleans and nil can be bound", fn, i-from+1)
			}
		default:
			L.RaiseError("%s: parameter %d is a %s; only strings, numbers, booleans and nil can be bound", fn, i-from+1, x.Type())
		}
		args = append(args, v)
	}
	return args
}

// dbError is the text of a database error for scripts: the database's
// name and the driver's message, never the DSN.
func dbError(db *database.DB, err error) string {
	var de *database.Error
	if errors.As(err, &de) {
		err = de.Err
	}
	return db.Name() + ": " + strings.TrimPrefix(err.Error(), "database: ")
}

// isRead reports whether a statement only reads, by its first word; a dry
// run records the others.
func isRead(query string) bool {
	switch database.Keyword(query) {
	case "SELECT", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "VALUES", "TABLE":
		return true
	}
	return false
}
