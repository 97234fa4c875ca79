package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/internal/pgtest"
)

func TestParseLocation(t *testing.T) {
	for loc, want := range map[string]Engine{
		"/var/lib/caddy/bbb.sqlite":             SQLite,
		"bbb.sqlite":                            SQLite,
		"sqlite:///var/lib/bbb.sqlite":          SQLite,
		"postgres://bbb@db:5432/bbb":            Postgres,
		"postgresql://bbb@db/bbb?sslmode=a":     Postgres,
		"host=db user=bbb password=x dbname=bb": Postgres,
	} {
		if got, _ := ParseLocation(loc); got != want {
			t.Errorf("%s: %s, want %s", loc, got, want)
		}
	}
	if _, path := ParseLocation("sqlite:///var/lib/bbb.sqlite"); path != "/var/lib/bbb.sqlite" {
		t.Errorf("sqlite:// path %q", path)
	}
	for loc, want := range map[string]string{
		"postgres://bbb:s3cret@db:5432/bbb?sslmode=require": "postgres://bbb:xxxxx@db:5432/bbb?sslmode=require",
		"postgres://bbb@db/bbb?password=s3cret":             "postgres://bbb@db/bbb?password=xxxxx",
		"host=db password=s3cret user=bbb":                  "host=db password=xxxxx user=bbb",
	} {
		if got := Redact(loc); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%s) = %s, want %s", loc, got, want)
		}
	}
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                              "SELECT 1",
		"a = ? AND b = ?":                       "a = $1 AND b = $2",
		"x = '?' AND y = ?":                     "x = '?' AND y = $1",
		"VALUES(?1, (SELECT ?1), ?2, ?3)":       "VALUES($1, (SELECT $1), $2, $3)",
		`"we?ird" = ? OR z IN (?, ?)`:           `"we?ird" = $1 OR z IN ($2, $3)`,
		"DELETE FROM t WHERE a < ?; INSERT (?)": "DELETE FROM t WHERE a < $1; INSERT ($2)",
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// Query texts that vary per call (a page's OFFSET) do not grow the cache of
// rewritten queries past its bound, and are rewritten all the same.
func TestRebindCacheBounded(t *testing.T) {
	for i := range maxRebound + 100 {
		q := fmt.Sprintf("SELECT x FROM t WHERE a = ? LIMIT 25 OFFSET %d", i)
		if got, want := rebind(q), fmt.Sprintf("SELECT x FROM t WHERE a = $1 LIMIT 25 OFFSET %d", i); got != want {
			t.Fatalf("rebind(%q) = %q, want %q", q, got, want)
		}
	}
	n := 0
	rebound.Range(func(any, any) bool { n++; return true })
	if n > maxRebound || reboundN.Load() > maxRebound {
		t.Fatalf("%d rewritten queries cached (counted %d), want at most %d", n, reboundN.Load(), maxRebound)
	}
}

// Instances that start at the same moment on a new database run each
// migration once: every Open succeeds and the schema is whole.
func TestPostgresConcurrentMigrations(t *testing.T) {
	loc := pgtest.Database(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(ctx, loc)
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	db := openAt(t, loc)
	var version int
	if err := db.db.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
}

// A PostgreSQL that cannot be reached fails Open at once with an error
// that names it (without its password).
func TestPostgresUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://bbb:s3cret@127.0.0.1:1/bbb?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("opened an unreachable database")
	}
	if msg := err.Error(); !strings.Contains(msg, "connecting to PostgreSQL postgres://bbb:xxxxx@127.0.0.1:1/bbb") || strings.Contains(msg, "s3cret") {
		t.Fatalf("error %q", msg)
	}
}

// Two instances on one database: the first claim of a meeting wins, a
// voice bridge is one meeting's, the poller's lease is one instance's
// until it runs out, and each hears the other's changes, not its own.
func TestPostgresSharedBetweenInstances(t *testing.T) {
	loc := pgtest.Database(t)
	ctx := context.Background()
	a, b := openAt(t, loc), openAt(t, loc)
	now := time.UnixMilli(time.Now().UnixMilli())

	notes := make(chan cluster.Note, 10)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	connected := make(chan struct{}, 1)
	go b.Listen(lctx, func() { connected <- struct{}{} }, func(n cluster.Note) { notes <- n }, func(error, time.Duration) {})
	<-connected

	first := balancer.MeetingRecord{Key: "k", MeetingID: "k", ServerID: "bbb1", Created: now, VoiceBridge: "123456789"}
	if held, err := a.ClaimMeeting(ctx, first, nil); err != nil || !held.Created.Equal(now) || held.ServerID != "bbb1" {
		t.Fatalf("first claim: %+v %v", held, err)
	}
	second := balancer.MeetingRecord{Key: "k", MeetingID: "k", ServerID: "bbb2", Created: now.Add(time.Millisecond), VoiceBridge: "223456789"}
	if held, err := b.ClaimMeeting(ctx, second, nil); err != nil || held.ServerID != "bbb1" || held.VoiceBridge != "123456789" {
		t.Fatalf("second claim of the same meeting got %+v %v; want the first's", held, err)
	}
	if held, err := b.ClaimMeeting(ctx, second, &first); err != nil || held.ServerID != "bbb2" {
		t.Fatalf("a claim replacing the first: %+v %v", held, err)
	}
	clash := balancer.MeetingRecord{Key: "other", MeetingID: "other", ServerID: "bbb1", Created: now, VoiceBridge: "223456789"}
	if _, err := a.ClaimMeeting(ctx, clash, nil); err != balancer.ErrVoiceBridgeTaken {
		t.Fatalf("a claim with another meeting's voice bridge: %v", err)
	}
	if got, ok, err := b.MeetingByVoiceBridge(ctx, "223456789"); err != nil || !ok || got.Key != "k" {
		t.Fatalf("by voice bridge: %+v %v %v", got, ok, err)
	}

	// b hears a's placement, with its voice bridge, and its removal; not
	// its own claim.
	want := []string{"+ k bbb1 123456789", "- k bbb2 "}
	if err := a.DeleteMeeting(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		select {
		case n := <-notes:
			if got := n.Op + " " + n.Key + " " + n.Server + " " + n.Bridge; got != w || !n.Meetings {
				t.Fatalf("note %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no note, want %q", w)
		}
	}

	if h, err := a.AcquireLease(ctx, "poller", time.Hour); err != nil || h != a.Instance() {
		t.Fatalf("a's lease: %q %v", h, err)
	}
	if h, err := b.AcquireLease(ctx, "poller", time.Hour); err != nil || h != a.Instance() {
		t.Fatalf("b took a held lease: %q %v", h, err)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := b.AcquireLease(ctx, "poller", time.Hour); err != nil || h != b.Instance() {
		t.Fatalf("b after a left: %q %v", h, err)
	}
	if _, err := b.AcquireLease(ctx, "poller", -time.Second); err != nil { // renewed as run out
		t.Fatal(err)
	}
	if h, err := a.AcquireLease(ctx, "poller", time.Hour); err != nil || h != a.Instance() {
		t.Fatalf("a after b's lease ran out: %q %v", h, err)
	}
}

// A burst of registry changes with long meeting ids full of characters
// JSON escapes (six bytes each): every batch fits PostgreSQL's 8000-byte
// payload, so every change reaches the other instance.
func TestPostgresNotesOfLongIDsArrive(t *testing.T) {
	loc := pgtest.Database(t)
	ctx := context.Background()
	a, b := openAt(t, loc), openAt(t, loc)
	const burst = 60
	notes := make(chan cluster.Note, burst)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	connected := make(chan struct{}, 1)
	go b.Listen(lctx, func() { connected <- struct{}{} }, func(n cluster.Note) { notes <- n }, func(error, time.Duration) {})
	<-connected
	escaped := strings.Repeat("\x01", 200) // \u0001 in JSON: 1,200 bytes a note
	now := time.Now()
	for i := range burst {
		id := fmt.Sprintf("%s-%02d", escaped, i)
		a.noteMeeting("+", balancer.MeetingRecord{Key: id, MeetingID: id, ServerID: "bbb1", Created: now})
	}
	seen := map[string]bool{}
	for len(seen) < burst {
		select {
		case n := <-notes:
			seen[n.Key] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d notes arrived", len(seen), burst)
		}
	}
}
