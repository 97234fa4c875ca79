// Package bbbbalance is a Caddy module that makes a pool of BigBlueButton
// servers look like one BBB server: it checks the front-end's checksums,
// places each new meeting on the least-loaded server, sends joins there and
// answers the rest of the BBB API for the pool.
//
// This package is the only one that knows Caddy. The protocol lives in bbb/,
// the pool in balancer/, the API front in api/, the database in store/.
package bbbbalance

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(new(App))
}

// Handler is the bbb_balance HTTP handler. It answers requests under
// /bigbluebutton/api and passes everything else to the next handler.
type Handler struct {
	// Secrets the front-ends sign with; any of them is accepted, so a
	// secret can be rotated without downtime. Placeholders such as
	// {env.BBB_SECRET} are expanded.
	Secrets []string `json:"secrets,omitempty"`
	// ChecksumAlgorithms accepted from front-ends; default all of sha1,
	// sha256, sha384 and sha512.
	ChecksumAlgorithms []string `json:"checksum_algorithms,omitempty"`
	// Database is the SQLite file; default bbb_balance/bbb.sqlite under
	// Caddy's data directory.
	Database string `json:"database,omitempty"`
	// Servers of the pool.
	Servers []balancer.ServerConfig `json:"servers,omitempty"`
	// Timeout of a call forwarded to one server; default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// GetMeetingsTimeout bounds how long getMeetings waits for each
	// server; a slower server is left out of the answer. Default 3s.
	GetMeetingsTimeout caddy.Duration `json:"getmeetings_timeout,omitempty"`

	engine *engine
	front  *api.Front
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bbb_balance",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Defaults.
const (
	defaultTimeout            = 10 * time.Second
	defaultGetMeetingsTimeout = 3 * time.Second
)

// Provision expands placeholders, opens (or shares) the engine of the
// database and stages the server list, which goes live when the config does.
// It calls no BBB server: `caddy validate` provisions too.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for i, s := range h.Secrets {
		h.Secrets[i] = repl.ReplaceKnown(s, "")
	}
	for i := range h.Servers {
		h.Servers[i].Secret = repl.ReplaceKnown(h.Servers[i].Secret, "")
		h.Servers[i].URL = repl.ReplaceKnown(h.Servers[i].URL, "")
	}
	if h.Database == "" {
		h.Database = filepath.Join(caddy.AppDataDir(), "bbb_balance", "bbb.sqlite")
	}
	if h.Timeout == 0 {
		h.Timeout = caddy.Duration(defaultTimeout)
	}
	if h.GetMeetingsTimeout == 0 {
		h.GetMeetingsTimeout = caddy.Duration(defaultGetMeetingsTimeout)
	}
	if err := h.validate(); err != nil {
		return err
	}

	eng, err := loadEngine(h.Database, h.logger)
	if err != nil {
		return err
	}
	h.engine = eng
	appIface, err := ctx.App("bbb")
	if err != nil {
		return err
	}
	if err := appIface.(*App).stage(eng, h.Servers); err != nil {
		return err
	}

	algs := make([]bbb.Algorithm, len(h.ChecksumAlgorithms))
	for i, a := range h.ChecksumAlgorithms {
		algs[i], _ = bbb.ParseAlgorithm(a) // checked by validate
	}
	h.front = &api.Front{
		Verifier:      bbb.NewVerifier(h.Secrets, algs),
		Pool:          eng.pool,
		Client:        eng.client,
		Logger:        h.logger,
		Timeout:       time.Duration(h.Timeout),
		FanoutTimeout: time.Duration(h.GetMeetingsTimeout),
	}
	return nil
}

// validate checks the config and fills server defaults. It runs in
// Provision, before anything is opened, so a bad config changes nothing.
func (h *Handler) validate() error {
	if len(h.Secrets) == 0 {
		return fmt.Errorf("bbb_balance: no secret: front-ends need at least one secret to sign with")
	}
	for _, s := range h.Secrets {
		if s == "" {
			return fmt.Errorf("bbb_balance: a secret is empty (is its environment variable set?)")
		}
	}
	for _, a := range h.ChecksumAlgorithms {
		if _, err := bbb.ParseAlgorithm(a); err != nil {
			return fmt.Errorf("bbb_balance: checksum_algorithms: %v", err)
		}
	}
	seen := map[string]bool{}
	for i := range h.Servers {
		s := &h.Servers[i]
		if err := s.Normalize(); err != nil {
			return fmt.Errorf("bbb_balance: %v", err)
		}
		if seen[s.ID] {
			return fmt.Errorf("bbb_balance: server %s is declared twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// Cleanup releases this config's hold on the engine; the engine itself
// stops when the last config using its database goes.
func (h *Handler) Cleanup() error {
	if h.engine == nil {
		return nil
	}
	_, err := engines.Delete(h.engine.key)
	return err
}

// ServeHTTP answers the BBB API and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if _, ok := api.CallName(r.URL.Path); !ok {
		return next.ServeHTTP(w, r)
	}
	h.front.ServeHTTP(w, r)
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
