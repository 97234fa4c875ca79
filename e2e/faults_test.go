package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// Every way a BBB server can fail, against every call that reaches a
// server: the balancer answers a BBB answer (HTTP 200, XML with a
// returncode) or the join redirect, never a 5xx and never a hang.
func TestFaultMatrix(t *testing.T) {
	p := startPool(t, 1, "timeout 300ms\n\t\tgetmeetings_timeout 300ms")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("fault-room")))
	f := p.fakes[0]
	f.SetSlow(5e9)

	modes := map[string]func(){
		"refused":  func() { f.SetFailure(bbbtest.FailRefuse) },
		"reset":    func() { f.SetFailure(bbbtest.FailReset) },
		"slow":     func() { f.SetFailure(bbbtest.FailSlow) },
		"http 500": func() { f.SetFailure(bbbtest.FailHTTP500) },
		"garbage":  func() { f.SetFailure(bbbtest.FailGarbage) },
		"FAILED":   func() { f.SetFailure(bbbtest.FailFailed) },
		"flapping": func() { f.SetFailure(bbbtest.FailNone); f.SetFlapping(1) },
	}
	slides := `<modules><module name="presentation"><document url="https://x.example/a.pdf"/></module></modules>`
	calls := []struct {
		call, query, body string
	}{
		{"create", createQuery("fault-room"), ""},
		{"create", createQuery("fault-new"), ""},
		{"create", createQuery("fault-slides"), slides},
		{"end", "meetingID=fault-room", ""},
		{"isMeetingRunning", "meetingID=fault-room", ""},
		{"getMeetingInfo", "meetingID=fault-room&offset=0", ""},
		{"getMeetings", "", ""},
		{"insertDocument", "meetingID=fault-room", slides},
		{"sendChatMessage", "meetingID=fault-room&message=hello", ""},
		{"join", "fullName=A&meetingID=fault-room&role=VIEWER", ""},
	}
	for name, set := range modes {
		set()
		for _, cl := range calls {
			method := http.MethodGet
			if cl.body != "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, c.url(cl.call, cl.query), strings.NewReader(cl.body))
			if cl.body != "" {
				req.Header.Set("Content-Type", "application/xml")
			}
			resp, a := c.do(t, req)
			what := fmt.Sprintf("%s with the server %s", cl.call, name)
			switch {
			case cl.call == "join":
				// A redirect, or BBB's error if an end went through before.
				if resp.StatusCode != http.StatusFound && a.ReturnCode != bbb.Failed {
					t.Errorf("%s: HTTP %d %s", what, resp.StatusCode, a.Raw)
				}
			case resp.StatusCode != http.StatusOK:
				t.Errorf("%s: HTTP %d", what, resp.StatusCode)
			case a.ReturnCode != bbb.Success && a.ReturnCode != bbb.Failed:
				t.Errorf("%s: no returncode in %q", what, a.Raw)
			case name != "flapping" && name != "FAILED" && cl.call != "getMeetings" && a.ReturnCode == bbb.Success:
				t.Errorf("%s: SUCCESS from a server that cannot answer: %s", what, a.Raw)
			}
		}
		f.SetFlapping(0)
		f.SetFailure(bbbtest.FailNone)
		// The meeting is still there for the next mode (an end that went
		// through under flapping ended it).
		mustOK(t, "create again", c.get(t, "create", createQuery("fault-room")))
	}
}
