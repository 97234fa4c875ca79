// Package store opens the balancer's database, SQLite (one file, the
// default) or PostgreSQL (shared by several balancer processes), and keeps
// its schema. Each package that persists something owns a small interface
// (for example balancer.Store); this package implements them on one
// *sql.DB. The queries are written once, in the SQL both engines share;
// the few places where they differ ask s.engine.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver (cgo)
)

// DB is the balancer's database.
type DB struct {
	engine    Engine
	dsn       string            // PostgreSQL's connection string, for the listener
	instance  string            // this process among those sharing a PostgreSQL database
	notes     chan cluster.Note // registry changes for the other instances (notes.go); nil on SQLite
	notesDone chan struct{}
	db        *sql.DB
	writes    chan writeOp
	stop      chan struct{}
	done      chan struct{}
	counts    countCache           // totals of paginated recording queries
	stmts     map[string]*sql.Stmt // the writer's prepared statements (writer.go)
}

// Open opens the database at loc (see ParseLocation: a SQLite file path,
// created if needed, or a PostgreSQL URL) and brings its schema up to
// date. Safe to call while another handle or process has it open: the
// migrations run once, in one transaction.
func Open(ctx context.Context, loc string) (*DB, error) {
	engine, path := ParseLocation(loc)
	if engine == Postgres {
		return openShared(ctx, path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
	}
	// WAL lets readers run beside the writer; NORMAL sync is durable
	// against process crashes, which is what a kill -9 or a reload needs.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_foreign_keys=on&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	s := &DB{engine: SQLite, db: db, writes: make(chan writeOp, maxBatch), stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, err)
	}
	go s.writer()
	return s, nil
}

// openShared opens a PostgreSQL database. Writes go straight to it (it
// has its own group commit), so there is no writer goroutine.
func openShared(ctx context.Context, dsn string) (*DB, error) {
	instance := newInstanceID()
	db, err := openPostgres(dsn, instance)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", Redact(dsn), err)
	}
	s := &DB{engine: Postgres, dsn: dsn, instance: instance, db: db, stop: make(chan struct{}), done: make(chan struct{}),
		notes: make(chan cluster.Note, 4096), notesDone: make(chan struct{})}
	close(s.done)
	if err := s.migratePostgres(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating PostgreSQL %s: %w", Redact(dsn), err)
	}
	go s.notifier()
	return s, nil
}

// Engine tells which engine the database runs on.
func (s *DB) Engine() Engine { return s.engine }

// Close finishes the queued writes and closes the database.
func (s *DB) Close() error {
	close(s.stop)
	<-s.done
	if s.notesDone != nil {
		<-s.notesDone
	}
	for _, st := range s.stmts { // the writer is done with them
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

// Check reads from the registry, to tell a health check whether the
// database answers.
func (s *DB) Check(ctx context.Context) error {
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1 FROM meetings LIMIT 1").Scan(&one)
	if err == sql.ErrNoRows {
		return nil
	}
	return err
}

// migrations are applied in order; the schema version is PRAGMA
// user_version. Append, never edit.
var migrations = []string{
	// The registry is read whole at start and written a row at a time on
	// the create path: one b-tree (WITHOUT ROWID) and no secondary index
	// keep each write to the fewest pages.
	`CREATE TABLE meetings (
		key        TEXT PRIMARY KEY,
		meeting_id TEXT NOT NULL,
		server_id  TEXT NOT NULL,
		created_at INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// The operator's changes to servers (balancer.Override, as JSON).
	`CREATE TABLE server_overrides (
		id         TEXT PRIMARY KEY,
		override   TEXT NOT NULL,
		updated_at INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// The recordings index (recordings.Store). A recording's own fields
	// live in one row; formats, thumbnails and metadata in child tables,
	// deleted with it. meta holds the effective metadata (what getRecordings
	// filters on and shows); meta_edits the changes made through
	// updateRecordings, re-applied over every re-import. The indexes serve
	// the lookups getRecordings makes: by meeting, by record id prefix (the
	// primary key), newest first, and by metadata key and value.
	`CREATE TABLE recordings (
		record_id           TEXT PRIMARY KEY,
		meeting_id          TEXT NOT NULL,
		internal_meeting_id TEXT NOT NULL,
		name                TEXT NOT NULL,
		is_breakout         INTEGER NOT NULL,
		published           INTEGER NOT NULL,
		state               TEXT NOT NULL,
		start_time          INTEGER NOT NULL,
		end_time            INTEGER NOT NULL,
		participants        INTEGER NOT NULL,
		raw_size            INTEGER NOT NULL,
		breakout            TEXT NOT NULL,
		server_id           TEXT NOT NULL,
		protected           INTEGER NOT NULL DEFAULT 0,
		publish_set         INTEGER NOT NULL DEFAULT 0,
		imported_at         INTEGER NOT NULL,
		updated_at          INTEGER NOT NULL
	);
	CREATE INDEX recordings_meeting ON recordings(meeting_id, start_time DESC);
	CREATE INDEX recordings_newest ON recordings(start_time DESC, record_id DESC);
	CREATE TABLE recording_formats (
		record_id       TEXT NOT NULL REFERENCES recordings(record_id) ON DELETE CASCADE,
		position        INTEGER NOT NULL,
		format          TEXT NOT NULL,
		url             TEXT NOT NULL,
		path            TEXT NOT NULL,
		processing_time INTEGER NOT NULL,
		duration_ms     INTEGER NOT NULL,
		length          INTEGER NOT NULL,
		size            INTEGER NOT NULL,
		extensions      TEXT NOT NULL,
		PRIMARY KEY (record_id, format)
	) WITHOUT ROWID;
	CREATE TABLE recording_thumbnails (
		record_id TEXT NOT NULL,
		format    TEXT NOT NULL,
		sequence  INTEGER NOT NULL,
		width     TEXT NOT NULL,
		height    TEXT NOT NULL,
		alt       TEXT NOT NULL,
		url       TEXT NOT NULL,
		path      TEXT NOT NULL,
		PRIMARY KEY (record_id, format, sequence),
		FOREIGN KEY (record_id, format) REFERENCES recording_formats(record_id, format) ON DELETE CASCADE
	) WITHOUT ROWID;
	CREATE TABLE recording_meta (
		record_id TEXT NOT NULL REFERENCES recordings(record_id) ON DELETE CASCADE,
		position  INTEGER NOT NULL,
		key       TEXT NOT NULL,
		value     TEXT NOT NULL,
		PRIMARY KEY (record_id, key)
	) WITHOUT ROWID;
	CREATE INDEX recording_meta_value ON recording_meta(key, value);
	CREATE TABLE recording_meta_edits (
		record_id TEXT NOT NULL REFERENCES recordings(record_id) ON DELETE CASCADE,
		key       TEXT NOT NULL,
		value     TEXT,
		PRIMARY KEY (record_id, key)
	) WITHOUT ROWID;`,
	// Deliveries that must survive a restart (recording-ready callbacks,
	// relayed callbacks), and the nonces of recording uploads already
	// accepted (replay protection).
	`CREATE TABLE recording_callbacks (
		meeting_id TEXT PRIMARY KEY,
		url        TEXT NOT NULL,
		secret_tag TEXT NOT NULL,
		created_at INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE deliveries (
		id           INTEGER PRIMARY KEY,
		kind         TEXT NOT NULL,
		url          TEXT NOT NULL,
		content_type TEXT NOT NULL,
		body         BLOB NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		next_at      INTEGER NOT NULL,
		last_error   TEXT NOT NULL DEFAULT '',
		created_at   INTEGER NOT NULL
	);
	CREATE INDEX deliveries_due ON deliveries(next_at);
	CREATE TABLE upload_nonces (
		nonce      TEXT PRIMARY KEY,
		expires_at INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// Playback and callbacks. signing_keys are made once per database
	// (the MACs of protected-recording links and cookies, and of the
	// callback URLs given to servers). meeting_callbacks keeps the
	// callback URLs a front-end gave at create, relayed when the meeting's
	// server calls the balancer's own URLs instead. Deliveries may be GETs
	// (relayed end callbacks) and carry headers (a bearer token).
	`CREATE TABLE signing_keys (
		name       TEXT PRIMARY KEY,
		key        BLOB NOT NULL,
		created_at INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE meeting_callbacks (
		key           TEXT PRIMARY KEY,
		server_id     TEXT NOT NULL,
		meeting_id    TEXT NOT NULL,
		ended_url     TEXT NOT NULL,
		end_url       TEXT NOT NULL,
		analytics_url TEXT NOT NULL,
		secret_tag    TEXT NOT NULL,
		created_at    INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX meeting_callbacks_age ON meeting_callbacks(created_at);
	ALTER TABLE deliveries ADD COLUMN method TEXT NOT NULL DEFAULT '';
	ALTER TABLE deliveries ADD COLUMN headers TEXT NOT NULL DEFAULT '';`,
	// Tenants: each recording belongs to one (the default tenant is "").
	// getRecordings always filters on it, next to the meeting id.
	`ALTER TABLE recordings ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
	DROP INDEX recordings_meeting;
	CREATE INDEX recordings_meeting ON recordings(meeting_id, tenant, start_time DESC);`,
	// Tenants added, changed or removed through the admin API: a whole
	// tenant's config as JSON, or a removal of a configured one.
	`CREATE TABLE tenant_overrides (
		name       TEXT PRIMARY KEY,
		config     TEXT NOT NULL,
		removed    INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// A meeting id "<name>~<id>" whose <name> has a tenant name's form (a
	// DNS label in lower case) is in the tenants' namespace (tenants.Split)
	// whether that tenant exists or not: recordings imported under the
	// default tenant before that rule (a removed tenant's) go to the
	// tenant their id names.
	`UPDATE recordings
		SET tenant = substr(meeting_id, 1, instr(meeting_id, '~') - 1),
		    meeting_id = substr(meeting_id, instr(meeting_id, '~') + 1)
		WHERE tenant = '' AND instr(meeting_id, '~') BETWEEN 2 AND 64
		  AND substr(meeting_id, 1, instr(meeting_id, '~') - 1) NOT GLOB '*[^a-z0-9-]*'
		  AND substr(meeting_id, 1, 1) != '-'
		  AND substr(meeting_id, instr(meeting_id, '~') - 1, 1) != '-';`,
	// Several instances sharing one database (PostgreSQL only: the
	// instances, the poller's lease, the shared polls and the
	// notifications). A SQLite file belongs to one process: nothing to do.
	`SELECT 1;`,
	// Voice bridges (balancer.VoiceBridgePolicy): each meeting's number,
	// unique among the meetings of the pool; the unique index is what
	// decides between instances sharing a PostgreSQL database.
	`ALTER TABLE meetings ADD COLUMN voice_bridge TEXT NOT NULL DEFAULT '';
	CREATE UNIQUE INDEX meetings_voice_bridge ON meetings(voice_bridge) WHERE voice_bridge != '';`,
	// Nothing, on either engine (kept so both lists keep their numbers).
	`SELECT 1;`,
	// Each recording's size on disk (recordings.Entry.Bytes); -1 until the
	// importer's walk measures the recordings indexed before.
	`ALTER TABLE recordings ADD COLUMN bytes INTEGER NOT NULL DEFAULT -1;`,
	// Retention's query (ExpiryCandidates): the oldest recordings still
	// listed; those already deleted are not walked again on every run.
	`CREATE INDEX recordings_expiry ON recordings(start_time, record_id) WHERE state IN ('published', 'unpublished');`,
}

func (s *DB) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this build knows (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Meetings implements balancer.Store.
func (s *DB) Meetings(ctx context.Context) ([]balancer.MeetingRecord, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT key, meeting_id, server_id, created_at, voice_bridge FROM meetings")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []balancer.MeetingRecord
	for rows.Next() {
		var m balancer.MeetingRecord
		var created int64
		if err := rows.Scan(&m.Key, &m.MeetingID, &m.ServerID, &created, &m.VoiceBridge); err != nil {
			return nil, err
		}
		m.Created = time.UnixMilli(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SaveMeeting implements balancer.Store.
func (s *DB) SaveMeeting(ctx context.Context, m balancer.MeetingRecord) error {
	err := s.write(ctx,
		`INSERT INTO meetings(key, meeting_id, server_id, created_at, voice_bridge) VALUES(?, ?, ?, ?, ?)
		 ON CONFLICT(key) DO UPDATE SET meeting_id = excluded.meeting_id, server_id = excluded.server_id, created_at = excluded.created_at,
			voice_bridge = excluded.voice_bridge`,
		m.Key, m.MeetingID, m.ServerID, m.Created.UnixMilli(), m.VoiceBridge)
	if err == nil {
		s.noteMeeting("+", m)
	}
	return err
}

// DeleteMeeting implements balancer.Store.
func (s *DB) DeleteMeeting(ctx context.Context, key string) error {
	if s.engine != Postgres {
		return s.write(ctx, "DELETE FROM meetings WHERE key = ?", key)
	}
	select {
	case <-s.stop:
		return errClosed
	default:
	}
	// The other instances drop the placement the row held.
	m := balancer.MeetingRecord{Key: key}
	var created int64
	err := s.db.QueryRowContext(ctx, "DELETE FROM meetings WHERE key = ? RETURNING meeting_id, server_id, created_at",
		key).Scan(&m.MeetingID, &m.ServerID, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	m.Created = time.UnixMilli(created)
	s.noteMeeting("-", m)
	return nil
}

// Overrides implements balancer.OverrideStore.
func (s *DB) Overrides(ctx context.Context) ([]balancer.Override, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, override FROM server_overrides")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []balancer.Override
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		var o balancer.Override
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return nil, fmt.Errorf("server %s: unreadable override: %w", id, err)
		}
		o.ID = id
		out = append(out, o)
	}
	return out, rows.Err()
}

// SaveOverride implements balancer.OverrideStore.
func (s *DB) SaveOverride(ctx context.Context, o balancer.Override) error {
	raw, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return s.write(ctx, `INSERT INTO server_overrides(id, override, updated_at) VALUES(?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET override = excluded.override, updated_at = excluded.updated_at`,
		o.ID, string(raw), time.Now().UnixMilli())
}

// DeleteOverride implements balancer.OverrideStore.
func (s *DB) DeleteOverride(ctx context.Context, id string) error {
	return s.write(ctx, "DELETE FROM server_overrides WHERE id = ?", id)
}

var (
	_ balancer.Store         = (*DB)(nil)
	_ balancer.OverrideStore = (*DB)(nil)
)
