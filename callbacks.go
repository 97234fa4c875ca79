package bbbbalance

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/callbacks"
)

// provisionCallbacks wires the callbacks of meetings (package callbacks):
// creates give servers the balancer's URLs, the servers call them under
// callbacks.Prefix, and the relays go through the engine's delivery
// queue, which starts with the engine.
func (h *Handler) provisionCallbacks(ctx caddy.Context) error {
	eng := h.engine
	key, err := eng.db.SigningKey(ctx, "callbacks")
	if err != nil {
		return fmt.Errorf("bbb_balance: callbacks: %w", err)
	}
	h.front.Meetings.Callbacks = &callbacks.Relay{
		Key:      key,
		Store:    eng.db,
		Queue:    eng.queue,
		Pool:     eng.pool,
		Tenants:  &eng.tenants,
		Logger:   h.logger.Named("callbacks"),
		Observer: apiObserver{},
	}
	return nil
}
