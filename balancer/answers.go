package balancer

import (
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// The pool's getMeetings merges every server's answer. Each server's last
// answer (a poll's, or a getMeetings call's) is kept with the time its call
// started, so a getMeetings can reuse the answers that are young enough
// instead of asking every server on every call. An answer older than a
// create the balancer confirmed, or a meeting it forgot, on that server no
// longer counts: what went through the balancer is always in the list.

// answer is one server's getMeetings answer.
type answer struct {
	at       time.Time // when the call that fetched it started
	meetings []bbb.MeetingXML
}

// keepAnswerLocked keeps ms as s's answer unless a newer one is kept.
func (s *server) keepAnswerLocked(at time.Time, ms []bbb.MeetingXML) {
	if at.After(s.answer.at) {
		s.answer = answer{at: at, meetings: ms}
	}
}

// MeetingsAnswer returns server id's last getMeetings answer if its call
// started no more than maxAge ago and the balancer changed none of the
// server's meetings since.
func (p *Pool) MeetingsAnswer(id string, maxAge time.Duration) ([]bbb.MeetingXML, bool) {
	if maxAge <= 0 {
		return nil, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.servers[id]
	if s == nil || s.answer.at.IsZero() || s.answer.at.Before(s.changed) || p.now().Sub(s.answer.at) > maxAge {
		return nil, false
	}
	return s.answer.meetings, true
}

// KeepMeetingsAnswer keeps a getMeetings answer of server id whose call
// started at started.
func (p *Pool) KeepMeetingsAnswer(id string, started time.Time, ms []bbb.MeetingXML) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.servers[id]; s != nil {
		s.keepAnswerLocked(started, ms)
	}
}
