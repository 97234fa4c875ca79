package manage

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// live makes a config with tenants a and c go live.
func (e *env) live() tenants.Base {
	e.t.Helper()
	base := tenants.Base{
		Secrets: []string{"pool"},
		Create:  tenants.Params{Defaults: []tenants.Param{{Name: "record", Value: "true"}}},
		Configured: []tenants.Config{
			{Name: "a", Secrets: []string{"a1", "a2"}, PathPrefix: "/a"},
			{Name: "c", Secrets: []string{"c"}},
		},
	}
	overrides, err := e.db.TenantOverrides(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	set, _, err := base.Apply(overrides)
	if err != nil {
		e.t.Fatal(err)
	}
	e.m.SetTenants(base, set)
	return base
}

// liveTenant returns a tenant of the live set.
func (e *env) liveTenant(name string) (*tenants.Tenant, bool) {
	return e.tenant.Load().Lookup(name)
}

// kept returns the kept overrides by name.
func (e *env) kept() map[string]tenants.Override {
	e.t.Helper()
	list, err := e.db.TenantOverrides(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]tenants.Override{}
	for _, o := range list {
		out[o.Name] = o
	}
	return out
}

// wantRefused checks err's kind and text.
func wantRefused(t *testing.T, err, kind error, text string) {
	t.Helper()
	if !errors.Is(err, kind) || err.Error() != text {
		t.Errorf("got %v, want %q (%v)", err, text, kind)
	}
}

func TestTenantsNotLive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.m.ListTenants(ctx)
	wantRefused(t, err, ErrNotLive, "no config is live yet")
	_, err = e.m.AddTenant(ctx, who, tenants.Config{Name: "a", Secrets: []string{"x"}})
	wantRefused(t, err, ErrNotLive, "no config is live yet")
	_, err = e.m.UpdateTenant(ctx, who, "a", func(*tenants.Config) error { return nil })
	wantRefused(t, err, ErrNotLive, "no config is live yet")
	wantRefused(t, e.m.RemoveTenant(ctx, who, "a", true), ErrNotLive, "no config is live yet")
	if len(e.kept()) != 0 {
		t.Error("something was kept")
	}
}

func TestTenantActions(t *testing.T) {
	e := newEnv(t, balancer.ServerConfig{ID: "bbb1", URL: "http://bbb1.invalid/bigbluebutton/api", Secret: "s"})
	ctx := context.Background()
	base := e.live()
	e.online("bbb1")

	// The listing: the config's tenants, secrets masked.
	list, err := e.m.ListTenants(ctx)
	want := []TenantStatus{
		{Config: tenants.Config{Name: "a", Secrets: []string{"********", "********"}, PathPrefix: "/a"}, Source: "config"},
		{Config: tenants.Config{Name: "c", Secrets: []string{"********"}}, Source: "config"},
	}
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Fatalf("list %+v %v, want %+v", list, err, want)
	}

	// Add: live at once, kept, logged.
	st, err := e.m.AddTenant(ctx, who, tenants.Config{Name: "d", Secrets: []string{"d-secret"}, MaxMeetings: 1})
	if err != nil || !reflect.DeepEqual(st, TenantStatus{Config: tenants.Config{Name: "d", Secrets: []string{"********"}, MaxMeetings: 1}, Source: "admin"}) {
		t.Fatalf("add: %+v %v", st, err)
	}
	if d, ok := e.liveTenant("d"); !ok || d.MaxMeetings != 1 || !reflect.DeepEqual(d.Create, base.Create) {
		t.Errorf("d is not live with the pool's rules: %+v", d)
	}
	if o := e.kept()["d"]; o.Removed || o.Config.Secrets[0] != "d-secret" {
		t.Errorf("kept %+v", o)
	}
	e.wantLog(who, "tenant added", map[string]any{"tenant": "d"})

	// Refusals change nothing and log nothing.
	_, err = e.m.AddTenant(ctx, who, tenants.Config{Name: "a", Secrets: []string{"x"}})
	wantRefused(t, err, ErrTenantExists, "tenant a exists")
	_, err = e.m.AddTenant(ctx, who, tenants.Config{Name: "e", Secrets: []string{"x"}, PathPrefix: "/a"})
	wantRefused(t, err, ErrInvalidTenant, "tenants a and e have the same path_prefix /a")
	_, err = e.m.AddTenant(ctx, who, tenants.Config{Name: "Bad Name", Secrets: []string{"x"}})
	if !errors.Is(err, ErrInvalidTenant) {
		t.Errorf("a bad name: %v", err)
	}
	_, err = e.m.UpdateTenant(ctx, who, "nope", func(*tenants.Config) error { return nil })
	wantRefused(t, err, ErrNoSuchTenant, `no tenant "nope"`)
	_, err = e.m.UpdateTenant(ctx, who, "a", func(c *tenants.Config) error { c.Name = "b"; return nil })
	wantRefused(t, err, ErrInvalidTenant, "a tenant's name cannot change")
	bodyErr := errors.New("unreadable body")
	if _, err = e.m.UpdateTenant(ctx, who, "a", func(*tenants.Config) error { return bodyErr }); err != bodyErr {
		t.Errorf("an edit's error: %v", err)
	}
	wantRefused(t, e.m.RemoveTenant(ctx, who, "nope", true), ErrNoSuchTenant, `no tenant "nope"`)
	e.wantNoLog()
	if k := e.kept(); len(k) != 1 {
		t.Errorf("kept %+v after refusals", k)
	}
	if _, ok := e.liveTenant("e"); ok {
		t.Error("a refused tenant is live")
	}

	// Update: the edit's fields replace the tenant's; the config's own
	// tenant is untouched, the change is the operator's from now on.
	st, err = e.m.UpdateTenant(ctx, who, "a", func(c *tenants.Config) error {
		c.Secrets[0] = "a-new"
		c.MaxMeetings = 5
		return nil
	})
	if err != nil || st.Source != "admin" || st.MaxMeetings != 5 || st.PathPrefix != "/a" || st.Secrets[0] != "********" {
		t.Fatalf("update: %+v %v", st, err)
	}
	if base.Configured[0].Secrets[0] != "a1" {
		t.Errorf("the update changed the config's tenant: %+v", base.Configured[0])
	}
	if a, _ := e.liveTenant("a"); a.MaxMeetings != 5 || !reflect.DeepEqual(a.Secrets, []string{"a-new", "a2"}) {
		t.Errorf("live a: %+v", a)
	}
	e.wantLog(who, "tenant updated", map[string]any{"tenant": "a", "changed": []any{"max_meetings", "secrets"}})

	// Remove: refused while the tenant has meetings, unless forced.
	if _, err := e.pool.Place(ctx, balancer.Request{Key: "d~room", MeetingID: "d~room"}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, e.m.RemoveTenant(ctx, who, "d", false), ErrTenantHasMeetings, "tenant d has 1 meeting(s)")
	e.wantNoLog()
	if err := e.m.RemoveTenant(ctx, who, "d", true); err != nil {
		t.Fatal(err)
	}
	e.wantLog(who, "tenant removed", map[string]any{"tenant": "d", "meetings": int64(1)})
	if _, ok := e.liveTenant("d"); ok {
		t.Error("d is still live")
	}
	if _, ok := e.kept()["d"]; ok {
		t.Error("a tenant added at run time and removed is remembered")
	}
	if len(e.pool.Meetings()) != 1 {
		t.Error("removing a tenant ended its meetings")
	}

	// A configured tenant removed stays removed: a reload finds the
	// removal and says so.
	if err := e.m.RemoveTenant(ctx, who, "c", false); err != nil {
		t.Fatal(err)
	}
	e.logged()
	if o, ok := e.kept()["c"]; !ok || !o.Removed {
		t.Errorf("c's removal is not kept: %+v", o)
	}
	overrides, _ := e.db.TenantOverrides(ctx)
	if set, notes, err := base.Apply(overrides); err != nil || len(notes) != 1 || len(set.Named()) != 1 {
		t.Errorf("reload: %v %q %v", set, notes, err)
	}
	list, _ = e.m.ListTenants(ctx)
	if len(list) != 1 || list[0].Name != "a" {
		t.Errorf("list %+v, want a only", list)
	}
	// ... until it is added again.
	if _, err := e.m.AddTenant(ctx, who, tenants.Config{Name: "c", Secrets: []string{"c2"}}); err != nil {
		t.Fatal(err)
	}
	list, _ = e.m.ListTenants(ctx)
	if len(list) != 2 || list[1].Name != "c" || list[1].Source != "admin" {
		t.Errorf("list %+v", list)
	}
}

// failingStore cannot keep changes.
type failingStore struct{ tenants.OverrideStore }

func (failingStore) SaveTenantOverride(context.Context, tenants.Override) error {
	return errors.New("disk full")
}

func TestTenantChangeNotKept(t *testing.T) {
	e := newEnv(t)
	e.live()
	e.m.TenantStore = failingStore{e.db}
	before := e.tenant.Load()
	_, err := e.m.AddTenant(context.Background(), who, tenants.Config{Name: "d", Secrets: []string{"d"}})
	if err == nil || err.Error() != "keeping the change: disk full" {
		t.Errorf("got %v", err)
	}
	if e.tenant.Load() != before {
		t.Error("a change that was not kept went live")
	}
	e.wantNoLog()
}
