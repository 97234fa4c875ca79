package bbbtest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Attendee is a user in a meeting, as shown by getMeetingInfo.
type Attendee struct {
	UserID     string // external userID; "" = generated internal id (w_…)
	FullName   string
	Role       string // "MODERATOR" or "VIEWER" ("" = VIEWER)
	ListenOnly bool
	Voice      bool
	Video      bool
}

// MeetingInfo is a snapshot of a meeting's state, for tests.
type MeetingInfo struct {
	MeetingID         string
	InternalMeetingID string
	Name              string
	AttendeePW        string
	ModeratorPW       string
	VoiceBridge       string
	DialNumber        string
	CreateTime        int64 // epoch ms
	Duration          int
	MaxParticipants   int
	Record            bool
	Running           bool
	IsBreakout        bool
	ParentMeetingID   string // internal id of the parent, "" unless a breakout
	Breakouts         []string
	Metadata          map[string]string // lowercased keys, without "meta_"
	Attendees         []Attendee
	// counts as shown by getMeetingInfo
	Participants, Listeners, Voice, Video, Moderators int
	// Params are the parameters of the create call that created the meeting
	// (query plus form body), Body its request body (XML modules) if any.
	Params url.Values
	Body   []byte
}

type kv struct{ k, v string }

type attendee struct {
	Attendee
	internalID string
	presenter  bool
	custom     []kv
}

type countsOverride struct {
	set                                               bool
	participants, listeners, voice, video, moderators int
}

type meeting struct {
	seq uint64

	// immutable after creation
	id, internalID, name         string
	attendeePW, moderatorPW      string
	voiceBridge, dialNumber      string
	createDate                   string
	parentID                     string
	createTime                   int64
	duration, maxParticipants    int
	sequence                     int
	record, isBreakout, freeJoin bool
	metadata                     []kv
	params                       url.Values
	body                         []byte

	mu        sync.RWMutex
	running   bool
	attendees []*attendee
	counts    countsOverride
	breakouts []string
}

type shownCounts struct {
	participants, listeners, voice, video, moderators int
}

// countsLocked returns the counts shown; m.mu must be held.
func (m *meeting) countsLocked() shownCounts {
	var c shownCounts
	c.participants = len(m.attendees)
	for _, a := range m.attendees {
		if a.ListenOnly {
			c.listeners++
		}
		if a.Voice {
			c.voice++
		}
		if a.Video {
			c.video++
		}
		if a.Role == "MODERATOR" {
			c.moderators++
		}
	}
	if o := m.counts; o.set {
		pick := func(dst *int, v int) {
			if v >= 0 {
				*dst = v
			}
		}
		pick(&c.participants, o.participants)
		pick(&c.listeners, o.listeners)
		pick(&c.voice, o.voice)
		pick(&c.video, o.video)
		pick(&c.moderators, o.moderators)
	}
	return c
}

// addAttendeeLocked adds a user; m.mu must be held for writing.
func (m *meeting) addAttendeeLocked(a *attendee) {
	if a.Role == "MODERATOR" && !slices.ContainsFunc(m.attendees, func(o *attendee) bool { return o.presenter }) {
		a.presenter = true
	}
	m.attendees = append(m.attendees, a)
	m.running = true
}

func internalIDFor(meetingID string, createTime int64) string {
	h := sha1.Sum([]byte(meetingID))
	return hex.EncodeToString(h[:]) + "-" + strconv.FormatInt(createTime, 10)
}

// lookupLocked finds a live meeting by internal or external id; s.mu must be
// held. (bbb-web also accepts any prefix of an internal id; the fake only
// accepts the full internal id.)
func (s *Server) lookupLocked(id string) *meeting {
	if m := s.byInternal[id]; m != nil {
		return m
	}
	return s.meetings[id]
}

func (s *Server) lookup(id string) *meeting {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookupLocked(id)
}

// removeLocked removes a meeting and its breakout rooms; s.mu must be held
// for writing.
func (s *Server) removeLocked(m *meeting) {
	if s.meetings[m.id] != m {
		return
	}
	delete(s.meetings, m.id)
	delete(s.byInternal, m.internalID)
	if s.voiceBridges[m.voiceBridge] == m {
		delete(s.voiceBridges, m.voiceBridge)
	}
	m.mu.Lock()
	children := slices.Clone(m.breakouts)
	m.mu.Unlock()
	for _, id := range children {
		if c := s.byInternal[id]; c != nil {
			s.removeLocked(c)
		}
	}
	if m.parentID != "" {
		if p := s.byInternal[m.parentID]; p != nil {
			p.mu.Lock()
			p.breakouts = slices.DeleteFunc(p.breakouts, func(id string) bool { return id == m.internalID })
			p.mu.Unlock()
		}
	}
}

// sortedMeetingsLocked returns live meetings in creation order.
func (s *Server) sortedMeetingsLocked() []*meeting {
	ms := make([]*meeting, 0, len(s.meetings))
	for _, m := range s.meetings {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *meeting) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return ms
}

// Meetings returns the external meetingIDs of the live meetings, in creation
// order.
func (s *Server) Meetings() []string {
	s.mu.RLock()
	ms := s.sortedMeetingsLocked()
	s.mu.RUnlock()
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.id
	}
	return ids
}

// Meeting returns a snapshot of a live meeting (by external or internal id).
func (s *Server) Meeting(meetingID string) (MeetingInfo, bool) {
	m := s.lookup(meetingID)
	if m == nil {
		return MeetingInfo{}, false
	}
	info := MeetingInfo{
		MeetingID:         m.id,
		InternalMeetingID: m.internalID,
		Name:              m.name,
		AttendeePW:        m.attendeePW,
		ModeratorPW:       m.moderatorPW,
		VoiceBridge:       m.voiceBridge,
		DialNumber:        m.dialNumber,
		CreateTime:        m.createTime,
		Duration:          m.duration,
		MaxParticipants:   m.maxParticipants,
		Record:            m.record,
		IsBreakout:        m.isBreakout,
		ParentMeetingID:   m.parentID,
		Metadata:          make(map[string]string, len(m.metadata)),
		Params:            cloneValues(m.params),
	}
	if m.body != nil {
		info.Body = slices.Clone(m.body)
	}
	for _, e := range m.metadata {
		info.Metadata[e.k] = e.v
	}
	m.mu.RLock()
	info.Running = m.running
	info.Breakouts = slices.Clone(m.breakouts)
	for _, a := range m.attendees {
		pub := a.Attendee
		if pub.UserID == "" {
			pub.UserID = a.internalID
		}
		info.Attendees = append(info.Attendees, pub)
	}
	c := m.countsLocked()
	m.mu.RUnlock()
	info.Participants, info.Listeners, info.Voice, info.Video, info.Moderators =
		c.participants, c.listeners, c.voice, c.video, c.moderators
	return info, true
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func normalizeRole(role string) (string, bool) {
	switch strings.ToUpper(role) {
	case "MODERATOR":
		return "MODERATOR", true
	case "VIEWER":
		return "VIEWER", true
	}
	return "", false
}

// AddAttendee adds a user to a meeting (by external or internal id), which
// makes the meeting running. An empty UserID gets a generated internal id
// (w_…); an empty Role means VIEWER. The first moderator becomes presenter.
func (s *Server) AddAttendee(meetingID string, a Attendee) error {
	m := s.lookup(meetingID)
	if m == nil {
		return fmt.Errorf("bbbtest: meeting %q not found", meetingID)
	}
	if a.Role == "" {
		a.Role = "VIEWER"
	}
	role, ok := normalizeRole(a.Role)
	if !ok {
		return fmt.Errorf("bbbtest: invalid role %q", a.Role)
	}
	a.Role = role
	at := &attendee{Attendee: a, internalID: "w_" + s.randString(12, lowerAlnum)}
	m.mu.Lock()
	m.addAttendeeLocked(at)
	m.mu.Unlock()
	return nil
}

// RemoveAttendee removes the first attendee whose external or internal user
// id is userID. The meeting stays running (as in BBB until it expires).
func (s *Server) RemoveAttendee(meetingID, userID string) bool {
	m := s.lookup(meetingID)
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, a := range m.attendees {
		if a.UserID == userID || a.internalID == userID {
			m.attendees = slices.Delete(m.attendees, i, i+1)
			return true
		}
	}
	return false
}

// SetCounts overrides the counts shown by getMeetingInfo/getMeetings
// (participantCount, listenerCount, voiceParticipantCount, videoCount,
// moderatorCount). A negative value keeps that count computed from the
// attendees. participants > 0 makes the meeting running.
func (s *Server) SetCounts(meetingID string, participants, listeners, voice, video, moderators int) error {
	m := s.lookup(meetingID)
	if m == nil {
		return fmt.Errorf("bbbtest: meeting %q not found", meetingID)
	}
	m.mu.Lock()
	m.counts = countsOverride{true, participants, listeners, voice, video, moderators}
	if participants > 0 {
		m.running = true
	}
	m.mu.Unlock()
	return nil
}

// EndMeeting ends a meeting as if it had ended on its own: it is removed
// (with its breakout rooms). It reports whether the meeting existed.
func (s *Server) EndMeeting(meetingID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.lookupLocked(meetingID)
	if m == nil {
		return false
	}
	s.removeLocked(m)
	return true
}
