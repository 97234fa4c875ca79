package balancer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

var errDown = errors.New("connection refused")

func TestHysteresis(t *testing.T) {
	p := NewPool(newMemStore())
	p.SetServers(servers(1))
	ctx := context.Background()
	rule := HealthRule{Passes: 2, Fails: 3}
	online := func() bool { return p.Servers()[0].Online }
	good := Poll{Started: time.Now()}
	bad := Poll{Started: time.Now(), Err: errDown}

	if online() {
		t.Fatal("a new server is online before any poll")
	}
	p.Report(ctx, "bbb1", bad, rule) // never answered yet
	if ch := p.Report(ctx, "bbb1", good, rule); ch.WentUp || online() {
		t.Fatal("online after 1 of 2 passes")
	}
	p.Report(ctx, "bbb1", bad, rule) // a failure resets the passes
	p.Report(ctx, "bbb1", good, rule)
	if online() {
		t.Fatal("passes were not reset by a failure")
	}
	if ch := p.Report(ctx, "bbb1", good, rule); !ch.WentUp || !online() {
		t.Fatal("not online after 2 passes")
	}
	for i := 1; i <= 3; i++ {
		ch := p.Report(ctx, "bbb1", bad, rule)
		if (i < 3) != online() || ch.WentDown != (i == 3) {
			t.Fatalf("after %d failures: online=%v change=%+v", i, online(), ch)
		}
	}
	if got := p.Servers()[0].LastError; got != errDown.Error() {
		t.Errorf("last error %q", got)
	}
	if _, err := p.Place(ctx, Request{Key: "x", MeetingID: "x"}); err != ErrNoServer {
		t.Errorf("placed on an offline server: %v", err)
	}
}

func TestOfflineServerMeetingsReplaced(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	ctx := context.Background()
	pl, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	p.Confirm(ctx, "room", "room", pl.ServerID, "")
	p.Report(ctx, pl.ServerID, Poll{Started: time.Now(), Err: errDown}, HealthRule{Fails: 1})
	if _, err := p.Join("room"); err != ErrUnavailable {
		t.Fatalf("join on an offline server: %v", err)
	}
	again, err := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if err != nil || again.ServerID == pl.ServerID || !again.Fresh {
		t.Fatalf("not re-placed: %+v %v", again, err)
	}
}

func TestEndedMeetingsLeaveRegistry(t *testing.T) {
	st := newMemStore()
	p := NewPool(st)
	setOnline(p, servers(1))
	ctx := context.Background()
	clock := time.Now()
	p.now = func() time.Time { return clock }
	for _, id := range []string{"ended", "running", "in-flight"} {
		p.Place(ctx, Request{Key: id, MeetingID: id})
	}
	p.Confirm(ctx, "ended", "ended", "bbb1", "")
	p.Confirm(ctx, "running", "running", "bbb1", "")
	clock = clock.Add(time.Second)
	started := clock // the poll starts after the confirmations
	// in-flight: placed, its create not answered yet; the poll cannot show it.
	ch := p.Report(ctx, "bbb1", Poll{Started: started, Meetings: xmls(bbb.Meeting{MeetingID: "running"})}, HealthRule{Passes: 1})
	if len(ch.Stale) != 1 || ch.Stale[0].Key != "ended" {
		t.Fatalf("stale %+v, want only 'ended'", ch.Stale)
	}
	if _, err := p.Lookup("ended"); err != ErrUnknownMeeting {
		t.Errorf("ended meeting still known: %v", err)
	}
	for _, id := range []string{"running", "in-flight"} {
		if _, err := p.Lookup(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, ok := st.m["ended"]; ok {
		t.Error("ended meeting still in the store")
	}
	// A create answered after the poll started is not stale either.
	clock = clock.Add(time.Second)
	p.Place(ctx, Request{Key: "late", MeetingID: "late"})
	p.Confirm(ctx, "late", "late", "bbb1", "")
	if ch := p.Report(ctx, "bbb1", Poll{Started: started, Meetings: xmls(bbb.Meeting{MeetingID: "running"})}, HealthRule{}); len(ch.Stale) != 1 || ch.Stale[0].Key != "in-flight" {
		// in-flight is still unconfirmed, so it stays; nothing is stale.
		if len(ch.Stale) != 0 {
			t.Errorf("stale %+v", ch.Stale)
		}
	}
	if _, err := p.Lookup("late"); err != nil {
		t.Errorf("late: %v", err)
	}
}

func TestCordonedDrainsToDisabled(t *testing.T) {
	p := NewPool(newMemStore())
	cfg := servers(1)
	cfg[0].State = Cordoned
	setOnline(p, cfg) // an empty cordoned server is drained at once
	if st := p.Servers()[0].State; st != Disabled {
		t.Fatalf("empty cordoned server is %s", st)
	}
	cfg[0].State = Cordoned
	p.SetServers(cfg)
	ctx := context.Background()
	poll := Poll{Started: time.Now(), Meetings: xmls(bbb.Meeting{MeetingID: "class", ParticipantCount: 3})}
	if ch := p.Report(ctx, "bbb1", poll, HealthRule{}); ch.Drained {
		t.Fatal("drained with a meeting running")
	}
	if ch := p.Report(ctx, "bbb1", Poll{Started: time.Now()}, HealthRule{}); !ch.Drained || p.Servers()[0].State != Disabled {
		t.Fatalf("not drained after the last meeting ended: %+v", ch)
	}
}

func TestLoadFormula(t *testing.T) {
	p := NewPool(newMemStore())
	p.SetLoadModel(LoadModel{Voice: 0.5, Video: 2, NewMeetingSize: 10, NewMeetingWindow: 10 * time.Minute})
	cfg := servers(1)
	cfg[0].Weight = 2
	setOnline(p, cfg)
	now := time.Now().Truncate(time.Millisecond) // BBB's createTime is in ms
	p.now = func() time.Time { return now }
	old := now.Add(-time.Hour).UnixMilli()
	poll := Poll{Started: now, Meetings: xmls(
		bbb.Meeting{MeetingID: "a", CreateTime: old, ParticipantCount: 4, ModeratorCount: 1, VoiceParticipantCount: 2, VideoCount: 1},
		bbb.Meeting{MeetingID: "a-breakout", CreateTime: old, IsBreakout: true, ParticipantCount: 2, VoiceParticipantCount: 2},
		// 5 minutes old, 4 of an expected 10 joined: reserve (10-4) × ½.
		bbb.Meeting{MeetingID: "b", CreateTime: now.Add(-5 * time.Minute).UnixMilli(), ParticipantCount: 4},
	)}
	p.Report(context.Background(), "bbb1", poll, HealthRule{})
	// a: 1 + 4 + 1 + 2 = 8; breakout: voice 1; b: 1 + 4 + 3 = 8; sum 17, weight 2
	if got := p.Servers()[0].Load; got != 34 {
		t.Errorf("load %v, want 34", got)
	}
	st := p.Servers()[0].Stats
	if st.Meetings != 3 || st.Users != 10 || st.LargestMeeting != 4 || st.Videos != 1 || st.Breakouts != 1 {
		t.Errorf("stats %+v", st)
	}
	// A join counts at once, until the next poll shows it.
	p.Confirm(context.Background(), "a", "a", "bbb1", "") // a known meeting, already counted by the poll
	if _, err := p.Join("a"); err != nil {
		t.Fatal(err)
	}
	if got := p.Servers()[0].Load; got != 36 {
		t.Errorf("load after a join %v, want 36", got)
	}
	// The reserve fades to nothing at the end of the window.
	now = now.Add(5 * time.Minute)
	if got := p.Servers()[0].Load; got != 30 {
		t.Errorf("load after the window %v, want 30", got)
	}
}

func TestPlacementReserveAndSizeHint(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	ctx := context.Background()
	// One big class (maxParticipants 40) weighs as much as 40 seats: the
	// next small meetings go to the other server until it catches up.
	big, _ := p.Place(ctx, Request{Key: "big", MeetingID: "big", MaxParticipants: 40})
	for i := 0; i < 2; i++ {
		pl, _ := p.Place(ctx, Request{Key: fmt.Sprint(i), MeetingID: fmt.Sprint(i)})
		if pl.ServerID == big.ServerID {
			t.Errorf("small meeting %d joined the big class's server", i)
		}
	}
}

func TestTags(t *testing.T) {
	p := NewPool(newMemStore())
	cfg := servers(3)
	cfg[0].Tag = "hd"
	cfg[1].Tag = "test"
	setOnline(p, cfg) // bbb3 is untagged
	ctx := context.Background()
	place := func(tags string) (string, error) {
		pl, err := p.Place(ctx, Request{Key: fmt.Sprint(time.Now().UnixNano()), MeetingID: "m", Tags: tags})
		return pl.ServerID, err
	}
	cases := []struct{ tags, want string }{
		{"", "bbb3"},
		{"hd", "bbb1"},
		{"hd!", "bbb1"},
		{"test;hd", ""}, // either; checked below
		{"none", "bbb3"},
		{"gpu", "bbb3"}, // optional: falls back to untagged
	}
	for _, c := range cases {
		got, err := place(c.tags)
		if err != nil || (c.want != "" && got != c.want) || (c.want == "" && got != "bbb1" && got != "bbb2") {
			t.Errorf("tags %q: %s %v", c.tags, got, err)
		}
	}
	var te *TagError
	if _, err := place("gpu!"); !errors.As(err, &te) || err.Error() != "There is no available server with the required tag=gpu." {
		t.Errorf("required missing tag: %v", err)
	}
}

func TestJoinIsConcurrent(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(1))
	p.Place(context.Background(), Request{Key: "a", MeetingID: "a"})
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.Join("a") }()
	}
	wg.Wait()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if n := p.servers["bbb1"].joins.Load(); n != 100 {
		t.Errorf("%d joins counted", n)
	}
}

func bbbMeeting(id string, created time.Time) bbb.Meeting {
	return bbb.Meeting{MeetingID: id, CreateTime: created.UnixMilli(), ParticipantCount: 3}
}

// xmls gives meetings the shape a poll reports them in.
func xmls(ms ...bbb.Meeting) []bbb.MeetingXML {
	out := make([]bbb.MeetingXML, len(ms))
	for i, m := range ms {
		out[i] = bbb.MeetingXML{Meeting: m}
	}
	return out
}

// A poll tells the registry each meeting's name and participants, which
// the listings (admin API, console) show.
func TestPollNamesMeetings(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(1))
	ctx := context.Background()
	p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	p.Confirm(ctx, "room", "room", "bbb1", "")
	if ms := p.Meetings(); len(ms) != 1 || ms[0].Name != "" {
		t.Fatalf("before a poll: %+v", ms)
	}
	p.Report(ctx, "bbb1", Poll{Started: time.Now(), Meetings: []bbb.MeetingXML{{Meeting: bbb.Meeting{
		MeetingID: "room", MeetingName: "Maths 4b", ParticipantCount: 3, Running: true}}}}, HealthRule{})
	if ms := p.Meetings(); len(ms) != 1 || ms[0].Name != "Maths 4b" || ms[0].Participants != 3 || !ms[0].Running {
		t.Fatalf("after a poll: %+v", ms)
	}
}
