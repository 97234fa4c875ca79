package bbbbalance

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// TenantConfig is one front-end sharing the pool (see package tenants).
type TenantConfig struct {
	Name string `json:"name"`
	// Secrets the tenant signs with; any is accepted. Placeholders such as
	// {env.SCHOOL_A_SECRET} are expanded.
	Secrets []string `json:"secrets,omitempty"`
	// Hosts that choose the tenant. Without hosts and path_prefix, a host
	// whose first label is the tenant's name chooses it (scalelite's rule).
	Hosts []string `json:"hosts,omitempty"`
	// PathPrefix chooses the tenant by path: <prefix>/bigbluebutton/api/...
	PathPrefix string `json:"path_prefix,omitempty"`
	// Tag: the tenant's meetings go only to servers with this tag
	// (scalelite's meta_server-tag rules; "tag!" requires it).
	Tag          string `json:"tag,omitempty"`
	MaxMeetings  int    `json:"max_meetings,omitempty"`
	MaxAttendees int    `json:"max_attendees,omitempty"`
	// MaxDuration in minutes caps every meeting's duration.
	MaxDuration int             `json:"max_duration,omitempty"`
	Create      *tenants.Params `json:"create,omitempty"`
	Join        *tenants.Params `json:"join,omitempty"`
}

// tenantBase is what a config says of its front-ends: the default
// tenant (the handler's secrets), the pool's rules, and the tenants it
// declares. The operator's run-time changes are laid over it.
type tenantBase struct {
	secrets     []string
	create      tenants.Params
	join        tenants.Params
	maxDuration int
	configured  []TenantConfig
	algs        []bbb.Algorithm
}

func (h *Handler) tenantBase(algs []bbb.Algorithm) tenantBase {
	b := tenantBase{secrets: h.Secrets, maxDuration: h.MaxDuration, configured: h.Tenants, algs: algs}
	if h.Create != nil {
		b.create = *h.Create
	}
	if h.Join != nil {
		b.join = *h.Join
	}
	return b
}

// build makes the tenant set of the given tenants: every tenant gets the
// pool's parameter rules under its own.
func (b tenantBase) build(list []TenantConfig) (*tenants.Set, error) {
	own := func(p *tenants.Params) tenants.Params {
		if p == nil {
			return tenants.Params{}
		}
		return *p
	}
	def := tenants.Tenant{Secrets: b.secrets, Create: b.create, Join: b.join, MaxDuration: b.maxDuration}
	named := make([]tenants.Tenant, len(list))
	for i, c := range list {
		named[i] = tenants.Tenant{
			Name: c.Name, Secrets: c.Secrets, Hosts: c.Hosts, PathPrefix: c.PathPrefix, Tag: c.Tag,
			MaxMeetings: c.MaxMeetings, MaxAttendees: c.MaxAttendees, MaxDuration: c.MaxDuration,
			Create: tenants.Merge(b.create, own(c.Create)),
			Join:   tenants.Merge(b.join, own(c.Join)),
		}
		if named[i].MaxDuration == 0 {
			named[i].MaxDuration = b.maxDuration
		}
	}
	set, err := tenants.NewSet(def, named, b.algs)
	if err != nil {
		return nil, fmt.Errorf("bbb_balance: %v", err)
	}
	return set, nil
}

// expandTenantSecrets replaces placeholders in the tenants' secrets.
func (h *Handler) expandTenantSecrets(repl *caddy.Replacer) {
	for i := range h.Tenants {
		for j, s := range h.Tenants[i].Secrets {
			h.Tenants[i].Secrets[j] = repl.ReplaceKnown(s, "")
		}
	}
}

// parseTenant reads:
//
//	tenant <name> {
//	    secret <secret> [<secret>...]
//	    host <host> [<host>...]
//	    path_prefix </prefix>
//	    tag <tag>
//	    max_meetings <n>
//	    max_attendees <n>
//	    max_duration <minutes>
//	    create { ... }
//	    join { ... }
//	}
func parseTenant(d *caddyfile.Dispenser) (TenantConfig, error) {
	var t TenantConfig
	if !d.Args(&t.Name) {
		return t, d.Errf("tenant: want `tenant <name> { secret <secret> }`")
	}
	if !tenants.ValidName(t.Name) {
		return t, d.Errf("tenant %q: a name is lower-case letters, digits and inner dashes (a DNS label)", t.Name)
	}
	if d.NextArg() {
		return t, d.ArgErr()
	}
	for d.NextBlock(1) {
		name := d.Val()
		switch name {
		case "secret", "host":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return t, d.ArgErr()
			}
			if name == "secret" {
				t.Secrets = append(t.Secrets, args...)
			} else {
				t.Hosts = append(t.Hosts, args...)
			}
		case "path_prefix", "tag":
			into := &t.PathPrefix
			if name == "tag" {
				into = &t.Tag
			}
			if !d.AllArgs(into) {
				return t, d.ArgErr()
			}
		case "max_meetings", "max_attendees":
			into := map[string]*int{"max_meetings": &t.MaxMeetings, "max_attendees": &t.MaxAttendees}[name]
			if err := parseCount(d, into); err != nil {
				return t, err
			}
		case "max_duration":
			if err := parseMinutes(d, &t.MaxDuration); err != nil {
				return t, err
			}
		case "create", "join":
			p, err := parseParams(d)
			if err != nil {
				return t, err
			}
			if name == "create" {
				t.Create = p
			} else {
				t.Join = p
			}
		default:
			return t, d.Errf("tenant %s: unknown setting %q", t.Name, name)
		}
	}
	if len(t.Secrets) == 0 {
		return t, d.Errf("tenant %s: no secret", t.Name)
	}
	return t, nil
}

// parseParams reads the parameter rules of a call:
//
//	create|join {
//	    default <param> <value>
//	    override <param> <value>
//	    exclude <param> [<param>...]
//	}
func parseParams(d *caddyfile.Dispenser) (*tenants.Params, error) {
	call := d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	p := &tenants.Params{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch rule := d.Val(); rule {
		case "default", "override":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return nil, d.Errf("%s: want `%s <param> <value>`", call, rule)
			}
			if rule == "default" {
				p.Defaults = append(p.Defaults, tenants.Param{Name: name, Value: value})
			} else {
				p.Overrides = append(p.Overrides, tenants.Param{Name: name, Value: value})
			}
		case "exclude":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			p.Exclude = append(p.Exclude, args...)
		default:
			return nil, d.Errf("%s: unknown rule %q (want default, override or exclude)", call, rule)
		}
	}
	return p, nil
}

// parseMinutes reads a whole number of minutes.
func parseMinutes(d *caddyfile.Dispenser, into *int) error {
	return parseWhole(d, into, "a whole number of minutes")
}
