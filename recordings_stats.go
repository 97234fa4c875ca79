package bbbbalance

import (
	"context"
	"sync"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// statsMaxAge is how long the recordings' stats are kept: they read the
// whole index, which at a million recordings is not a read for every
// metrics scrape.
const statsMaxAge = time.Minute

// statsCache keeps an engine's last recordings stats.
type statsCache struct {
	mu    sync.Mutex
	at    time.Time
	stats []recordings.Stats
}

// recordingStats returns the index summed up per tenant and state, at most
// statsMaxAge old unless fresh is asked for (the admin API and CLI ask).
func (e *engine) recordingStats(ctx context.Context, fresh bool) ([]recordings.Stats, error) {
	c := &e.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	if !fresh && c.stats != nil && time.Since(c.at) < statsMaxAge {
		return c.stats, nil
	}
	st, err := e.db.RecordingStats(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = []recordings.Stats{}
	}
	c.stats, c.at = st, time.Now()
	return st, nil
}
