package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Engine is the database engine behind a DB.
type Engine string

const (
	// SQLite is one file, for one balancer process (the default).
	SQLite Engine = "sqlite"
	// Postgres is a PostgreSQL database, which several balancer processes
	// can share.
	Postgres Engine = "postgres"
)

// ParseLocation tells which engine a database setting names and where:
// postgres:// and postgresql:// URLs (and key=value connection strings
// that start with "host=") are PostgreSQL; sqlite://<path> and anything
// else is a SQLite file path.
func ParseLocation(loc string) (Engine, string) {
	switch {
	case strings.HasPrefix(loc, "postgres://"), strings.HasPrefix(loc, "postgresql://"):
		return Postgres, loc
	case strings.HasPrefix(loc, "host="):
		return Postgres, loc
	case strings.HasPrefix(loc, "sqlite://"):
		return SQLite, strings.TrimPrefix(loc, "sqlite://")
	}
	return SQLite, loc
}

// Redact returns loc with any password replaced, for logs and listings.
func Redact(loc string) string {
	if e, _ := ParseLocation(loc); e != Postgres {
		return loc
	}
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	// key=value form: hide the value of password=.
	fields := strings.Fields(loc)
	for i, f := range fields {
		if strings.HasPrefix(f, "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

// openPostgres opens a pool of connections to the PostgreSQL database at
// dsn. The store's queries are written once, with SQLite's "?" markers;
// the connections rewrite them to PostgreSQL's "$1" form (cached per query
// text) and pass booleans as 0/1, as the SQLite schema keeps them.
func openPostgres(dsn, instance string) (*sql.DB, error) {
	cfg, err := connConfig(dsn, instance)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(qmarkConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(maxPostgresConns)
	db.SetMaxIdleConns(maxPostgresConns)
	return db, nil
}

// connConfig is how each connection of the instance connects to dsn, the
// pool's and the listener's (store/cluster.go) alike.
func connConfig(dsn, instance string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("reading PostgreSQL URL %s: %w", Redact(dsn), err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// The notification triggers name the instance that made a change by
	// its connection's application_name.
	cfg.RuntimeParams["application_name"] = appNamePrefix + instance
	return cfg, nil
}

type qmarkConnector struct{ driver.Connector }

func (c qmarkConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return qmarkConn{conn.(*stdlib.Conn)}, nil
}

// qmarkConn is pgx's database/sql connection with "?" markers rewritten.
// Every other method (transactions, ping, session reset) is pgx's own.
type qmarkConn struct{ *stdlib.Conn }

func (c qmarkConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c qmarkConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c qmarkConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c qmarkConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// CheckNamedValue passes booleans as integers: the schema keeps flags in
// INTEGER columns on both engines.
func (c qmarkConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		if b {
			nv.Value = int64(1)
		} else {
			nv.Value = int64(0)
		}
	}
	return nil
}

// rebound caches rebind's answers: query text -> PostgreSQL form. It keeps
// at most maxRebound of them: some query texts vary per call (a
// getRecordings page's LIMIT and OFFSET, an IN list's length), and a cache
// of every text ever seen would grow for as long as the process runs. The
// fixed queries, the hot ones, run from the start: they are in long before
// it is full.
var (
	rebound  sync.Map
	reboundN atomic.Int64
)

const maxRebound = 4096

// rebind turns each "?" outside quotes into $1, $2, ... and each "?N"
// into $N.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			b.WriteByte('$')
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if j > i+1 { // ?NNN, SQLite's numbered form
				b.WriteString(query[i+1 : j])
				i = j - 1
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
			continue
		}
		b.WriteByte(c)
	}
	q := b.String()
	if reboundN.Load() < maxRebound {
		if _, loaded := rebound.LoadOrStore(query, q); !loaded {
			reboundN.Add(1)
		}
	}
	return q
}

// splitStatements splits a write of several statements (each with its own
// "?" markers) into single statements with their arguments: PostgreSQL
// takes arguments for one statement at a time.
func splitStatements(query string, args []any) ([]string, [][]any) {
	var qs []string
	var as [][]any
	for _, part := range strings.Split(query, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		n := strings.Count(part, "?") // the writes that use it have no ?N
		qs = append(qs, part)
		as = append(as, args[:n:n])
		args = args[n:]
	}
	return qs, as
}

// forUpdate is the clause that locks the rows a SELECT reads until the
// transaction ends. SQLite has none and needs none: its write transactions
// begin with the database's write lock.
func (s *DB) forUpdate() string {
	if s.engine == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
