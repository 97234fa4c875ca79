package balancer

import (
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// LoadModel turns what a server reports into one number, its load; new
// meetings go to the server with the lowest load. For each meeting:
//
//	load = Meeting + Participant×participants + Voice×voice users + Video×webcams
//	     + reserve
//	reserve = max(0, size − participants) × (1 − age/NewMeetingWindow)   while age < NewMeetingWindow
//
// and a server's load is the sum over its meetings times its weight.
//
// participantCount already includes moderators, so nobody is counted twice
// (scalelite adds moderatorCount again). Voice and video are extra on top of
// the participant because they are what costs a BBB server most: every voice
// user is a FreeSWITCH channel and every webcam a stream sent to each viewer.
//
// The reserve stands for the people who have not joined a new meeting yet:
// a class of 30 created a minute ago is about to be 30 users. It starts at
// the meeting's expected size (maxParticipants when the front-end gives it,
// capped at 4×NewMeetingSize, else NewMeetingSize) and fades linearly to
// nothing over NewMeetingWindow, less the people who have already joined.
// Scalelite counts a new meeting as 15 users for 15 minutes and then drops
// it to its real size in one step; a linear fade has no such cliff.
//
// Breakout rooms add their voice and video (their media runs in their own
// conference) but no participants or meeting weight: their users are also
// members of the parent meeting.
type LoadModel struct {
	Meeting          float64       `json:"meeting,omitempty"`
	Participant      float64       `json:"participant,omitempty"`
	Voice            float64       `json:"voice,omitempty"`
	Video            float64       `json:"video,omitempty"`
	NewMeetingSize   float64       `json:"new_meeting_size,omitempty"`
	NewMeetingWindow time.Duration `json:"new_meeting_window,omitempty"`
}

// DefaultLoadModel is used for every weight left at zero.
var DefaultLoadModel = LoadModel{
	Meeting:          1,
	Participant:      1,
	Voice:            0.5,
	Video:            2,
	NewMeetingSize:   15,
	NewMeetingWindow: 15 * time.Minute,
}

// WithDefaults fills zero weights from DefaultLoadModel.
func (m LoadModel) WithDefaults() LoadModel {
	d := DefaultLoadModel
	if m.Meeting == 0 {
		m.Meeting = d.Meeting
	}
	if m.Participant == 0 {
		m.Participant = d.Participant
	}
	if m.Voice == 0 {
		m.Voice = d.Voice
	}
	if m.Video == 0 {
		m.Video = d.Video
	}
	if m.NewMeetingSize == 0 {
		m.NewMeetingSize = d.NewMeetingSize
	}
	if m.NewMeetingWindow == 0 {
		m.NewMeetingWindow = d.NewMeetingWindow
	}
	return m
}

// steady is the part of a meeting's load that does not fade.
func (m LoadModel) steady(mt bbb.Meeting) float64 {
	media := m.Voice*float64(mt.VoiceParticipantCount) + m.Video*float64(mt.VideoCount)
	if mt.IsBreakout {
		return media
	}
	return m.Meeting + m.Participant*float64(mt.ParticipantCount) + media
}

// size is the expected number of people in a new meeting.
func (m LoadModel) size(maxParticipants int) float64 {
	if maxParticipants > 0 {
		return min(float64(maxParticipants), 4*m.NewMeetingSize)
	}
	return m.NewMeetingSize
}

// fresh is a meeting young enough to carry a reserve.
type fresh struct {
	meetingID    string
	created      time.Time
	size         float64
	participants int
}
