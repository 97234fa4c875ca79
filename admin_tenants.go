package bbbbalance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Tenants are declared in the config and changed at run time through the
// admin API, as servers are: the operator's changes are kept in the
// database and laid over the config, so a reload does not undo them.
//
//	GET    /bbb/tenants                 every tenant (secrets masked) with its meetings and attendees
//	POST   /bbb/tenants                 add one: a TenantConfig
//	PATCH  /bbb/tenants/<name>          change the fields given
//	DELETE /bbb/tenants/<name>[?force=true]   remove it (refused while it has meetings, unless forced)

// TenantStatus is a tenant in the admin API's listing.
type TenantStatus struct {
	TenantConfig
	// Source is "config" or "admin" (added or changed at run time).
	Source    string `json:"source"`
	Meetings  int    `json:"meetings"`
	Attendees int    `json:"attendees"`
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

// effectiveTenants lays the operator's overrides over the configured
// tenants: an override replaces a tenant of the same name or adds one; a
// removal drops a configured one. notes say what the config cannot undo.
func effectiveTenants(configured []TenantConfig, overrides []store.TenantOverride) (list []TenantConfig, source map[string]string, notes []string, err error) {
	byName := map[string]store.TenantOverride{}
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
			source[c.Name] = "config"
		case o.Removed:
			notes = append(notes, fmt.Sprintf("tenant %s is in the config but was removed through the admin API; it stays removed until it is added again", c.Name))
		default:
			var t TenantConfig
			if err := json.Unmarshal(o.Config, &t); err != nil {
				return nil, nil, nil, fmt.Errorf("tenant %s: unreadable override: %w", c.Name, err)
			}
			list = append(list, t)
			source[c.Name] = "admin"
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
		var t TenantConfig
		if err := json.Unmarshal(byName[name].Config, &t); err != nil {
			return nil, nil, nil, fmt.Errorf("tenant %s: unreadable override: %w", name, err)
		}
		list = append(list, t)
		source[name] = "admin"
	}
	return list, source, notes, nil
}

// tenantSet builds the tenant set of a config with the operator's changes.
func (e *engine) tenantSet(ctx context.Context, b tenantBase, extra *store.TenantOverride) (*tenants.Set, []TenantConfig, map[string]string, []string, error) {
	overrides, err := e.db.TenantOverrides(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if extra != nil {
		kept := overrides[:0]
		for _, o := range overrides {
			if o.Name != extra.Name {
				kept = append(kept, o)
			}
		}
		overrides = append(kept, *extra)
	}
	list, source, notes, err := effectiveTenants(b.configured, overrides)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	set, err := b.build(list)
	return set, list, source, notes, err
}

func (adminAPI) tenants(w http.ResponseWriter, r *http.Request) error {
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bbb/tenants"), "/")
	e, err := pick(r, "")
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tenantBase == nil {
		return apiErr(http.StatusConflict, "no config is live yet")
	}
	ctx := r.Context()
	_, list, source, _, err := e.tenantSet(ctx, *e.tenantBase, nil)
	if err != nil {
		return apiErr(http.StatusInternalServerError, "%v", err)
	}
	current := map[string]TenantConfig{}
	for _, c := range list {
		current[c.Name] = c
	}
	configured := false
	for _, c := range e.tenantBase.configured {
		configured = configured || c.Name == name
	}

	var change store.TenantOverride
	status := http.StatusOK
	switch {
	case name == "" && r.Method == http.MethodGet:
		out := []TenantStatus{}
		for _, c := range list {
			m, a := e.pool.Usage(c.Name)
			c.Secrets = masked(c.Secrets)
			out = append(out, TenantStatus{TenantConfig: c, Source: source[c.Name], Meetings: m, Attendees: a})
		}
		return writeJSON(w, http.StatusOK, out)
	case name == "" && r.Method == http.MethodPost:
		var c TenantConfig
		if err := decodeBody(r, &c); err != nil {
			return err
		}
		if _, exists := current[c.Name]; exists {
			return apiErr(http.StatusConflict, "tenant %s exists", c.Name)
		}
		raw, _ := json.Marshal(c)
		change, status = store.TenantOverride{Name: c.Name, Config: raw}, http.StatusCreated
	case name != "" && r.Method == http.MethodPatch:
		c, exists := current[name]
		if !exists {
			return apiErr(http.StatusNotFound, "no tenant %q", name)
		}
		// The body's fields replace the tenant's; the others stay.
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return apiErr(http.StatusBadRequest, "unreadable JSON body: %v", err)
		}
		if c.Name != name {
			return apiErr(http.StatusBadRequest, "a tenant's name cannot change")
		}
		raw, _ := json.Marshal(c)
		change = store.TenantOverride{Name: name, Config: raw}
	case name != "" && r.Method == http.MethodDelete:
		if _, exists := current[name]; !exists {
			return apiErr(http.StatusNotFound, "no tenant %q", name)
		}
		force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
		if m, _ := e.pool.Usage(name); m > 0 && !force {
			return apiErr(http.StatusConflict, "tenant %s has %d meeting(s); end them first or remove it with ?force=true", name, m)
		}
		change = store.TenantOverride{Name: name, Config: []byte("{}"), Removed: true}
	default:
		return apiErr(http.StatusMethodNotAllowed, "%s %s is not a tenants call", r.Method, r.URL.Path)
	}

	// The change must make a valid set before it is kept.
	set, _, _, _, err := e.tenantSet(ctx, *e.tenantBase, &change)
	if err != nil {
		return apiErr(http.StatusBadRequest, "%v", strings.TrimPrefix(err.Error(), "bbb_balance: "))
	}
	if change.Removed && !configured {
		err = e.db.DeleteTenantOverride(ctx, name) // added at run time: nothing to remember
	} else {
		err = e.db.SaveTenantOverride(ctx, change)
	}
	if err != nil {
		return apiErr(http.StatusInternalServerError, "keeping the change: %v", err)
	}
	e.tenants.Store(set)
	e.manager.Log(who(r), "tenant changed", zap.String("tenant", change.Name), zap.String("method", r.Method), zap.Bool("removed", change.Removed))
	if change.Removed {
		return writeJSON(w, status, map[string]string{"removed": change.Name})
	}
	var c TenantConfig
	json.Unmarshal(change.Config, &c)
	c.Secrets = masked(c.Secrets)
	m, a := e.pool.Usage(c.Name)
	return writeJSON(w, status, TenantStatus{TenantConfig: c, Source: "admin", Meetings: m, Attendees: a})
}

// masked hides secrets in listings, keeping how many there are.
func masked(secrets []string) []string {
	out := make([]string, len(secrets))
	for i := range out {
		out[i] = "********"
	}
	return out
}
