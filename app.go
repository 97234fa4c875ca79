package bbbbalance

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// App is loaded implicitly by every bbb_balance handler. Its only job is
// timing: Caddy provisions a new config while the old one still serves (and
// `caddy validate` provisions without ever serving), so handlers only stage
// their settings, and Start, which Caddy calls only for a config that goes
// live, applies them to the running engines.
type App struct {
	mu     sync.Mutex
	staged map[*engine][]balancer.ServerConfig
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "bbb",
		New: func() caddy.Module { return new(App) },
	}
}

// stage records the server list a handler wants for an engine. A brand-new
// engine serves no config yet, so it takes the list at once: requests that
// reach the new config before Start then already see their servers.
func (a *App) stage(e *engine, servers []balancer.ServerConfig) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.staged == nil {
		a.staged = map[*engine][]balancer.ServerConfig{}
	}
	if prev, ok := a.staged[e]; ok && !reflect.DeepEqual(prev, servers) {
		return fmt.Errorf("bbb_balance: two handlers share database %s with different servers; give each its own database", e.key)
	}
	a.staged[e] = servers
	if e.fresh {
		e.pool.SetServers(servers)
	}
	return nil
}

// Start applies the staged settings.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for e, servers := range a.staged {
		e.apply(servers)
	}
	return nil
}

// Stop does nothing: engines stop when their last config is cleaned up.
func (a *App) Stop() error { return nil }

var _ caddy.App = (*App)(nil)
