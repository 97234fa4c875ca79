package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

const fastPolls = "health_interval 50ms\n\t\thealth_timeout 300ms\n\t\thealth_fails 2\n\t\thealth_passes 2"

func TestServerOfflineAndBack(t *testing.T) {
	p := startPool(t, 2, fastPolls)
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("flaky-room")))
	on := p.holder("flaky-room")
	id := fmt.Sprintf("bbb%d", on+1)
	if s := serverStatus(t, id); !s.Online || s.Version != "3.0.0" {
		t.Fatalf("before: %+v", s)
	}

	p.fakes[on].SetFailure(bbbtest.FailRefuse)
	eventually(t, id+" offline", func() bool { return !serverStatus(t, id).Online })
	if s := serverStatus(t, id); !strings.Contains(s.LastError, "refused") {
		t.Errorf("last error %q", s.LastError)
	}
	// Joins to its meetings get BBB's error; the next create places the
	// meeting on the other server.
	req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=A&meetingID=flaky-room&role=VIEWER"), nil)
	if _, a := c.do(t, req); a.MessageKey != "serverUnavailable" {
		t.Errorf("join to an offline server: %s", a.Raw)
	}
	mustOK(t, "create again", c.get(t, "create", createQuery("flaky-room")))
	if got := registry(t)["flaky-room"]; got != fmt.Sprintf("bbb%d", 2-on) {
		t.Errorf("meeting now on %s", got)
	}
	// New meetings all go to the server that is up.
	for i := 0; i < 4; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("while-down-", i))))
		if got := registry(t)[fmt.Sprint("while-down-", i)]; got == id {
			t.Errorf("placed on the offline server")
		}
	}

	p.fakes[on].SetFailure(bbbtest.FailNone)
	eventually(t, id+" online again", func() bool { return serverStatus(t, id).Online })
}

func TestBurst200Over4(t *testing.T) {
	p := startPool(t, 4, "")
	c := newClient()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, c.url("create", createQuery(fmt.Sprint("b4-", i))), nil)
			if _, a := c.do(t, req); a.ReturnCode != bbb.Success {
				t.Errorf("create %d: %s", i, a.MessageKey)
			}
		}()
	}
	wg.Wait()
	for i, f := range p.fakes {
		if n := len(f.Meetings()); n < 45 || n > 55 {
			t.Errorf("fake %d has %d of 200 meetings, want 50±5", i, n)
		}
	}
}

func TestWeightsSplitTwoToOne(t *testing.T) {
	p := startPool(t, 0, "")
	for i := 0; i < 2; i++ {
		f, err := bbbtest.New(bbbtest.Options{Secret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		p.fakes = append(p.fakes, f)
	}
	cfg := p.caddyfile()
	heavy := fmt.Sprintf("server bbb2 %s {\n", p.fakes[1].URL())
	p.load(strings.Replace(cfg, heavy, heavy+"\t\t\tweight 2\n", 1))
	c := newClient()
	for i := 0; i < 150; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("w-", i))))
	}
	light, heavyN := len(p.fakes[0].Meetings()), len(p.fakes[1].Meetings())
	if light < 95 || light > 105 || heavyN < 45 || heavyN > 55 {
		t.Errorf("weight 1 got %d, weight 2 got %d of 150; want about 100/50", light, heavyN)
	}
}

func TestCordonedServerKeepsJoinsThenDisables(t *testing.T) {
	p := startPool(t, 2, "health_interval 50ms")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("last-class")))
	on := p.holder("last-class")
	id := fmt.Sprintf("bbb%d", on+1)
	marker := fmt.Sprintf("server %s %s {\n", id, p.fakes[on].URL())
	p.load(strings.Replace(p.caddyfile(), marker, marker+"\t\t\tstate cordoned\n", 1))
	// Someone is in the meeting, so the server stays cordoned.
	if err := p.fakes[on].AddAttendee("last-class", bbbtest.Attendee{FullName: "Ann", Role: "VIEWER"}); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=Bob&meetingID=last-class&role=VIEWER"), nil)
	resp, a := c.do(t, req)
	if resp.StatusCode != http.StatusFound || p.fakeOf(resp.Header.Get("Location")) != on {
		t.Fatalf("join on a cordoned server: %d %s", resp.StatusCode, a.Raw)
	}
	for i := 0; i < 3; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("elsewhere-", i))))
		if registry(t)[fmt.Sprint("elsewhere-", i)] == id {
			t.Error("new meeting placed on a cordoned server")
		}
	}
	if st := serverStatus(t, id).State; st != "cordoned" {
		t.Fatalf("state %s while a meeting runs", st)
	}
	mustOK(t, "end", c.get(t, "end", "meetingID=last-class"))
	eventually(t, "cordoned server disabled once empty", func() bool { return serverStatus(t, id).State == "disabled" })
}

func TestEndedOnServerLeavesRegistry(t *testing.T) {
	p := startPool(t, 1, "health_interval 50ms")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("expires")))
	mustOK(t, "create", c.get(t, "create", createQuery("stays")))
	p.fakes[0].EndMeeting("expires") // as when nobody joined for 5 minutes
	eventually(t, "ended meeting leaves the registry", func() bool { _, ok := registry(t)["expires"]; return !ok })
	if _, ok := registry(t)["stays"]; !ok {
		t.Error("a running meeting left the registry")
	}
}

func TestSlowServerDelaysNothingElse(t *testing.T) {
	p := startPool(t, 3, "health_interval 50ms\n\t\thealth_timeout 10s\n\t\thealth_fails 100")
	slow := p.fakes[0]
	// Cordoned: still polled, takes no new meetings.
	marker := fmt.Sprintf("server bbb1 %s {\n", slow.URL())
	p.load(strings.Replace(p.caddyfile(), marker, marker+"\t\t\tstate cordoned\n", 1))
	slow.SetSlow(60e9)
	slow.SetFailure(bbbtest.FailSlow)
	before := slow.CallCount("getMeetings")
	base := p.fakes[1].CallCount("getMeetings")
	// Other servers keep being polled while bbb1's poll hangs…
	eventually(t, "other servers polled", func() bool { return p.fakes[1].CallCount("getMeetings") >= base+5 })
	// …without a second poll piling up on the slow one.
	if n := slow.CallCount("getMeetings"); n > before+1 {
		t.Errorf("%d polls piled up on the slow server", n-before)
	}
	c := newClient()
	for i := 0; i < 5; i++ {
		mustOK(t, "create while a poll hangs", c.get(t, "create", createQuery(fmt.Sprint("quick-", i))))
	}
	slow.SetFailure(bbbtest.FailNone) // let the hanging poll end before cleanup
}

func TestServerTags(t *testing.T) {
	p := startPool(t, 3, "")
	cfg := p.caddyfile()
	for i, tag := range []string{"hd", "test"} {
		m := fmt.Sprintf("server bbb%d %s {\n", i+1, p.fakes[i].URL())
		cfg = strings.Replace(cfg, m, m+"\t\t\ttag "+tag+"\n", 1)
	}
	p.load(cfg)
	c := newClient()
	cases := []struct{ id, tag, want string }{
		{"t-none", "", "bbb3"},
		{"t-hd", "hd", "bbb1"},
		{"t-hd-req", "hd!", "bbb1"},
		{"t-test", "test", "bbb2"},
		{"t-fallback", "gpu", "bbb3"},
	}
	for _, tc := range cases {
		q := createQuery(tc.id)
		if tc.tag != "" {
			q += "&meta_server-tag=" + strings.ReplaceAll(tc.tag, "!", "%21")
		}
		mustOK(t, "create "+tc.id, c.get(t, "create", q))
		if got := registry(t)[tc.id]; got != tc.want {
			t.Errorf("%s (tag %q) on %s, want %s", tc.id, tc.tag, got, tc.want)
		}
	}
	mustFail(t, "required tag nobody has", c.get(t, "create", createQuery("t-gpu")+"&meta_server-tag=gpu%21"), "serverTagUnavailable")
	// The server is told the tag it was chosen for.
	for _, call := range apiCalls(p.fakes[0]) {
		if call.Name == "create" && !strings.Contains(call.RawQuery, "meta_server-tag=hd&") && !strings.HasSuffix(strings.Split(call.RawQuery, "&checksum=")[0], "meta_server-tag=hd") {
			t.Errorf("create forwarded to the hd server with %s", call.RawQuery)
		}
	}
	for _, call := range apiCalls(p.fakes[2]) {
		if strings.Contains(call.RawQuery, "server-tag") {
			t.Errorf("untagged server got a tag: %s", call.RawQuery)
		}
	}
}
