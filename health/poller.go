// Package health polls every BBB server of the pool. Caddy's reverse_proxy
// health checks cannot sign a request per server nor read the answer, and a
// BBB server's load lives in its signed getMeetings answer, so the poll is
// the health check: the same settings and meanings as reverse_proxy's active
// checks (interval, timeout, passes, fails), and the load besides.
package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

// Config is how often and how patiently servers are polled.
type Config struct {
	Interval    time.Duration
	Timeout     time.Duration
	Rule        balancer.HealthRule
	Concurrency int // polls under way at once; 0 means DefaultConcurrency
}

// Defaults, as reverse_proxy's active health checks name them.
const (
	DefaultInterval    = 10 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultPasses      = 1
	DefaultFails       = 2
	DefaultConcurrency = 64
	// versionEvery is how many polls of a server go by between two reads
	// of its BBB version (the index call).
	versionEvery = 30
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rule.Passes <= 0 {
		c.Rule.Passes = DefaultPasses
	}
	if c.Rule.Fails <= 0 {
		c.Rule.Fails = DefaultFails
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	return c
}

// Poller polls the pool's servers in the background.
type Poller struct {
	pool   *balancer.Pool
	client *bbb.Client

	mu       sync.Mutex
	cfg      Config
	logger   *zap.Logger
	onChange func(balancer.Change)
	observe  func(server string, took time.Duration, err error)
	busy     map[string]bool // servers with a poll under way
	count    map[string]int  // polls per server, for the version read
	sem      chan struct{}
	wake     chan struct{}
	// With several instances sharing a database, one polls: leads says
	// whether this one does, and share hands each of its polls to the
	// others (Apply). Both nil for a single instance.
	leads func() bool
	share func(server string, poll balancer.Poll)
}

// Share makes the poller one of several instances': it polls only while
// leads says so, and hands each poll it made to share.
func (p *Poller) Share(leads func() bool, share func(server string, poll balancer.Poll)) {
	p.mu.Lock()
	p.leads, p.share = leads, share
	p.mu.Unlock()
}

// Leads tells whether this poller polls (always, for a single instance).
func (p *Poller) Leads() bool {
	p.mu.Lock()
	leads := p.leads
	p.mu.Unlock()
	return leads == nil || leads()
}

// New returns a poller; Run starts it.
func New(pool *balancer.Pool, client *bbb.Client, cfg Config, logger *zap.Logger) *Poller {
	cfg = cfg.WithDefaults()
	return &Poller{
		pool: pool, client: client, cfg: cfg, logger: logger,
		busy: map[string]bool{}, count: map[string]int{},
		sem:  make(chan struct{}, cfg.Concurrency),
		wake: make(chan struct{}, 1),
	}
}

// Observe sets a function told about every poll, for metrics.
func (p *Poller) Observe(f func(server string, took time.Duration, err error)) {
	p.mu.Lock()
	p.observe = f
	p.mu.Unlock()
}

// Configure changes the settings, the logger and the change callback; a
// new interval takes effect at once.
func (p *Poller) Configure(cfg Config, logger *zap.Logger, onChange func(balancer.Change)) {
	cfg = cfg.WithDefaults()
	p.mu.Lock()
	if cfg.Concurrency != p.cfg.Concurrency {
		p.sem = make(chan struct{}, cfg.Concurrency)
	}
	p.cfg, p.logger, p.onChange = cfg, logger, onChange
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Interval is how often the poller polls every server.
func (p *Poller) Interval() time.Duration {
	cfg, _, _, _ := p.settings()
	return cfg.Interval
}

func (p *Poller) settings() (Config, *zap.Logger, func(balancer.Change), chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg, p.logger, p.onChange, p.sem
}

// Run polls every server once per interval (with ±10% jitter, so many
// balancers or many servers do not beat in step) until ctx ends, starting
// one interval from now. A round does not wait for slow servers: the next
// round skips a server whose previous poll is still under way, so polls
// never pile up.
func (p *Poller) Run(ctx context.Context) {
	for {
		cfg, _, _, _ := p.settings()
		wait := time.Duration(float64(cfg.Interval) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.wake:
			t.Stop()
			continue // new settings: wait a new interval
		case <-t.C:
		}
		p.Round(ctx, nil, false)
	}
}

// Round polls the given servers (all when ids is nil). With wait it returns
// when every poll has been reported, which a new config uses so its new
// servers are usable as soon as it goes live.
func (p *Poller) Round(ctx context.Context, ids []string, wait bool) {
	if !p.Leads() {
		return // another instance polls, and shares what it sees (Apply)
	}
	var routes []balancer.Route
	for _, r := range p.pool.Targets() {
		if ids == nil || contains(ids, r.ServerID) {
			routes = append(routes, r)
		}
	}
	var wg sync.WaitGroup
	for _, r := range routes {
		if !p.claim(r.ServerID) {
			continue // still polling it from an earlier round
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.release(r.ServerID)
			p.pollOne(ctx, r)
		}()
	}
	if wait {
		wg.Wait()
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (p *Poller) claim(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy[id] {
		return false
	}
	p.busy[id] = true
	p.count[id]++
	return true
}

func (p *Poller) release(id string) {
	p.mu.Lock()
	delete(p.busy, id)
	p.mu.Unlock()
}

func (p *Poller) pollOne(ctx context.Context, r balancer.Route) {
	cfg, logger, onChange, sem := p.settings()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return
	}
	p.mu.Lock()
	askVersion := p.count[r.ServerID]%versionEvery == 1
	p.mu.Unlock()

	poll := p.poll(ctx, r, cfg.Timeout, askVersion)
	if ctx.Err() != nil {
		return // shutting down: a cancelled poll says nothing about the server
	}
	p.mu.Lock()
	observe, share := p.observe, p.share
	p.mu.Unlock()
	if observe != nil {
		observe(r.ServerID, time.Since(poll.Started), poll.Err)
	}
	p.report(ctx, r.ServerID, poll, cfg, logger, onChange)
	if share != nil {
		share(r.ServerID, poll)
	}
}

// Apply reports a poll another instance made and shared.
func (p *Poller) Apply(ctx context.Context, serverID string, poll balancer.Poll) {
	cfg, logger, onChange, _ := p.settings()
	poll.Shared = true
	p.report(ctx, serverID, poll, cfg, logger, onChange)
}

func (p *Poller) report(ctx context.Context, serverID string, poll balancer.Poll, cfg Config, logger *zap.Logger, onChange func(balancer.Change)) {
	ch := p.pool.Report(ctx, serverID, poll, cfg.Rule)
	if poll.Err != nil {
		// A failure that counts towards taking the server offline is worth
		// a warning; the same failure every round of an offline server is
		// not.
		log := logger.Debug
		if st, ok := p.pool.Server(serverID); ok && st.Online {
			log = logger.Warn
		}
		log("poll failed", zap.String("server", serverID), zap.Error(poll.Err))
	}
	if onChange != nil && (ch.WentUp || ch.WentDown || ch.Drained || len(ch.Stale) > 0 || len(ch.Copies) > 0) {
		onChange(ch)
	}
}

// poll asks one server for its meetings (and now and then its version).
// Refused connections, timeouts, a status other than 200, an answer that
// is not BBB XML and a FAILED answer all fail the poll.
func (p *Poller) poll(ctx context.Context, r balancer.Route, timeout time.Duration, askVersion bool) balancer.Poll {
	poll := balancer.Poll{Started: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := p.client.Open(ctx, r.Server, "getMeetings", "")
	if err != nil {
		poll.Err = err
		return poll
	}
	list, err := bbb.ReadMeetings(body)
	body.Close()
	switch {
	case err != nil:
		poll.Err = fmt.Errorf("getMeetings: %w", err)
		return poll
	case !list.OK():
		poll.Err = fmt.Errorf("getMeetings: %s %s: %s", list.ReturnCode, list.MessageKey, list.Message)
		return poll
	}
	poll.Meetings = list.Meetings
	if askVersion {
		if ix, err := p.client.Index(ctx, r.Server); err == nil {
			poll.Version = ix.BBBVersion
		}
	}
	return poll
}
