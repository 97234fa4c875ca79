package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

// fakeStore is a shared database in memory: several members on one
// fakeStore are several instances.
type fakeStore struct {
	mu       sync.Mutex
	holder   string
	expires  time.Time
	polls    map[string][]byte
	meetings []balancer.MeetingRecord
	fail     bool // every call fails, as when the database is away
	forgot   int
}

type storeOf struct {
	*fakeStore
	id string
}

var errAway = errors.New("database away")

func (s storeOf) Instance() string                           { return s.id }
func (s storeOf) Heartbeat(context.Context, time.Time) error { return s.err() }
func (s storeOf) Leave(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder == s.id {
		s.holder = ""
	}
	return nil
}
func (s storeOf) Instances(context.Context) ([]Instance, error) { return nil, s.err() }
func (s storeOf) AcquireLease(_ context.Context, _ string, ttl time.Duration) (string, error) {
	if err := s.err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder == "" || s.holder == s.id || time.Now().After(s.expires) {
		s.holder, s.expires = s.id, time.Now().Add(ttl)
	}
	return s.holder, nil
}
func (s storeOf) SavePoll(_ context.Context, id string, poll []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls[id] = poll
	return nil
}
func (s storeOf) Poll(_ context.Context, id string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.polls[id]
	return p, ok, nil
}
func (s storeOf) Polls(context.Context) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for id, p := range s.polls {
		out[id] = p
	}
	return out, nil
}
func (s storeOf) Meetings(context.Context) ([]balancer.MeetingRecord, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]balancer.MeetingRecord(nil), s.meetings...), nil
}
func (s storeOf) ForgetCounts() { s.mu.Lock(); s.forgot++; s.mu.Unlock() }
func (s storeOf) Listen(ctx context.Context, connected func(), _ func(Note), _ func(error, time.Duration)) {
	connected()
	<-ctx.Done()
}
func (s storeOf) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errAway
	}
	return nil
}

// poller records what the member asks of it.
type poller struct {
	mu      sync.Mutex
	leads   func() bool
	share   func(string, balancer.Poll)
	applied map[string]balancer.Poll
	reports int
}

func (p *poller) Share(leads func() bool, share func(string, balancer.Poll)) {
	p.leads, p.share = leads, share
}
func (p *poller) Apply(_ context.Context, id string, poll balancer.Poll) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied[id] = poll
	p.reports++
}
func (p *poller) Round(context.Context, []string, bool) {}

func newMember(t *testing.T, db *fakeStore, id string) (*Member, *poller) {
	pool := balancer.NewPool(memPool{})
	cfg := balancer.ServerConfig{ID: "bbb1", URL: "http://10.0.0.1/bigbluebutton/api", Secret: "s"}
	pool.SetServers([]balancer.ServerConfig{cfg})
	pl := &poller{applied: map[string]balancer.Poll{}}
	m := &Member{Store: storeOf{db, id}, Pool: pool, Poller: pl, Logger: zap.NewNop()}
	m.Configure(time.Hour, time.Second) // ticks only when the test calls them
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return m, pl
}

type memPool struct{}

func (memPool) Meetings(context.Context) ([]balancer.MeetingRecord, error) { return nil, nil }
func (memPool) SaveMeeting(context.Context, balancer.MeetingRecord) error  { return nil }
func (memPool) DeleteMeeting(context.Context, string) error                { return nil }

// One member holds the poller's lease; the other takes it only once it
// has run out or was given up.
func TestOneMemberPolls(t *testing.T) {
	db := &fakeStore{polls: map[string][]byte{}}
	a, _ := newMember(t, db, "a")
	b, _ := newMember(t, db, "b")
	if !a.Leads() || b.Leads() {
		t.Fatalf("a leads %v, b leads %v; want a only", a.Leads(), b.Leads())
	}
	a.Stop(context.Background()) // gives the lease up
	b.tick(context.Background())
	if !b.Leads() {
		t.Fatal("b does not poll after a left")
	}
	// A member that cannot reach the database stops polling rather than
	// risk two pollers.
	db.mu.Lock()
	db.fail = true
	db.mu.Unlock()
	b.tick(context.Background())
	if b.Leads() {
		t.Fatal("b still polls without the database")
	}
}

// The polling member's polls reach the others: its Share hook keeps
// them, a "poll" note makes the others apply them.
func TestPollsShared(t *testing.T) {
	db := &fakeStore{polls: map[string][]byte{}}
	a, pa := newMember(t, db, "a")
	b, pb := newMember(t, db, "b")
	started := time.UnixMilli(1715171203311)
	pa.share("bbb1", balancer.Poll{Started: started, Meetings: []bbb.MeetingXML{{Meeting: bbb.Meeting{MeetingID: "m1", ParticipantCount: 7}}}, Version: "3.0.4"})
	pa.share("bbb2", balancer.Poll{Started: started, Err: errors.New("timeout")})
	b.apply(context.Background(), Note{What: "poll", Server: "bbb1"})
	b.apply(context.Background(), Note{What: "poll", Server: "bbb2"})
	a.apply(context.Background(), Note{What: "poll", Server: "bbb1"}) // the poller ignores polls
	got := pb.applied["bbb1"]
	if !got.Started.Equal(started) || got.Version != "3.0.4" || len(got.Meetings) != 1 || got.Meetings[0].ParticipantCount != 7 {
		t.Fatalf("b applied %+v", got)
	}
	if pb.applied["bbb2"].Err == nil || pb.applied["bbb2"].Err.Error() != "timeout" {
		t.Fatalf("b applied the failed poll as %+v", pb.applied["bbb2"])
	}
	// A sync reads every last poll again; those reported already are not
	// counted twice towards the health rule.
	before := pb.reports
	b.sync(context.Background())
	if pb.reports != before {
		t.Fatalf("a sync reported %d polls again", pb.reports-before)
	}
	if len(pa.applied) != 0 {
		t.Fatalf("the poller applied polls: %v", pa.applied)
	}
	var sp sharedPoll
	if err := json.Unmarshal(db.polls["bbb1"], &sp); err != nil || sp.Version != "3.0.4" {
		t.Fatalf("kept poll %s: %v", db.polls["bbb1"], err)
	}
}

// Notes of meetings placed and removed elsewhere reach the registry; a
// sync that fails part-way is done again by the next tick.
func TestNotesAndResync(t *testing.T) {
	db := &fakeStore{polls: map[string][]byte{}}
	m, _ := newMember(t, db, "a")
	ctx := context.Background()
	m.apply(ctx, Note{Meetings: true, Op: "+", Key: "k", MeetingID: "k", Server: "bbb1", Created: 1000})
	if r, err := m.Pool.Lookup("k"); err != nil && !errors.Is(err, balancer.ErrUnavailable) || r.ServerID != "bbb1" {
		t.Fatalf("placed elsewhere, not adopted: %+v %v", r, err)
	}
	m.apply(ctx, Note{Meetings: true, Op: "-", Key: "k", Server: "bbb1", Created: 1000})
	if _, err := m.Pool.Lookup("k"); !errors.Is(err, balancer.ErrUnknownMeeting) {
		t.Fatalf("removed elsewhere, still here: %v", err)
	}
	m.apply(ctx, Note{What: "recordings"})
	if db.forgot < 2 { // once at the start, once now
		t.Fatalf("recordings' counts forgotten %d times", db.forgot)
	}

	db.mu.Lock()
	db.fail = true
	db.meetings = []balancer.MeetingRecord{{Key: "late", MeetingID: "late", ServerID: "bbb1", Created: time.UnixMilli(2000)}}
	db.mu.Unlock()
	m.sync(ctx)
	if !m.stale.Load() {
		t.Fatal("a failed sync is not marked for another")
	}
	db.mu.Lock()
	db.fail = false
	db.mu.Unlock()
	m.tick(ctx)
	if m.stale.Load() {
		m.sync(ctx) // what run does after a tick
	}
	if len(m.Pool.Meetings()) != 1 || m.stale.Load() {
		t.Fatalf("after the database came back: %d meetings, stale %v", len(m.Pool.Meetings()), m.stale.Load())
	}
}

func TestLeaseTTLWithinTheBound(t *testing.T) {
	for _, c := range []struct{ interval, timeout time.Duration }{{10 * time.Second, 5 * time.Second}, {time.Second, 500 * time.Millisecond}} {
		// A dead holder's lease runs out at most LeaseTTL after its last
		// renewal; the others try every half interval.
		if worst := LeaseTTL(c.interval, c.timeout) + c.interval/2; worst > 2*c.interval+c.timeout {
			t.Errorf("interval %v, timeout %v: take-over after up to %v, over the bound", c.interval, c.timeout, worst)
		}
	}
	if !(Instance{Leases: "importer,poller"}).Polls() || (Instance{Leases: "pollers"}).Polls() {
		t.Error("Polls misreads the leases")
	}
}
