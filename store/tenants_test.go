package store

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/tenants"
)

func TestTenantOverrides(t *testing.T) { forEachEngine(t, testTenantOverrides) }

func testTenantOverrides(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	b2 := tenants.Config{Name: "b", Secrets: []string{"s"}, MaxMeetings: 2, Create: &tenants.Params{Exclude: []string{"record"}}}
	for _, o := range []tenants.Override{
		{Name: "b", Config: tenants.Config{Name: "b"}},
		{Name: "a", Config: tenants.Config{Name: "a", Tag: "kept only while not removed"}, Removed: true},
		{Name: "b", Config: b2},
	} {
		if err := db.SaveTenantOverride(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.TenantOverrides(ctx)
	want := []tenants.Override{{Name: "a", Removed: true}, {Name: "b", Config: b2}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("overrides %+v, %v; want %+v", got, err, want)
	}
	if err := db.DeleteTenantOverride(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.TenantOverrides(ctx); len(got) != 1 {
		t.Fatalf("after delete: %+v", got)
	}
}

// A removal keeps no config, and a config that cannot be read is an
// error naming the tenant.
func TestTenantOverridesRaw(t *testing.T) { forEachEngine(t, testTenantOverridesRaw) }

func testTenantOverridesRaw(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	if err := db.SaveTenantOverride(ctx, tenants.Override{Name: "gone", Config: tenants.Config{Name: "gone"}, Removed: true}); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := db.db.QueryRowContext(ctx, "SELECT config FROM tenant_overrides WHERE name = 'gone'").Scan(&raw); err != nil || raw != "{}" {
		t.Fatalf("a removal keeps %q (%v), want {}", raw, err)
	}
	if _, err := db.db.ExecContext(ctx, "INSERT INTO tenant_overrides(name, config, removed, updated_at) VALUES('bad', 'not json', 0, 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TenantOverrides(ctx); err == nil || !strings.HasPrefix(err.Error(), "tenant bad: unreadable override: ") {
		t.Fatalf("an unreadable override: %v", err)
	}
}
