package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bbb-balance/bbb_balance/notify"
)

// The outbound delivery queue (notify.Store). Enqueue needs the new row's
// id, so it writes directly rather than through the group-commit writer;
// reschedule and delete go through the writer like the other small writes.

// EnqueueDelivery implements notify.Store.
func (s *DB) EnqueueDelivery(ctx context.Context, d notify.Delivery) (int64, error) {
	if d.Body == nil {
		d.Body = []byte{} // a GET: no body, but the column holds bytes
	}
	headers := ""
	if len(d.Header) > 0 {
		raw, err := json.Marshal(d.Header)
		if err != nil {
			return 0, err
		}
		headers = string(raw)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO deliveries(kind, method, url, content_type, body, headers, attempts, next_at, last_error, created_at)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Kind, d.Method, d.URL, d.ContentType, d.Body, headers, d.Attempts, d.NextAt.UnixMilli(), d.LastError, d.CreatedAt.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// DueDeliveries implements notify.Store.
func (s *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]notify.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, method, url, content_type, body, headers, attempts, next_at, last_error, created_at
		FROM deliveries WHERE next_at <= ? ORDER BY next_at, id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notify.Delivery
	for rows.Next() {
		var d notify.Delivery
		var next, created int64
		var headers string
		if err := rows.Scan(&d.ID, &d.Kind, &d.Method, &d.URL, &d.ContentType, &d.Body, &headers, &d.Attempts, &next, &d.LastError, &created); err != nil {
			return nil, err
		}
		if headers != "" {
			if err := json.Unmarshal([]byte(headers), &d.Header); err != nil {
				return nil, fmt.Errorf("delivery %d: unreadable headers: %w", d.ID, err)
			}
		}
		d.NextAt, d.CreatedAt = time.UnixMilli(next), time.UnixMilli(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RescheduleDelivery implements notify.Store.
func (s *DB) RescheduleDelivery(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	return s.write(ctx, "UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
		attempts, next.UnixMilli(), lastErr, id)
}

// DeleteDelivery implements notify.Store.
func (s *DB) DeleteDelivery(ctx context.Context, id int64) error {
	return s.write(ctx, "DELETE FROM deliveries WHERE id = ?", id)
}

var _ notify.Store = (*DB)(nil)
