package bbbbalance

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/health"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// App is loaded implicitly by every bbb_balance handler. Its only job is
// timing: Caddy provisions a new config while the old one still serves (and
// `caddy validate` provisions without ever serving), so handlers only stage
// their settings, and Start, which Caddy calls only for a config that goes
// live, applies them to the running engines and starts their pollers.
type App struct {
	mu     sync.Mutex
	staged map[*engine]stagedConfig
}

type stagedConfig struct {
	settings engineSettings
	tenants  stagedTenants
	ctx      caddy.Context
}

// stagedTenants are a config's tenants: what it declares, and the set
// built from that and the operator's changes.
type stagedTenants struct {
	base  tenants.Base
	set   *tenants.Set
	notes []string
}

// engineSettings are the parts of a handler's config that the shared engine
// runs with.
type engineSettings struct {
	servers []balancer.ServerConfig
	health  health.Config
	passive balancer.PassiveHealth
	load    balancer.LoadModel
	voice   balancer.VoiceBridgePolicy
	// recordings: nil when the config has none.
	recordings *recordingSettings
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "bbb",
		New: func() caddy.Module { return new(App) },
	}
}

// stage records what a handler wants of an engine.
func (a *App) stage(e *engine, st engineSettings, tb stagedTenants, ctx caddy.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.staged == nil {
		a.staged = map[*engine]stagedConfig{}
	}
	if prev, ok := a.staged[e]; ok && !reflect.DeepEqual(prev.settings, st) {
		return fmt.Errorf("bbb_balance: two handlers share database %s with different settings; give each its own database", store.Redact(e.path))
	}
	a.staged[e] = stagedConfig{settings: st, tenants: tb, ctx: ctx}
	return nil
}

// Start applies the staged settings: new servers are polled once before
// Start returns, so the config goes live with a pool that is ready.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for e, sc := range a.staged {
		e.apply(sc.settings, sc.tenants, sc.ctx.Logger(), eventEmitter(sc.ctx))
	}
	return nil
}

// Stop does nothing: engines stop when their last config is cleaned up.
func (a *App) Stop() error { return nil }

// eventEmitter returns a function that reports health changes as Caddy
// events ("healthy", "unhealthy", as reverse_proxy does) from the config
// of ctx, so users can hook handlers to them.
func eventEmitter(ctx caddy.Context) func(name string, data map[string]any) {
	appIface, err := ctx.App("events")
	if err != nil {
		ctx.Logger().Warn("no events app; health events are not emitted", zap.Error(err))
		return func(string, map[string]any) {}
	}
	events := appIface.(*caddyevents.App)
	return func(name string, data map[string]any) { events.Emit(ctx, name, data) }
}

var _ caddy.App = (*App)(nil)
