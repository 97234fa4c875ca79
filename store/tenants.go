package store

import (
	"context"
	"time"
)

// TenantOverride is a tenant as the operator set it at run time: its
// config (JSON, owned by the caller) or its removal.
type TenantOverride struct {
	Name    string
	Config  []byte
	Removed bool
}

// TenantOverrides returns every tenant override.
func (s *DB) TenantOverrides(ctx context.Context) ([]TenantOverride, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, config, removed FROM tenant_overrides ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TenantOverride
	for rows.Next() {
		var o TenantOverride
		var cfg string
		if err := rows.Scan(&o.Name, &cfg, &o.Removed); err != nil {
			return nil, err
		}
		o.Config = []byte(cfg)
		out = append(out, o)
	}
	return out, rows.Err()
}

// SaveTenantOverride keeps one tenant override, replacing any before it.
func (s *DB) SaveTenantOverride(ctx context.Context, o TenantOverride) error {
	return s.write(ctx, `INSERT INTO tenant_overrides(name, config, removed, updated_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET config = excluded.config, removed = excluded.removed, updated_at = excluded.updated_at`,
		o.Name, string(o.Config), o.Removed, time.Now().UnixMilli())
}

// DeleteTenantOverride forgets a tenant override.
func (s *DB) DeleteTenantOverride(ctx context.Context, name string) error {
	return s.write(ctx, "DELETE FROM tenant_overrides WHERE name = ?", name)
}
