package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO deliveries(kind, method, url, content_type, body, headers, attempts, next_at, last_error, created_at)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Kind, d.Method, d.URL, d.ContentType, d.Body, headers, d.Attempts, d.NextAt.UnixMilli(), d.LastError, d.CreatedAt.UnixMilli()).Scan(&id)
	return id, err
}

// deliveryLease is how long a delivery read as due by one instance sharing
// a PostgreSQL database is kept from the others: longer than an attempt
// takes. The instance that took it deletes or reschedules it when the
// attempt ends; if that instance dies, another takes it once the lease
// runs out.
const deliveryLease = 2 * time.Minute

const deliveryColumns = "id, kind, method, url, content_type, body, headers, attempts, next_at, last_error, created_at"

// DueDeliveries implements notify.Store.
// On PostgreSQL the deliveries read are also taken: their next_at moves a
// lease ahead, rows another instance is taking at the same moment are
// skipped, so each delivery goes out from one instance.
func (s *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]notify.Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE next_at <= ? ORDER BY next_at, id LIMIT ?`
	args := []any{now.UnixMilli(), limit}
	if s.engine == Postgres {
		query = `WITH due AS (SELECT id, next_at FROM deliveries WHERE next_at <= ? ORDER BY next_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE deliveries d SET next_at = ? FROM due WHERE d.id = due.id
			RETURNING d.id, d.kind, d.method, d.url, d.content_type, d.body, d.headers, d.attempts, due.next_at, d.last_error, d.created_at`
		args = []any{now.UnixMilli(), limit, now.Add(deliveryLease).UnixMilli()}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
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
	slices.SortFunc(out, func(a, b notify.Delivery) int { // RETURNING keeps no order
		return cmp.Or(a.NextAt.Compare(b.NextAt), cmp.Compare(a.ID, b.ID))
	})
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

// TakesDue implements notify.TakingStore: on PostgreSQL, DueDeliveries
// takes what it reads.
func (s *DB) TakesDue() bool { return s.engine == Postgres }

var _ notify.TakingStore = (*DB)(nil)
