package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// SigningKey returns the key called name (32 random bytes), made the first
// time it is asked for and kept for good: links, cookies and callback URLs
// signed with it stay valid across restarts, and every process sharing the
// database agrees on it (the first insert wins; the others read it).
func (s *DB) SigningKey(ctx context.Context, name string) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	if err := s.write(ctx, "INSERT INTO signing_keys(name, key, created_at) VALUES(?, ?, ?) ON CONFLICT(name) DO NOTHING",
		name, key, time.Now().UnixMilli()); err != nil {
		return nil, err
	}
	var stored []byte
	if err := s.db.QueryRowContext(ctx, "SELECT key FROM signing_keys WHERE name = ?", name).Scan(&stored); err != nil {
		return nil, err
	}
	if len(stored) < 32 {
		return nil, fmt.Errorf("signing key %s: %d bytes stored, want 32", name, len(stored))
	}
	return stored, nil
}
