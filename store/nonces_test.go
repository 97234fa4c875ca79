package store

import (
	"context"
	"testing"
	"time"
)

func TestUseNonce(t *testing.T) { forEachEngine(t, testUseNonce) }

func testUseNonce(t *testing.T, loc string) {
	ctx := context.Background()
	path := loc
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Hour)
	use := func(db *DB, nonce string, expires time.Time, want bool) {
		t.Helper()
		fresh, err := db.UseNonce(ctx, nonce, expires)
		if err != nil {
			t.Fatal(err)
		}
		if fresh != want {
			t.Fatalf("UseNonce(%q) = %v, want %v", nonce, fresh, want)
		}
	}
	use(db, "a:0123456789abcdef", soon, true)
	use(db, "a:0123456789abcdef", soon, false)
	use(db, "b:0123456789abcdef", soon, true)
	// An expired nonce is purged and may be used again.
	use(db, "c:00", time.Now().Add(-time.Second), true)
	use(db, "c:00", soon, true)

	// Kept across a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	use(db, "a:0123456789abcdef", soon, false)
	var n int
	if err := db.db.QueryRow("SELECT count(*) FROM upload_nonces").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d nonces kept (%v), want 3", n, err)
	}
}
