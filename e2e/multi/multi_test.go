package multi

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

func createQuery(meetingID string) string {
	return "meetingID=" + url.QueryEscape(meetingID) + "&name=" + url.QueryEscape("Room "+meetingID)
}

// Creates of the same meetingIDs arriving at three instances at the same
// moment: every meeting runs on exactly one server, and every instance's
// registry names that server.
func TestOneMeetingOneServer(t *testing.T) {
	p := newPool(t, 4, sharedDB(t), "")
	ins := []*instance{p.start("a"), p.start("b"), p.start("c")}
	const meetings = 20
	var wg sync.WaitGroup
	var failed atomic.Int32
	for _, in := range ins {
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := 0; m < meetings; m++ {
					a, err := in.call("create", createQuery(fmt.Sprintf("room-%02d", m)))
					if err != nil || a.ReturnCode != bbb.Success {
						failed.Add(1)
						t.Errorf("create room-%02d at %s: %v %s %s", m, in.name, err, a.MessageKey, a.Message)
					}
				}
			}()
		}
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	held := p.holders()
	if len(held) != meetings {
		t.Fatalf("%d meetings run on the servers, want %d: %v", len(held), meetings, held)
	}
	for m, servers := range held {
		if len(servers) != 1 {
			t.Errorf("meeting %s runs on servers %v", m, servers)
		}
	}
	for _, in := range ins {
		eventually(t, in.name+"'s registry agrees with the servers", func() bool {
			reg := in.registry(t)
			for m, servers := range held {
				if reg[m] != fmt.Sprintf("bbb%d", servers[0]+1) {
					return false
				}
			}
			return len(reg) == meetings
		})
	}
}

// A burst of 200 creates, 100 to each of two instances, over four equal
// servers lands 50 ± 5 on each.
func TestBurstSpreadsOverInstances(t *testing.T) {
	p := newPool(t, 4, sharedDB(t), "")
	ins := []*instance{p.start("a"), p.start("b")}
	var wg sync.WaitGroup
	for i, in := range ins {
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := g; k < 100; k += 16 {
					in.mustOK(t, "create", createQuery(fmt.Sprintf("burst-%d-%03d", i, k)))
				}
			}()
		}
	}
	wg.Wait()
	var counts []int
	for _, f := range p.fakes {
		counts = append(counts, len(f.Meetings()))
	}
	t.Logf("200 creates over 2 instances and 4 servers: %v", counts)
	// Each meeting runs with its own voice bridge, though two instances
	// handed them out.
	bridges := map[string]string{}
	for _, f := range p.fakes {
		for _, id := range f.Meetings() {
			info, _ := f.Meeting(id)
			if other, taken := bridges[info.VoiceBridge]; taken || len(info.VoiceBridge) != 9 {
				t.Errorf("meeting %s runs with voice bridge %q (also %q's)", id, info.VoiceBridge, other)
			}
			bridges[info.VoiceBridge] = id
		}
	}
	for i, n := range counts {
		if n < 45 || n > 55 {
			t.Errorf("server bbb%d runs %d meetings, want 50 ± 5 (all: %v)", i+1, n, counts)
		}
	}
}

// A meeting created through one instance is found at once by the others:
// join, getMeetingInfo, end, isMeetingRunning.
func TestMeetingFoundOnEveryInstance(t *testing.T) {
	p := newPool(t, 3, sharedDB(t), "")
	a, b, c := p.start("a"), p.start("b"), p.start("c")
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("found-%d", i)
		a.mustOK(t, "create", createQuery(id))
		// At once, without waiting for a notification or a poll.
		where, err := b.join(id)
		if err != nil {
			t.Fatal(err)
		}
		holder := p.holders()[id]
		if len(holder) != 1 || !strings.HasPrefix(where, strings.TrimSuffix(p.fakes[holder[0]].URL(), "/api")) {
			t.Fatalf("join of %s at b went to %s; the meeting runs on %v", id, where, holder)
		}
		if got := c.mustOK(t, "getMeetingInfo", "meetingID="+id); got.MeetingID != id {
			t.Fatalf("getMeetingInfo at c: %+v", got)
		}
		c.mustOK(t, "end", "meetingID="+id)
		if len(p.holders()[id]) != 0 {
			t.Fatalf("%s still runs after end at c", id)
		}
	}
	// The registry forgets ended meetings on every instance (the poller's
	// instance drops them; the others hear of it).
	for _, in := range []*instance{a, b, c} {
		eventually(t, in.name+" forgets the ended meetings", func() bool { return len(in.registry(t)) == 0 })
	}
}

// An operator's change through one instance's admin API takes effect on
// every instance: a cordoned server takes no new meeting anywhere, an
// added tenant's secret is accepted everywhere.
func TestOperatorChangesReachEveryInstance(t *testing.T) {
	p := newPool(t, 2, sharedDB(t), "")
	a, b := p.start("a"), p.start("b")
	if err := a.adminDo("POST", "/bbb/servers/bbb1/cordon", nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b sees bbb1 cordoned", func() bool { return b.servers(t)["bbb1"].State == balancer.Cordoned })
	for i := 0; i < 6; i++ {
		b.mustOK(t, "create", createQuery(fmt.Sprintf("after-cordon-%d", i)))
	}
	if n := len(p.fakes[0].Meetings()); n != 0 {
		t.Fatalf("cordoned bbb1 got %d new meetings from b", n)
	}

	body := strings.NewReader(`{"name": "school-b", "secrets": ["school-b-secret-123"], "path_prefix": "/school-b"}`)
	if err := a.adminDo("POST", "/bbb/tenants", body, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b accepts the new tenant's secret", func() bool {
		ans, err := b.callAt("/school-b", "school-b-secret-123", "create", createQuery("tenant-room"))
		return err == nil && ans.ReturnCode == bbb.Success
	})
}

// Exactly one instance polls; when it is killed (kill -9) while the others
// answer creates and joins, another takes over, and the survivors answer
// every call: no failed answer, no meeting lost or split.
func TestPollerKilledUnderLoad(t *testing.T) {
	p := newPool(t, 3, sharedDB(t), "")
	ins := []*instance{p.start("a"), p.start("b"), p.start("c")}
	var victim *instance
	var survivors []*instance
	eventually(t, "one instance polls", func() bool {
		polls, _, err := ins[0].poller()
		return err == nil && polls != ""
	})
	victimID, _, _ := ins[0].poller()
	for _, in := range ins {
		if _, self, _ := in.poller(); self == victimID {
			victim = in
		} else {
			survivors = append(survivors, in)
		}
	}
	if victim == nil || len(survivors) != 2 {
		t.Fatalf("poller %q not among the instances", victimID)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var created sync.Map
	var calls, failures atomic.Int64
	for i, in := range survivors {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("load-%d-%d-%d", i, g, k)
					calls.Add(2)
					a, err := in.call("create", createQuery(id))
					if err != nil || a.ReturnCode != bbb.Success {
						failures.Add(1)
						t.Errorf("create %s at %s: %v %+v", id, in.name, err, a)
						continue
					}
					created.Store(id, true)
					if _, err := survivors[(i+1)%2].join(id); err != nil {
						failures.Add(1)
						t.Errorf("join: %v", err)
					}
				}
			}()
		}
	}
	time.Sleep(300 * time.Millisecond) // load under way before the kill
	killed := time.Now()
	victim.kill(syscall.SIGKILL)
	var newPoller string
	eventually(t, "another instance polls", func() bool {
		polls, _, err := survivors[0].poller()
		newPoller = polls
		return err == nil && polls != "" && polls != victimID
	})
	took := time.Since(killed)
	// The servers are polled again, by the new poller.
	before := p.fakes[0].CallCount("getMeetings")
	eventually(t, "bbb1 is polled again", func() bool { return p.fakes[0].CallCount("getMeetings") > before })
	close(stop)
	wg.Wait()
	t.Logf("polling taken over by %s %v after kill -9 (bound: 2 × 1s + 500ms); %d calls to the survivors, %d failed",
		newPoller, took.Round(time.Millisecond), calls.Load(), failures.Load())

	held := p.holders()
	n := 0
	created.Range(func(k, _ any) bool {
		n++
		if len(held[k.(string)]) != 1 {
			t.Errorf("meeting %s runs on %v", k, held[k.(string)])
		}
		return true
	})
	if n == 0 {
		t.Fatal("no meeting created during the test")
	}
	for _, in := range survivors {
		eventually(t, in.name+" knows every meeting", func() bool {
			reg := in.registry(t)
			ok := true
			created.Range(func(k, _ any) bool { ok = ok && reg[k.(string)] != ""; return ok })
			return ok
		})
	}
}
