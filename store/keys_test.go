package store

import (
	"bytes"
	"context"
	"testing"
)

func TestSigningKey(t *testing.T) { forEachEngine(t, testSigningKey) }

func testSigningKey(t *testing.T, loc string) {
	ctx := context.Background()
	path := loc
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.SigningKey(ctx, "playback")
	if err != nil || len(a) != 32 {
		t.Fatalf("SigningKey = %x, %v", a, err)
	}
	b, _ := db.SigningKey(ctx, "callbacks")
	if bytes.Equal(a, b) {
		t.Fatal("two names share a key")
	}
	// A second handle (another process) gets the same key, also after a
	// restart.
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := other.SigningKey(ctx, "playback"); !bytes.Equal(a, again) {
		t.Fatal("a second handle made another key")
	}
	other.Close()
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, _ := db.SigningKey(ctx, "playback"); !bytes.Equal(a, again) {
		t.Fatal("the key changed across a restart")
	}
}
