package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// Limits of the KV store.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 1 << 20
)

// Errors of the KV store.
var (
	// ErrKVTooLarge: a key longer than MaxKeyBytes or a value longer than
	// MaxValueBytes.
	ErrKVTooLarge = errors.New("kv: too large")
	// ErrKVNotInteger: Incr on a value that is not a decimal integer, or a
	// sum that overflows.
	ErrKVNotInteger = errors.New("kv: not an integer")
	// ErrKVTTL: a negative ttl.
	ErrKVTTL = errors.New("kv: negative ttl")
)

// purgeEvery is how often a write also deletes the expired keys.
const purgeEvery = time.Minute

// KV is a key-value store with expiry on an SQLite file, for the state
// scripts keep between messages (rate limits, autoresponder memory). It is
// safe for concurrent use, and for several processes sharing the file.
// Expired keys are invisible at once and deleted later, by a write.
type KV struct {
	db  *sql.DB
	now func() time.Time // time.Now; tests change it

	// mu serialises the writes of this process (SQLite has one writer at
	// a time anyway), so that they queue here instead of in SQLite's busy
	// handler, and guards lastPurge.
	mu        sync.Mutex
	lastPurge time.Time
}

const kvSchema = `CREATE TABLE IF NOT EXISTS kv (
	key     TEXT PRIMARY KEY,
	value   TEXT NOT NULL,
	expires INTEGER -- unix milliseconds; NULL: never
) WITHOUT ROWID`

// OpenKV opens (creating it when missing) the KV store in the SQLite file
// at path.
func OpenKV(ctx context.Context, path string) (*KV, error) {
	c, err := sqlite.NewConnector(sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("kv: open: %w", err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	for _, q := range []string{kvSchema, `CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT NULL`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("kv: open: %w", err)
		}
	}
	return &KV{db: db, now: time.Now}, nil
}

// Close closes the store.
func (kv *KV) Close() error { return kv.db.Close() }

// Get returns the value of key and true, or "" and false when key is not
// set or has expired.
func (kv *KV) Get(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := kv.db.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)`,
		key, kv.now().UnixMilli()).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("kv: get: %w", err)
	}
	return v, true, nil
}

// Set sets key to value, to expire after ttl; 0 means never.
func (kv *KV) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := CheckKV(key, value, ttl); err != nil {
		return err
	}
	return kv.write(ctx, "set", func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv(key, value, expires) VALUES (?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
			key, value, expiry(now, ttl))
		return err
	})
}

// Incr adds delta to the integer value of key and returns the sum. A key
// that is not set (or has expired) counts as 0 and gets ttl (0: never
// expires); a key that is set keeps its expiry, so a counter made with a
// ttl of one hour counts for one hour.
func (kv *KV) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := CheckKV(key, "", ttl); err != nil {
		return 0, err
	}
	var sum int64
	err := kv.write(ctx, "incr", func(tx *sql.Tx, now time.Time) error {
		var cur string
		var exp sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT value, expires FROM kv WHERE key = ?`, key).Scan(&cur, &exp)
		live := err == nil && (!exp.Valid || exp.Int64 > now.UnixMilli())
		switch {
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		case live:
			n, err := strconv.ParseInt(cur, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrKVNotInteger, truncate(cur))
			}
			if delta > 0 && n > math.MaxInt64-delta || delta < 0 && n < math.MinInt64-delta {
				return fmt.Errorf("%w: %d + %d overflows", ErrKVNotInteger, n, delta)
			}
			sum = n + delta
			_, err = tx.ExecContext(ctx, `UPDATE kv SET value = ? WHERE key = ?`, strconv.FormatInt(sum, 10), key)
			return err
		}
		sum = delta
		_, err = tx.ExecContext(ctx, `INSERT INTO kv(key, value, expires) VALUES (?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
			key, strconv.FormatInt(sum, 10), expiry(now, ttl))
		return err
	})
	return sum, err
}

// Delete removes key; a key that is not set is no error.
func (kv *KV) Delete(ctx context.Context, key string) error {
	return kv.write(ctx, "delete", func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM kv WHERE key = ?`, key)
		return err
	})
}

// write runs fn in a transaction, one writer of this process at a time,
// and deletes the expired keys when that has not been done for a while.
func (kv *KV) write(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) error) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	now := kv.now()
	tx, err := kv.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("kv: %s: %w", op, err)
	}
	defer tx.Rollback()
	if err := fn(tx, now); err != nil {
		if errors.Is(err, ErrKVNotInteger) {
			return err
		}
		return fmt.Errorf("kv: %s: %w", op, err)
	}
	if now.Sub(kv.lastPurge) >= purgeEvery {
		if _, err := tx.ExecContext(ctx, `DELETE FROM kv WHERE expires <= ?`, now.UnixMilli()); err != nil {
			return fmt.Errorf("kv: purge: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("kv: %s: %w", op, err)
	}
	if now.Sub(kv.lastPurge) >= purgeEvery {
		kv.lastPurge = now
	}
	return nil
}

// expiry is the expires column for a ttl from now: NULL for 0.
func expiry(now time.Time, ttl time.Duration) any {
	if ttl == 0 {
		return nil
	}
	return now.Add(ttl).UnixMilli()
}

// CheckKV returns the error Set would return for these arguments before
// it reaches the store (ErrKVTooLarge, ErrKVTTL), for a dry run.
func CheckKV(key, value string, ttl time.Duration) error {
	switch {
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key of %d bytes (at most %d)", ErrKVTooLarge, len(key), MaxKeyBytes)
	case len(value) > MaxValueBytes:
		return fmt.Errorf("%w: value of %d bytes (at most %d)", ErrKVTooLarge, len(value), MaxValueBytes)
	case ttl < 0:
		return ErrKVTTL
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
