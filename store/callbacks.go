package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bbb-balance/bbb_balance/callbacks"
)

// The callback URLs front-ends give at create: the meeting callbacks the
// balancer relays (callbacks.Store) and the recording-ready URL it calls
// after an import.

// SaveReadyURL keeps the recording-ready URL a front-end gave when it
// created a meeting (callbacks.ReadyURLs); a later create of the same meeting
// replaces it.
func (s *DB) SaveReadyURL(ctx context.Context, meetingID, url, secretTag string) error {
	return s.write(ctx, `INSERT INTO recording_callbacks(meeting_id, url, secret_tag, created_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(meeting_id) DO UPDATE SET url = excluded.url, secret_tag = excluded.secret_tag, created_at = excluded.created_at`,
		meetingID, url, secretTag, time.Now().UnixMilli())
}

// ReadyURL returns the recording-ready URL kept for a meeting.
func (s *DB) ReadyURL(ctx context.Context, meetingID string) (url, secretTag string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT url, secret_tag FROM recording_callbacks WHERE meeting_id = ?", meetingID).Scan(&url, &secretTag)
	if err == sql.ErrNoRows {
		return "", "", false, nil
	}
	return url, secretTag, err == nil, err
}

// callbacksKept is how long a meeting's callback URLs are kept after its
// last create: longer than any meeting runs and its analytics take to
// arrive after it ends.
const callbacksKept = 14 * 24 * time.Hour

// SaveMeetingCallbacks implements callbacks.Store. The rows of meetings
// created too long ago go in the same write: a meeting whose server never
// called back (it crashed, say) leaves nothing behind for good.
func (s *DB) SaveMeetingCallbacks(ctx context.Context, c callbacks.Meeting) error {
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

func scanMeetingCallbacks(row *sql.Row) (callbacks.Meeting, bool, error) {
	var c callbacks.Meeting
	err := row.Scan(&c.Key, &c.ServerID, &c.MeetingID, &c.EndedURL, &c.EndURL, &c.AnalyticsURL, &c.SecretTag)
	if err == sql.ErrNoRows {
		return callbacks.Meeting{}, false, nil
	}
	return c, err == nil, err
}

// MeetingCallbacks implements callbacks.Store.
func (s *DB) MeetingCallbacks(ctx context.Context, key string) (callbacks.Meeting, bool, error) {
	return scanMeetingCallbacks(s.db.QueryRowContext(ctx, "SELECT "+meetingCallbackColumns+" FROM meeting_callbacks WHERE key = ?", key))
}

// TakeMeetingCallback implements callbacks.Store. The transaction takes
// the write lock at its start (SQLite: _txlock=immediate; PostgreSQL: the
// row's lock, FOR UPDATE), so two calls racing, on one instance or on
// several, cannot both get the URL.
func (s *DB) TakeMeetingCallback(ctx context.Context, key, serverID, kind string) (callbacks.Meeting, bool, error) {
	var column string
	switch kind {
	case callbacks.MeetingEnded:
		column = "ended_url"
	case callbacks.End:
		column = "end_url"
	default:
		return callbacks.Meeting{}, false, fmt.Errorf("store: no callback URL of kind %q to take", kind)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return callbacks.Meeting{}, false, err
	}
	defer tx.Rollback()
	c, ok, err := scanMeetingCallbacks(tx.QueryRowContext(ctx, "SELECT "+meetingCallbackColumns+
		" FROM meeting_callbacks WHERE key = ? AND server_id = ? AND "+column+" != ''"+s.forUpdate(), key, serverID))
	if err != nil || !ok {
		return callbacks.Meeting{}, false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE meeting_callbacks SET "+column+" = '' WHERE key = ?", key); err != nil {
		return callbacks.Meeting{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return callbacks.Meeting{}, false, err
	}
	return c, true, nil
}

var _ callbacks.Store = (*DB)(nil)
var _ callbacks.ReadyURLs = (*DB)(nil)
