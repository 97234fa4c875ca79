// Package manage is what an operator does to a running pool: add, change,
// drain and remove servers, end meetings, add, change and remove tenants,
// and plan the import of a scalelite pool's servers. The admin API, the
// `caddy bbb` CLI (through the admin API) and scalelite's management API
// all go through it, so each action has one implementation, logged with
// who asked.
package manage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Manager acts on one pool.
type Manager struct {
	Pool    *balancer.Pool
	Client  *bbb.Client
	Poll    func(ctx context.Context, ids []string) // polls servers at once; may be nil
	Timeout time.Duration                           // for calls to servers

	// Tenants is the live tenant set, which a tenant action replaces;
	// TenantStore keeps the operator's tenant changes. Both are needed by
	// the tenant actions only.
	Tenants     *atomic.Pointer[tenants.Set]
	TenantStore tenants.OverrideStore

	logger atomic.Pointer[zap.Logger]

	tenantMu   sync.Mutex    // one tenant action at a time, and none while a config goes live
	tenantBase *tenants.Base // what the live config declares; nil until one goes live
}

// SetLogger sets where changes are logged; each config that goes live
// hands in its own, as the Manager outlives configs.
func (m *Manager) SetLogger(l *zap.Logger) { m.logger.Store(l) }

// Who says who asked, for the log of changes.
type Who string

// Log logs a change made by who, with the logger of the live config.
func (m *Manager) Log(who Who, what string, fields ...zap.Field) {
	if l := m.logger.Load(); l != nil {
		l.Info(what, append([]zap.Field{zap.String("by", string(who))}, fields...)...)
	}
}

// AddServer adds a server and polls it, so it can take meetings at once.
func (m *Manager) AddServer(ctx context.Context, who Who, c balancer.ServerConfig) (balancer.ServerStatus, error) {
	st, err := m.Pool.AddServer(ctx, c)
	if err != nil {
		return st, err
	}
	m.Log(who, "server added", zap.String("server", st.ID), zap.String("url", st.URL), zap.String("state", string(st.State)))
	return m.pollNow(ctx, st.ID), nil
}

// UpdateServer changes a server; a new URL or secret is polled at once.
func (m *Manager) UpdateServer(ctx context.Context, who Who, id string, patch balancer.ServerPatch) (balancer.ServerStatus, error) {
	st, err := m.Pool.UpdateServer(ctx, id, patch)
	if err != nil {
		return st, err
	}
	m.Log(who, "server updated", zap.String("server", id), zap.Strings("changed", changedFields(nil, patch)))
	if patch.URL != nil || patch.Secret != nil || patch.Algorithm != nil {
		st = m.pollNow(ctx, id)
	}
	return st, nil
}

// changedFields names the JSON fields of a and b that differ, sorted,
// for the log (never their values: they may be secrets). With a nil a,
// they are the fields b has: those a patch sets.
func changedFields(a, b any) []string {
	fa, fb := jsonFields(a), jsonFields(b)
	var out []string
	for k, v := range fb {
		if w, ok := fa[k]; !ok || !bytes.Equal(v, w) {
			out = append(out, k)
		}
	}
	for k := range fa {
		if _, ok := fb[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// jsonFields is v's JSON object, field by field.
func jsonFields(v any) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	if raw, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

// SetState enables, cordons or disables a server.
func (m *Manager) SetState(ctx context.Context, who Who, id string, state balancer.State) (balancer.ServerStatus, error) {
	st, err := m.Pool.SetState(ctx, id, state)
	if err == nil {
		m.Log(who, "server state changed", zap.String("server", id), zap.String("state", string(state)))
	}
	return st, err
}

// RemoveServer takes a server out; with meetings only when forced (they
// are forgotten, and placed anew by their next create).
func (m *Manager) RemoveServer(ctx context.Context, who Who, id string, force bool) (forgotten int, err error) {
	ms, err := m.Pool.RemoveServer(ctx, id, force)
	if err == nil {
		m.Log(who, "server removed", zap.String("server", id), zap.Int("forgotten_meetings", len(ms)))
	}
	return len(ms), err
}

// Panic ends every meeting of a server on it (best effort: the server may
// be down), forgets them, and disables the server unless keepState.
func (m *Manager) Panic(ctx context.Context, who Who, id string, keepState bool) (ended int, err error) {
	st, ok := m.Pool.Server(id)
	if !ok {
		return 0, balancer.ErrNoSuchServer
	}
	if !keepState {
		if _, err := m.Pool.SetState(ctx, id, balancer.Disabled); err != nil {
			return 0, err
		}
	}
	ms, err := m.Pool.ForgetServerMeetings(ctx, id)
	ep := bbb.Endpoint{URL: st.URL}
	for _, t := range m.Pool.Targets() {
		if t.ServerID == id {
			ep = t.Server
		}
	}
	ended = m.endAll(ctx, ep, ms)
	m.Log(who, "server panic: meetings ended and forgotten", zap.String("server", id), zap.Int("meetings", len(ms)),
		zap.Int("ended", ended), zap.Bool("kept_state", keepState))
	return ended, err
}

// endAll sends end for each meeting, a few at a time; it returns how many
// the server confirmed.
func (m *Manager) endAll(ctx context.Context, ep bbb.Endpoint, ms []balancer.MeetingRecord) int {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		n   int
		sem = make(chan struct{}, 8)
	)
	for _, mt := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if m.end(ctx, ep, mt.MeetingID) == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n
}

var errNotEnded = errors.New("the server did not end the meeting")

func (m *Manager) end(ctx context.Context, ep bbb.Endpoint, meetingID string) error {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	res, err := m.Client.Do(ctx, ep, "end", bbb.Query("").With("meetingID", meetingID), nil, "")
	if err != nil {
		return err
	}
	if !res.OK() && res.MessageKey != bbb.KeyNotFound {
		return errNotEnded
	}
	return nil
}

// EndCopies ends the empty copies of meetings a poll of server id found
// (balancer.Change.Copies): the registry has each on another server, and
// a meeting must not run on two.
func (m *Manager) EndCopies(ctx context.Context, id string, meetingIDs []string) {
	var ep bbb.Endpoint
	for _, t := range m.Pool.Targets() {
		if t.ServerID == id {
			ep = t.Server
		}
	}
	if ep.URL == "" {
		return // removed meanwhile
	}
	for _, mid := range meetingIDs {
		err := m.end(ctx, ep, mid)
		m.Log("poller", "ended an empty copy of a meeting the registry has on another server",
			zap.String("server", id), zap.String("meeting", mid), zap.Bool("server_confirmed", err == nil))
	}
}

// EndMeeting ends a meeting on its server and forgets it. It is forgotten
// even if the server cannot be reached: the operator wants it gone.
func (m *Manager) EndMeeting(ctx context.Context, who Who, key string) error {
	r, err := m.Pool.ForgetMeeting(ctx, key)
	if err != nil {
		return err
	}
	endErr := m.end(ctx, r.Server, r.MeetingID)
	m.Log(who, "meeting ended", zap.String("meeting", key), zap.String("server", r.ServerID), zap.Bool("server_confirmed", endErr == nil))
	return nil
}

func (m *Manager) pollNow(ctx context.Context, id string) balancer.ServerStatus {
	if m.Poll != nil {
		m.Poll(ctx, []string{id})
	}
	st, _ := m.Pool.Server(id)
	return st
}
