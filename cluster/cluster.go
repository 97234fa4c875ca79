// Package cluster makes several balancer instances that share one
// PostgreSQL database act as one balancer. The database is the truth for
// what two instances could decide differently at the same moment (the
// store claims each meeting's placement in one statement); this package
// keeps each instance's memory, which the hot path reads, in step with the
// others: it listens to the database's notifications of their changes
// (meetings placed and gone, servers and tenants changed by an operator,
// recordings changed, polls made), holds the poller's lease so that one
// instance polls at a time and shares its polls, and keeps a heartbeat, so
// `caddy bbb status` lists the instances and which one polls.
//
// A single instance on SQLite runs none of this.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

// Store is what the shared database does for the instances.
type Store interface {
	// Instance is this process's id among the instances.
	Instance() string
	// Heartbeat says this instance is alive.
	Heartbeat(ctx context.Context, started time.Time) error
	// Leave removes this instance and frees its leases (a clean stop).
	Leave(ctx context.Context) error
	// Instances lists the instances that have a heartbeat.
	Instances(ctx context.Context) ([]Instance, error)
	// AcquireLease takes or renews lease name for ttl, if it is free,
	// this instance's or run out; it returns the holder after the call.
	AcquireLease(ctx context.Context, name string, ttl time.Duration) (string, error)
	// SavePoll and Poll keep the last poll of each server.
	SavePoll(ctx context.Context, serverID string, poll []byte) error
	Poll(ctx context.Context, serverID string) ([]byte, bool, error)
	// Polls returns the last poll of every server, by server id.
	Polls(ctx context.Context) (map[string][]byte, error)
	// Meetings reads the whole registry (after notifications may have
	// been missed).
	Meetings(ctx context.Context) ([]balancer.MeetingRecord, error)
	// ForgetCounts drops the cached totals of recording queries.
	ForgetCounts()
	// Listen delivers the other instances' notifications until ctx ends,
	// reconnecting with backoff; connected runs after each connection.
	Listen(ctx context.Context, connected func(), fn func(Note), lost func(err error, retry time.Duration))
}

// Instance is one balancer process sharing the database.
type Instance struct {
	ID      string        `json:"id"`
	Host    string        `json:"host"`
	Started time.Time     `json:"started"`
	SeenAgo time.Duration `json:"seen_ago"`
	Leases  string        `json:"leases,omitempty"` // the leases it holds, such as "poller"
	Self    bool          `json:"self,omitempty"`
}

// Polls reports whether the instance holds the poller's lease.
func (i Instance) Polls() bool { return slices.Contains(strings.Split(i.Leases, ","), PollerLease) }

// Note is one notification: a registry change (Meetings) or another
// change (What: servers, tenants, recordings, poll).
type Note struct {
	Meetings  bool   `json:"-"`
	Op        string `json:"op"` // "+" placed, "-" removed
	Key       string `json:"key"`
	MeetingID string `json:"meeting"`
	Server    string `json:"server"`
	Created   int64  `json:"created"`
	Bridge    string `json:"bridge"` // the meeting's voice bridge
	What      string `json:"what"`
	By        string `json:"by"`
}

// PollerLease is the lease of the instance that polls the servers.
const PollerLease = "poller"

// Member is this instance among those sharing the database.
type Member struct {
	Store  Store
	Pool   *balancer.Pool
	Poller Poller
	// Tenants reads the operator's tenant changes again.
	Tenants func(ctx context.Context) error
	Logger  *zap.Logger

	started time.Time
	leads   atomic.Bool
	// stale is set when a sync failed part-way (the database went away
	// again): the next tick syncs again.
	stale  atomic.Bool
	synced chan struct{} // closed once the first sync is done
	once   sync.Once

	mu       sync.Mutex
	syncedAt time.Time            // of the last sync
	applied  map[string]time.Time // the start of the last shared poll reported, by server
	interval time.Duration
	timeout  time.Duration
	wake     chan struct{}
}

// Poller is the part of health.Poller a member drives.
type Poller interface {
	Share(leads func() bool, share func(string, balancer.Poll))
	Apply(ctx context.Context, serverID string, poll balancer.Poll)
	Round(ctx context.Context, ids []string, wait bool)
}

// Configure sets the poll interval and timeout, which the lease follows.
func (m *Member) Configure(interval, timeout time.Duration) {
	m.mu.Lock()
	m.interval, m.timeout = interval, timeout
	m.mu.Unlock()
	if m.wake != nil {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

func (m *Member) timing() (interval, timeout time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.interval, m.timeout
}

// LeaseTTL is how long the poller's lease lasts unless renewed: a poll
// interval and a poll's timeout. The holder renews it every half interval;
// an instance that is not the holder tries to take it as often, so polling
// resumes within 2 × interval + timeout after its holder died.
func LeaseTTL(interval, timeout time.Duration) time.Duration { return interval + timeout }

// Leads reports whether this instance polls.
func (m *Member) Leads() bool { return m.leads.Load() }

// Start joins the instances: a heartbeat, a try for the poller's lease and
// a first sync with the database (the registry, servers, tenants and the
// last polls) before it returns, so the instance starts with the shared
// state; then it keeps all of that up to date until ctx ends.
func (m *Member) Start(ctx context.Context) error {
	m.started = time.Now()
	m.synced = make(chan struct{})
	m.wake = make(chan struct{}, 1)
	m.Poller.Share(m.Leads, m.share)
	m.tick(ctx)
	go m.Store.Listen(ctx, func() { m.sync(ctx) }, func(n Note) { m.apply(ctx, n) }, func(err error, retry time.Duration) {
		m.Logger.Warn("lost the database's notifications; reconnecting", zap.Error(err), zap.Duration("retry_in", retry))
	})
	select {
	case <-m.synced:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		m.Logger.Warn("first sync with the shared database is late; starting without it")
	}
	go m.run(ctx)
	return nil
}

// Stop leaves the instances, freeing the lease at once.
func (m *Member) Stop(ctx context.Context) {
	if err := m.Store.Leave(ctx); err != nil {
		m.Logger.Warn("leaving the instances", zap.Error(err))
	}
}

func (m *Member) run(ctx context.Context) {
	for {
		interval, _ := m.timing()
		t := time.NewTimer(interval / 2)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.wake:
			t.Stop()
		case <-t.C:
		}
		m.tick(ctx)
		if m.stale.Load() || time.Since(m.lastSync()) >= ResyncEvery {
			m.sync(ctx)
		}
	}
}

// ResyncEvery is how often an instance reads the shared registry whole,
// whatever the notifications said: a notification can come late (another
// instance's batch, sent after its commit, may pass a later one) or never
// (an instance that died between a commit and its batch), and this bounds
// how long the memory may differ from the database.
const ResyncEvery = time.Minute

func (m *Member) lastSync() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncedAt
}

// dbTimeout bounds each database call of the member, so that a database
// that hangs rather than fails cannot stall the instance's catching up.
const dbTimeout = 10 * time.Second

// tick sends the heartbeat and takes or renews the poller's lease.
func (m *Member) tick(ctx context.Context) {
	interval, timeout := m.timing()
	tctx, cancel := context.WithTimeout(ctx, max(timeout, time.Second))
	defer cancel()
	if err := m.Store.Heartbeat(tctx, m.started); err != nil && ctx.Err() == nil {
		m.Logger.Warn("heartbeat to the shared database failed", zap.Error(err))
	}
	holder, err := m.Store.AcquireLease(tctx, PollerLease, LeaseTTL(interval, timeout))
	if err != nil {
		// Without the database this instance cannot know whether it still
		// holds the lease; it stops polling rather than risk two pollers.
		if m.leads.Swap(false) {
			m.Logger.Warn("stopped polling: the poller's lease cannot be renewed", zap.Error(err))
		}
		return
	}
	leads := holder == m.Store.Instance()
	if leads && !m.leads.Swap(true) {
		m.Logger.Info("this instance polls the servers now", zap.String("instance", holder))
		// Poll at once: the servers have not been polled since the lease
		// was last renewed.
		go m.Poller.Round(ctx, nil, false)
	} else if !leads && m.leads.Swap(false) {
		m.Logger.Info("another instance polls the servers now", zap.String("instance", holder))
	}
}

// sync reads the shared state whole: at the start and after the
// notifications were lost for a while.
func (m *Member) sync(ctx context.Context) {
	defer m.once.Do(func() { close(m.synced) })
	ok := true
	tctx, cancel := context.WithTimeout(ctx, dbTimeout)
	recs, err := m.Store.Meetings(tctx)
	cancel()
	if err != nil {
		m.Logger.Warn("reading the shared registry", zap.Error(err))
		ok = false
	} else {
		m.Pool.Resync(recs)
	}
	ok = m.reload(ctx, "servers") && ok
	ok = m.reload(ctx, "tenants") && ok
	m.Store.ForgetCounts()
	if !m.Leads() {
		tctx, cancel := context.WithTimeout(ctx, dbTimeout)
		polls, err := m.Store.Polls(tctx)
		cancel()
		if err != nil {
			m.Logger.Warn("reading the shared polls", zap.Error(err))
			ok = false
		}
		for id, raw := range polls {
			m.applyRaw(ctx, id, raw)
		}
	}
	m.stale.Store(!ok)
	m.mu.Lock()
	m.syncedAt = time.Now()
	m.mu.Unlock()
}

func (m *Member) apply(ctx context.Context, n Note) {
	if n.Meetings {
		rec := balancer.MeetingRecord{Key: n.Key, MeetingID: n.MeetingID, ServerID: n.Server, Created: time.UnixMilli(n.Created), VoiceBridge: n.Bridge}
		if n.Op == "-" {
			m.Pool.Drop(rec)
		} else {
			m.Pool.Adopt(rec)
		}
		return
	}
	switch n.What {
	case "poll":
		if !m.Leads() {
			m.applyPoll(ctx, n.Server)
		}
	case "recordings":
		m.Store.ForgetCounts()
	default:
		m.reload(ctx, n.What)
	}
}

// reload reads another instance's change of servers or tenants; false if
// it could not.
func (m *Member) reload(ctx context.Context, what string) bool {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var err error
	switch what {
	case "servers":
		var added []string
		added, err = m.Pool.ReloadOverrides(ctx)
		if len(added) > 0 && m.Leads() {
			// A server added through another instance: polled now, as
			// one added here is, not at the next round.
			m.Poller.Round(context.WithoutCancel(ctx), added, false)
		}
	case "tenants":
		if m.Tenants != nil {
			err = m.Tenants(ctx)
		}
	default:
		return true
	}
	if err != nil && !errors.Is(err, balancer.ErrNoOverrides) {
		m.Logger.Warn("reading another instance's change", zap.String("what", what), zap.Error(err))
		m.stale.Store(true)
		return false
	}
	return true
}

// sharedPoll is a poll as it is kept in the database.
type sharedPoll struct {
	Started  time.Time        `json:"started"`
	Err      string           `json:"error,omitempty"`
	Meetings []bbb.MeetingXML `json:"meetings,omitempty"`
	Version  string           `json:"version,omitempty"`
}

// share keeps a poll this instance made for the others.
func (m *Member) share(serverID string, poll balancer.Poll) {
	sp := sharedPoll{Started: poll.Started, Meetings: poll.Meetings, Version: poll.Version}
	if poll.Err != nil {
		sp.Err = poll.Err.Error()
	}
	raw, err := json.Marshal(sp)
	if err == nil {
		_, timeout := m.timing()
		ctx, cancel := context.WithTimeout(context.Background(), max(timeout, time.Second))
		err = m.Store.SavePoll(ctx, serverID, raw)
		cancel()
	}
	if err != nil {
		m.Logger.Warn("sharing a poll", zap.String("server", serverID), zap.Error(err))
	}
}

// applyPoll reports the last poll of a server that another instance made.
func (m *Member) applyPoll(ctx context.Context, serverID string) {
	tctx, cancel := context.WithTimeout(ctx, dbTimeout)
	raw, ok, err := m.Store.Poll(tctx, serverID)
	cancel()
	if err == nil && ok {
		m.applyRaw(ctx, serverID, raw)
	}
}

// applyRaw reports a shared poll unless it was reported already: a sync
// reads every server's last poll again, and a poll counted twice would
// count twice towards the health rule's passes and fails.
func (m *Member) applyRaw(ctx context.Context, serverID string, raw []byte) {
	var sp sharedPoll
	if json.Unmarshal(raw, &sp) != nil {
		return
	}
	m.mu.Lock()
	if !sp.Started.After(m.applied[serverID]) {
		m.mu.Unlock()
		return
	}
	if m.applied == nil {
		m.applied = map[string]time.Time{}
	}
	m.applied[serverID] = sp.Started
	m.mu.Unlock()
	poll := balancer.Poll{Started: sp.Started, Meetings: sp.Meetings, Version: sp.Version}
	if sp.Err != "" {
		poll.Err = errors.New(sp.Err)
	}
	m.Poller.Apply(ctx, serverID, poll)
}
