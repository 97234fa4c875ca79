package balancer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
)

// Voice bridges: the number a phone caller dials to join a meeting. Each
// BBB server keeps them unique among its own meetings only; one number for
// a whole pool (dial-in through the balancer) needs them unique in the
// pool, so the balancer hands them out with the placement and keeps them
// in the registry: reserved with the meeting, reused by a create of it
// again, moved with it when it is placed anew, and freed when it leaves
// the registry.

// VoiceBridgePolicy is how voice bridges are chosen.
type VoiceBridgePolicy struct {
	// Length is the number of digits (the first is never 0); default 9,
	// scalelite's.
	Length int `json:"length,omitempty"`
	// External keeps a voiceBridge the front-end gives when no other
	// meeting of the pool has it; one that another has gets BBB's
	// nonUniqueVoiceBridge error. Without it the balancer chooses,
	// whatever the front-end gave.
	External bool `json:"external,omitempty"`
}

// DefaultVoiceBridgeLength is scalelite's VOICE_BRIDGE_LEN.
const DefaultVoiceBridgeLength = 9

// WithDefaults fills the zero fields.
func (v VoiceBridgePolicy) WithDefaults() VoiceBridgePolicy {
	if v.Length <= 0 {
		v.Length = DefaultVoiceBridgeLength
	}
	return v
}

// ErrVoiceBridgeTaken is a create whose own voiceBridge another meeting of
// the pool has (BBB's nonUniqueVoiceBridge).
var ErrVoiceBridgeTaken = errors.New("The selected voice bridge is already in use.")

// ErrNoVoiceBridge is a create for which no free voice bridge was found
// (a pool using nearly every number of its length).
var ErrNoVoiceBridge = errors.New("no free voice bridge")

// bridgeTries bounds the numbers tried for one meeting; at 9 digits a
// pool's meetings take a negligible share of them.
const bridgeTries = 100

// bridgeCandidates returns the numbers to try for meetingID, one per
// call: a random sequence seeded by the meetingID's SHA-256 (as scalelite
// does), so a meeting created again gets the same number while it is free.
func (v VoiceBridgePolicy) bridgeCandidates(meetingID string) func() string {
	sum := sha256.Sum256([]byte(meetingID))
	r := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
	return func() string {
		// One draw holds every digit: 9 × 10^17 < 2^64.
		n := r.Uint64()
		b := make([]byte, v.Length)
		b[0] = byte('1' + n%9)
		n /= 9
		for i := 1; i < len(b); i++ {
			b[i] = byte('0' + n%10)
			n /= 10
		}
		return string(b)
	}
}

// MinVoiceBridgeLength and MaxVoiceBridgeLength bound Length: BBB wants at
// least 5 digits, and the number must fit an int64.
const (
	MinVoiceBridgeLength = 5
	MaxVoiceBridgeLength = 18
)

// validBridge reports whether s is a voice bridge BBB takes: digits only,
// no leading zero, at most 18 of them (it must fit an int64).
func validBridge(s string) bool {
	if s == "" || len(s) > MaxVoiceBridgeLength || s[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// bridgeLocked chooses the voice bridge of a new placement of req: the
// one it had (a meeting placed anew keeps its number), the front-end's
// own under External, or a free one. avoid holds numbers found taken in a
// shared database meanwhile. Called with mu held.
func (p *Pool) bridgeLocked(req Request, had string, avoid map[string]bool) (string, error) {
	if had != "" && !avoid[had] {
		if m := p.bridges[had]; m == nil || m.Key == req.Key {
			return had, nil
		}
	}
	policy := p.voice.WithDefaults()
	if policy.External && validBridge(req.VoiceBridge) {
		if m := p.bridges[req.VoiceBridge]; (m != nil && m.Key != req.Key) || avoid[req.VoiceBridge] {
			return "", ErrVoiceBridgeTaken
		}
		return req.VoiceBridge, nil
	}
	next := policy.bridgeCandidates(req.MeetingID)
	for i := 0; i < bridgeTries; i++ {
		c := next()
		if p.bridges[c] == nil && !avoid[c] {
			return c, nil
		}
	}
	return "", ErrNoVoiceBridge
}

// SetVoiceBridges changes how new meetings' voice bridges are chosen.
func (p *Pool) SetVoiceBridges(v VoiceBridgePolicy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.voice = v
}

// Dialed is where a phone call to a voice bridge goes.
type Dialed struct {
	Key       string // the registry's key
	MeetingID string // as the server knows it
	ServerID  string
	Host      string // the server's host name, without port
}

// ByVoiceBridge finds the meeting that has voice bridge vb, for a phone
// call (its server must serve it).
func (p *Pool) ByVoiceBridge(vb string) (Dialed, bool) {
	if d, ok := p.byVoiceBridge(vb); ok {
		return d, true
	}
	// A meeting created on another instance a moment ago.
	c := p.claimer
	if c == nil || !validBridge(vb) {
		return Dialed{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), readThroughTimeout)
	defer cancel()
	rec, found, err := c.MeetingByVoiceBridge(ctx, vb)
	if err != nil || !found {
		return Dialed{}, false
	}
	p.Adopt(rec)
	return p.byVoiceBridge(vb)
}

func (p *Pool) byVoiceBridge(vb string) (Dialed, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	m := p.bridges[vb]
	if m == nil {
		return Dialed{}, false
	}
	s := p.servers[m.ServerID]
	if s == nil || !s.serves() {
		return Dialed{}, false
	}
	return Dialed{Key: m.Key, MeetingID: m.MeetingID, ServerID: s.ID, Host: s.host}, true
}
