package console

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Snapshot is the pool at one moment, as the page shows it (GET state,
// and every event of GET events).
type Snapshot struct {
	At time.Time `json:"at"`
	// Error says why there is no pool to show (no bbb_balance handler
	// runs, or none uses the console's database).
	Error      string            `json:"error,omitempty"`
	Totals     Totals            `json:"totals"`
	Problems   []Problem         `json:"problems"`
	Servers    []Server          `json:"servers"`
	Meetings   MeetingPage       `json:"meetings"`
	Tenants    []Tenant          `json:"tenants"`
	Recordings *RecordingsStatus `json:"recordings"` // nil: the pool has no recordings
	Poller     PollerStatus      `json:"poller"`
}

// Server is a server as the page shows it: its status, and why it is
// offline in a few words.
type Server struct {
	balancer.ServerStatus
	Cause string `json:"cause,omitempty"` // the last link of LastError ("connection refused")
}

// Totals sum up the pool: servers from their state and last poll, meetings
// from the registry.
type Totals struct {
	Servers        int     `json:"servers"`
	Online         int     `json:"online"`
	TakingMeetings int     `json:"taking_meetings"` // enabled, online and not failing
	Meetings       int     `json:"meetings"`
	Participants   int     `json:"participants"`
	Voice          int     `json:"voice"`
	Video          int     `json:"video"`
	Load           float64 `json:"load"`
}

// Problem is one line of the page's summary: what needs a person.
type Problem struct {
	Level  string `json:"level"` // "error": meetings suffer or will; "warning": look soon
	Text   string `json:"text"`
	Server string `json:"server,omitempty"` // the server it is about, if one
}

// MeetingPage is a page of meetings, the largest first: the snapshot's
// (Query empty, Total the registry's meetings) or a search's (Total the
// meetings found).
type MeetingPage struct {
	Query    string                  `json:"query"`
	Total    int                     `json:"total"`
	Meetings []manage.MeetingListing `json:"meetings"`
}

// RecordingsStatus is the importer's last hour.
type RecordingsStatus struct {
	// WindowSeconds is what Imported and Failed count over: an hour (the
	// history's window), or less when the console started less than that
	// ago.
	WindowSeconds float64 `json:"window_seconds"`
	Imported      int64   `json:"imported"`
	Failed        int64   `json:"failed"`
	// PerBucket are the imports of each BucketSeconds of the window,
	// oldest first.
	PerBucket     []int64                   `json:"per_bucket"`
	BucketSeconds float64                   `json:"bucket_seconds"`
	FailedTotal   int                       `json:"failed_total"` // tars in the failed directory
	FailedList    []recordings.FailedImport `json:"failed_list"`  // the newest of them
	FailedError   string                    `json:"failed_error,omitempty"`
}

// PollerStatus is who polls and when it last did.
type PollerStatus struct {
	IntervalSeconds float64            `json:"interval_seconds"`
	Polls           bool               `json:"polls"`  // this instance polls
	Shared          bool               `json:"shared"` // several instances share the database
	LastPoll        time.Time          `json:"last_poll,omitzero"`
	Instances       []cluster.Instance `json:"instances"`
	InstancesError  string             `json:"instances_error,omitempty"`
}

// snapshot reads the pool now.
func (h *Hub) snapshot(now time.Time) *Snapshot {
	s := &Snapshot{At: now, Problems: []Problem{}, Servers: []Server{}, Tenants: []Tenant{},
		Meetings: MeetingPage{Meetings: []manage.MeetingListing{}}, Poller: PollerStatus{Instances: []cluster.Instance{}}}
	p, err := h.c.Find()
	if err != nil {
		s.Error = err.Error()
		s.Problems = append(s.Problems, Problem{Level: "error", Text: s.Error})
		return s
	}
	statuses := p.Servers()
	s.Servers = make([]Server, len(statuses))
	for i, st := range statuses {
		s.Servers[i] = Server{ServerStatus: st, Cause: cause(st.LastError)}
	}
	s.Meetings = page(p.Meetings(), "", firstPage)
	if t := p.Tenants(); t != nil {
		s.Tenants = t
	}
	s.Poller = h.pollerStatus(p, statuses, now)
	s.Recordings = h.recordingsStatus(p, now)
	s.Totals = totals(statuses, s.Meetings.Total)
	s.Problems = problems(s, now)
	return s
}

func totals(servers []balancer.ServerStatus, meetings int) Totals {
	t := Totals{Servers: len(servers), Meetings: meetings}
	for _, s := range servers {
		if s.Online {
			t.Online++
			if s.State == balancer.Enabled && !s.Failing {
				t.TakingMeetings++
			}
		}
		t.Participants += s.Users
		t.Voice += s.Voice
		t.Video += s.Videos
		t.Load += s.Load
	}
	return t
}

func (h *Hub) pollerStatus(p Pool, servers []balancer.ServerStatus, now time.Time) PollerStatus {
	pl := p.Poller()
	st := PollerStatus{IntervalSeconds: pl.Interval.Seconds(), Polls: pl.Polls, Shared: pl.Shared}
	for _, s := range servers {
		if s.LastPoll.After(st.LastPoll) {
			st.LastPoll = s.LastPoll
		}
	}
	h.mu.Lock()
	c := h.instances
	h.mu.Unlock()
	if c.at.IsZero() || now.Sub(c.at) >= instancesEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.list, c.err = p.Instances(ctx)
		cancel()
		c.at = now
		h.mu.Lock()
		h.instances = c
		h.mu.Unlock()
	}
	st.Instances = c.list
	if st.Instances == nil {
		st.Instances = []cluster.Instance{}
	}
	if c.err != nil {
		st.InstancesError = c.err.Error()
	}
	return st
}

func (h *Hub) recordingsStatus(p Pool, now time.Time) *RecordingsStatus {
	counts, ok := p.Imports()
	if !ok {
		return nil
	}
	h.mu.Lock()
	samples := h.imports.values()
	c := h.failed
	h.mu.Unlock()
	st := &RecordingsStatus{BucketSeconds: (h.c.window() / buckets).Seconds()}
	samples = append(samples, importSample{at: now, Imports: counts})
	if start := counts.Since; !start.IsZero() && start.Before(samples[0].at) && now.Sub(start) < h.c.window() {
		// The pool started within the window and before the first sample:
		// what it imported until then counts from its start, at zero.
		samples = append([]importSample{{at: start, Imports: Imports{Since: start}}}, samples...)
	}
	first := samples[0]
	st.WindowSeconds = now.Sub(first.at).Seconds()
	st.Imported = max(counts.Imported-first.Imported, 0) // a restarted pool counts from zero
	st.Failed = max(counts.Failed-first.Failed, 0)
	st.PerBucket = perBucket(samples, now, h.c.window())

	if c.at.IsZero() || c.counted != counts.Failed || now.Sub(c.at) >= h.c.Step {
		c.list, c.total, c.err = p.FailedImports(failedShown)
		c.at, c.counted = now, counts.Failed
		h.mu.Lock()
		h.failed = c
		h.mu.Unlock()
	}
	st.FailedTotal, st.FailedList = c.total, c.list
	if c.err != nil {
		st.FailedError = c.err.Error()
	}
	if st.FailedList == nil {
		st.FailedList = []recordings.FailedImport{}
	}
	return st
}

// perBucket spreads the imports between samples over the buckets of the
// window ending now, by the time of the later sample.
func perBucket(samples []importSample, now time.Time, window time.Duration) []int64 {
	n, bucket := buckets, window/buckets
	out := make([]int64, n)
	start := now.Add(-window)
	for i := 1; i < len(samples); i++ {
		d := samples[i].Imported - samples[i-1].Imported
		if d < 0 {
			d = samples[i].Imported // the pool restarted
		}
		if b := int(samples[i].at.Sub(start) / bucket); b >= 0 && b < n {
			out[b] += d
		} else if b == n {
			out[n-1] += d // now itself
		}
	}
	return out
}

// maxServerProblems bounds the lines about single servers; the rest are
// counted in one.
const maxServerProblems = 8

// problems says what needs a person, the worst first.
func problems(s *Snapshot, now time.Time) []Problem {
	var errs, warns []Problem
	t := s.Totals
	switch {
	case t.Servers == 0:
		errs = append(errs, Problem{Level: "error", Text: "The pool has no servers: every create fails."})
	case t.TakingMeetings == 0:
		errs = append(errs, Problem{Level: "error", Text: "No server takes new meetings: every create of a new meeting fails."})
	}
	var offline, failing []Server
	for _, sv := range s.Servers {
		switch {
		case !sv.Online && sv.State != balancer.Disabled:
			offline = append(offline, sv)
		case sv.Online && sv.Failing && sv.State != balancer.Disabled:
			failing = append(failing, sv)
		}
	}
	for i, sv := range offline {
		if i == maxServerProblems {
			errs = append(errs, Problem{Level: "error", Text: fmt.Sprintf("%d more servers are offline.", len(offline)-i)})
			break
		}
		why := sv.Cause
		if why == "" {
			why = "it has not answered a poll yet"
		}
		errs = append(errs, Problem{Level: "error", Server: sv.ID, Text: fmt.Sprintf("%s is offline: %s.", sv.ID, why)})
	}
	for i, sv := range failing {
		if i == maxServerProblems {
			warns = append(warns, Problem{Level: "warning", Text: fmt.Sprintf("%d more servers failed calls lately.", len(failing)-i)})
			break
		}
		warns = append(warns, Problem{Level: "warning", Server: sv.ID,
			Text: fmt.Sprintf("%s failed calls lately: it takes no new meetings for now.", sv.ID)})
	}

	pl := s.Poller
	interval := time.Duration(pl.IntervalSeconds * float64(time.Second))
	if pl.Shared && !pl.Polls && pl.InstancesError == "" && !anyPolls(pl.Instances) {
		errs = append(errs, Problem{Level: "error", Text: "No instance polls the servers: their health and load are not updated."})
	} else if interval > 0 && t.Servers > 0 && !pl.LastPoll.IsZero() && now.Sub(pl.LastPoll) > 3*interval {
		errs = append(errs, Problem{Level: "error", Text: fmt.Sprintf("No server was polled for %s (every %s expected).",
			now.Sub(pl.LastPoll).Round(time.Second), interval)})
	}
	if pl.InstancesError != "" {
		warns = append(warns, Problem{Level: "warning", Text: "The instances could not be read: " + pl.InstancesError})
	}

	for _, tn := range s.Tenants {
		if tn.MaxMeetings > 0 && tn.Meetings >= tn.MaxMeetings {
			warns = append(warns, Problem{Level: "warning",
				Text: fmt.Sprintf("Tenant %s is at its limit of %s: its new meetings are refused.", tn.Name, count(tn.MaxMeetings, "meeting"))})
		}
		if tn.MaxAttendees > 0 && tn.Attendees >= tn.MaxAttendees {
			warns = append(warns, Problem{Level: "warning",
				Text: fmt.Sprintf("Tenant %s is at its limit of %s: its joins are refused.", tn.Name, count(tn.MaxAttendees, "participant"))})
		}
	}
	if r := s.Recordings; r != nil {
		if r.Failed > 0 {
			warns = append(warns, Problem{Level: "warning",
				Text: fmt.Sprintf("%d recording(s) failed to import in the last %s.", r.Failed, spanWords(r.WindowSeconds))})
		}
		if r.FailedError != "" {
			warns = append(warns, Problem{Level: "warning", Text: "The failed recordings could not be listed: " + r.FailedError})
		}
	}
	return append(append([]Problem{}, errs...), warns...)
}

// count says n things: "1 meeting", "5 meetings".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// cause is the last link of an error's chain of "doing: why", what a
// summary needs ("connection refused"); the page shows the whole error
// beside its server.
func cause(err string) string {
	if i := strings.LastIndex(err, ": "); i >= 0 && i+2 < len(err) {
		return err[i+2:]
	}
	return err
}

func anyPolls(list []cluster.Instance) bool {
	for _, i := range list {
		if i.Polls() {
			return true
		}
	}
	return false
}

// spanWords says how long a window is, as the summary reads it.
func spanWords(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d >= 59*time.Minute {
		return "hour"
	}
	if m := int(d.Minutes()) + 1; m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "minute"
}
