package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/pgtest"
)

// forEachEngine runs f on each engine, with the location of a new, empty
// database: a SQLite file, and a PostgreSQL database of the test cluster.
func forEachEngine(t *testing.T, f func(t *testing.T, loc string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "sub", "bbb.sqlite")) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.Database(t)) })
}

func openAt(t *testing.T, loc string) *DB {
	t.Helper()
	db, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
