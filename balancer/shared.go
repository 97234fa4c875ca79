package balancer

import (
	"context"
	"time"
)

// Several balancer instances sharing one database (PostgreSQL) act as one.
// The database decides what two instances could decide differently at the
// same moment: which server a meetingID lives on (Claimer). Each instance
// keeps the registry in memory for the hot path and hears of the others'
// placements and removals (Adopt, Drop), so their load counts too; a miss
// of the memory is read through from the database.

// Claimer is a Store shared by several instances (when Shared says so: a
// store may serve one instance or several, as the database it opens).
type Claimer interface {
	Shared() bool
	// ClaimMeeting writes rec unless the registry already holds its key
	// on another placement than replaces (the placement rec re-places; nil
	// for none), and returns what the registry holds after: rec, or the
	// placement another instance made first.
	ClaimMeeting(ctx context.Context, rec MeetingRecord, replaces *MeetingRecord) (MeetingRecord, error)
	// Meeting reads one registry entry.
	Meeting(ctx context.Context, key string) (MeetingRecord, bool, error)
	// MeetingByVoiceBridge reads the entry with a voice bridge.
	MeetingByVoiceBridge(ctx context.Context, vb string) (MeetingRecord, bool, error)
}

// AdoptGrace is how long after its placement a meeting placed by another
// instance counts as not yet created on its server: the poll of this
// instance cannot tell a create still in flight there from a meeting that
// has ended, so such a meeting is not taken for ended before then.
const AdoptGrace = time.Minute

// readThroughTimeout bounds the database read of a registry miss.
const readThroughTimeout = 2 * time.Second

// claim writes a fresh placement through a Claimer. It returns the
// placement to use: the fresh one, or the one another instance made first
// (then adopted here, in place of the fresh one).
func (p *Pool) claim(ctx context.Context, c Claimer, rec MeetingRecord, replaces *MeetingRecord) (MeetingRecord, error) {
	held, err := c.ClaimMeeting(ctx, rec, replaces)
	if err != nil || sameRecord(held, rec) {
		return held, err
	}
	p.mu.Lock()
	if m := p.meetings[rec.Key]; m != nil && sameRecord(m.MeetingRecord, rec) {
		p.dropLocked(rec.Key)
	}
	p.adoptLocked(held)
	p.mu.Unlock()
	return held, nil
}

// Adopt puts a placement another instance made into the registry (in place
// of any other of the same key), with the reserve a new meeting adds to
// its server's load, so a burst spread over instances spreads over the
// servers as well.
func (p *Pool) Adopt(rec MeetingRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.adoptLocked(rec)
}

func (p *Pool) adoptLocked(rec MeetingRecord) {
	if m := p.meetings[rec.Key]; m != nil {
		if sameRecord(m.MeetingRecord, rec) {
			return
		}
		p.dropLocked(rec.Key)
	}
	now := p.now()
	m := &meeting{MeetingRecord: rec, confirmed: rec.Created.Add(AdoptGrace), size: p.model.NewMeetingSize}
	p.addLocked(rec.Key, m)
	if s := p.servers[rec.ServerID]; s != nil {
		s.placed[rec.MeetingID] = m
		if now.Sub(rec.Created) < p.model.NewMeetingWindow {
			s.reserves.expire(now)
			s.reserves.push(fresh{meetingID: rec.MeetingID, created: rec.Created, size: m.size})
		}
		s.changed = now
	}
}

// Drop removes a placement another instance removed (its meeting ended,
// its create failed), if the registry still has that placement: the same
// server and time (rec's MeetingID is not compared; it may be empty).
func (p *Pool) Drop(rec MeetingRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.meetings[rec.Key]; m != nil && m.ServerID == rec.ServerID && m.Created.Equal(rec.Created) {
		p.dropLocked(rec.Key)
		if s := p.servers[rec.ServerID]; s != nil {
			s.changed = p.now()
		}
	}
}

// Resync makes the registry what the database holds (after this instance
// may have missed the others' changes): entries that stay keep what the
// polls saw of them.
func (p *Pool) Resync(recs []MeetingRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := make(map[string]bool, len(recs))
	for _, r := range recs {
		keep[r.Key] = true
		if m := p.meetings[r.Key]; m == nil || !sameRecord(m.MeetingRecord, r) {
			p.adoptLocked(r)
		}
	}
	for key := range p.meetings {
		if !keep[key] {
			p.dropLocked(key)
		}
	}
}

// ReloadOverrides reads the operator's changes to servers again (another
// instance made one) and applies them. It returns the servers that are new.
func (p *Pool) ReloadOverrides(ctx context.Context) ([]string, error) {
	os, err := p.overrideStore()
	if err != nil {
		return nil, err
	}
	ovs, err := os.Overrides(ctx)
	if err != nil {
		return nil, err
	}
	p.opsMu.Lock()
	defer p.opsMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overrides = make(map[string]*Override, len(ovs))
	for _, o := range ovs {
		p.overrides[o.ID] = &o
	}
	added, _ := p.applyLocked()
	return added, nil
}

// readThrough looks a key the memory does not know up in a shared
// database, and adopts what it finds: a meeting another instance created
// a moment ago, whose notification has not arrived yet.
func (p *Pool) readThrough(key string) bool {
	c := p.claimer
	if c == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), readThroughTimeout)
	defer cancel()
	rec, found, err := c.Meeting(ctx, key)
	if err != nil || !found {
		return false
	}
	p.Adopt(rec)
	return true
}
