// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the throwaway cluster scripts/postgres.sh starts (its URL in
// BBB_TEST_POSTGRES). Without that variable the tests that need PostgreSQL
// are skipped, unless BBB_REQUIRE_POSTGRES=1 (the test command sets it),
// which makes them fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Available reports whether a PostgreSQL cluster is there to test against.
func Available() bool { return os.Getenv("BBB_TEST_POSTGRES") != "" }

// Require skips t, or fails it when PostgreSQL is required, if no cluster
// is there.
func Require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("BBB_REQUIRE_POSTGRES") == "1" {
		t.Fatal("BBB_REQUIRE_POSTGRES=1 but BBB_TEST_POSTGRES is not set: run the tests with scripts/test.sh")
	}
	t.Skip("no PostgreSQL to test against: set BBB_TEST_POSTGRES (scripts/test.sh starts one)")
}

// Database creates an empty database for t, dropped when t ends, and
// returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	Require(t)
	admin := os.Getenv("BBB_TEST_POSTGRES")
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
