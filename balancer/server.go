// Package balancer holds the pool of BBB servers and the meeting registry,
// and places new meetings. Everything here is in memory and answers without
// touching disk; the registry writes through to a Store.
package balancer

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// State is the operator's word on a server, independent of its health.
type State string

const (
	// Enabled servers take new meetings.
	Enabled State = "enabled"
	// Cordoned servers keep serving their meetings but take no new ones.
	Cordoned State = "cordoned"
	// Disabled servers take nothing; their meetings are placed anew.
	Disabled State = "disabled"
)

// ParseState accepts enabled, cordoned or disabled.
func ParseState(s string) (State, error) {
	switch st := State(strings.ToLower(s)); st {
	case Enabled, Cordoned, Disabled:
		return st, nil
	}
	return "", fmt.Errorf("unknown server state %q (want enabled, cordoned or disabled)", s)
}

// ServerConfig is what an operator declares about one BBB server: an
// element of the handler's "servers", a Caddyfile server block, and the
// body of the admin API's POST /bbb/servers. Normalize fills the defaults.
type ServerConfig struct {
	// ID names the server in the registry, the admin API, logs, metrics
	// and events; required, unique in the pool.
	ID string `json:"id"`
	// URL is the server's API endpoint, http(s) without query or
	// fragment, such as https://bbb1.example.com/bigbluebutton/api (a
	// trailing slash is dropped); required. Placeholders are expanded.
	URL string `json:"url"`
	// Secret is the server's own shared secret (bbb-conf --secret), which
	// calls to it are signed with; required. Placeholders such as
	// {env.BBB1_SECRET} are expanded.
	Secret string `json:"secret,omitempty"`
	// Algorithm is the checksum algorithm calls to the server are signed
	// with: sha1, sha256, sha384 or sha512; default sha256.
	Algorithm bbb.Algorithm `json:"algorithm,omitempty"`
	// Weight multiplies the server's load: a server with weight 2 counts
	// its load double, so it fills sooner. Positive; default 1.
	Weight float64 `json:"weight,omitempty"`
	// Tag is the server's tag, for meetings created with meta_server-tag;
	// default none (untagged).
	Tag string `json:"tag,omitempty"`
	// State is the operator's word on the server: enabled (takes new
	// meetings), cordoned (keeps its meetings, takes no new ones) or
	// disabled (takes nothing); default enabled.
	State State `json:"state,omitempty"`
}

// Normalize fills defaults and checks the config; the error names the field.
func (c *ServerConfig) Normalize() error {
	if c.ID == "" {
		return fmt.Errorf("server without an id")
	}
	if c.URL == "" {
		return fmt.Errorf("server %s: no API URL", c.ID)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("server %s: API URL %q is not an http(s) URL", c.ID, c.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("server %s: API URL %q must not have a query or fragment", c.ID, c.URL)
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	if c.Secret == "" {
		return fmt.Errorf("server %s: no secret", c.ID)
	}
	if c.Algorithm == "" {
		c.Algorithm = bbb.SHA256
	} else if _, err := bbb.ParseAlgorithm(string(c.Algorithm)); err != nil {
		return fmt.Errorf("server %s: %v", c.ID, err)
	}
	if c.Weight == 0 {
		c.Weight = 1
	}
	if c.Weight < 0 {
		return fmt.Errorf("server %s: weight %v must be positive", c.ID, c.Weight)
	}
	if c.State == "" {
		c.State = Enabled
	} else if _, err := ParseState(string(c.State)); err != nil {
		return fmt.Errorf("server %s: %v", c.ID, err)
	}
	return nil
}

// Endpoint is how to call the server.
func (c ServerConfig) Endpoint() bbb.Endpoint {
	return bbb.Endpoint{URL: c.URL, Secret: c.Secret, Algorithm: c.Algorithm}
}

// server is a ServerConfig with the pool's live view of it. Guarded by
// Pool.mu, except joins, which the join path bumps under the read lock.
type server struct {
	ServerConfig
	endpoint bbb.Endpoint
	host     string // of URL, without port: playback links and phone calls name servers by it
	online   bool
	polled   bool // has had at least one poll
	passes   int  // good polls in a row while offline
	fails    int  // failed polls in a row while online

	// Load between polls: base from the last poll, fresh meetings that
	// carry a fading reserve (polled or placed since), and joins since.
	base     float64
	reserves reserves
	joins    atomic.Int64

	placed map[string]*meeting // registry meetings on this server, by the server's meetingID
	stats  Stats

	failures []time.Time // failed calls, oldest first (passive.go)

	answer  answer    // its last getMeetings answer (answers.go)
	changed time.Time // when the balancer last created or forgot a meeting on it
}

// Stats is what the last good poll saw on a server.
type Stats struct {
	Meetings       int       `json:"meetings"`
	Users          int       `json:"users"`
	LargestMeeting int       `json:"largest_meeting"`
	Videos         int       `json:"videos"`
	Voice          int       `json:"voice"`
	Listeners      int       `json:"listeners"`
	Breakouts      int       `json:"breakout_rooms"`
	Version        string    `json:"bbb_version,omitempty"`
	LastPoll       time.Time `json:"last_poll,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
}

// ServerStatus is a snapshot of one server for listings and metrics. It
// never carries the secret.
type ServerStatus struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	State  State  `json:"state"`
	Online bool   `json:"online"`
	// Failing: calls to it failed lately (passive health); it takes no
	// new meetings until they are older than fail_duration.
	Failing bool    `json:"failing,omitempty"`
	Weight  float64 `json:"weight"`
	Tag     string  `json:"tag,omitempty"`
	Load    float64 `json:"load"`
	Placed  int     `json:"placed_meetings"`
	Stats
}

// takesMeetings reports whether new meetings may be placed here.
func (s *server) takesMeetings() bool { return s.State == Enabled && s.online }

// serves reports whether the server's existing meetings are reachable.
func (s *server) serves() bool { return s.State != Disabled && s.online }

// load is the server's weighted load at now. Called with Pool.mu held.
func (s *server) load(m LoadModel, now time.Time) float64 {
	return (s.base + m.Participant*float64(s.joins.Load()) + s.reserves.total(now)) * s.Weight
}
