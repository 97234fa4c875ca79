package balancer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// A server whose calls fail leaves placement at once and comes back when
// the failures are older than FailDuration; what counts as a failure
// follows reverse_proxy's passive health checks.
func TestPassiveHealth(t *testing.T) {
	ctx := context.Background()
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	now := time.Now()
	p.now = func() time.Time { return now }
	p.SetPassiveHealth(PassiveHealth{FailDuration: 10 * time.Second, MaxFails: 2, UnhealthyStatus: []int{5, 429}, UnhealthyLatency: time.Second})
	refused := &bbb.CallError{Call: "create", Err: errors.New("connection refused")}
	failing := func() map[string]bool {
		out := map[string]bool{}
		for _, s := range p.Servers() {
			out[s.ID] = s.Failing
		}
		return out
	}

	p.ReportCall("bbb1", time.Millisecond, refused)
	if failing()["bbb1"] {
		t.Fatal("failing after 1 of 2 failures")
	}
	// Not failures: a quick answer, a status not listed, a BBB FAILED
	// answer (an answer at all).
	p.ReportCall("bbb1", time.Millisecond, nil)
	p.ReportCall("bbb1", time.Millisecond, &bbb.CallError{Status: 404, Err: errors.New("HTTP 404")})
	if failing()["bbb1"] {
		t.Fatal("failing after calls that did not fail")
	}
	p.ReportCall("bbb1", 2*time.Second, nil) // too slow: the second failure
	if !failing()["bbb1"] || failing()["bbb2"] {
		t.Fatalf("failing: %v, want bbb1 only", failing())
	}
	for range 4 {
		pl, err := p.Place(ctx, Request{Key: "m" + now.String(), MeetingID: "m" + now.String()})
		now = now.Add(time.Millisecond)
		if err != nil || pl.ServerID != "bbb2" {
			t.Fatalf("placed on %s (%v) while bbb1 is failing", pl.ServerID, err)
		}
	}
	// Both failing: rather than refuse every create, the least loaded of
	// them is tried (bbb1, with nothing placed); one that just failed this
	// create is still avoided.
	p.ReportCall("bbb2", time.Millisecond, &bbb.CallError{Status: 503, Err: errors.New("HTTP 503")})
	p.ReportCall("bbb2", time.Millisecond, &bbb.CallError{Status: 200, Err: errors.New("unreadable answer")})
	if f := failing(); !f["bbb1"] || !f["bbb2"] {
		t.Fatalf("failing: %v, want both", f)
	}
	if pl, err := p.Place(ctx, Request{Key: "x", MeetingID: "x"}); err != nil || pl.ServerID != "bbb1" {
		t.Fatalf("with every server failing: placed on %q (%v), want bbb1", pl.ServerID, err)
	}
	if _, err := p.Place(ctx, Request{Key: "x2", MeetingID: "x2", Avoid: []string{"bbb1", "bbb2"}}); !errors.Is(err, ErrNoServer) {
		t.Fatalf("placed on a server the create just failed on: %v", err)
	}
	// Failures age out.
	now = now.Add(11 * time.Second)
	if f := failing(); f["bbb1"] || f["bbb2"] {
		t.Fatalf("still failing after fail_duration: %v", f)
	}
	// Avoid keeps a create off the servers it failed on.
	if pl, err := p.Place(ctx, Request{Key: "y", MeetingID: "y", Avoid: []string{"bbb1"}}); err != nil || pl.ServerID != "bbb2" {
		t.Fatalf("avoid bbb1: %s %v", pl.ServerID, err)
	}
	// Off: nothing counts.
	p.SetPassiveHealth(PassiveHealth{})
	for range 5 {
		p.ReportCall("bbb1", time.Millisecond, refused)
	}
	if failing()["bbb1"] {
		t.Fatal("failing with passive health off")
	}
}

// A poll that finds an empty copy of a meeting the registry has on
// another server reports it to be ended; a copy with people in it, a
// meeting the registry does not know and a breakout room are left alone.
func TestPollReportsCopies(t *testing.T) {
	ctx := context.Background()
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	pl, err := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"bbb1": "bbb2", "bbb2": "bbb1"}[pl.ServerID]
	copies := xmls(bbb.Meeting{MeetingID: "room"}, bbb.Meeting{MeetingID: "unknown"})
	if ch := p.Report(ctx, other, Poll{Started: time.Now(), Meetings: copies}, HealthRule{}); len(ch.Copies) != 0 {
		t.Fatalf("copies %v of a create not yet confirmed", ch.Copies)
	}
	if err := p.Confirm(ctx, "room", "room", pl.ServerID, ""); err != nil {
		t.Fatal(err)
	}
	if ch := p.Report(ctx, other, Poll{Started: time.Now(), Meetings: copies}, HealthRule{}); len(ch.Copies) != 1 || ch.Copies[0] != "room" {
		t.Fatalf("copies %v, want [room]", ch.Copies)
	}
	busy := xmls(bbb.Meeting{MeetingID: "room", ParticipantCount: 2}, bbb.Meeting{MeetingID: "room", IsBreakout: true})
	if ch := p.Report(ctx, other, Poll{Started: time.Now(), Meetings: busy}, HealthRule{}); len(ch.Copies) != 0 {
		t.Fatalf("copies %v: a copy with people in it or a breakout room", ch.Copies)
	}
	if ch := p.Report(ctx, pl.ServerID, Poll{Started: time.Now(), Meetings: xmls(bbb.Meeting{MeetingID: "room"})}, HealthRule{}); len(ch.Copies) != 0 {
		t.Fatalf("the meeting's own server reports copies %v", ch.Copies)
	}
}

// Asking whether a server is failing (placement, listings under the read
// lock) changes nothing: an expired failure ages out once, and the
// remaining ones are counted once each however often it is asked.
func TestFailingIsARead(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(1))
	now := time.Now()
	p.now = func() time.Time { return now }
	p.SetPassiveHealth(PassiveHealth{FailDuration: 10 * time.Second, MaxFails: 3})
	refused := &bbb.CallError{Call: "create", Err: errors.New("connection refused")}
	for range 3 {
		p.ReportCall("bbb1", time.Millisecond, refused)
		now = now.Add(time.Second)
	}
	if !p.Servers()[0].Failing {
		t.Fatal("not failing after 3 failures")
	}
	now = now.Add(8500 * time.Millisecond) // two of the three failures have aged out
	for range 3 {
		if p.Servers()[0].Failing {
			t.Fatal("failing with 1 recent failure of 3")
		}
	}
}
