// Package console is the operator's console: one web page that shows a
// pool at a glance, updated live, and carries out the operator's actions
// through the very methods the admin API calls (manage.Manager's). The
// root package serves it as the bbb_console Caddy handler; everything else
// is here: the embedded page (assets/: one HTML page, one script, one
// style sheet, hand-written), the HTTP handler, the snapshot and the load
// history.
//
// What it costs the balancer: one Hub per pool builds one Snapshot a
// second, only while somebody watches, from memory (the pool's servers and
// registry), and sends the same bytes to every viewer as server-sent
// events. Servers go out every second; meetings only as a count and the
// largest few, the rest on a search (GET meetings?q=); each server's load
// history (a sample every 30 s for an hour) goes out when it gets a
// sample. The slow reads (the instances sharing a PostgreSQL database, the
// failed directory) are refreshed every few seconds, not every tick.
package console

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Source is what the console reads of a pool: memory, unless said.
type Source interface {
	Servers() []balancer.ServerStatus
	Meetings() []manage.MeetingListing
	// Tenants are the named tenants with their use now.
	Tenants() []Tenant
	Poller() Poller
	// Instances lists the instances sharing the pool's database: a
	// database read when there are several.
	Instances(ctx context.Context) ([]cluster.Instance, error)
	// Imports counts the recordings imported and refused since the pool
	// started; false when it has no recordings.
	Imports() (Imports, bool)
	// FailedImports lists the newest limit refused recording tars, and
	// says how many there are: a directory read.
	FailedImports(limit int) ([]recordings.FailedImport, int, error)
}

// Actions is what the operator does from the console: manage.Manager's
// actions, as the admin API calls them, and a retry of a refused
// recording, as the admin API's POST /bbb/recordings/failed/<name>/retry.
type Actions interface {
	SetState(ctx context.Context, who manage.Who, id string, state balancer.State) (balancer.ServerStatus, error)
	UpdateServer(ctx context.Context, who manage.Who, id string, patch balancer.ServerPatch) (balancer.ServerStatus, error)
	Panic(ctx context.Context, who manage.Who, id string, keepState bool) (ended int, err error)
	RemoveServer(ctx context.Context, who manage.Who, id string, force bool) (forgotten int, err error)
	EndMeeting(ctx context.Context, who manage.Who, key string) error
	RetryImport(ctx context.Context, who manage.Who, name string) (spoolName string, err error)
}

// Pool is a pool as the console sees it.
type Pool interface {
	Source
	Actions
	// SigningKey returns the pool's key called name, the same in every
	// process sharing its database and across restarts (store.SigningKey):
	// the CSRF tokens are signed with it, so a page served by one instance
	// acts through another, and survives a restart.
	SigningKey(ctx context.Context, name string) ([]byte, error)
}

// Tenant is a tenant's use against its limits (0: none).
type Tenant struct {
	Name         string `json:"name"`
	Meetings     int    `json:"meetings"`
	Attendees    int    `json:"attendees"`
	MaxMeetings  int    `json:"max_meetings"`
	MaxAttendees int    `json:"max_attendees"`
}

// Poller is how the pool is polled.
type Poller struct {
	Interval time.Duration
	Polls    bool // this instance polls (it is alone, or holds the poller's lease)
	Shared   bool // several instances share the pool's database
}

// Imports are the importer's counts since the pool started.
type Imports struct {
	Imported int64
	Failed   int64
	// Since is when both were zero (the pool's start; zero: unknown). The
	// imports before the console's first sample count from there.
	Since time.Time
}

// Hub defaults.
const (
	DefaultTick    = time.Second
	DefaultStep    = 30 * time.Second
	DefaultSamples = 120 // with DefaultStep, an hour

	// firstPage is how many meetings a snapshot lists (the largest);
	// searchPage how many a search answers.
	firstPage  = 25
	searchPage = 100
	// failedShown is how many refused recordings a snapshot lists.
	failedShown = 20
	// instancesEvery is how often the instances are read again.
	instancesEvery = 10 * time.Second
	// buckets is how many bars the imports chart has.
	buckets = 12
)

// HubConfig configures a Hub. Find is required.
type HubConfig struct {
	// Find returns the pool as it is now (the engine of the live config);
	// its error is shown on the page.
	Find func() (Pool, error)
	// Tick is how often a snapshot is sent while somebody watches
	// (default DefaultTick); Step how often each server's load and the
	// import counts are kept (DefaultStep), Samples of them
	// (DefaultSamples): the charts' window and the imports' "last hour".
	Tick, Step time.Duration
	Samples    int
	Now        func() time.Time // default time.Now
}

// Hub builds the snapshots of one pool and sends them to every viewer; it
// keeps the pool's load history, sampled whether anybody watches or not.
// One hub serves every console handler of a pool (an operators' site and
// a helpdesk's), and outlives config reloads.
type Hub struct {
	c    HubConfig
	stop chan struct{}
	done chan struct{}
	wake chan struct{}

	buildMu sync.Mutex // one snapshot built at a time

	mu         sync.Mutex
	subs       map[*subscriber]struct{}
	frame      *frame // the latest snapshot
	history    *History
	historyOut []byte // history, as sent
	historySeq int    // counts the samples
	lastSample time.Time
	imports    *ring[importSample]
	failed     failedCache
	instances  instancesCache
}

type frame struct {
	at   time.Time
	snap *Snapshot
	json []byte
}

type importSample struct {
	at time.Time
	Imports
}

type failedCache struct {
	at      time.Time
	counted int64 // the refusals counted when it was read
	list    []recordings.FailedImport
	total   int
	err     error
}

type instancesCache struct {
	at   time.Time
	list []cluster.Instance
	err  error
}

// NewHub starts a hub; Close stops it.
func NewHub(c HubConfig) *Hub {
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.Step <= 0 {
		c.Step = DefaultStep
	}
	if c.Samples <= 0 {
		c.Samples = DefaultSamples
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h := &Hub{
		c:       c,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		subs:    map[*subscriber]struct{}{},
		history: NewHistory(c.Samples),
		imports: newRing[importSample](c.Samples),
	}
	h.sample(c.Now()) // the first, at once: a page opened now has its charts' start
	go h.run()
	return h
}

// Close stops the hub; its viewers' streams end.
func (h *Hub) Close() {
	close(h.stop)
	<-h.done
}

func (h *Hub) run() {
	defer close(h.done)
	tick := time.NewTicker(min(h.c.Tick, h.c.Step))
	defer tick.Stop()
	var sent time.Time
	for {
		woken := false
		select {
		case <-h.stop:
			return
		case <-tick.C:
		case <-h.wake:
			woken = true
		}
		now := h.c.Now()
		if now.Sub(h.lastSample) >= h.c.Step {
			h.sample(now)
		}
		if h.watched() && (woken || now.Sub(sent) >= h.c.Tick) {
			h.broadcast(h.build(now))
			sent = now
		}
	}
}

// Refresh sends a new snapshot now rather than at the next tick: an
// action's effect shows at once.
func (h *Hub) Refresh() {
	h.mu.Lock()
	h.failed.at = time.Time{} // a retry changed the failed directory
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// historyJSON is the history as the page takes it.
type historyJSON struct {
	Step    float64              `json:"step_seconds"`
	Samples int                  `json:"samples"` // at most, each
	Series  map[string][]float64 `json:"series"`
}

// sample keeps every server's load, and the import counts, now.
func (h *Hub) sample(now time.Time) {
	h.lastSample = now
	p, err := h.c.Find()
	if err != nil {
		return
	}
	servers := p.Servers()
	im, hasRecordings := p.Imports()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history.Add(servers)
	if hasRecordings {
		h.imports.push(importSample{at: now, Imports: im})
	}
	h.historyOut, _ = json.Marshal(historyJSON{Step: h.c.Step.Seconds(), Samples: h.c.Samples, Series: h.history.All()})
	h.historySeq++
}

func (h *Hub) watched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// current returns a snapshot at most maxAge old, built now if need be.
func (h *Hub) current(maxAge time.Duration) *frame {
	now := h.c.Now()
	h.mu.Lock()
	f := h.frame
	h.mu.Unlock()
	if f != nil && now.Sub(f.at) <= maxAge {
		return f
	}
	return h.build(now)
}

// build builds a snapshot; callers that wait for one in progress share
// it.
func (h *Hub) build(now time.Time) *frame {
	h.buildMu.Lock()
	defer h.buildMu.Unlock()
	h.mu.Lock()
	f := h.frame
	h.mu.Unlock()
	if f != nil && !f.at.Before(now) {
		return f // built while this caller waited
	}
	snap := h.snapshot(now)
	raw, err := json.Marshal(snap)
	if err != nil {
		raw, _ = json.Marshal(&Snapshot{At: now, Error: "the snapshot could not be encoded: " + err.Error()})
	}
	f = &frame{at: h.c.Now(), snap: snap, json: raw}
	h.mu.Lock()
	h.frame = f
	h.mu.Unlock()
	return f
}

func (h *Hub) broadcast(f *frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.offer(f.json, h.historyOut, h.historySeq)
	}
}

// subscriber is one viewer's stream: the latest snapshot and history not
// yet sent (a slow viewer skips snapshots, never gets them late).
type subscriber struct {
	mu         sync.Mutex
	snapshot   []byte
	history    []byte
	historySeq int
	ready      chan struct{}
}

func (s *subscriber) offer(snapshot, history []byte, seq int) {
	s.mu.Lock()
	s.snapshot = snapshot
	if seq > s.historySeq {
		s.history, s.historySeq = history, seq
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() (snapshot, history []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snapshot, history = s.snapshot, s.history
	s.snapshot, s.history = nil, nil
	return snapshot, history
}

// subscribe adds a viewer, who gets the current snapshot and the history
// at once.
func (h *Hub) subscribe() *subscriber {
	s := &subscriber{ready: make(chan struct{}, 1)}
	f := h.current(h.c.Tick)
	h.mu.Lock()
	h.subs[s] = struct{}{}
	s.offer(f.json, h.historyOut, h.historySeq)
	h.mu.Unlock()
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// Viewers is how many streams are open.
func (h *Hub) Viewers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Search finds meetings whose meetingID, name, tenant, server or voice
// bridge holds q (any case), largest first.
func (h *Hub) Search(q string) (MeetingPage, error) {
	p, err := h.c.Find()
	if err != nil {
		return MeetingPage{}, err
	}
	q = strings.TrimSpace(q)
	needle := strings.ToLower(q)
	var found []manage.MeetingListing
	for _, m := range p.Meetings() {
		if needle == "" || matches(m, needle) {
			found = append(found, m)
		}
	}
	return page(found, q, searchPage), nil
}

func matches(m manage.MeetingListing, needle string) bool {
	for _, s := range []string{m.MeetingID, m.Name, m.Tenant, m.ServerID, m.VoiceBridge, m.Key} {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	return false
}

// page is the n largest meetings of ms (most participants, then oldest).
func page(ms []manage.MeetingListing, q string, n int) MeetingPage {
	slices.SortFunc(ms, func(a, b manage.MeetingListing) int {
		if a.Participants != b.Participants {
			return b.Participants - a.Participants
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	total := len(ms)
	if len(ms) > n {
		ms = ms[:n]
	}
	if ms == nil {
		ms = []manage.MeetingListing{}
	}
	return MeetingPage{Query: q, Total: total, Meetings: ms}
}

// window is how far back the samples reach.
func (c HubConfig) window() time.Duration { return c.Step * time.Duration(c.Samples) }
