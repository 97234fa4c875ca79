package balancer

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// Store is the durable copy of the meeting registry.
type Store interface {
	Meetings(ctx context.Context) ([]MeetingRecord, error)
	SaveMeeting(ctx context.Context, m MeetingRecord) error
	DeleteMeeting(ctx context.Context, key string) error
}

// MeetingRecord is one entry of the registry.
type MeetingRecord struct {
	Key       string    // the meetingID as the front-end knows it (tenant-scoped later)
	MeetingID string    // the meetingID sent to the BBB server
	ServerID  string    //
	Created   time.Time //
}

type meeting struct {
	MeetingRecord
	confirmed bool // a server has answered SUCCESS to a create for it
}

// Pool is the set of servers and the meetings placed on them.
type Pool struct {
	mu       sync.RWMutex
	servers  map[string]*server
	order    []*server // by id, for stable tie-breaking and listings
	meetings map[string]*meeting
	store    Store
	now      func() time.Time
}

// NewPool returns an empty pool that writes meetings through to store.
func NewPool(store Store) *Pool {
	return &Pool{servers: map[string]*server{}, meetings: map[string]*meeting{}, store: store, now: time.Now}
}

// Load reads the registry from the store; meetings of unknown servers are
// kept, as their server may come back in the next config.
func (p *Pool) Load(ctx context.Context) error {
	recs, err := p.store.Meetings(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		p.meetings[r.Key] = &meeting{MeetingRecord: r, confirmed: true}
	}
	p.recount()
	return nil
}

// SetServers replaces the server list. Servers that stay keep their live
// state; new servers start online (the poller, when there is one, corrects
// that before they are used).
func (p *Pool) SetServers(cfgs []ServerConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]*server, len(cfgs))
	order := make([]*server, 0, len(cfgs))
	for _, c := range cfgs {
		s := p.servers[c.ID]
		if s == nil {
			s = &server{online: true}
		}
		s.ServerConfig = c
		s.endpoint = c.Endpoint()
		next[c.ID] = s
		order = append(order, s)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].ID < order[j].ID })
	p.servers, p.order = next, order
	p.recount()
}

// recount derives per-server meeting counts and the placement load from the
// registry. Called with mu held.
func (p *Pool) recount() {
	for _, s := range p.order {
		s.meetings = 0
	}
	for _, m := range p.meetings {
		if s := p.servers[m.ServerID]; s != nil {
			s.meetings++
		}
	}
	for _, s := range p.order {
		s.load = float64(s.meetings) * s.Weight
	}
}

// Errors of placement and lookup.
var (
	ErrNoServer       = errors.New("no server is available for new meetings")
	ErrUnknownMeeting = errors.New("unknown meeting")
	ErrUnavailable    = errors.New("the meeting's server is disabled or offline")
)

// Placement is the answer to "where does this create go".
type Placement struct {
	Key      string
	Server   bbb.Endpoint
	ServerID string
	Fresh    bool // placed by this call: undo with Forget if the create fails
}

// Place finds the server for a create of key: the server the meeting is on
// if it still serves it, else the least-loaded enabled online server. A new
// placement raises that server's load at once, so a burst of creates spreads
// over the pool, and is written to the store before Place returns.
func (p *Pool) Place(ctx context.Context, key, meetingID string) (Placement, error) {
	p.mu.Lock()
	if m := p.meetings[key]; m != nil {
		if s := p.servers[m.ServerID]; s != nil && s.serves() {
			p.mu.Unlock()
			return Placement{Key: key, Server: s.endpoint, ServerID: s.ID}, nil
		}
		p.dropLocked(key) // its server is gone, disabled or offline
	}
	best := p.leastLoaded()
	if best == nil {
		p.mu.Unlock()
		return Placement{}, ErrNoServer
	}
	rec := MeetingRecord{Key: key, MeetingID: meetingID, ServerID: best.ID, Created: p.now()}
	p.meetings[key] = &meeting{MeetingRecord: rec}
	best.meetings++
	best.load += best.Weight
	endpoint := best.endpoint
	p.mu.Unlock()

	if err := p.store.SaveMeeting(ctx, rec); err != nil {
		p.Forget(context.WithoutCancel(ctx), key, best.ID)
		return Placement{}, err
	}
	return Placement{Key: key, Server: endpoint, ServerID: best.ID, Fresh: true}, nil
}

// leastLoaded picks the enabled online server with the lowest load; ties go
// to the one with fewer meetings, then to the lowest id. Called with mu held.
func (p *Pool) leastLoaded() *server {
	var best *server
	for _, s := range p.order {
		if !s.takesMeetings() {
			continue
		}
		if best == nil || s.load < best.load || (s.load == best.load && s.meetings < best.meetings) {
			best = s
		}
	}
	return best
}

// Confirm records that serverID answered SUCCESS to a create of key. If a
// concurrent failed create dropped the entry meanwhile, it is put back.
func (p *Pool) Confirm(ctx context.Context, key, meetingID, serverID string) error {
	p.mu.Lock()
	m := p.meetings[key]
	if m != nil && m.ServerID == serverID {
		m.confirmed = true
		p.mu.Unlock()
		return nil
	}
	if m != nil || p.servers[serverID] == nil {
		p.mu.Unlock()
		return nil // placed elsewhere meanwhile; the newer placement wins
	}
	rec := MeetingRecord{Key: key, MeetingID: meetingID, ServerID: serverID, Created: p.now()}
	p.meetings[key] = &meeting{MeetingRecord: rec, confirmed: true}
	s := p.servers[serverID]
	s.meetings++
	s.load += s.Weight
	p.mu.Unlock()
	return p.store.SaveMeeting(ctx, rec)
}

// Forget removes key from the registry if it is still on serverID (and,
// for a fresh placement, not confirmed by a concurrent create).
func (p *Pool) Forget(ctx context.Context, key, serverID string) error {
	p.mu.Lock()
	m := p.meetings[key]
	if m == nil || m.ServerID != serverID {
		p.mu.Unlock()
		return nil
	}
	p.dropLocked(key)
	p.mu.Unlock()
	return p.store.DeleteMeeting(ctx, key)
}

// ForgetUnconfirmed undoes a fresh placement whose create failed, unless a
// concurrent create of the same meeting succeeded on that server.
func (p *Pool) ForgetUnconfirmed(ctx context.Context, key, serverID string) error {
	p.mu.RLock()
	m := p.meetings[key]
	keep := m == nil || m.ServerID != serverID || m.confirmed
	p.mu.RUnlock()
	if keep {
		return nil
	}
	return p.Forget(ctx, key, serverID)
}

func (p *Pool) dropLocked(key string) {
	m := p.meetings[key]
	delete(p.meetings, key)
	if s := p.servers[m.ServerID]; s != nil {
		s.meetings--
		s.load -= s.Weight
		if s.load < 0 {
			s.load = 0
		}
	}
}

// Route is where calls about an existing meeting go.
type Route struct {
	MeetingID string // as the server knows it
	ServerID  string
	Server    bbb.Endpoint
}

// Lookup finds the server of a known meeting for calls other than create.
// A meeting whose server is disabled or offline gives ErrUnavailable; one
// whose server was removed from the pool is unknown.
func (p *Pool) Lookup(key string) (Route, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	m := p.meetings[key]
	if m == nil {
		return Route{}, ErrUnknownMeeting
	}
	s := p.servers[m.ServerID]
	if s == nil {
		return Route{}, ErrUnknownMeeting
	}
	r := Route{MeetingID: m.MeetingID, ServerID: s.ID, Server: s.endpoint}
	if !s.serves() {
		return r, ErrUnavailable
	}
	return r, nil
}

// Reachable lists the endpoints whose meetings are visible to getMeetings:
// online servers that are not disabled.
func (p *Pool) Reachable() []Route {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Route, 0, len(p.order))
	for _, s := range p.order {
		if s.serves() {
			out = append(out, Route{ServerID: s.ID, Server: s.endpoint})
		}
	}
	return out
}

// Servers returns a snapshot of every server, by id.
func (p *Pool) Servers() []ServerStatus {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]ServerStatus, len(p.order))
	for i, s := range p.order {
		out[i] = s.status()
	}
	return out
}

// Meetings returns a snapshot of the registry.
func (p *Pool) Meetings() []MeetingRecord {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]MeetingRecord, 0, len(p.meetings))
	for _, m := range p.meetings {
		out = append(out, m.MeetingRecord)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
