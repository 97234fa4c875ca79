package balancer

import (
	"context"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// A kept getMeetings answer serves while it is young enough and nothing
// went through the balancer on its server since its call started.
func TestMeetingsAnswer(t *testing.T) {
	ctx := context.Background()
	p := NewPool(newMemStore())
	p.SetServers(servers(2))
	now := time.Now()
	p.now = func() time.Time { return now }
	got := func(id string, maxAge time.Duration) string {
		ms, ok := p.MeetingsAnswer(id, maxAge)
		if !ok {
			return "none"
		}
		out := ""
		for _, m := range ms {
			out += m.MeetingID + " "
		}
		return out
	}

	if got("bbb1", time.Minute) != "none" {
		t.Fatal("an answer before any was kept")
	}
	p.Report(ctx, "bbb1", Poll{Started: now, Meetings: xmls(bbb.Meeting{MeetingID: "polled"})}, HealthRule{})
	p.Report(ctx, "bbb2", Poll{Started: now}, HealthRule{})
	if g := got("bbb1", time.Minute); g != "polled " {
		t.Fatalf("the poll's answer: %q", g)
	}
	if got("bbb1", 0) != "none" {
		t.Fatal("max age 0 must always ask the server")
	}
	// An older answer does not replace a newer one.
	p.KeepMeetingsAnswer("bbb1", now.Add(-time.Second), xmls(bbb.Meeting{MeetingID: "older"}))
	if g := got("bbb1", time.Minute); g != "polled " {
		t.Fatalf("an older answer replaced the newer: %q", g)
	}
	// Age.
	now = now.Add(6 * time.Second)
	if got("bbb1", 5*time.Second) != "none" || got("bbb1", 10*time.Second) != "polled " {
		t.Fatal("max age not applied")
	}
	// A create confirmed on bbb1 makes its answer stale; bbb2's stays.
	p.KeepMeetingsAnswer("bbb2", now, nil)
	pl, err := p.Place(ctx, Request{Key: "new", MeetingID: "new"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Millisecond)
	if err := p.Confirm(ctx, "new", "new", pl.ServerID, ""); err != nil {
		t.Fatal(err)
	}
	other := "bbb2"
	if pl.ServerID == "bbb2" {
		other = "bbb1"
	}
	if got(pl.ServerID, time.Minute) != "none" {
		t.Fatalf("%s's answer serves after a create there", pl.ServerID)
	}
	if got(other, time.Minute) == "none" {
		t.Fatalf("%s's answer stale after a create elsewhere", other)
	}
	// A newer answer serves again; an end (Forget) makes it stale.
	p.KeepMeetingsAnswer(pl.ServerID, now, xmls(bbb.Meeting{MeetingID: "new"}))
	if g := got(pl.ServerID, time.Minute); g != "new " {
		t.Fatalf("after a fresh answer: %q", g)
	}
	now = now.Add(time.Millisecond)
	if err := p.Forget(ctx, "new", pl.ServerID); err != nil {
		t.Fatal(err)
	}
	if got(pl.ServerID, time.Minute) != "none" {
		t.Fatal("an answer serves after an end there")
	}
}
