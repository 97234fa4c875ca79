package balancer

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// PassiveHealth is reverse_proxy's passive health checks for the pool: the
// calls the balancer makes to a server for front-ends are its health too,
// so a server whose calls fail leaves placement at once instead of after
// the polls that take it offline. It only keeps new meetings away: the
// server's meetings stay where they are, and the polls still decide
// whether it is online.
type PassiveHealth struct {
	// FailDuration is how long a failed call is remembered; 0 turns
	// passive health off.
	FailDuration time.Duration
	// MaxFails is how many failed calls within FailDuration take a server
	// out of placement (at least 1).
	MaxFails int
	// UnhealthyStatus are HTTP statuses that count as failures, or
	// classes (5 for every 5xx); a server that cannot be reached, resets
	// the connection, times out or answers something that is not BBB's
	// XML always fails the call.
	UnhealthyStatus []int
	// UnhealthyLatency makes a call slower than it count as failed
	// (0: none).
	UnhealthyLatency time.Duration
}

// SetPassiveHealth sets the passive health rules in force.
func (p *Pool) SetPassiveHealth(ph PassiveHealth) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passive = ph
}

// ReportCall tells the pool how one call to server id went: it took took
// and ended with err (nil, or the bbb.Client's error). A call the caller
// gave up on itself is not the server's failure and is not reported.
func (p *Pool) ReportCall(id string, took time.Duration, err error) {
	p.mu.RLock()
	ph := p.passive
	p.mu.RUnlock()
	if ph.FailDuration <= 0 || !ph.failed(took, err) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.servers[id]; s != nil {
		now := p.now()
		s.failures = append(recent(s.failures, now.Add(-ph.FailDuration)), now)
	}
}

// failed reports whether a call counts as a failure.
func (ph PassiveHealth) failed(took time.Duration, err error) bool {
	var ce *bbb.CallError
	switch {
	case err == nil:
		return ph.UnhealthyLatency > 0 && took > ph.UnhealthyLatency
	case errors.As(err, &ce) && ce.Status != 0 && ce.Status != http.StatusOK:
		return slices.ContainsFunc(ph.UnhealthyStatus, func(code int) bool {
			return code == ce.Status || code == ce.Status/100
		})
	}
	return true
}

// failing reports whether s's recent failed calls keep it out of
// placement. Called with mu held, for reading only: it counts and never
// trims (ReportCall trims, under the write lock).
func (p *Pool) failing(s *server, now time.Time) bool {
	ph := p.passive
	return ph.FailDuration > 0 && countAfter(s.failures, now.Add(-ph.FailDuration)) >= max(ph.MaxFails, 1)
}

// countAfter counts the times in ts (oldest first) after since.
func countAfter(ts []time.Time, since time.Time) int {
	n := 0
	for i := len(ts) - 1; i >= 0 && ts[i].After(since); i-- {
		n++
	}
	return n
}

// recent returns the times in ts (oldest first) after since, reusing ts's
// array: only for the slice's owner, under the write lock.
func recent(ts []time.Time, since time.Time) []time.Time {
	return append(ts[:0], ts[len(ts)-countAfter(ts, since):]...)
}
