package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
)

// What several instances sharing a PostgreSQL database need of it
// (cluster.Store): who they are, which one polls, the polls, the meeting
// a create claims, and notifications of each other's changes.

// dbNow is the database's clock in ms: leases and heartbeats of several
// hosts are all measured on it, so their clocks need not agree.
const dbNow = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

// appNamePrefix starts the application_name of every connection of an
// instance; the rest is its id. The triggers put it in each notification.
const appNamePrefix = "bbb_balance "

// newInstanceID names this process among the instances: its host and a
// random part (a restarted process is a new instance).
func newInstanceID() string {
	host, _ := os.Hostname()
	if len(host) > 32 {
		host = host[:32]
	}
	var b [3]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Instance is this process's id among the instances sharing the database.
func (s *DB) Instance() string { return s.instance }

// Heartbeat implements cluster.Store.
func (s *DB) Heartbeat(ctx context.Context, started time.Time) error {
	host, _ := os.Hostname()
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances(id, host, started_at, seen_at) VALUES(?, ?, ?, `+dbNow+`)
		ON CONFLICT(id) DO UPDATE SET seen_at = excluded.seen_at`, s.instance, host, started.UnixMilli())
	if err == nil {
		// Instances gone for a day are forgotten.
		_, err = s.db.ExecContext(ctx, "DELETE FROM instances WHERE seen_at < "+dbNow+" - ?", int64(24*time.Hour/time.Millisecond))
	}
	return err
}

// Leave implements cluster.Store: the instance's row and the leases it
// holds go, so another takes over at once.
func (s *DB) Leave(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM leases WHERE holder = ?", s.instance); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, "DELETE FROM instances WHERE id = ?", s.instance)
	return err
}

// Instances implements cluster.Store.
func (s *DB) Instances(ctx context.Context) ([]cluster.Instance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.id, i.host, i.started_at, `+dbNow+` - i.seen_at,
			coalesce((SELECT string_agg(l.name, ',' ORDER BY l.name) FROM leases l WHERE l.holder = i.id AND l.expires_at > `+dbNow+`), '')
		FROM instances i ORDER BY i.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cluster.Instance
	for rows.Next() {
		var in cluster.Instance
		var started, age int64
		if err := rows.Scan(&in.ID, &in.Host, &started, &age, &in.Leases); err != nil {
			return nil, err
		}
		in.Started, in.SeenAgo, in.Self = time.UnixMilli(started), time.Duration(age)*time.Millisecond, in.ID == s.instance
		out = append(out, in)
	}
	return out, rows.Err()
}

// AcquireLease implements cluster.Store: the lease is this instance's if
// it held it or it has run out; the answer is its holder after the call.
func (s *DB) AcquireLease(ctx context.Context, name string, ttl time.Duration) (holder string, err error) {
	err = s.db.QueryRowContext(ctx, `INSERT INTO leases(name, holder, acquired_at, expires_at) VALUES(?, ?, `+dbNow+`, `+dbNow+` + ?)
		ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
		WHERE leases.holder = excluded.holder OR leases.expires_at < `+dbNow+`
		RETURNING holder`, name, s.instance, ttl.Milliseconds()).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.db.QueryRowContext(ctx, "SELECT holder FROM leases WHERE name = ?", name).Scan(&holder)
	}
	return holder, err
}

// SavePoll implements cluster.Store.
func (s *DB) SavePoll(ctx context.Context, serverID string, poll []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO server_polls(server_id, poll, polled_by, updated_at) VALUES(?, ?, ?, `+dbNow+`)
		ON CONFLICT(server_id) DO UPDATE SET poll = excluded.poll, polled_by = excluded.polled_by, updated_at = excluded.updated_at`,
		serverID, string(poll), s.instance)
	return err
}

// Poll implements cluster.Store.
func (s *DB) Poll(ctx context.Context, serverID string) ([]byte, bool, error) {
	var poll string
	err := s.db.QueryRowContext(ctx, "SELECT poll FROM server_polls WHERE server_id = ?", serverID).Scan(&poll)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return []byte(poll), err == nil, err
}

// Polls implements cluster.Store.
func (s *DB) Polls(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT server_id, poll FROM server_polls")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id, poll string
		if err := rows.Scan(&id, &poll); err != nil {
			return nil, err
		}
		out[id] = []byte(poll)
	}
	return out, rows.Err()
}

// Shared implements balancer.Claimer: a PostgreSQL database is shared by
// the instances that use it; a SQLite file belongs to one, whose memory
// decides (and ClaimMeeting is not used).
func (s *DB) Shared() bool { return s.engine == Postgres }

// ClaimMeeting implements balancer.Claimer: rec goes in unless the
// registry already has the key on another placement than replaces (the
// one rec re-places, nil if none). The answer is what the registry holds
// after: rec, or the placement another instance made first.
func (s *DB) ClaimMeeting(ctx context.Context, rec balancer.MeetingRecord, replaces *balancer.MeetingRecord) (balancer.MeetingRecord, error) {
	var oldServer string
	var oldCreated int64 = -1
	if replaces != nil {
		oldServer, oldCreated = replaces.ServerID, replaces.Created.UnixMilli()
	}
	for range 3 { // the row may go between the insert and the read
		var key string
		err := s.db.QueryRowContext(ctx, `INSERT INTO meetings(key, meeting_id, server_id, created_at, voice_bridge) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET meeting_id = excluded.meeting_id, server_id = excluded.server_id, created_at = excluded.created_at,
				voice_bridge = excluded.voice_bridge
			WHERE meetings.server_id = ? AND meetings.created_at = ?
			RETURNING key`, rec.Key, rec.MeetingID, rec.ServerID, rec.Created.UnixMilli(), rec.VoiceBridge, oldServer, oldCreated).Scan(&key)
		if err == nil {
			s.noteMeeting("+", rec)
			return rec, nil
		}
		if isUniqueViolation(err, "meetings_voice_bridge") {
			return balancer.MeetingRecord{}, balancer.ErrVoiceBridgeTaken
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return balancer.MeetingRecord{}, err
		}
		held, ok, err := s.Meeting(ctx, rec.Key)
		if err != nil || ok {
			return held, err
		}
	}
	return balancer.MeetingRecord{}, fmt.Errorf("store: meeting %s kept changing while it was claimed", rec.Key)
}

// Meeting implements balancer.Claimer: one registry entry, read through
// on a miss of the memory's registry.
func (s *DB) Meeting(ctx context.Context, key string) (balancer.MeetingRecord, bool, error) {
	return s.meetingWhere(ctx, "key = ?", key)
}

// MeetingByVoiceBridge implements balancer.Claimer: the registry entry
// with voice bridge vb, read through on a miss of the memory.
func (s *DB) MeetingByVoiceBridge(ctx context.Context, vb string) (balancer.MeetingRecord, bool, error) {
	return s.meetingWhere(ctx, "voice_bridge = ?", vb)
}

// meetingWhere reads the registry entry that cond (on a unique column)
// picks.
func (s *DB) meetingWhere(ctx context.Context, cond, arg string) (balancer.MeetingRecord, bool, error) {
	var m balancer.MeetingRecord
	var created int64
	err := s.db.QueryRowContext(ctx, "SELECT key, meeting_id, server_id, created_at, voice_bridge FROM meetings WHERE "+cond, arg).
		Scan(&m.Key, &m.MeetingID, &m.ServerID, &created, &m.VoiceBridge)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return balancer.MeetingRecord{}, false, nil
	case err != nil:
		return balancer.MeetingRecord{}, false, err
	}
	m.Created = time.UnixMilli(created)
	return m, true, nil
}

// isUniqueViolation reports whether err is PostgreSQL's refusal of a row
// that index would hold twice.
func isUniqueViolation(err error, index string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == index
}

// ForgetCounts implements cluster.Store: another instance changed the
// recordings, so the totals this one keeps are stale.
func (s *DB) ForgetCounts() { s.counts.reset() }

// Listen implements cluster.Store: fn gets every notification of the
// other instances until ctx ends. It holds a connection of its own; when
// that is lost it is opened again, with backoff, and connected runs again
// (what was missed meanwhile must be read anew).
func (s *DB) Listen(ctx context.Context, connected func(), fn func(cluster.Note), lost func(err error, retry time.Duration)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, func() { backoff = 100 * time.Millisecond; connected() }, fn)
		if ctx.Err() != nil {
			return
		}
		lost(err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *DB) listenOnce(ctx context.Context, connected func(), fn func(cluster.Note)) error {
	cfg, err := connConfig(s.dsn, s.instance)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{"bbb_meetings", "bbb_changes"} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	connected()
	self := appNamePrefix + s.instance
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == "bbb_meetings" {
			var batch noteBatch
			if json.Unmarshal([]byte(n.Payload), &batch) != nil || batch.By == self {
				continue // not ours, or this instance's own changes
			}
			for _, note := range batch.Notes {
				note.Meetings = true
				fn(note)
			}
			continue
		}
		var note cluster.Note
		if err := json.Unmarshal([]byte(n.Payload), &note); err != nil || note.By == self {
			continue
		}
		fn(note)
	}
}

var (
	_ cluster.Store    = (*DB)(nil)
	_ balancer.Claimer = (*DB)(nil)
)
