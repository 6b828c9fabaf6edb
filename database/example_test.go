package database_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicemail/sluice/database"
)

func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	schema := filepath.Join(dir, "schema.sql")
	os.WriteFile(schema, []byte("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total DECIMAL(10,2));\n"), 0o644)

	db, err := database.Open(ctx, "orders", database.Spec{
		Driver: "sqlite", DSN: filepath.Join(dir, "orders.db"), Init: schema, MaxOpen: 2, MaxIdle: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	err = db.Tx(ctx, func(tx *database.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO orders (id, total) VALUES (?, ?)", "A-1", 19.5)
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rows, _, err := db.Query(ctx, "SELECT id, total FROM orders WHERE total > ?", 10)
	fmt.Println(rows, err)
	// Output: [map[id:A-1 total:19.5]] <nil>
}
