package balancer

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	Key       string    `json:"key"`        // the registry's key: the meetingID scoped by its tenant (tenants.Tenant.ServerID)
	MeetingID string    `json:"meeting_id"` // the meetingID sent to the BBB server (today always Key)
	ServerID  string    `json:"server"`
	Created   time.Time `json:"created"`
	// VoiceBridge is the meeting's number for phone callers, unique in the
	// pool (see VoiceBridgePolicy); "" for meetings placed before the
	// balancer handed them out.
	VoiceBridge string `json:"voice_bridge,omitempty"`
}

type meeting struct {
	MeetingRecord
	confirmed    time.Time // when a server answered SUCCESS to a create; zero until then
	size         float64   // expected size, for the reserve until a poll sees it
	participants int       // at the last poll
	running      bool      // at the last poll
	name         string    // its meetingName at the last poll, for people looking for it
	// claiming is closed when this fresh placement's claim in a shared
	// database is decided (nil: decided, or no shared database). Until
	// then the placement is no one's: another create of the meeting waits.
	claiming chan struct{}
	joins    atomic.Int32 // joins sent since the last poll
	group    *groupUsage  // of its key's group (see GroupSep)
}

// GroupSep ends the group part of a registry key: "school-a~room" is in
// group "school-a" (a tenant's meetings), "room" in group "". The pool
// counts each group's meetings and participants as they change, so
// Usage costs the same however many meetings the pool holds.
const GroupSep = "~"

// SplitKey splits a registry key into its group and the rest: the part
// before the first GroupSep, or "" and the whole key when it has none.
func SplitKey(key string) (group, rest string) {
	if g, r, ok := strings.Cut(key, GroupSep); ok {
		return g, r
	}
	return "", key
}

// groupUsage counts one group's meetings (under the pool's mu) and their
// participants: at the last poll (under mu) plus joins since (atomic, as
// joins hold only the read lock).
type groupUsage struct {
	meetings     int
	participants int
	joins        atomic.Int64
}

// addLocked puts m into the registry under key and counts it in its group.
func (p *Pool) addLocked(key string, m *meeting) {
	group, _ := SplitKey(key)
	g := p.groups[group]
	if g == nil {
		g = &groupUsage{}
		p.groups[group] = g
	}
	g.meetings++
	m.group = g
	p.meetings[key] = m
	if m.VoiceBridge != "" {
		p.bridges[m.VoiceBridge] = m
	}
}

// MeetingStatus is a registry entry with what the last poll saw of it.
type MeetingStatus struct {
	MeetingRecord
	Name         string `json:"name,omitempty"` // its meetingName, "" until a poll saw it
	Participants int    `json:"participants"`
	Running      bool   `json:"running"`
}

// Pool is the set of servers and the meetings placed on them.
type Pool struct {
	opsMu sync.Mutex // one operator change at a time

	mu        sync.RWMutex
	declared  []ServerConfig       // from the config
	overrides map[string]*Override // the operator's word, which wins
	servers   map[string]*server
	order     []*server // by id, for stable tie-breaking and listings
	meetings  map[string]*meeting
	bridges   map[string]*meeting // the registry by voice bridge
	voice     VoiceBridgePolicy
	groups    map[string]*groupUsage // usage of the meetings by key group
	model     LoadModel
	passive   PassiveHealth
	store     Store
	claimer   Claimer // the store, when several instances share it; else nil
	now       func() time.Time
}

// NewPool returns an empty pool that writes meetings through to store.
func NewPool(store Store) *Pool {
	p := newPool(store)
	if c, ok := store.(Claimer); ok && c.Shared() {
		p.claimer = c
	}
	return p
}

func newPool(store Store) *Pool {
	return &Pool{servers: map[string]*server{}, meetings: map[string]*meeting{}, bridges: map[string]*meeting{}, groups: map[string]*groupUsage{}, overrides: map[string]*Override{},
		model: DefaultLoadModel, store: store, now: time.Now}
}

// SetLoadModel changes how load is computed; zero weights take defaults.
func (p *Pool) SetLoadModel(m LoadModel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.model = m.WithDefaults()
	now := p.now()
	for _, s := range p.order {
		s.reserves = newReserves(s.reserves.list, p.model.NewMeetingWindow, now)
	}
}

// Load reads the registry and the operator's overrides from the store;
// meetings of unknown servers are kept, as their server may come back in
// the next config.
func (p *Pool) Load(ctx context.Context) error {
	recs, err := p.store.Meetings(ctx)
	if err != nil {
		return err
	}
	var ovs []Override
	if os, ok := p.store.(OverrideStore); ok {
		if ovs, err = os.Overrides(ctx); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range ovs {
		p.overrides[o.ID] = &o
	}
	for _, r := range recs {
		p.addLocked(r.Key, &meeting{MeetingRecord: r, confirmed: r.Created})
	}
	p.recount()
	return nil
}

// SetServers makes cfgs the config's server list; with the operator's
// overrides it gives the pool's servers. Servers that stay keep their live
// state; new servers start offline until the poller has seen them answer.
// It returns the ids of the servers that are new, and notes on configured
// servers the operator has removed.
func (p *Pool) SetServers(cfgs []ServerConfig) (added, notes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.declared = cfgs
	return p.applyLocked()
}

// applyLocked rebuilds the server list from the config and the overrides.
func (p *Pool) applyLocked() (added, notes []string) {
	cfgs, notes := effective(p.declared, p.overrides)
	next := make(map[string]*server, len(cfgs))
	order := make([]*server, 0, len(cfgs))
	for _, c := range cfgs {
		if err := c.Normalize(); err != nil {
			notes = append(notes, err.Error()+"; server left out")
			continue
		}
		s := p.servers[c.ID]
		if s == nil || s.URL != c.URL || s.Secret != c.Secret || s.Algorithm != c.Algorithm {
			// New, or another machine behind the same id: health starts over.
			s = &server{placed: map[string]*meeting{}, reserves: newReserves(nil, p.model.NewMeetingWindow, p.now())}
			added = append(added, c.ID)
		}
		s.ServerConfig = c
		s.endpoint = c.Endpoint()
		if u, err := url.Parse(c.URL); err == nil { // Normalize checked it
			s.host = u.Hostname()
		}
		next[c.ID] = s
		order = append(order, s)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].ID < order[j].ID })
	p.servers, p.order = next, order
	p.recount()
	return added, notes
}

// recount derives per-server meeting counts from the registry. Called with
// mu held.
func (p *Pool) recount() {
	for _, s := range p.order {
		s.placed = map[string]*meeting{}
	}
	for _, m := range p.meetings {
		if s := p.servers[m.ServerID]; s != nil {
			s.placed[m.MeetingID] = m
		}
	}
}

// Errors of placement and lookup.
var (
	ErrNoServer       = errors.New("no server is available for new meetings")
	ErrUnknownMeeting = errors.New("unknown meeting")
	ErrUnavailable    = errors.New("the meeting's server is disabled or offline")
)

// TagError is a create whose required server tag no available server has.
type TagError struct{ Tags string }

func (e *TagError) Error() string {
	return "There is no available server with the required tag=" + e.Tags + "."
}

// Placement is the answer to "where does this create go".
type Placement struct {
	Key      string
	Server   bbb.Endpoint
	ServerID string
	Tag      string // the chosen server's tag
	Fresh    bool   // placed by this call: undo with ForgetUnconfirmed if the create fails
	// VoiceBridge is the meeting's voice bridge, which the create sends.
	VoiceBridge string
	// Placed is when the meeting was placed (by this call or an earlier
	// one): it tells this instance of the meeting from a later one.
	Placed time.Time
}

// Request describes a create to place.
type Request struct {
	Key             string
	MeetingID       string
	Tags            string   // meta_server-tag as given, scalelite's syntax
	MaxParticipants int      // size hint, 0 if not given
	Avoid           []string // servers not to place it on (they just failed this create)
	VoiceBridge     string   // the front-end's voiceBridge, if it gave one
	// AvoidBridges are voice bridges not to give it: a server refused
	// them (it runs a meeting the registry does not know with that number).
	AvoidBridges []string
}

// Place finds the server for a create: the server the meeting is on if it
// still serves it, else the least-loaded enabled online server that fits
// the tags. A new placement raises that server's load at once, so a burst
// of creates spreads over the pool, and is written to the store before
// Place returns.
func (p *Pool) Place(ctx context.Context, req Request) (Placement, error) {
	var takenBridges map[string]bool // taken in the shared database meanwhile, or on the server
	for _, b := range req.AvoidBridges {
		if takenBridges == nil {
			takenBridges = map[string]bool{}
		}
		takenBridges[b] = true
	}
	for attempt := 0; ; { // attempt counts the claims made
		p.mu.Lock()
		var replaces *MeetingRecord
		if m := p.meetings[req.Key]; m != nil {
			if m.claiming != nil {
				// Another create of this meeting in this instance claims it
				// in the shared database: the outcome (its placement, or
				// another instance's) is this create's too. Sending this
				// one to the placement before it is decided would start
				// a copy on a server that loses the claim.
				decided := m.claiming
				p.mu.Unlock()
				select {
				case <-decided:
				case <-ctx.Done():
					return Placement{}, ctx.Err()
				}
				continue
			}
			if s := p.servers[m.ServerID]; s != nil && s.serves() {
				p.mu.Unlock()
				return Placement{Key: req.Key, Server: s.endpoint, ServerID: s.ID, Tag: s.Tag, Placed: m.Created, VoiceBridge: m.VoiceBridge}, nil
			}
			prev := m.MeetingRecord
			replaces = &prev
			p.dropLocked(req.Key) // its server is gone, disabled or offline
		}
		// Stored to the millisecond: the registry in memory and in the
		// database name the same placement.
		now := p.now().Truncate(time.Millisecond)
		for _, s := range p.order {
			s.reserves.expire(now)
		}
		best, err := p.choose(req.Tags, req.Avoid, now)
		if err != nil {
			p.mu.Unlock()
			return Placement{}, err
		}
		had := ""
		if replaces != nil {
			had = replaces.VoiceBridge
		}
		bridge, err := p.bridgeLocked(req, had, takenBridges)
		if err != nil {
			p.mu.Unlock()
			return Placement{}, err
		}
		rec := MeetingRecord{Key: req.Key, MeetingID: req.MeetingID, ServerID: best.ID, Created: now, VoiceBridge: bridge}
		m := &meeting{MeetingRecord: rec, size: p.model.size(req.MaxParticipants)}
		if p.claimer != nil {
			m.claiming = make(chan struct{})
		}
		p.addLocked(req.Key, m)
		best.placed[m.MeetingID] = m
		best.reserves.push(fresh{meetingID: req.MeetingID, created: now, size: m.size})
		pl := Placement{Key: req.Key, Server: best.endpoint, ServerID: best.ID, Tag: best.Tag, Fresh: true, Placed: now, VoiceBridge: bridge}
		p.mu.Unlock()

		if p.claimer == nil {
			if err := p.store.SaveMeeting(ctx, rec); err != nil {
				p.Forget(context.WithoutCancel(ctx), req.Key, best.ID)
				return Placement{}, err
			}
			return pl, nil
		}
		held, err := p.claim(ctx, p.claimer, rec, replaces)
		if err != nil {
			p.forgetLocal(req.Key, rec)
		}
		// The registry holds the outcome now (this placement, the one
		// adopted in its place, or none): the creates waiting for it go on.
		p.decided(m)
		if errors.Is(err, ErrVoiceBridgeTaken) && bridge != req.VoiceBridge && attempt < maxClaims {
			// Another instance gave the number to another meeting a
			// moment ago: this one takes another.
			if takenBridges == nil {
				takenBridges = map[string]bool{}
			}
			takenBridges[bridge] = true
			attempt++
			continue
		}
		if err != nil {
			return Placement{}, err
		}
		if sameRecord(held, rec) {
			return pl, nil
		}
		// Another instance placed the meeting first: the database's
		// placement holds, now in this registry too (claim adopted it). The
		// next round of the loop answers with it, or places the meeting
		// anew if its server does not serve here.
		if attempt >= maxClaims {
			return Placement{}, ErrNoServer
		}
		attempt++
	}
}

// decided ends a fresh placement's claim (see meeting.claiming).
func (p *Pool) decided(m *meeting) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.claiming != nil {
		close(m.claiming)
		m.claiming = nil
	}
}

// maxClaims bounds the claims one create makes in a shared database.
const maxClaims = 4

// forgetLocal undoes a placement in memory only.
func (p *Pool) forgetLocal(key string, rec MeetingRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.meetings[key]; m != nil && sameRecord(m.MeetingRecord, rec) {
		p.dropLocked(key)
	}
}

// sameRecord tells whether a and b are the same placement.
func sameRecord(a, b MeetingRecord) bool {
	return a.Key == b.Key && a.MeetingID == b.MeetingID && a.ServerID == b.ServerID && a.Created.Equal(b.Created)
}

// choose applies scalelite's meta_server-tag rules: tags separated by ";",
// "none" meaning untagged, a trailing "!" making them required. Without
// tags only untagged servers are candidates; optional tags fall back to
// untagged servers. Called with mu held.
func (p *Pool) choose(spec string, avoid []string, now time.Time) (*server, error) {
	spec = strings.TrimSpace(spec)
	required := strings.HasSuffix(spec, "!")
	spec = strings.TrimSuffix(spec, "!")
	var tags []string
	for _, t := range strings.Split(spec, ";") {
		if t = strings.TrimSpace(t); t != "" {
			if t == "none" {
				t = ""
			}
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		if best := p.leastLoaded(now, avoid, func(s *server) bool { return s.Tag == "" }); best != nil {
			return best, nil
		}
		return nil, ErrNoServer
	}
	if best := p.leastLoaded(now, avoid, func(s *server) bool { return slices.Contains(tags, s.Tag) }); best != nil {
		return best, nil
	}
	if required {
		return nil, &TagError{Tags: spec}
	}
	if best := p.leastLoaded(now, avoid, func(s *server) bool { return s.Tag == "" }); best != nil {
		return best, nil
	}
	return nil, ErrNoServer
}

// leastLoaded picks, among enabled online servers that fit and are not
// to be avoided, the one with the lowest load; ties go to the one with
// fewer meetings, then to the lowest id. Servers whose calls failed lately
// (passive health) are left out while another fits: when every one of
// them is failing, trying one beats refusing every create until the
// failures age out (a pool of one server, say). Called with mu held.
func (p *Pool) leastLoaded(now time.Time, avoid []string, fits func(*server) bool) *server {
	if best := p.leastLoadedOf(now, avoid, fits, false); best != nil {
		return best
	}
	return p.leastLoadedOf(now, avoid, fits, true)
}

func (p *Pool) leastLoadedOf(now time.Time, avoid []string, fits func(*server) bool, failingToo bool) *server {
	var best *server
	var bestLoad float64
	for _, s := range p.order {
		if !s.takesMeetings() || !fits(s) || slices.Contains(avoid, s.ID) || (!failingToo && p.failing(s, now)) {
			continue
		}
		l := s.load(p.model, now)
		if best == nil || l < bestLoad || (l == bestLoad && len(s.placed) < len(best.placed)) {
			best, bestLoad = s, l
		}
	}
	return best
}

// Confirm records that serverID answered SUCCESS to a create of key. If a
// concurrent failed create dropped the entry meanwhile, it is put back.
func (p *Pool) Confirm(ctx context.Context, key, meetingID, serverID, voiceBridge string) error {
	p.mu.Lock()
	now := p.now()
	m := p.meetings[key]
	if m != nil && m.ServerID == serverID {
		if m.confirmed.IsZero() {
			m.confirmed = now
			if s := p.servers[serverID]; s != nil {
				s.changed = now
			}
		}
		p.mu.Unlock()
		return nil
	}
	s := p.servers[serverID]
	if m != nil || s == nil {
		p.mu.Unlock()
		return nil // placed elsewhere meanwhile; the newer placement wins
	}
	if voiceBridge != "" && p.bridges[voiceBridge] != nil {
		voiceBridge = "" // given to another meanwhile; this one runs with it, unlisted
	}
	rec := MeetingRecord{Key: key, MeetingID: meetingID, ServerID: serverID, Created: now.Truncate(time.Millisecond), VoiceBridge: voiceBridge}
	m = &meeting{MeetingRecord: rec, confirmed: now, size: p.model.NewMeetingSize}
	p.addLocked(key, m)
	s.placed[meetingID] = m
	s.changed = now
	p.mu.Unlock()
	return p.store.SaveMeeting(ctx, rec)
}

// Forget removes key from the registry if it is still on serverID.
func (p *Pool) Forget(ctx context.Context, key, serverID string) error {
	p.mu.Lock()
	m := p.meetings[key]
	if m == nil || m.ServerID != serverID {
		p.mu.Unlock()
		return nil
	}
	p.dropLocked(key)
	if s := p.servers[serverID]; s != nil {
		s.changed = p.now()
	}
	p.mu.Unlock()
	return p.store.DeleteMeeting(ctx, key)
}

// ForgetUnconfirmed undoes a fresh placement whose create failed, unless a
// concurrent create of the same meeting succeeded on that server.
func (p *Pool) ForgetUnconfirmed(ctx context.Context, key, serverID string) error {
	p.mu.Lock()
	m := p.meetings[key]
	if m == nil || m.ServerID != serverID || !m.confirmed.IsZero() {
		p.mu.Unlock()
		return nil
	}
	p.dropLocked(key)
	p.mu.Unlock()
	return p.store.DeleteMeeting(ctx, key)
}

// dropLocked removes a meeting and the reserve its placement added.
func (p *Pool) dropLocked(key string) {
	m := p.meetings[key]
	delete(p.meetings, key)
	if p.bridges[m.VoiceBridge] == m {
		delete(p.bridges, m.VoiceBridge)
	}
	m.group.meetings--
	m.group.participants -= m.participants
	m.group.joins.Add(-int64(m.joins.Swap(0)))
	if s := p.servers[m.ServerID]; s != nil && s.placed[m.MeetingID] == m {
		delete(s.placed, m.MeetingID)
		s.reserves.remove(m.MeetingID)
	}
}

// Route is where calls about an existing meeting go.
type Route struct {
	MeetingID string // as the server knows it
	ServerID  string
	Server    bbb.Endpoint
}

// Lookup finds the server of a known meeting for calls other than create.
// A meeting whose server is disabled or offline gives ErrUnavailable (with
// the route filled in); one whose server was removed from the pool is
// unknown.
func (p *Pool) Lookup(key string) (Route, error) {
	r, _, err := p.lookup(key)
	return r, err
}

// Join is Lookup for a join: it also raises the server's load by one
// participant at once, before the next poll shows the user.
func (p *Pool) Join(key string) (Route, error) {
	r, s, m, err := p.lookupMeeting(key)
	if err == nil {
		s.joins.Add(1)
		m.joins.Add(1)
		m.group.joins.Add(1)
	}
	return r, err
}

// PlacedAt returns when the registry's meeting key was placed, if it has
// one: a callback about an earlier instance of the meeting can tell it is
// not about this one.
func (p *Pool) PlacedAt(key string) (time.Time, bool) {
	at, ok := p.placedAt(key)
	if !ok && p.readThrough(key) {
		at, ok = p.placedAt(key)
	}
	return at, ok
}

func (p *Pool) placedAt(key string) (time.Time, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if m := p.meetings[key]; m != nil {
		return m.Created, true
	}
	return time.Time{}, false
}

// Usage returns how many meetings a group of keys (see GroupSep) has and
// their participants (at the last poll, plus joins sent since): a
// tenant's share of the pool, for its limits and metrics.
func (p *Pool) Usage(group string) (meetings, participants int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	g := p.groups[group]
	if g == nil {
		return 0, 0
	}
	return g.meetings, g.participants + int(g.joins.Load())
}

func (p *Pool) lookup(key string) (Route, *server, error) {
	r, s, _, err := p.lookupMeeting(key)
	return r, s, err
}

// lookupMeeting is lookup that also returns the registry entry (its
// counters are atomic: usable after the lock is released).
func (p *Pool) lookupMeeting(key string) (Route, *server, *meeting, error) {
	r, s, m, err := p.lookupMemory(key)
	if errors.Is(err, ErrUnknownMeeting) && m == nil && p.readThrough(key) {
		r, s, m, err = p.lookupMemory(key)
	}
	return r, s, m, err
}

func (p *Pool) lookupMemory(key string) (Route, *server, *meeting, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	m := p.meetings[key]
	if m == nil {
		return Route{}, nil, nil, ErrUnknownMeeting
	}
	s := p.servers[m.ServerID]
	if s == nil {
		return Route{}, nil, nil, ErrUnknownMeeting
	}
	r := Route{MeetingID: m.MeetingID, ServerID: s.ID, Server: s.endpoint}
	if !s.serves() {
		return r, s, m, ErrUnavailable
	}
	return r, s, m, nil
}

// Reachable lists the servers whose meetings getMeetings shows: online
// servers that are not disabled.
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

// Targets lists every server to poll, whatever its state.
func (p *Pool) Targets() []Route {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Route, len(p.order))
	for i, s := range p.order {
		out[i] = Route{ServerID: s.ID, Server: s.endpoint}
	}
	return out
}

// Route returns how to reach server id, whatever its state (recording
// calls go to the server that made the recording).
func (p *Pool) Route(id string) (Route, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.servers[id]
	if s == nil {
		return Route{}, false
	}
	return Route{ServerID: s.ID, Server: s.endpoint}, true
}

// ServerByHost returns the id of the server whose API URL is on host (a
// host name without port, compared without case): playback links in a
// recording's metadata name the server that made it.
func (p *Pool) ServerByHost(host string) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, s := range p.order {
		if strings.EqualFold(s.host, host) {
			return s.ID, true
		}
	}
	return "", false
}

// Servers returns a snapshot of every server, by id.
func (p *Pool) Servers() []ServerStatus {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.now()
	out := make([]ServerStatus, len(p.order))
	for i, s := range p.order {
		out[i] = ServerStatus{ID: s.ID, URL: s.URL, State: s.State, Online: s.online, Failing: p.failing(s, now), Weight: s.Weight, Tag: s.Tag,
			Load: s.load(p.model, now), Placed: len(s.placed), Stats: s.stats}
	}
	return out
}

// Meetings returns a snapshot of the registry, by key.
func (p *Pool) Meetings() []MeetingStatus {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]MeetingStatus, 0, len(p.meetings))
	for _, m := range p.meetings {
		out = append(out, MeetingStatus{MeetingRecord: m.MeetingRecord, Name: m.name, Participants: m.participants, Running: m.running})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
