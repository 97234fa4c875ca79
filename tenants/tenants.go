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
package tenants

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
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

	Verifier *bbb.Verifier // made by NewSet
}

// Params are parameter rules for a call: Exclude removes parameters,
// Defaults sets those the call does not have, Overrides sets them
// whatever the call says (scalelite's *_EXCLUDE_PARAMS, DEFAULT_*_PARAMS,
// OVERRIDE_*_PARAMS).
type Params struct {
	Defaults  []Param  `json:"defaults,omitempty"`
	Overrides []Param  `json:"overrides,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
}

// Param is one parameter and its value.
type Param struct {
	Name  string `json:"name"`
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

// MeetingID is the id the servers know the tenant's meeting id by.
func (t *Tenant) MeetingID(id string) string {
	if t.Name == "" {
		return id
	}
	return t.Name + Sep + id
}

// Set is the tenants of a pool.
type Set struct {
	Default *Tenant
	named   []*Tenant
	byName  map[string]*Tenant
	byHost  map[string]*Tenant
}

var nameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName reports whether name can name a tenant: a DNS label in lower
// case (scalelite chooses tenants by the first label of the host).
func ValidName(name string) bool { return nameRe.MatchString(name) }

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
// its front-end knows.
func (s *Set) Owner(serverID string) (*Tenant, string) {
	if name, id, ok := strings.Cut(serverID, Sep); ok {
		if t := s.byName[name]; t != nil {
			return t, id
		}
	}
	return s.Default, serverID
}

// Reserved reports whether a meeting id of tenant t would be taken for
// another tenant's on the servers: a default-tenant id that starts with
// a tenant's name and Sep.
func (s *Set) Reserved(t *Tenant, id string) bool {
	if t.Name != "" {
		return false
	}
	owner, _ := s.Owner(id)
	return owner != s.Default
}
