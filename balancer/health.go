package balancer

import (
	"context"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// HealthRule is the hysteresis of reverse_proxy's active health checks:
// Passes good polls in a row bring an offline server online, Fails failed
// polls in a row take an online server offline. A new server starts offline
// and its first good poll alone brings it online.
type HealthRule struct {
	Passes int
	Fails  int
}

// Poll is the outcome of one getMeetings poll of one server.
type Poll struct {
	Started  time.Time
	Err      error            // nil for a good poll
	Meetings []bbb.MeetingXML // what the server runs, each with its XML (good polls)
	Version  string           // BBB version, when the poll asked for it
	// Shared is a poll another instance made and shared: it gives health,
	// load and stats. What it implies for the registry (meetings ended,
	// copies to end, a cordoned server drained) is that instance's to do,
	// and reaches this one through the database.
	Shared bool `json:"-"`
}

// Change is what a poll changed, for logs and events.
type Change struct {
	Server   string
	WentUp   bool
	WentDown bool
	Drained  bool            // a cordoned server ran out of meetings and is now disabled
	Stale    []MeetingRecord // registry meetings the server no longer runs
	// Copies are meetings the server runs, empty, that the registry has
	// on another server (a create that seemed to fail here and went
	// elsewhere): to be ended, so a meeting never runs on two servers.
	Copies    []string
	Unhealthy string // the poll's error, if any
}

// Report applies a poll: health with hysteresis, load and stats from what
// the server runs, and the registry cleaned of meetings that have ended.
// A meeting leaves the registry only if its create was answered before the
// poll started, so a create in flight is never mistaken for an ended one.
func (p *Pool) Report(ctx context.Context, serverID string, poll Poll, rule HealthRule) Change {
	p.mu.Lock()
	s := p.servers[serverID]
	ch := Change{Server: serverID}
	if s == nil {
		p.mu.Unlock()
		return ch // removed while the poll ran
	}
	if poll.Version != "" {
		s.stats.Version = poll.Version
	}
	s.stats.LastPoll = poll.Started
	first := !s.polled
	s.polled = true
	if poll.Err != nil {
		ch.Unhealthy = poll.Err.Error()
		s.stats.LastError = ch.Unhealthy
		s.passes = 0
		if s.online {
			s.fails++
			if s.fails >= max(rule.Fails, 1) {
				s.online, s.fails, ch.WentDown = false, 0, true
			}
		}
		p.mu.Unlock()
		return ch
	}

	s.stats.LastError = ""
	s.fails = 0
	if !s.online {
		s.passes++
		// A server's first poll has no flapping to guard against: if it is
		// good, the server is usable at once.
		if s.passes >= max(rule.Passes, 1) || first {
			s.online, s.passes, ch.WentUp = true, 0, true
		}
	}
	p.applyMeetings(s, poll, &ch)
	s.keepAnswerLocked(poll.Started, poll.Meetings)
	if !poll.Shared && s.State == Cordoned && s.stats.Meetings == 0 && len(s.placed) == 0 {
		s.State, ch.Drained = Disabled, true
	}
	p.mu.Unlock()

	for _, m := range ch.Stale {
		if err := p.store.DeleteMeeting(ctx, m.Key); err != nil {
			// The entry is gone from memory; a stale row only costs a
			// re-placement after a restart.
			break
		}
	}
	if ch.Drained {
		// Kept like an operator's change, so a reload does not cordon the
		// drained server again. A store that cannot keep it is fine too.
		p.SetState(ctx, serverID, Disabled)
	}
	return ch
}

// applyMeetings replaces the load estimate and stats with what the poll
// saw, keeping the reserve of placements the server does not show yet.
// Called with mu held.
func (p *Pool) applyMeetings(s *server, poll Poll, ch *Change) {
	now := p.now()
	st := Stats{Version: s.stats.Version, LastPoll: poll.Started}
	seen := make(map[string]bool, len(poll.Meetings))
	for _, m := range poll.Meetings {
		if pm := s.placed[m.MeetingID]; pm != nil {
			pm.group.participants += m.ParticipantCount - pm.participants
			pm.group.joins.Add(-int64(pm.joins.Swap(0)))
			pm.participants, pm.running, pm.name = m.ParticipantCount, m.Running, m.MeetingName
		} else if rm := p.meetings[m.MeetingID]; !poll.Shared && rm != nil && rm.ServerID != s.ID && !rm.confirmed.IsZero() &&
			m.ParticipantCount == 0 && !m.IsBreakout {
			// Nobody can be in it (joins go where the registry says), so
			// ending it loses nothing; a copy with people in it (its
			// server came back after the meeting was placed anew) is
			// left to them.
			ch.Copies = append(ch.Copies, m.MeetingID)
		}
	}
	var base float64
	var fr []fresh
	for _, m := range poll.Meetings {
		seen[m.MeetingID] = true
		base += p.model.steady(m.Meeting)
		st.Meetings++
		st.Users += m.ParticipantCount
		st.LargestMeeting = max(st.LargestMeeting, m.ParticipantCount)
		st.Videos += m.VideoCount
		st.Voice += m.VoiceParticipantCount
		st.Listeners += m.ListenerCount
		if m.IsBreakout {
			st.Breakouts++
			continue
		}
		created := time.UnixMilli(m.CreateTime)
		if now.Sub(created) < p.model.NewMeetingWindow {
			fr = append(fr, fresh{meetingID: m.MeetingID, created: created, size: p.model.size(m.MaxUsers), participants: m.ParticipantCount})
		}
	}
	for id, m := range s.placed {
		if seen[id] {
			continue
		}
		if !poll.Shared && !m.confirmed.IsZero() && m.confirmed.Before(poll.Started) {
			ch.Stale = append(ch.Stale, m.MeetingRecord)
			p.dropLocked(m.Key)
			continue
		}
		fr = append(fr, fresh{meetingID: id, created: m.Created, size: m.size}) // not on the server yet
	}
	s.base, s.reserves, s.stats = base, newReserves(fr, p.model.NewMeetingWindow, now), st
	s.joins.Store(0)
}
