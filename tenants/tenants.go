// Package tenants lets several front-ends (schools, applications) share one
// pool while seeing only their own meetings and recordings. A tenant is
// chosen by the request's path prefix or host, signs with its own secrets,
// and has its own parameter rules and limits.
//
// The servers need meeting ids that are unique across the pool, so a
// tenant's meeting "room" is "<tenant>~room" on the servers (and in the
// registry and the recordings made of it); the front-end only ever sees
// "room". The default tenant (the handler's own secrets) keeps its ids as
// they are, so a pool that adds tenants keeps its running meetings.
//
// An id "<name>~<id>" whose <name> has a tenant name's form is in the
// tenants' namespace, whether that tenant exists now, was removed or is
// added later: the default tenant may not use such ids (Tenant.ServerID),
// and a server-side id is attributed by its syntax alone (Split). So no id
// a front-end can send maps onto another tenant's meeting or recording,
// and adding a tenant never hands it meetings that were someone else's.
package tenants

import (
	"fmt"
	"net"
	"strings"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Sep joins a tenant's name and a meeting id on the servers; the pool
// counts each tenant's meetings by it.
const Sep = balancer.GroupSep

// Tenant is one front-end of the pool.
type Tenant struct {
	Name       string   // "" for the default tenant
	Secrets    []string // any of them is accepted (rotation)
	Hosts      []string // request hosts that choose this tenant (no port)
	PathPrefix string   // e.g. "/school-a": /school-a/bigbluebutton/api/... chooses it
	// Tag is a required server tag: the tenant's meetings go only to
	// servers with it (it replaces any meta_server-tag of the front-end).
	Tag string
	// MaxMeetings and MaxAttendees bound the tenant's running meetings
	// and their participants (0: no limit).
	MaxMeetings  int
	MaxAttendees int
	// Create and Join are the tenant's parameter rules, on top of the
	// pool's (see Merge).
	Create, Join Params
	// MaxDuration caps a meeting's duration in minutes (0: the pool's).
	MaxDuration int
	// Retention is the tenant's own retention of recordings; nil: the
	// pool's.
	Retention *recordings.Retention

	Verifier *bbb.Verifier // made by NewSet
}

// Params are parameter rules for a call: Exclude removes parameters,
// Defaults sets those the call does not have, Overrides sets them
// whatever the call says (scalelite's *_EXCLUDE_PARAMS, DEFAULT_*_PARAMS,
// OVERRIDE_*_PARAMS).
//
// Apply runs them in the order Exclude, Defaults, Overrides. As config
// (the handler's and a tenant's "create" and "join"), every list is empty
// by default.
type Params struct {
	// Defaults are parameters set when the call does not have them
	// (Caddyfile: default <param> <value>).
	Defaults []Param `json:"defaults,omitempty"`
	// Overrides are parameters set whatever the call says (Caddyfile:
	// override <param> <value>).
	Overrides []Param `json:"overrides,omitempty"`
	// Exclude are the names of parameters removed from the call
	// (Caddyfile: exclude <param>...).
	Exclude []string `json:"exclude,omitempty"`
}

// Param is one parameter and its value.
type Param struct {
	// Name is the BBB API parameter, as the call names it (such as
	// record or meta_course); required.
	Name string `json:"name"`
	// Value is the parameter's plain value; it is URL-encoded when set.
	Value string `json:"value"`
}

// Apply applies the rules to a call's parameters.
func (p Params) Apply(q bbb.Query) bbb.Query {
	if len(p.Exclude) > 0 {
		q = q.Without(p.Exclude...)
	}
	for _, d := range p.Defaults {
		if _, ok := q.Lookup(d.Name); !ok {
			q = q.With(d.Name, d.Value)
		}
	}
	for _, o := range p.Overrides {
		q = q.With(o.Name, o.Value)
	}
	return q
}

// Merge returns the pool's rules with a tenant's on top: a tenant's rule
// for a parameter replaces the pool's rules for it.
func Merge(pool, own Params) Params {
	mine := map[string]bool{}
	for _, d := range own.Defaults {
		mine[d.Name] = true
	}
	for _, o := range own.Overrides {
		mine[o.Name] = true
	}
	for _, e := range own.Exclude {
		mine[e] = true
	}
	var out Params
	for _, d := range pool.Defaults {
		if !mine[d.Name] {
			out.Defaults = append(out.Defaults, d)
		}
	}
	for _, o := range pool.Overrides {
		if !mine[o.Name] {
			out.Overrides = append(out.Overrides, o)
		}
	}
	for _, e := range pool.Exclude {
		if !mine[e] {
			out.Exclude = append(out.Exclude, e)
		}
	}
	out.Defaults = append(out.Defaults, own.Defaults...)
	out.Overrides = append(out.Overrides, own.Overrides...)
	out.Exclude = append(out.Exclude, own.Exclude...)
	return out
}

// ServerID is the id the servers, the registry and the recordings index
// know tenant t's meeting id by, and false when id is not t's to name: a
// default-tenant id in the tenants' namespace ("<name>~..."). Every call
// that names a meeting goes through here, so such an id is unknown to the
// default front-end, whatever the call.
func (t *Tenant) ServerID(id string) (string, bool) {
	if t.Name == "" {
		owner, _ := Split(id)
		return id, owner == ""
	}
	return t.Name + Sep + id, true
}

// Split attributes a server-side meeting id by its syntax alone: the name
// of the tenant it belongs to ("" for the default tenant) and the id its
// front-end knows. The part before the first Sep names a tenant if it has
// a tenant name's form; any other id is the default tenant's as it is.
// Split inverts ServerID: t.ServerID(id) = (s, true) implies
// Split(s) = (t.Name, id).
func Split(serverID string) (tenant, id string) {
	if name, rest := balancer.SplitKey(serverID); ValidName(name) {
		return name, rest
	}
	return "", serverID
}

// Set is the tenants of a pool.
type Set struct {
	Default *Tenant
	named   []*Tenant
	byName  map[string]*Tenant
	byHost  map[string]*Tenant
}

// ValidName reports whether name can name a tenant: a DNS label in lower
// case (scalelite chooses tenants by the first label of the host).
// (It runs on every call that names a meeting: no regexp.)
func ValidName(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// NewSet checks the tenants and builds their verifiers. algorithms are the
// checksum algorithms accepted from every front-end.
func NewSet(def Tenant, named []Tenant, algorithms []bbb.Algorithm) (*Set, error) {
	s := &Set{byName: map[string]*Tenant{}, byHost: map[string]*Tenant{}}
	def.Name = ""
	def.Verifier = bbb.NewVerifier(def.Secrets, algorithms)
	s.Default = &def
	prefixes := map[string]string{}
	for i := range named {
		t := named[i]
		if !ValidName(t.Name) {
			return nil, fmt.Errorf("tenant %q: a name is lower-case letters, digits and inner dashes (a DNS label)", t.Name)
		}
		if s.byName[t.Name] != nil {
			return nil, fmt.Errorf("tenant %s is declared twice", t.Name)
		}
		if len(t.Secrets) == 0 {
			return nil, fmt.Errorf("tenant %s: no secret", t.Name)
		}
		for _, sec := range t.Secrets {
			if sec == "" {
				return nil, fmt.Errorf("tenant %s: a secret is empty (is its environment variable set?)", t.Name)
			}
		}
		if t.MaxMeetings < 0 || t.MaxAttendees < 0 || t.MaxDuration < 0 {
			return nil, fmt.Errorf("tenant %s: limits must not be negative", t.Name)
		}
		if t.Retention != nil {
			if err := t.Retention.Validate(); err != nil {
				return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
			}
		}
		if p := t.PathPrefix; p != "" {
			if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "/bigbluebutton") {
				return nil, fmt.Errorf("tenant %s: path_prefix %q must start with / and not end with one", t.Name, p)
			}
			if other, ok := prefixes[p]; ok {
				return nil, fmt.Errorf("tenants %s and %s have the same path_prefix %s", other, t.Name, p)
			}
			prefixes[p] = t.Name
		}
		t.Verifier = bbb.NewVerifier(t.Secrets, algorithms)
		tp := &t
		for _, h := range t.Hosts {
			h = strings.ToLower(h)
			if other := s.byHost[h]; other != nil {
				return nil, fmt.Errorf("tenants %s and %s share the host %s", other.Name, t.Name, h)
			}
			s.byHost[h] = tp
		}
		s.byName[t.Name] = tp
		s.named = append(s.named, tp)
	}
	return s, nil
}

// Named returns the tenants other than the default, in config order.
func (s *Set) Named() []*Tenant { return s.named }

// Retention returns the tenants' own retention rules, by tenant name.
func (s *Set) Retention() map[string]recordings.Retention {
	out := map[string]recordings.Retention{}
	for _, t := range s.named {
		if t.Retention != nil {
			out[t.Name] = *t.Retention
		}
	}
	return out
}

// Lookup returns a tenant by name ("" is the default tenant).
func (s *Set) Lookup(name string) (*Tenant, bool) {
	if name == "" {
		return s.Default, true
	}
	t, ok := s.byName[name]
	return t, ok
}

// Resolve chooses the tenant of a request: by path prefix (the path
// without it is returned), else by host (a listed host, else scalelite's
// rule: the first label of the host names the tenant), else the default.
func (s *Set) Resolve(host, path string) (*Tenant, string) {
	for _, t := range s.named {
		if p := t.PathPrefix; p != "" && strings.HasPrefix(path, p) && len(path) > len(p) && path[len(p)] == '/' {
			return t, path[len(p):]
		}
	}
	if len(s.named) == 0 {
		return s.Default, path
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if t := s.byHost[host]; t != nil {
		return t, path
	}
	if label, _, ok := strings.Cut(host, "."); ok {
		if t := s.byName[label]; t != nil && t.PathPrefix == "" && len(t.Hosts) == 0 {
			return t, path
		}
	}
	return s.Default, path
}

// Owner returns the tenant a server-side meeting id belongs to and the id
// its front-end knows; false when that tenant is not in the set (it was
// removed, or never existed): such a meeting is nobody's to see.
func (s *Set) Owner(serverID string) (*Tenant, string, bool) {
	name, id := Split(serverID)
	t, ok := s.Lookup(name)
	return t, id, ok
}
