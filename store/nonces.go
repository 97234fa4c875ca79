package store

import (
	"context"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// UseNonce implements recordings.NonceStore. Uploads are rare (one per
// published format), so the expired nonces are purged on every call, in
// the same transaction: the table only ever holds a few minutes' worth.
func (s *DB) UseNonce(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	if _, err := tx.ExecContext(ctx, "DELETE FROM upload_nonces WHERE expires_at <= ?", now); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO upload_nonces(nonce, expires_at) VALUES(?, ?) ON CONFLICT(nonce) DO NOTHING",
		nonce, expires.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, tx.Commit()
}

var _ recordings.NonceStore = (*DB)(nil)
