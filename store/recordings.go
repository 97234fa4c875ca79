package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// The recordings index (recordings.Store). Reads go straight to the
// database (WAL readers never wait on the writer); each write is one
// transaction, beside the group-commit writer of the meeting registry.

const recordingColumns = `r.record_id, r.meeting_id, r.internal_meeting_id, r.name, r.is_breakout,
	r.published, r.state, r.start_time, r.end_time, r.participants, r.raw_size, r.breakout,
	r.server_id, r.protected, r.publish_set, r.tenant, r.bytes`

// breakoutJSON is how the breakout links of a recording are kept: rarely
// present, never filtered on, so one column.
type breakoutJSON struct {
	Breakout *recordings.Breakout `json:"breakout,omitempty"`
	Rooms    []string             `json:"rooms,omitempty"`
}

// childChunk bounds the ids of one "IN (...)" lookup of formats,
// thumbnails and metadata (SQLite allows 32766 variables).
const childChunk = 256

// Recording implements recordings.Store.
func (s *DB) Recording(ctx context.Context, id string) (recordings.Entry, bool, error) {
	es, err := s.Recordings(ctx, []string{id})
	if err != nil || len(es) == 0 {
		return recordings.Entry{}, false, err
	}
	return es[0], true, nil
}

// Recordings implements recordings.Store.
func (s *DB) Recordings(ctx context.Context, ids []string) ([]recordings.Entry, error) {
	var out []recordings.Entry
	for len(ids) > 0 {
		n := min(len(ids), childChunk)
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := s.db.QueryContext(ctx, "SELECT "+recordingColumns+" FROM recordings r WHERE r.record_id IN ("+placeholders(len(chunk))+")", anys(chunk)...)
		if err != nil {
			return nil, err
		}
		got, err := scanEntries(rows)
		if err != nil {
			return nil, err
		}
		if err := s.fillChildren(ctx, got); err != nil {
			return nil, err
		}
		for _, e := range got {
			out = append(out, *e)
		}
	}
	return out, nil
}

// Find implements recordings.Store.
func (s *DB) Find(ctx context.Context, q recordings.Query, each func(*recordings.Entry) error) (int, error) {
	lead := leadFilter(q)
	total := 0
	if q.Limit > 0 {
		from, where, args := findWhere(q, lead)
		var err error
		if total, err = s.counts.count(ctx, s.db, "SELECT count(*) FROM "+from+where, args); err != nil {
			return 0, err
		}
		if total <= q.Offset {
			return total, nil
		}
	}
	if lead >= 0 {
		// A filter that matches a large share of the index is better
		// tested row by row while walking newest first: a page fills
		// quickly, where leading would sort all the matches. A paged
		// query has just counted its matches; others count the filter's
		// (at most leadLimit of them).
		n := total
		if q.Limit == 0 {
			_, match := metaMatch("lm", q.Meta[lead].Value)
			if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM recording_meta lm WHERE lm.key = ? AND "+match.sql+" LIMIT ?) AS lead",
				append(append([]any{q.Meta[lead].Key}, match.args...), leadLimit)...).Scan(&n); err != nil {
				return 0, err
			}
		}
		if n >= leadLimit {
			lead = -1
		}
	}
	from, where, args := findWhere(q, lead)
	query := "SELECT " + recordingColumns + " FROM " + from + where + " ORDER BY r.start_time DESC, r.record_id DESC"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d OFFSET %d", q.Limit, max(q.Offset, 0))
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	yielded := 0
	batch := make([]*recordings.Entry, 0, childChunk)
	flush := func() error {
		if err := s.fillChildren(ctx, batch); err != nil {
			return err
		}
		for _, e := range batch {
			if err := each(e); err != nil {
				return err
			}
		}
		yielded += len(batch)
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return 0, err
		}
		batch = append(batch, e)
		if len(batch) == childChunk {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if q.Limit > 0 {
		return total, nil
	}
	return yielded, nil
}

// countCache keeps the totals of paginated queries until the index
// changes: a front-end paging through one filter pays for the count (a
// walk over every match) on the first page only. A total is kept only if
// no write committed while it was counted (gen did not move).
type countCache struct {
	mu     sync.Mutex
	gen    uint64
	totals map[string]int
}

func (c *countCache) count(ctx context.Context, db *sql.DB, query string, args []any) (int, error) {
	key := fmt.Sprintf("%s\x00%q", query, args)
	c.mu.Lock()
	n, ok := c.totals[key]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	if err := db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if c.totals == nil || len(c.totals) >= 1024 {
			c.totals = map[string]int{}
		}
		c.totals[key] = n
	}
	return n, nil
}

// reset forgets every total; called after each write to the index.
func (c *countCache) reset() {
	c.mu.Lock()
	c.gen++
	c.totals = nil
	c.mu.Unlock()
}

// findWhere turns a getRecordings query into SQL: the FROM clause, the
// WHERE clause and its arguments. Record id prefixes are ranges on the
// primary key; metadata filters are each an EXISTS on the (key, value)
// index, so they are ANDed as BBB does (scalelite ORs them).
//
// Which index leads matters at a million recordings. Left alone, SQLite
// walks recordings newest first and tests every filter on every row, which
// is fast for a broad filter and a full scan for a narrow one. So when
// neither record ids nor meeting ids (both indexed) narrow the query, the
// metadata filter lead (see leadFilter; -1 for none) leads: its matches are
// read from the (key, value) index and sorted, which costs what the filter
// matches, not what the index holds.
func findWhere(q recordings.Query, lead int) (string, string, []any) {
	from := "recordings r"
	var conds []string
	var args []any
	switch {
	case len(q.RecordIDs) > 0:
		var ors []string
		for _, p := range q.RecordIDs {
			ors = append(ors, "(r.record_id >= ? AND r.record_id < ?)")
			args = append(args, p, p+prefixEnd)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	case len(q.MeetingIDs) > 0:
		conds = append(conds, "r.meeting_id IN ("+placeholders(len(q.MeetingIDs))+")")
		args = append(args, anys(q.MeetingIDs)...)
	}
	if lead >= 0 {
		// CROSS JOIN makes SQLite keep this order of the loops.
		from = "recording_meta lm CROSS JOIN recordings r"
		_, match := metaMatch("lm", q.Meta[lead].Value)
		conds = append([]string{"lm.key = ? AND " + match.sql + " AND r.record_id = lm.record_id"}, conds...)
		args = append(append([]any{q.Meta[lead].Key}, match.args...), args...)
	}
	if !q.AllTenants {
		conds = append(conds, "r.tenant = ?")
		args = append(args, q.Tenant)
	}
	states := q.States
	if len(states) == 0 {
		states = []string{recordings.StatePublished, recordings.StateUnpublished}
	}
	anyState := false
	for _, st := range states {
		anyState = anyState || st == "any"
	}
	if !anyState {
		conds = append(conds, "r.state IN ("+placeholders(len(states))+")")
		args = append(args, anys(states)...)
	}
	for i, f := range q.Meta {
		if i == lead {
			continue
		}
		_, match := metaMatch("m", f.Value)
		conds = append(conds, "EXISTS (SELECT 1 FROM recording_meta m WHERE m.record_id = r.record_id AND m.key = ? AND "+match.sql+")")
		args = append(args, f.Key)
		args = append(args, match.args...)
	}
	if len(conds) == 0 {
		return from, "", nil
	}
	return from, " WHERE " + strings.Join(conds, " AND "), args
}

// leadLimit is the number of matches above which a metadata filter no
// longer leads the page query.
const leadLimit = 5000

// leadFilter returns the metadata filter that may lead the query (see
// findWhere), or -1.
func leadFilter(q recordings.Query) int {
	if len(q.RecordIDs) > 0 || len(q.MeetingIDs) > 0 {
		return -1
	}
	for i, f := range q.Meta {
		if kind, _ := metaMatch("lm", f.Value); kind == exactMatch || kind == prefixMatch {
			return i
		}
	}
	return -1
}

type matchKind int

const (
	exactMatch matchKind = iota
	prefixMatch
	suffixMatch
	containsMatch
	anyValue
)

type sqlMatch struct {
	sql  string
	args []any
}

// metaMatch is BBB's value match of a meta_ filter (bbb-api.md §2.8) on
// table alias t: "%x%" contains, "%x" ends with, "x%" starts with, else
// exact; always case-sensitive, so no LIKE.
func metaMatch(t, v string) (matchKind, sqlMatch) {
	switch {
	case v == "%":
		return anyValue, sqlMatch{"1 = 1", nil}
	case len(v) >= 2 && strings.HasPrefix(v, "%") && strings.HasSuffix(v, "%"):
		return containsMatch, sqlMatch{"instr(" + t + ".value, ?) > 0", []any{v[1 : len(v)-1]}}
	case strings.HasPrefix(v, "%"):
		x := v[1:]
		return suffixMatch, sqlMatch{"substr(" + t + ".value, length(" + t + ".value) - length(?) + 1) = ?", []any{x, x}}
	case strings.HasSuffix(v, "%"):
		x := v[:len(v)-1]
		return prefixMatch, sqlMatch{t + ".value >= ? AND " + t + ".value < ?", []any{x, x + prefixEnd}}
	default:
		return exactMatch, sqlMatch{t + ".value = ?", []any{v}}
	}
}

func scanEntries(rows *sql.Rows) ([]*recordings.Entry, error) {
	defer rows.Close()
	var out []*recordings.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEntry(rows *sql.Rows) (*recordings.Entry, error) {
	var e recordings.Entry
	var breakout string
	if err := rows.Scan(&e.RecordID, &e.MeetingID, &e.InternalMeetingID, &e.Name, &e.IsBreakout,
		&e.Published, &e.State, &e.StartTime, &e.EndTime, &e.Participants, &e.RawSize, &breakout,
		&e.ServerID, &e.Protected, &e.PublishSet, &e.Tenant, &e.Bytes); err != nil {
		return nil, err
	}
	if breakout != "" {
		var b breakoutJSON
		if err := json.Unmarshal([]byte(breakout), &b); err != nil {
			return nil, fmt.Errorf("recording %s: unreadable breakout: %w", e.RecordID, err)
		}
		e.Breakout, e.BreakoutRooms = b.Breakout, b.Rooms
	}
	return &e, nil
}

// fillChildren loads the formats, thumbnails and metadata of entries with
// one query per table.
func (s *DB) fillChildren(ctx context.Context, entries []*recordings.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	byID := make(map[string]*recordings.Entry, len(entries))
	ids := make([]any, len(entries))
	for i, e := range entries {
		byID[e.RecordID] = e
		ids[i] = e.RecordID
	}
	in := "(" + placeholders(len(ids)) + ")"

	rows, err := s.db.QueryContext(ctx, `SELECT record_id, format, url, path, processing_time, duration_ms, length, size, extensions
		FROM recording_formats WHERE record_id IN `+in+` ORDER BY record_id, position`, ids...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var f recordings.Format
		if err := rows.Scan(&id, &f.Type, &f.URL, &f.Path, &f.ProcessingTime, &f.DurationMS, &f.Length, &f.Size, &f.Extensions); err != nil {
			rows.Close()
			return err
		}
		byID[id].Formats = append(byID[id].Formats, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = s.db.QueryContext(ctx, `SELECT record_id, format, width, height, alt, url, path
		FROM recording_thumbnails WHERE record_id IN `+in+` ORDER BY record_id, format, sequence`, ids...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, format string
		var t recordings.Thumbnail
		if err := rows.Scan(&id, &format, &t.Width, &t.Height, &t.Alt, &t.URL, &t.Path); err != nil {
			rows.Close()
			return err
		}
		e := byID[id]
		for i := range e.Formats {
			if e.Formats[i].Type == format {
				e.Formats[i].Thumbnails = append(e.Formats[i].Thumbnails, t)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = s.db.QueryContext(ctx, `SELECT record_id, key, value FROM recording_meta
		WHERE record_id IN `+in+` ORDER BY record_id, position`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var m recordings.MetaEntry
		if err := rows.Scan(&id, &m.Key, &m.Value); err != nil {
			return err
		}
		byID[id].Meta = append(byID[id].Meta, m)
	}
	return rows.Err()
}

// SaveImport is SaveImports for one recording.
func (s *DB) SaveImport(ctx context.Context, e recordings.Entry) (recordings.Entry, error) {
	saved, err := s.SaveImports(ctx, []recordings.Entry{e})
	if err != nil {
		return e, err
	}
	return saved[0], nil
}

// SaveImports implements recordings.Store: one transaction for all of es,
// synced to stable storage before it returns (see durableTx), so that the
// importer may then remove the recordings' tars.
func (s *DB) SaveImports(ctx context.Context, es []recordings.Entry) ([]recordings.Entry, error) {
	if err := s.durableTx(ctx, func(tx *sql.Tx) error {
		for _, e := range es {
			if err := saveImport(ctx, tx, e); err != nil {
				return fmt.Errorf("saving recording %s: %w", e.RecordID, err)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Committed: an error from here on would make the importer undo files
	// of rows that stay. Without the read-back, an entry is what was
	// written (short of re-applied metadata edits).
	saved := append([]recordings.Entry(nil), es...)
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.RecordID
	}
	if got, err := s.Recordings(ctx, ids); err == nil {
		byID := make(map[string]recordings.Entry, len(got))
		for _, e := range got {
			byID[e.RecordID] = e
		}
		for i, e := range es {
			if g, ok := byID[e.RecordID]; ok {
				saved[i] = g
			}
		}
	}
	return saved, nil
}

func saveImport(ctx context.Context, tx *sql.Tx, e recordings.Entry) error {
	var breakout string
	if e.Breakout != nil || len(e.BreakoutRooms) > 0 {
		raw, err := json.Marshal(breakoutJSON{e.Breakout, e.BreakoutRooms})
		if err != nil {
			return err
		}
		breakout = string(raw)
	}
	now := time.Now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO recordings(record_id, meeting_id, internal_meeting_id, name,
		is_breakout, published, state, start_time, end_time, participants, raw_size, breakout, server_id,
		protected, publish_set, imported_at, updated_at, tenant, bytes)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(record_id) DO UPDATE SET meeting_id = excluded.meeting_id,
			internal_meeting_id = excluded.internal_meeting_id, name = excluded.name,
			is_breakout = excluded.is_breakout, published = excluded.published, state = excluded.state,
			start_time = excluded.start_time, end_time = excluded.end_time,
			participants = excluded.participants, raw_size = excluded.raw_size,
			breakout = excluded.breakout,
			server_id = CASE WHEN excluded.server_id = '' THEN recordings.server_id ELSE excluded.server_id END,
			protected = excluded.protected, publish_set = CASE WHEN recordings.publish_set = 1 OR excluded.publish_set = 1 THEN 1 ELSE 0 END,
			updated_at = excluded.updated_at, tenant = excluded.tenant, bytes = excluded.bytes`,
		e.RecordID, e.MeetingID, e.InternalMeetingID, e.Name, e.IsBreakout, e.Published, e.State,
		e.StartTime, e.EndTime, e.Participants, e.RawSize, breakout, e.ServerID, e.Protected,
		e.PublishSet, now, now, e.Tenant, e.Bytes); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM recording_formats WHERE record_id = ?", e.RecordID); err != nil {
		return err
	}
	for i, f := range e.Formats {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recording_formats(record_id, position, format, url, path,
			processing_time, duration_ms, length, size, extensions) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.RecordID, i, f.Type, storedURL(f.URL, f.Path), f.Path, f.ProcessingTime, f.DurationMS, f.Length, f.Size, f.Extensions); err != nil {
			return err
		}
		for j, t := range f.Thumbnails {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recording_thumbnails(record_id, format, sequence, width,
				height, alt, url, path) VALUES(?, ?, ?, ?, ?, ?, ?, ?)`,
				e.RecordID, f.Type, j, t.Width, t.Height, t.Alt, storedURL(t.URL, t.Path), t.Path); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM recording_meta WHERE record_id = ?", e.RecordID); err != nil {
		return err
	}
	for i, m := range e.Meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recording_meta(record_id, position, key, value) VALUES(?, ?, ?, ?)
			ON CONFLICT(record_id, key) DO UPDATE SET value = excluded.value`, e.RecordID, i, m.Key, m.Value); err != nil {
			return err
		}
	}
	// The API's edits win over what the server sent again.
	rows, err := tx.QueryContext(ctx, "SELECT key, value FROM recording_meta_edits WHERE record_id = ?", e.RecordID)
	if err != nil {
		return err
	}
	var edits []recordings.MetaEntry
	for rows.Next() {
		var key string
		var value sql.NullString
		if err := rows.Scan(&key, &value); err != nil {
			rows.Close()
			return err
		}
		edits = append(edits, recordings.MetaEntry{Key: key, Value: value.String})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return applyMeta(ctx, tx, e.RecordID, edits)
}

// storedURL is what the index keeps of a link: links are served from the
// balancer's host, so only the path matters (scalelite keeps the same);
// the full URL is kept only when it has no usable path. This halves the
// size of the index.
func storedURL(url, path string) string {
	if path != "" {
		return ""
	}
	return url
}

// applyMeta sets (Value != "") or removes metadata keys of one recording,
// keeping the position of a key that exists and appending a new one.
func applyMeta(ctx context.Context, tx *sql.Tx, id string, changes []recordings.MetaEntry) error {
	for _, c := range changes {
		var err error
		if c.Value == "" {
			_, err = tx.ExecContext(ctx, "DELETE FROM recording_meta WHERE record_id = ? AND key = ?", id, c.Key)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO recording_meta(record_id, position, key, value)
				VALUES(?1, (SELECT coalesce(max(position), -1) + 1 FROM recording_meta WHERE record_id = ?1), ?2, ?3)
				ON CONFLICT(record_id, key) DO UPDATE SET value = excluded.value`, id, c.Key, c.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SetPublished implements recordings.Store.
func (s *DB) SetPublished(ctx context.Context, id string, published bool) error {
	state := recordings.StateUnpublished
	if published {
		state = recordings.StatePublished
	}
	return s.changeOne(ctx, `UPDATE recordings SET published = ?, state = ?, publish_set = 1, updated_at = ?
		WHERE record_id = ? AND state IN ('published', 'unpublished')`, published, state, time.Now().UnixMilli(), id)
}

// MarkDeleted implements recordings.Store.
func (s *DB) MarkDeleted(ctx context.Context, id, format string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM recordings WHERE record_id = ?", id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return recordings.ErrNotFound
		}
		if format != "" {
			if _, err := tx.ExecContext(ctx, "DELETE FROM recording_formats WHERE record_id = ? AND format = ?", id, format); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM recording_formats WHERE record_id = ?", id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				// Its size is measured again by the importer's walk.
				_, err := tx.ExecContext(ctx, "UPDATE recordings SET updated_at = ?, bytes = -1 WHERE record_id = ?", time.Now().UnixMilli(), id)
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM recording_formats WHERE record_id = ?", id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE recordings SET state = 'deleted', published = 0, bytes = 0, updated_at = ? WHERE record_id = ?",
			time.Now().UnixMilli(), id)
		return err
	})
}

// UpdateMeta implements recordings.Store.
func (s *DB) UpdateMeta(ctx context.Context, ids []string, changes []recordings.MetaEntry) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			for _, c := range changes {
				var value any // NULL: the key was removed
				if c.Value != "" {
					value = c.Value
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO recording_meta_edits(record_id, key, value) VALUES(?, ?, ?)
					ON CONFLICT(record_id, key) DO UPDATE SET value = excluded.value`, id, c.Key, value); err != nil {
					return err
				}
			}
			if err := applyMeta(ctx, tx, id, changes); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE recordings SET updated_at = ? WHERE record_id = ?", time.Now().UnixMilli(), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetProtected implements recordings.Store.
func (s *DB) SetProtected(ctx context.Context, ids []string, protected bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "UPDATE recordings SET protected = ?, updated_at = ? WHERE record_id = ?",
				protected, time.Now().UnixMilli(), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// changeOne runs one update and reports recordings.ErrNotFound when it
// changed no row.
func (s *DB) changeOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	s.counts.reset()
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return recordings.ErrNotFound
	}
	return nil
}

// durableTx is inTx with the commit synced to stable storage. The
// database runs with synchronous=NORMAL, under which a WAL commit survives
// a crash of the process but not a power loss (the WAL is synced only at
// checkpoints). This transaction runs on a connection switched to
// synchronous=FULL, which syncs the WAL at the commit: one fsync of one
// file, whatever else is written to that disk. The connection is switched
// back before it returns to the pool.
func (s *DB) durableTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.engine == Postgres {
		return s.inTx(ctx, fn) // its commits are synced already
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = NORMAL"); err != nil {
			// Left at FULL, the connection would only be slower; drop it.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	return s.runTx(tx, err, fn)
}

// inTx runs fn in one transaction (the DSN makes it BEGIN IMMEDIATE, so it
// never fails half-way on a lock upgrade).
func (s *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	return s.runTx(tx, err, fn)
}

// runTx runs fn in tx, just begun (or not: begin is its error), and
// commits it; the recordings' cached totals are stale after any write.
func (s *DB) runTx(tx *sql.Tx, begin error, fn func(*sql.Tx) error) error {
	if begin != nil {
		return begin
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	err := tx.Commit()
	s.counts.reset()
	return err
}

// prefixEnd follows every string that starts with a given prefix, in the
// byte order both engines compare text by: prefix ranges are
// [p, p+prefixEnd). (It is the last code point, valid UTF-8, which
// PostgreSQL insists on.)
const prefixEnd = "\U0010FFFF"

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

var _ recordings.Store = (*DB)(nil)

// RecordingStats implements recordings.StatsStore. It reads the whole
// index, so callers keep its answer for a while (metrics scrape often).
func (s *DB) RecordingStats(ctx context.Context) ([]recordings.Stats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.tenant, r.state, count(*),
			coalesce(sum(CASE WHEN r.bytes >= 0 THEN r.bytes ELSE coalesce(f.total, 0) END), 0)
		FROM recordings r
		LEFT JOIN (SELECT record_id, sum(size) AS total FROM recording_formats GROUP BY record_id) f ON f.record_id = r.record_id
		GROUP BY r.tenant, r.state ORDER BY r.tenant, r.state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordings.Stats
	for rows.Next() {
		var st recordings.Stats
		if err := rows.Scan(&st.Tenant, &st.State, &st.Recordings, &st.Bytes); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// UnsizedRecordings implements recordings.SizeStore.
func (s *DB) UnsizedRecordings(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT record_id FROM recordings WHERE bytes < 0 AND state != 'deleted' LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SetRecordingBytes implements recordings.SizeStore.
func (s *DB) SetRecordingBytes(ctx context.Context, id string, bytes int64) error {
	return s.write(ctx, "UPDATE recordings SET bytes = ? WHERE record_id = ?", bytes, id)
}

var (
	_ recordings.StatsStore = (*DB)(nil)
	_ recordings.SizeStore  = (*DB)(nil)
)

// ExpiryCandidates implements recordings.ExpiryStore. The literal states
// let both engines walk the partial index recordings_expiry, oldest
// first, from the cursor.
func (s *DB) ExpiryCandidates(ctx context.Context, q recordings.ExpiryQuery, limit int) ([]recordings.Entry, error) {
	cutoff := max(q.PublishedBefore, q.UnpublishedBefore)
	if cutoff == 0 || limit <= 0 {
		return nil, nil
	}
	conds := []string{"r.state IN ('published', 'unpublished')", "r.start_time < ?",
		"(r.start_time > ? OR (r.start_time = ? AND r.record_id > ?))",
		"((r.state = 'published' AND r.start_time < ?) OR (r.state = 'unpublished' AND r.start_time < ?))"}
	// A state that never expires gets a cutoff nothing is before.
	args := []any{cutoff, q.AfterStartTime, q.AfterStartTime, q.AfterRecordID, q.PublishedBefore, q.UnpublishedBefore}
	switch {
	case !q.Others:
		conds = append(conds, "r.tenant = ?")
		args = append(args, q.Tenant)
	case len(q.Except) > 0:
		conds = append(conds, "r.tenant NOT IN ("+placeholders(len(q.Except))+")")
		args = append(args, anys(q.Except)...)
	}
	if len(q.Keep) > 0 {
		var ors []string
		for _, k := range q.Keep {
			_, match := metaMatch("m", k.Value)
			ors = append(ors, "(m.key = ? AND "+match.sql+")")
			args = append(append(args, k.Key), match.args...)
		}
		conds = append(conds, "NOT EXISTS (SELECT 1 FROM recording_meta m WHERE m.record_id = r.record_id AND ("+strings.Join(ors, " OR ")+"))")
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, "SELECT "+recordingColumns+" FROM recordings r WHERE "+strings.Join(conds, " AND ")+
		" ORDER BY r.start_time, r.record_id LIMIT ?", args...)
	if err != nil {
		return nil, err
	}
	got, err := scanEntries(rows)
	if err != nil {
		return nil, err
	}
	out := make([]recordings.Entry, len(got))
	for i, e := range got {
		out[i] = *e
	}
	return out, nil
}

var _ recordings.ExpiryStore = (*DB)(nil)

// IndexPage implements recordings.CheckStore: one page of the primary
// key's order, a short query each, so that a check of a large index
// never holds a read open for long.
func (s *DB) IndexPage(ctx context.Context, after string, limit int) ([]recordings.IndexRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.record_id, r.state, r.published, coalesce(f.format, '')
		FROM (SELECT record_id, state, published FROM recordings WHERE record_id > ? ORDER BY record_id LIMIT ?) r
		LEFT JOIN recording_formats f ON f.record_id = r.record_id
		ORDER BY r.record_id, f.format`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordings.IndexRow
	for rows.Next() {
		var row recordings.IndexRow
		var format string
		if err := rows.Scan(&row.RecordID, &row.State, &row.Published, &format); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].RecordID != row.RecordID {
			out = append(out, row)
		}
		if format != "" {
			last := &out[len(out)-1]
			last.Formats = append(last.Formats, format)
		}
	}
	return out, rows.Err()
}

var _ recordings.CheckStore = (*DB)(nil)
