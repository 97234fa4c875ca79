package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bbb-balance/bbb_balance/tenants"
)

// TenantOverrides implements tenants.OverrideStore: every tenant override,
// by name.
func (s *DB) TenantOverrides(ctx context.Context) ([]tenants.Override, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, config, removed FROM tenant_overrides ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tenants.Override
	for rows.Next() {
		var o tenants.Override
		var cfg string
		if err := rows.Scan(&o.Name, &cfg, &o.Removed); err != nil {
			return nil, err
		}
		if !o.Removed {
			if err := json.Unmarshal([]byte(cfg), &o.Config); err != nil {
				return nil, fmt.Errorf("tenant %s: unreadable override: %w", o.Name, err)
			}
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SaveTenantOverride implements tenants.OverrideStore: it keeps one tenant
// override, replacing any before it. A removal keeps no config.
func (s *DB) SaveTenantOverride(ctx context.Context, o tenants.Override) error {
	cfg := []byte("{}")
	if !o.Removed {
		var err error
		if cfg, err = json.Marshal(o.Config); err != nil {
			return err
		}
	}
	return s.write(ctx, `INSERT INTO tenant_overrides(name, config, removed, updated_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET config = excluded.config, removed = excluded.removed, updated_at = excluded.updated_at`,
		o.Name, string(cfg), o.Removed, time.Now().UnixMilli())
}

// DeleteTenantOverride implements tenants.OverrideStore: it forgets a
// tenant override.
func (s *DB) DeleteTenantOverride(ctx context.Context, name string) error {
	return s.write(ctx, "DELETE FROM tenant_overrides WHERE name = ?", name)
}

var _ tenants.OverrideStore = (*DB)(nil)
