package bbbbalance

import (
	"context"
	"fmt"
	"strings"

	"github.com/bbb-balance/bbb_balance/dialin"
)

// provisionDialin makes the dial-in endpoint (package dialin) of a config
// that has one: FreeSWITCH asks it where a call to a voice bridge goes,
// and the pool's registry answers from memory.
func (h *Handler) provisionDialin(eng *engine) error {
	d := h.Dialin
	if d == nil {
		return nil
	}
	pool := eng.pool
	h.dialin = &dialin.Handler{
		Config: d.config(),
		Lookup: func(_ context.Context, voiceBridge string) (dialin.Meeting, bool) {
			m, ok := pool.ByVoiceBridge(voiceBridge)
			return dialin.Meeting{MeetingID: m.MeetingID, Host: m.Host}, ok
		},
		Observe: func(result string) { metrics.dialin.WithLabelValues(result).Inc() },
	}
	return nil
}

// validate checks the dialin settings (after placeholders are
// expanded) and fills the path's default.
func (d *DialinConfig) validate() error {
	if d.Password == "" {
		return fmt.Errorf("bbb_balance: dialin needs a password (is its environment variable set?)")
	}
	if d.Path == "" {
		d.Path = DefaultDialinPath
	}
	if !strings.HasPrefix(d.Path, "/") {
		return fmt.Errorf("bbb_balance: dialin path %q must start with /", d.Path)
	}
	if err := d.config().Validate(); err != nil {
		return fmt.Errorf("bbb_balance: dialin: %w", err)
	}
	return nil
}
