package store

import (
	"context"
	"database/sql"
	"time"
)

// SaveReadyURL keeps the recording-ready URL a front-end gave when it
// created a meeting (api.ReadyURLs); a later create of the same meeting
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
