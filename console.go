package bbbbalance

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/console"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

func init() {
	caddy.RegisterModule(Console{})
	// Not RegisterHandlerDirective: that would take the path prefix for a
	// matcher of that one path. The directive makes its own route, matching
	// the prefix and everything under it.
	httpcaddyfile.RegisterDirective("bbb_console", parseConsoleDirective)
	// After basic_auth and forward_auth, which must come first.
	httpcaddyfile.RegisterDirectiveOrder("bbb_console", httpcaddyfile.Before, "respond")
}

// Console is the operator console, http.handlers.bbb_console: a page that
// shows a bbb_balance pool at a glance, updated live, and carries out the
// operator's actions through the admin API's own code (package console).
// It serves its prefix and everything under it. It trusts whoever reaches
// it: put Caddy's basic_auth or forward_auth in front, whose user
// ({http.auth.user.id}) it logs with every action.
type Console struct {
	// Prefix is the path it is served under, such as "/console"; default
	// none: the whole site.
	Prefix string `json:"prefix,omitempty"`
	// ReadOnly shows the pool without a single action, and refuses every
	// one (for helpdesk staff).
	ReadOnly bool `json:"read_only,omitempty"`
	// Database chooses the pool shown, as the admin API's ?database= does:
	// the bbb_balance handler whose database it is. Default: the only
	// bbb_balance pool running. Placeholders such as {env.DATABASE_URL}
	// are expanded.
	Database string `json:"database,omitempty"`
	// HistoryStep is how often the load of each server is kept for its
	// chart, which shows 120 of them; default 30s (an hour). The imports'
	// "last hour" is as long. JSON only; a Caddyfile keeps the default.
	HistoryStep caddy.Duration `json:"history_step,omitempty"`

	hubKey  string
	handler *console.Handler
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bbb_console",
		New: func() caddy.Module { return new(Console) },
	}
}

// consoleHubs holds one console.Hub per pool the consoles show (by their
// database setting): every console of a pool shares its snapshots and its
// load history, which outlive config reloads.
var consoleHubs = caddy.NewUsagePool()

type consoleHub struct{ *console.Hub }

func (h consoleHub) Destruct() error {
	h.Close()
	return nil
}

// Provision joins (or starts) the hub of its pool. The pool itself is
// found at each use: it may be provisioned after the console, or change
// with a reload.
func (c *Console) Provision(ctx caddy.Context) error {
	c.Database = caddy.NewReplacer().ReplaceKnown(c.Database, "")
	db := c.Database
	c.hubKey = fmt.Sprintf("console:%s|%d", db, c.HistoryStep)
	v, _, err := consoleHubs.LoadOrNew(c.hubKey, func() (caddy.Destructor, error) {
		return consoleHub{console.NewHub(console.HubConfig{Step: time.Duration(c.HistoryStep), Find: func() (console.Pool, error) {
			e, err := pickEngine(db, "", "`database <path>` in bbb_console")
			if err != nil {
				return nil, err
			}
			return consolePool{Manager: e.manager, e: e}, nil
		}})}, nil
	})
	if err != nil {
		return err
	}
	c.handler, err = console.NewHandler(console.HandlerConfig{Hub: v.(consoleHub).Hub, Prefix: c.Prefix, ReadOnly: c.ReadOnly, User: authUser})
	if err != nil {
		consoleHubs.Delete(c.hubKey)
		c.hubKey = ""
		return err
	}
	return nil
}

// Cleanup ends this config's event streams (the pages reconnect to the
// next config) and leaves the hub.
func (c *Console) Cleanup() error {
	if c.handler != nil {
		c.handler.Close()
	}
	if c.hubKey == "" {
		return nil
	}
	_, err := consoleHubs.Delete(c.hubKey)
	return err
}

// ServeHTTP serves the console's paths (its Caddyfile route sends it only
// those) and passes any other request on.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !c.handler.Serves(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	c.handler.ServeHTTP(w, r)
	return nil
}

// authUser is the user Caddy's basic_auth or forward_auth (through vars)
// authenticated the request as.
func authUser(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	user, _ := repl.GetString("http.auth.user.id")
	return user
}

func parseConsoleDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	var c Console
	if err := c.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	var match caddy.ModuleMap
	if c.Prefix != "" {
		match = caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath{c.Prefix, c.Prefix + "/*"}, nil)}
	}
	return h.NewRoute(match, &c), nil
}

// UnmarshalCaddyfile reads the bbb_console directive, whose whole syntax
// is this (README's Operator console section repeats it, and
// TestConsoleSyntaxDocumented keeps both in step with the parser):
//
//	bbb_console [<path prefix>] {
//	    read_only
//	    database <path>
//	}
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		c.Prefix = strings.TrimRight(d.Val(), "/")
		if !strings.HasPrefix(d.Val(), "/") || strings.ContainsAny(d.Val(), "*?[") {
			return d.Errf("bbb_console: %q is not a path prefix such as /console", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "read_only":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.ReadOnly = true
		case "database":
			if !d.NextArg() {
				return d.ArgErr()
			}
			c.Database = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("bbb_console: unknown setting %q (read_only, database)", d.Val())
		}
	}
	return nil
}

// consolePool is an engine as the console reads it; its actions are the
// engine's manage.Manager's, as the admin API's are.
type consolePool struct {
	*manage.Manager
	e *engine
}

func (p consolePool) Servers() []balancer.ServerStatus { return p.e.pool.Servers() }

func (p consolePool) SigningKey(ctx context.Context, name string) ([]byte, error) {
	return p.e.db.SigningKey(ctx, name)
}

func (p consolePool) Meetings() []manage.MeetingListing {
	return manage.ListMeetings(p.e.pool.Meetings(), "", false)
}

func (p consolePool) Tenants() []console.Tenant {
	set := p.e.tenants.Load()
	if set == nil {
		return nil
	}
	var out []console.Tenant
	for _, t := range set.Named() {
		m, a := p.e.pool.Usage(t.Name)
		out = append(out, console.Tenant{Name: t.Name, Meetings: m, Attendees: a, MaxMeetings: t.MaxMeetings, MaxAttendees: t.MaxAttendees})
	}
	return out
}

func (p consolePool) Poller() console.Poller {
	return console.Poller{Interval: p.e.poller.Interval(), Polls: p.e.poller.Leads(), Shared: p.e.member != nil}
}

func (p consolePool) Instances(ctx context.Context) ([]cluster.Instance, error) {
	ans, err := p.e.instances(ctx)
	return ans.Instances, err
}

func (p consolePool) Imports() (console.Imports, bool) {
	if p.e.liveLibrary() == nil {
		return console.Imports{}, false
	}
	return console.Imports{Imported: p.e.imports.imported.Load(), Failed: p.e.imports.failed.Load(), Since: p.e.started}, true
}

func (p consolePool) FailedImports(limit int) ([]recordings.FailedImport, int, error) {
	return p.e.failedImports(limit)
}

func (p consolePool) RetryImport(ctx context.Context, who manage.Who, name string) (string, error) {
	return p.e.retryImport(ctx, who, name)
}

var (
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddy.CleanerUpper          = (*Console)(nil)
	_ caddyfile.Unmarshaler       = (*Console)(nil)
	_ console.Pool                = consolePool{}
)
