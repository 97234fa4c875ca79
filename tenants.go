package bbbbalance

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// A config's tenants (package tenants): what the handler declares, laid
// under the operator's run-time changes, which manage.Manager makes and the
// store keeps; the set goes live with the config (engine.apply).

// tenantBase is what the handler's config says of its front-ends.
func (h *Handler) tenantBase(algs []bbb.Algorithm) tenants.Base {
	b := tenants.Base{Secrets: h.Secrets, MaxDuration: h.MaxDuration, Algorithms: algs, Configured: h.Tenants}
	if h.Create != nil {
		b.Create = *h.Create
	}
	if h.Join != nil {
		b.Join = *h.Join
	}
	return b
}

// expandTenantSecrets replaces placeholders in the tenants' secrets.
func (h *Handler) expandTenantSecrets(repl *caddy.Replacer) {
	for i := range h.Tenants {
		for j, s := range h.Tenants[i].Secrets {
			h.Tenants[i].Secrets[j] = repl.ReplaceKnown(s, "")
		}
	}
}

// tenantSet builds the tenant set of a config with the operator's changes;
// notes say what the config cannot undo.
func (e *engine) tenantSet(ctx context.Context, b tenants.Base) (*tenants.Set, []string, error) {
	overrides, err := e.db.TenantOverrides(ctx)
	if err != nil {
		return nil, nil, err
	}
	set, notes, err := b.Apply(overrides)
	if err != nil {
		return nil, nil, fmt.Errorf("bbb_balance: %v", err)
	}
	return set, notes, nil
}
