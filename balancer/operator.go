package balancer

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// The operator's changes. Each is written to the store before it takes
// effect, so it survives reloads and restarts.

func (p *Pool) overrideStore() (OverrideStore, error) {
	os, ok := p.store.(OverrideStore)
	if !ok {
		return nil, ErrNoOverrides
	}
	return os, nil
}

// change runs one operator change: edit gets a copy of the server's
// override (nil if none) and returns the new one (nil to delete it).
func (p *Pool) change(ctx context.Context, id string, edit func(o *Override, exists bool) (*Override, error)) (ServerStatus, error) {
	os, err := p.overrideStore()
	if err != nil {
		return ServerStatus{}, err
	}
	p.opsMu.Lock()
	defer p.opsMu.Unlock()

	p.mu.RLock()
	_, exists := p.servers[id]
	var cur *Override
	if o := p.overrides[id]; o != nil {
		c := *o
		cur = &c
	}
	p.mu.RUnlock()

	next, err := edit(cur, exists)
	if err != nil {
		return ServerStatus{}, err
	}
	if next != nil {
		// Check the server this makes before anything is written.
		p.mu.RLock()
		cfgs, _ := effective(p.declared, map[string]*Override{id: next})
		p.mu.RUnlock()
		for _, c := range cfgs {
			if c.ID == id {
				if err := c.Normalize(); err != nil {
					return ServerStatus{}, fmt.Errorf("%w: %v", errInvalidChange, err)
				}
			}
		}
		err = os.SaveOverride(ctx, *next)
	} else {
		err = os.DeleteOverride(ctx, id)
	}
	if err != nil {
		return ServerStatus{}, err
	}
	p.mu.Lock()
	if next != nil {
		p.overrides[id] = next
	} else {
		delete(p.overrides, id)
	}
	p.applyLocked()
	p.mu.Unlock()
	st, _ := p.Server(id)
	return st, nil
}

// IsInvalid reports whether err is a change that was refused as invalid.
func IsInvalid(err error) bool { return errors.Is(err, errInvalidChange) }

// AddServer adds a server at run time; it starts offline until polled.
func (p *Pool) AddServer(ctx context.Context, c ServerConfig) (ServerStatus, error) {
	if err := c.Normalize(); err != nil {
		return ServerStatus{}, fmt.Errorf("%w: %v", errInvalidChange, err)
	}
	return p.change(ctx, c.ID, func(_ *Override, exists bool) (*Override, error) {
		if exists {
			return nil, ErrServerExists
		}
		return &Override{ID: c.ID, Added: true, ServerPatch: ServerPatch{URL: &c.URL, Secret: &c.Secret,
			Algorithm: &c.Algorithm, Weight: &c.Weight, Tag: &c.Tag, State: &c.State}}, nil
	})
}

// UpdateServer changes a server's settings or state.
func (p *Pool) UpdateServer(ctx context.Context, id string, patch ServerPatch) (ServerStatus, error) {
	if patch.State != nil {
		if _, err := ParseState(string(*patch.State)); err != nil {
			return ServerStatus{}, fmt.Errorf("%w: %v", errInvalidChange, err)
		}
	}
	return p.change(ctx, id, func(o *Override, exists bool) (*Override, error) {
		if !exists {
			return nil, ErrNoSuchServer
		}
		if o == nil {
			o = &Override{ID: id}
		}
		p.mu.RLock()
		cur := p.servers[id].ServerConfig
		p.mu.RUnlock()
		// A value equal to the current one is no change, so it is not
		// kept as the operator's word: the config still decides it (an
		// import that re-sends every secret pins none of them).
		set := func(dst **string, v *string, current string) {
			if v != nil && (*dst != nil || *v != current) {
				c := *v
				*dst = &c
			}
		}
		set(&o.URL, patch.URL, cur.URL)
		set(&o.Secret, patch.Secret, cur.Secret)
		set(&o.Tag, patch.Tag, cur.Tag)
		if patch.Algorithm != nil {
			a := *patch.Algorithm
			o.Algorithm = &a
		}
		if patch.Weight != nil {
			w := *patch.Weight
			if w <= 0 {
				return nil, fmt.Errorf("%w: weight must be positive", errInvalidChange)
			}
			o.Weight = &w
		}
		if patch.State != nil {
			st := *patch.State
			o.State = &st
		}
		return o, nil
	})
}

// SetState enables, cordons or disables a server.
func (p *Pool) SetState(ctx context.Context, id string, st State) (ServerStatus, error) {
	return p.UpdateServer(ctx, id, ServerPatch{State: &st})
}

// RemoveServer takes a server out of the pool. A server with meetings is
// refused unless force; force forgets its meetings (they are placed anew by
// their next create) and returns them.
func (p *Pool) RemoveServer(ctx context.Context, id string, force bool) ([]MeetingRecord, error) {
	p.mu.RLock()
	s := p.servers[id]
	n := 0
	if s != nil {
		n = len(s.placed)
	}
	p.mu.RUnlock()
	switch {
	case s == nil:
		return nil, ErrNoSuchServer
	case n > 0 && !force:
		return nil, fmt.Errorf("%w (%d)", ErrHasMeetings, n)
	}
	forgotten, err := p.ForgetServerMeetings(ctx, id)
	if err != nil {
		return forgotten, err
	}
	_, err = p.change(ctx, id, func(o *Override, _ bool) (*Override, error) {
		p.mu.RLock()
		configured := slices.ContainsFunc(p.declared, func(c ServerConfig) bool { return c.ID == id })
		p.mu.RUnlock()
		if !configured {
			return nil, nil // added at run time: nothing left to keep
		}
		return &Override{ID: id, Removed: true}, nil
	})
	return forgotten, err
}

// ForgetServerMeetings drops every registry meeting of a server and
// returns them (for panic: the caller ends them on the server).
func (p *Pool) ForgetServerMeetings(ctx context.Context, id string) ([]MeetingRecord, error) {
	p.mu.Lock()
	var out []MeetingRecord
	if s := p.servers[id]; s != nil {
		for _, m := range s.placed {
			out = append(out, m.MeetingRecord)
		}
		for _, m := range out {
			p.dropLocked(m.Key)
		}
	}
	p.mu.Unlock()
	for _, m := range out {
		if err := p.store.DeleteMeeting(ctx, m.Key); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Server returns one server's status.
func (p *Pool) Server(id string) (ServerStatus, bool) {
	for _, s := range p.Servers() {
		if s.ID == id {
			return s, true
		}
	}
	return ServerStatus{}, false
}

// ForgetMeeting drops one meeting from the registry and returns where it was.
func (p *Pool) ForgetMeeting(ctx context.Context, key string) (Route, error) {
	r, _, err := p.lookup(key)
	if err != nil && err != ErrUnavailable {
		return r, err
	}
	return r, p.Forget(ctx, key, r.ServerID)
}
