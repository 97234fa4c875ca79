package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/tenants"
)

// Tenants are added, changed and removed at run time as servers are: the
// change is checked (the tenants must make a valid set), kept in the
// TenantStore, laid over the live config's tenants (tenants.Effective)
// and made live at once.

// TenantStatus is a tenant as the operator sees it: its config (secrets
// masked), where that comes from, and its meetings and attendees now.
type TenantStatus struct {
	tenants.Config
	// Source is "config" or "admin" (added or changed at run time).
	Source    string `json:"source"`
	Meetings  int    `json:"meetings"`
	Attendees int    `json:"attendees"`
}

// Refusals of tenant actions; errors.Is tells them apart, and their texts
// name the tenant.
var (
	ErrNotLive           = errors.New("no config is live yet")
	ErrNoSuchTenant      = errors.New("no such tenant")
	ErrTenantExists      = errors.New("a tenant with that name exists")
	ErrTenantHasMeetings = errors.New("the tenant has meetings")
	ErrInvalidTenant     = errors.New("invalid tenant")
)

// refusal is a refused action: its text, and its kind for errors.Is.
type refusal struct {
	kind error
	text string
}

func (r *refusal) Error() string { return r.text }
func (r *refusal) Unwrap() error { return r.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, text: fmt.Sprintf(format, args...)}
}

// SetTenants makes a config's tenants live: base is what the config
// declares, set its tenants with the operator's changes (base.Apply).
func (m *Manager) SetTenants(base tenants.Base, set *tenants.Set) {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	m.tenantBase = &base
	m.Tenants.Store(set)
}

// ReloadTenants reads the operator's tenant changes again (another
// instance sharing the database made one) and makes the result live.
func (m *Manager) ReloadTenants(ctx context.Context) error {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	v, err := m.view(ctx)
	if errors.Is(err, ErrNotLive) {
		return nil // the first config that goes live reads them
	} else if err != nil {
		return err
	}
	set, _, err := v.base.Apply(v.overrides)
	if err != nil {
		return err
	}
	m.Tenants.Store(set)
	return nil
}

// tenantView is the live config's tenants with the operator's changes.
type tenantView struct {
	base      tenants.Base
	overrides []tenants.Override
	list      []tenants.Config
	source    map[string]string
}

// view reads the operator's changes and lays them over the live config;
// the caller holds tenantMu.
func (m *Manager) view(ctx context.Context) (tenantView, error) {
	if m.tenantBase == nil {
		return tenantView{}, ErrNotLive
	}
	v := tenantView{base: *m.tenantBase}
	var err error
	if v.overrides, err = m.TenantStore.TenantOverrides(ctx); err != nil {
		return v, err
	}
	v.list, v.source, _ = tenants.Effective(v.base.Configured, v.overrides)
	return v, nil
}

func (v tenantView) find(name string) (tenants.Config, bool) {
	for _, c := range v.list {
		if c.Name == name {
			return c, true
		}
	}
	return tenants.Config{}, false
}

// status is a tenant as TenantStatus shows it.
func (m *Manager) status(c tenants.Config, source string) TenantStatus {
	meetings, attendees := m.Pool.Usage(c.Name)
	c.Secrets = masked(c.Secrets)
	return TenantStatus{Config: c, Source: source, Meetings: meetings, Attendees: attendees}
}

// masked hides secrets, keeping how many there are.
func masked(secrets []string) []string {
	out := make([]string, len(secrets))
	for i := range out {
		out[i] = "********"
	}
	return out
}

// ListTenants lists the tenants: the configured ones in config order, then
// those added at run time by name.
func (m *Manager) ListTenants(ctx context.Context) ([]TenantStatus, error) {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	v, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	out := []TenantStatus{}
	for _, c := range v.list {
		out = append(out, m.status(c, v.source[c.Name]))
	}
	return out, nil
}

// AddTenant adds a tenant; it chooses its requests at once.
func (m *Manager) AddTenant(ctx context.Context, who Who, c tenants.Config) (TenantStatus, error) {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	v, err := m.view(ctx)
	if err != nil {
		return TenantStatus{}, err
	}
	if _, exists := v.find(c.Name); exists {
		return TenantStatus{}, refuse(ErrTenantExists, "tenant %s exists", c.Name)
	}
	if err := m.keep(ctx, v, tenants.Override{Name: c.Name, Config: c}); err != nil {
		return TenantStatus{}, err
	}
	m.Log(who, "tenant added", zap.String("tenant", c.Name))
	return m.status(c, tenants.FromAdmin), nil
}

// UpdateTenant changes a tenant: edit changes a copy of its config (the
// admin API decodes the fields of a request's body over it), which then
// replaces it. A tenant's name cannot change.
func (m *Manager) UpdateTenant(ctx context.Context, who Who, name string, edit func(*tenants.Config) error) (TenantStatus, error) {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	v, err := m.view(ctx)
	if err != nil {
		return TenantStatus{}, err
	}
	before, exists := v.find(name)
	if !exists {
		return TenantStatus{}, refuse(ErrNoSuchTenant, "no tenant %q", name)
	}
	var c tenants.Config
	if err := copyJSON(before, &c); err != nil { // shares no slice with the live config
		return TenantStatus{}, err
	}
	if err := edit(&c); err != nil {
		return TenantStatus{}, err
	}
	if c.Name != name {
		return TenantStatus{}, refuse(ErrInvalidTenant, "a tenant's name cannot change")
	}
	if err := m.keep(ctx, v, tenants.Override{Name: name, Config: c}); err != nil {
		return TenantStatus{}, err
	}
	m.Log(who, "tenant updated", zap.String("tenant", name), zap.Strings("changed", changedFields(before, c)))
	return m.status(c, tenants.FromAdmin), nil
}

// RemoveTenant removes a tenant; with meetings only when forced (they run
// on, nobody's to see). A configured tenant stays removed across reloads.
func (m *Manager) RemoveTenant(ctx context.Context, who Who, name string, force bool) error {
	m.tenantMu.Lock()
	defer m.tenantMu.Unlock()
	v, err := m.view(ctx)
	if err != nil {
		return err
	}
	if _, exists := v.find(name); !exists {
		return refuse(ErrNoSuchTenant, "no tenant %q", name)
	}
	meetings, _ := m.Pool.Usage(name)
	if meetings > 0 && !force {
		return refuse(ErrTenantHasMeetings, "tenant %s has %d meeting(s)", name, meetings)
	}
	if err := m.keep(ctx, v, tenants.Override{Name: name, Removed: true}); err != nil {
		return err
	}
	m.Log(who, "tenant removed", zap.String("tenant", name), zap.Int("meetings", meetings))
	return nil
}

// keep checks that a change makes a valid set of tenants, keeps it and
// makes the set live.
func (m *Manager) keep(ctx context.Context, v tenantView, change tenants.Override) error {
	overrides := []tenants.Override{change}
	for _, o := range v.overrides {
		if o.Name != change.Name {
			overrides = append(overrides, o)
		}
	}
	set, _, err := v.base.Apply(overrides)
	if err != nil {
		return refuse(ErrInvalidTenant, "%v", err)
	}
	configured := false
	for _, c := range v.base.Configured {
		configured = configured || c.Name == change.Name
	}
	if change.Removed && !configured {
		err = m.TenantStore.DeleteTenantOverride(ctx, change.Name) // added at run time: nothing to remember
	} else {
		err = m.TenantStore.SaveTenantOverride(ctx, change)
	}
	if err != nil {
		return fmt.Errorf("keeping the change: %w", err)
	}
	m.Tenants.Store(set)
	return nil
}

// copyJSON sets *into to a copy of from made through its JSON.
func copyJSON(from, into any) error {
	raw, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}
