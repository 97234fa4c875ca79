package bbbbalance

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/health"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// engines holds one engine per database file. A reload that keeps the
// database reuses the engine, so the registry, the live server state and
// the open connections carry over; the engine stops when no config uses it.
var engines = caddy.NewUsagePool()

// engine is the state that outlives a config: the database, the pool and
// the HTTP client to the BBB servers.
type engine struct {
	key    string
	path   string
	db     *store.DB
	pool   *balancer.Pool
	client *bbb.Client
	poller *health.Poller
	// member keeps this instance in step with the others sharing a
	// PostgreSQL database; nil on SQLite.
	member *cluster.Member
	// manager carries out operator changes (admin API, scalelite API),
	// to servers, meetings and tenants.
	manager *manage.Manager

	// queue delivers callbacks (relayed, recording ready); it runs from
	// the first config that goes live.
	queue *notify.Queue
	// ready sends the recording-ready callbacks of imported recordings.
	ready *callbacks.Ready
	// tenants of the live config, with the operator's changes (made by
	// manager): the API front reads them on every call, callbacks are
	// signed with their secrets.
	tenants atomic.Pointer[tenants.Set]

	mu   sync.Mutex
	stop context.CancelFunc // of the poller; nil until a config goes live
	done chan struct{}

	stats   statsCache   // of the recordings index (recordings_stats.go)
	imports importCounts // the importer's results (recordings_failed.go)
	started time.Time    // when this engine (this process's pool) started

	libraries    map[recordings.LibraryConfig]*recordings.Library
	importer     *recordings.Importer // of the live config; nil without recordings
	expirer      *recordings.Expirer  // its retention; the admin API's expire runs it
	importing    *recordingSettings   // what importer runs with
	importerStop context.CancelFunc
	importerDone chan struct{}
	queueStop    context.CancelFunc
	queueDone    chan struct{}
}

func loadEngine(path string, logger *zap.Logger) (*engine, error) {
	key := "db:" + path
	v, _, err := engines.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newEngine(key, path, logger)
	})
	if err != nil {
		return nil, err
	}
	return v.(*engine), nil
}

func newEngine(key, path string, logger *zap.Logger) (*engine, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	pool := balancer.NewPool(db)
	if err := pool.Load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	client := &bbb.Client{HTTP: &http.Client{Transport: newTransport(), CheckRedirect: bbb.SameHostRedirects}}
	poller := health.New(pool, client, health.Config{}, logger)
	poller.Observe(observePoll)
	e := &engine{
		key:    key,
		path:   path,
		db:     db,
		pool:   pool,
		client: client,
		poller: poller,
		queue: &notify.Queue{
			Store:    db,
			Client:   &http.Client{Transport: newTransport()},
			Logger:   logger,
			Observer: func(kind, result string) { metrics.deliveries.WithLabelValues(kind, result).Inc() },
		},
	}
	e.started = time.Now()
	e.manager = &manage.Manager{
		Pool:        pool,
		Client:      client,
		Poll:        func(ctx context.Context, ids []string) { poller.Round(ctx, ids, true) },
		Timeout:     defaultTimeout,
		Tenants:     &e.tenants,
		TenantStore: db,
	}
	e.ready = &callbacks.Ready{URLs: db, Queue: e.queue, Tenants: &e.tenants, Logger: logger}
	if db.Engine() == store.Postgres {
		e.member = &cluster.Member{Store: db, Pool: pool, Poller: poller, Tenants: e.manager.ReloadTenants, Logger: logger}
	}
	return e, nil
}

// newTransport is tuned for many small calls to a few hosts.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// BBB answers are small XML; gzip would cost more CPU than it saves on
		// the wire between balancer and servers.
		DisableCompression: true,
	}
}

// apply makes a live config's settings the engine's: the server list, the
// load model and the poller's settings. New servers are polled once before
// apply returns; the poller starts with the first config that goes live.
func (e *engine) apply(st engineSettings, tb stagedTenants, logger *zap.Logger, emit func(string, map[string]any)) {
	e.pool.SetLoadModel(st.load)
	e.pool.SetVoiceBridges(st.voice)
	added, notes := e.pool.SetServers(st.servers)
	for _, n := range notes {
		logger.Warn(n)
	}
	e.pool.SetPassiveHealth(st.passive)
	e.poller.Configure(st.health, logger, func(ch balancer.Change) {
		reportChange(logger, emit, ch)
		if len(ch.Copies) > 0 {
			e.manager.EndCopies(context.Background(), ch.Server, ch.Copies)
		}
	})
	e.manager.SetLogger(logger.Named("admin"))
	if e.member != nil {
		e.member.Configure(st.health.WithDefaults().Interval, st.health.WithDefaults().Timeout)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.manager.SetTenants(tb.base, tb.set)
	for _, n := range tb.notes {
		logger.Warn(n)
	}
	first := e.stop == nil
	if first {
		// The durable deliveries (callbacks relayed, recording-ready
		// callbacks) run with the engine.
		ctx, cancel := context.WithCancel(context.Background())
		e.queue.Logger = logger.Named("callbacks")
		e.ready.Logger = e.queue.Logger
		e.queueStop, e.queueDone = cancel, make(chan struct{})
		go func() {
			defer close(e.queueDone)
			e.queue.Run(ctx)
		}()
	}
	e.applyRecordings(st.recordings, logger)
	if first {
		ctx, cancel := context.WithCancel(context.Background())
		e.stop, e.done = cancel, make(chan struct{})
		if e.member != nil {
			// Joins the other instances before the first round, so only
			// the instance that holds the poller's lease polls.
			e.member.Logger = logger.Named("cluster")
			if err := e.member.Start(ctx); err != nil {
				logger.Warn("joining the other instances", zap.Error(err))
			}
		}
		go func() {
			defer close(e.done)
			e.poller.Run(ctx)
		}()
	}
	if !first && len(added) == 0 {
		return
	}
	// One round before the config goes live (of every server at first, of
	// the new ones after), bounded by one poll's timeout however many
	// servers there are: a server that has not answered by then is picked
	// up by the next round.
	ctx, cancel := context.WithTimeout(context.Background(), st.health.Timeout)
	defer cancel()
	if first {
		added = nil // all of them
	}
	e.poller.Round(ctx, added, true)
}

// reportChange logs a poll's changes and emits them as Caddy events.
func reportChange(logger *zap.Logger, emit func(string, map[string]any), ch balancer.Change) {
	server := zap.String("server", ch.Server)
	switch {
	case ch.WentUp:
		logger.Info("server is online", server)
		emit("healthy", map[string]any{"host": ch.Server})
	case ch.WentDown:
		logger.Warn("server is offline", server, zap.String("error", ch.Unhealthy))
		emit("unhealthy", map[string]any{"host": ch.Server, "error": ch.Unhealthy})
	}
	if ch.Drained {
		logger.Info("cordoned server has no meetings left; now disabled", server)
	}
	for _, m := range ch.Stale {
		logger.Info("meeting ended on its server; removed from the registry", server, zap.String("meeting", m.Key))
	}
}

// Destruct implements caddy.Destructor: the poller stops, in-flight polls
// are cancelled, and the database closes.
func (e *engine) Destruct() error {
	e.mu.Lock()
	if e.stop != nil {
		e.stop()
		<-e.done
		if e.member != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			e.member.Stop(ctx)
			cancel()
		}
	}
	e.stopRecordings()
	if e.queueStop != nil {
		e.queueStop()
		<-e.queueDone
	}
	e.mu.Unlock()
	e.client.HTTP.CloseIdleConnections()
	return e.db.Close()
}
