package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// A server that drops creates unanswered: each create is tried on
// another server and succeeds, the dropping server leaves placement at
// once (passive health, before any poll), and the operator sees it.
func TestPassiveHealthAndCreateRetry(t *testing.T) {
	p := startPool(t, 3, "fail_duration 1h")
	c := newClient()
	p.fakes[0].SetFailure(bbbtest.FailReset) // reads the request, resets the connection
	mustOK(t, "create", c.get(t, "create", createQuery("retry-0")))
	// The first create went to bbb1 (all equal, lowest id), failed (Go's
	// transport may send it twice: a request on a reused connection that
	// closed is retried once) and took bbb1 out of placement.
	dropped := p.fakes[0].CallCount("create")
	if dropped == 0 {
		t.Fatal("the first create did not go to bbb1")
	}
	for i := 1; i < 6; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("retry-", i))))
	}
	if m := p.fakes[0].Meetings(); len(m) != 0 {
		t.Fatalf("the dropping server runs %v", m)
	}
	if n := len(p.fakes[1].Meetings()) + len(p.fakes[2].Meetings()); n != 6 {
		t.Fatalf("%d meetings on the other servers, want 6", n)
	}
	// No create went there again; it is still online: no poll has failed.
	if got := p.fakes[0].CallCount("create"); got != dropped {
		t.Fatalf("the dropping server got %d creates, want %d", got, dropped)
	}
	if s := serverStatus(t, "bbb1"); !s.Online || !s.Failing {
		t.Fatalf("bbb1: online %v failing %v, want online and failing", s.Online, s.Failing)
	}
	if out := cli(t, "servers", "list"); !strings.Contains(out, "id: bbb1\n") || !strings.Contains(out, "\tenabled, failing\n") {
		t.Fatalf("servers list does not show bbb1 failing:\n%s", out)
	}
	// Its meetings' calls are not affected by placement: a create of a
	// meeting that lives elsewhere still goes there.
	mustOK(t, "create again", c.get(t, "create", createQuery("retry-0")))
}

// A copy of a meeting on a server other than the registry's (a create
// that seemed to fail there and was retried elsewhere) is ended by the
// next poll of that server while nobody is in it.
func TestEmptyCopyEndedByPoll(t *testing.T) {
	p := startPool(t, 2, "health_interval 50ms")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("twice")))
	on := p.holder("twice")
	other := p.fakes[1-on]
	resp, err := http.Get(other.SignedURL("create", "meetingID=twice&name=Twice"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(other.Meetings()) != 1 {
		t.Fatal("the copy was not created")
	}
	eventually(t, "the copy is ended", func() bool { return len(other.Meetings()) == 0 })
	if p.holder("twice") != on {
		t.Fatal("the meeting itself was ended")
	}
	mustOK(t, "the meeting", c.get(t, "getMeetingInfo", "meetingID=twice"))
}
