package balancer

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// Servers come from two places: the config (Caddyfile or JSON) and the
// operator at run time (admin API, CLI, scalelite's API). The operator's
// word is kept in the store as an Override per server and wins over the
// config, so a reload never silently undoes it:
//
//   - a server added at run time stays until it is removed at run time;
//   - a change to a configured server (state, weight, tag, URL, secret)
//     stays across reloads and restarts; fields it did not touch follow the
//     config;
//   - a configured server removed at run time stays removed, and every
//     config that still declares it says so in the log (Declared returns
//     the note), until it is added again.

// Override is the operator's word on one server: the fields it set, and
// whether the server was added or removed at run time.
type Override struct {
	ID      string `json:"id"`
	Added   bool   `json:"added,omitempty"`   // exists only through the operator
	Removed bool   `json:"removed,omitempty"` // a configured server taken out
	ServerPatch
}

// OverrideStore keeps overrides; the pool's Store implements it when it can.
type OverrideStore interface {
	Overrides(ctx context.Context) ([]Override, error)
	SaveOverride(ctx context.Context, o Override) error
	DeleteOverride(ctx context.Context, id string) error
}

func (o Override) apply(c ServerConfig) ServerConfig { return o.ServerPatch.apply(c) }

// apply returns c with the patch's fields set.
func (p ServerPatch) apply(c ServerConfig) ServerConfig {
	if p.URL != nil {
		c.URL = *p.URL
	}
	if p.Secret != nil {
		c.Secret = *p.Secret
	}
	if p.Algorithm != nil {
		c.Algorithm = *p.Algorithm
	}
	if p.Weight != nil {
		c.Weight = *p.Weight
	}
	if p.Tag != nil {
		c.Tag = *p.Tag
	}
	if p.State != nil {
		c.State = *p.State
	}
	return c
}

// effective merges the config's servers with the overrides. notes says
// what the config declares that the operator has removed.
func effective(declared []ServerConfig, overrides map[string]*Override) (out []ServerConfig, notes []string) {
	inConfig := map[string]bool{}
	for _, c := range declared {
		inConfig[c.ID] = true
		o := overrides[c.ID]
		switch {
		case o == nil:
			out = append(out, c)
		case o.Removed:
			notes = append(notes, fmt.Sprintf("server %s is in the config but was removed at run time; it stays out until it is added again", c.ID))
		default:
			out = append(out, o.apply(c))
		}
	}
	for _, o := range overrides {
		if o.Added && !o.Removed && !inConfig[o.ID] {
			out = append(out, o.apply(ServerConfig{ID: o.ID}))
		}
	}
	return out, notes
}

// Errors of the operator's changes.
var (
	ErrNoSuchServer  = errors.New("no such server")
	ErrServerExists  = errors.New("a server with that id exists")
	ErrHasMeetings   = errors.New("the server has meetings; end them first, or force")
	ErrNoOverrides   = errors.New("this store cannot keep run-time changes")
	errInvalidChange = errors.New("invalid change")
)

// ServerPatch is a change to a server; nil fields stay as they are. An
// empty Tag removes the tag.
type ServerPatch struct {
	URL       *string        `json:"url,omitempty"`
	Secret    *string        `json:"secret,omitempty"`
	Algorithm *bbb.Algorithm `json:"algorithm,omitempty"`
	Weight    *float64       `json:"weight,omitempty"`
	Tag       *string        `json:"tag,omitempty"`
	State     *State         `json:"state,omitempty"`
}
