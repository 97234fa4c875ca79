package tenants

import (
	"context"
	"fmt"
	"sort"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Tenants come from two places, as servers do (balancer/overrides.go): the
// config, and the operator at run time (admin API, `caddy bbb tenants`).
// The operator's word is kept in the store as an Override per tenant and
// laid over the config (Effective), so a reload does not undo it:
//
//   - a tenant added or changed at run time is the operator's whole config
//     of it, kept until it is changed or removed at run time;
//   - a configured tenant removed at run time stays removed, and every
//     config that still declares it says so in the log (the notes of
//     Effective), until it is added again.

// Config is one front-end sharing the pool, as the handler's JSON config
// (its tenants), the Caddyfile's tenant blocks and the admin API's POST and
// PATCH /bbb/tenants declare it.
type Config struct {
	// Name is the tenant's name, a DNS label (lower-case letters, digits
	// and inner dashes); required. The servers know its meeting "room" as
	// "<name>~room".
	Name string `json:"name"`
	// Secrets the tenant signs with; any is accepted, so a secret can be
	// rotated without downtime. At least one is required. Placeholders
	// such as {env.SCHOOL_A_SECRET} are expanded.
	Secrets []string `json:"secrets,omitempty"`
	// Hosts are request hosts (no port) that choose the tenant. Without
	// hosts and path_prefix, a host whose first label is the tenant's name
	// chooses it (scalelite's rule). Default none.
	Hosts []string `json:"hosts,omitempty"`
	// PathPrefix chooses the tenant by path, <prefix>/bigbluebutton/api/...
	// (such as "/moodle"); it comes before hosts. Default none.
	PathPrefix string `json:"path_prefix,omitempty"`
	// Tag replaces the meta_server-tag of the tenant's creates, with its
	// rules: "hd" prefers servers tagged hd, "hd!" requires one. Default
	// none: the front-end's own meta_server-tag applies.
	Tag string `json:"tag,omitempty"`
	// MaxMeetings bounds the tenant's meetings at once: a create of one
	// more answers maxMeetingsReached. Default 0: no limit.
	MaxMeetings int `json:"max_meetings,omitempty"`
	// MaxAttendees bounds the participants of the tenant's meetings at
	// once: a join beyond it gets maxParticipantsReached. Default 0: no
	// limit.
	MaxAttendees int `json:"max_attendees,omitempty"`
	// MaxDuration caps every meeting's duration, in minutes; default 0:
	// the handler's max_duration.
	MaxDuration int `json:"max_duration,omitempty"`
	// Create is the tenant's parameter rules for create, on top of the
	// handler's: its rule for a parameter replaces the handler's rules for
	// it. Default none.
	Create *Params `json:"create,omitempty"`
	// Join is the tenant's parameter rules for join, as Create is for
	// create. Default none.
	Join *Params `json:"join,omitempty"`
	// Retention is the tenant's own retention of recordings: its ages
	// replace the pool's (recordings' retention), "off" keeps its
	// recordings for ever, its keep_meta rules add to the pool's. Default
	// none: the pool's applies.
	Retention *recordings.Retention `json:"retention,omitempty"`
}

// Override is the operator's word on one tenant: its whole config, or its
// removal (then Config is unused).
type Override struct {
	Name    string
	Config  Config
	Removed bool
}

// OverrideStore keeps the operator's tenant changes.
type OverrideStore interface {
	TenantOverrides(ctx context.Context) ([]Override, error)
	SaveTenantOverride(ctx context.Context, o Override) error
	DeleteTenantOverride(ctx context.Context, name string) error
}

// Where a tenant's config comes from, in Effective's source.
const (
	FromConfig = "config" // as the config declares it
	FromAdmin  = "admin"  // added or changed at run time
)

// Effective lays the operator's overrides over the configured tenants: an
// override replaces a tenant of the same name or adds one; a removal drops
// a configured one. The list has the configured tenants in config order,
// then those added at run time by name; source says where each comes from
// (FromConfig, FromAdmin); notes say what the config cannot undo.
func Effective(configured []Config, overrides []Override) (list []Config, source map[string]string, notes []string) {
	byName := map[string]Override{}
	for _, o := range overrides {
		byName[o.Name] = o
	}
	source = map[string]string{}
	seen := map[string]bool{}
	for _, c := range configured {
		seen[c.Name] = true
		o, ok := byName[c.Name]
		switch {
		case !ok:
			list = append(list, c)
			source[c.Name] = FromConfig
		case o.Removed:
			notes = append(notes, fmt.Sprintf("tenant %s is in the config but was removed through the admin API; it stays removed until it is added again", c.Name))
		default:
			list = append(list, o.Config)
			source[c.Name] = FromAdmin
		}
	}
	var added []string
	for name, o := range byName {
		if !seen[name] && !o.Removed {
			added = append(added, name)
		}
	}
	sort.Strings(added)
	for _, name := range added {
		list = append(list, byName[name].Config)
		source[name] = FromAdmin
	}
	return list, source, notes
}

// Base is what a config says of its front-ends: the default tenant's
// secrets, the pool's parameter rules and duration cap, the checksum
// algorithms accepted from every front-end, and the tenants it declares.
// The operator's changes are laid over Configured (Effective).
type Base struct {
	Secrets     []string
	Create      Params
	Join        Params
	MaxDuration int
	Algorithms  []bbb.Algorithm
	Configured  []Config
}

// Apply lays the operator's overrides over the configured tenants
// (Effective) and builds the set of the result; notes are Effective's.
func (b Base) Apply(overrides []Override) (*Set, []string, error) {
	list, _, notes := Effective(b.Configured, overrides)
	set, err := b.build(list)
	return set, notes, err
}

// build makes the set of the default tenant and the given ones: every
// tenant gets the pool's parameter rules under its own (Merge), and the
// pool's duration cap unless it has its own.
func (b Base) build(list []Config) (*Set, error) {
	own := func(p *Params) Params {
		if p == nil {
			return Params{}
		}
		return *p
	}
	def := Tenant{Secrets: b.Secrets, Create: b.Create, Join: b.Join, MaxDuration: b.MaxDuration}
	named := make([]Tenant, len(list))
	for i, c := range list {
		named[i] = Tenant{
			Name: c.Name, Secrets: c.Secrets, Hosts: c.Hosts, PathPrefix: c.PathPrefix, Tag: c.Tag,
			MaxMeetings: c.MaxMeetings, MaxAttendees: c.MaxAttendees, MaxDuration: c.MaxDuration,
			Retention: c.Retention,
			Create:    Merge(b.Create, own(c.Create)),
			Join:      Merge(b.Join, own(c.Join)),
		}
		if named[i].MaxDuration == 0 {
			named[i].MaxDuration = b.MaxDuration
		}
	}
	return NewSet(def, named, b.Algorithms)
}
