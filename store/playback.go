package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"time"

	"github.com/bbb-balance/bbb_balance/api"
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

// callbacksKept is how long a meeting's callback URLs are kept after its
// last create: longer than any meeting runs and its analytics take to
// arrive after it ends.
const callbacksKept = 14 * 24 * time.Hour

// SaveMeetingCallbacks implements api.CallbackStore. The rows of meetings
// created too long ago go in the same write: a meeting whose server never
// called back (it crashed, say) leaves nothing behind for good.
func (s *DB) SaveMeetingCallbacks(ctx context.Context, c api.MeetingCallbacks) error {
	now := time.Now()
	return s.write(ctx, `DELETE FROM meeting_callbacks WHERE created_at < ?;
		INSERT INTO meeting_callbacks(key, server_id, meeting_id, ended_url, end_url, analytics_url, secret_tag, created_at)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET server_id = excluded.server_id, meeting_id = excluded.meeting_id,
			ended_url = excluded.ended_url, end_url = excluded.end_url, analytics_url = excluded.analytics_url,
			secret_tag = excluded.secret_tag, created_at = excluded.created_at`,
		now.Add(-callbacksKept).UnixMilli(),
		c.Key, c.ServerID, c.MeetingID, c.EndedURL, c.EndURL, c.AnalyticsURL, c.SecretTag, now.UnixMilli())
}

const meetingCallbackColumns = "key, server_id, meeting_id, ended_url, end_url, analytics_url, secret_tag"

func scanMeetingCallbacks(row *sql.Row) (api.MeetingCallbacks, bool, error) {
	var c api.MeetingCallbacks
	err := row.Scan(&c.Key, &c.ServerID, &c.MeetingID, &c.EndedURL, &c.EndURL, &c.AnalyticsURL, &c.SecretTag)
	if err == sql.ErrNoRows {
		return api.MeetingCallbacks{}, false, nil
	}
	return c, err == nil, err
}

// MeetingCallbacks implements api.CallbackStore.
func (s *DB) MeetingCallbacks(ctx context.Context, key string) (api.MeetingCallbacks, bool, error) {
	return scanMeetingCallbacks(s.db.QueryRowContext(ctx, "SELECT "+meetingCallbackColumns+" FROM meeting_callbacks WHERE key = ?", key))
}

// TakeMeetingCallback implements api.CallbackStore. The transaction takes
// the write lock at its start (_txlock=immediate), so two calls racing
// cannot both get the URL.
func (s *DB) TakeMeetingCallback(ctx context.Context, key, serverID, kind string) (api.MeetingCallbacks, bool, error) {
	var column string
	switch kind {
	case api.CallbackMeetingEnded:
		column = "ended_url"
	case api.CallbackEnd:
		column = "end_url"
	default:
		return api.MeetingCallbacks{}, false, fmt.Errorf("store: no callback URL of kind %q to take", kind)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return api.MeetingCallbacks{}, false, err
	}
	defer tx.Rollback()
	c, ok, err := scanMeetingCallbacks(tx.QueryRowContext(ctx, "SELECT "+meetingCallbackColumns+
		" FROM meeting_callbacks WHERE key = ? AND server_id = ? AND "+column+" != ''", key, serverID))
	if err != nil || !ok {
		return api.MeetingCallbacks{}, false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE meeting_callbacks SET "+column+" = '' WHERE key = ?", key); err != nil {
		return api.MeetingCallbacks{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return api.MeetingCallbacks{}, false, err
	}
	return c, true, nil
}

var _ api.CallbackStore = (*DB)(nil)
