package bbbbalance

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/store"
)

// engines holds one engine per database file. A reload that keeps the
// database reuses the engine, so the registry, the live server state and
// the open connections carry over; the engine stops when no config uses it.
var engines = caddy.NewUsagePool()

// engine is the state that outlives a config: the database, the pool and
// the HTTP client to the BBB servers.
type engine struct {
	key    string
	db     *store.DB
	pool   *balancer.Pool
	client *bbb.Client
	logger *zap.Logger

	// fresh is true until a config has gone live with this engine.
	fresh bool
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
	return &engine{
		key:    key,
		db:     db,
		pool:   pool,
		client: &bbb.Client{HTTP: &http.Client{Transport: newTransport()}},
		logger: logger,
		fresh:  true,
	}, nil
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

// apply makes servers the live server list.
func (e *engine) apply(servers []balancer.ServerConfig) {
	e.pool.SetServers(servers)
	e.fresh = false
}

// Destruct implements caddy.Destructor.
func (e *engine) Destruct() error {
	e.client.HTTP.CloseIdleConnections()
	return e.db.Close()
}
