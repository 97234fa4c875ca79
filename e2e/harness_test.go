// Package e2e runs a real Caddy (in-process, through caddytest) with the
// bbb_balance module in front of fake BBB servers over real HTTP.
// caddytest's admin endpoint is fixed at localhost:2999, so these tests run
// one after another in this one package.
package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"

	_ "github.com/bbb-balance/bbb_balance"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

const (
	httpPort = 9080
	lbSecret = "lb-secret-for-tests"
)

var base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)

// pool is a running balancer in front of fake BBB servers.
type pool struct {
	t      *testing.T
	fakes  []*bbbtest.Server
	tester *caddytest.Tester
	db     string
	extra  string // more lines inside bbb_balance { }
}

// startPool starts n fake BBB servers and loads a Caddy config for them.
func startPool(t *testing.T, n int, extra string) *pool {
	t.Helper()
	p := &pool{t: t, tester: caddytest.NewTester(t), db: filepath.Join(t.TempDir(), "bbb.sqlite"), extra: extra}
	for i := 0; i < n; i++ {
		f, err := bbbtest.New(bbbtest.Options{Secret: fmt.Sprintf("fake-secret-%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		p.fakes = append(p.fakes, f)
	}
	p.load(p.caddyfile())
	return p
}

func (p *pool) caddyfile() string {
	var servers strings.Builder
	for i, f := range p.fakes {
		fmt.Fprintf(&servers, "\t\tserver bbb%d %s {\n\t\t\tsecret %s\n\t\t}\n", i+1, f.URL(), f.Secret())
	}
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %d
	https_port 9443
	auto_https off
	skip_install_trust
}

:%d {
	bbb_balance {
		secret %s
		database %s
		health_interval 1h
%s
%s	}
	respond "not the API" 404
}
`, httpPort, httpPort, lbSecret, p.db, p.extra, servers.String())
}

func (p *pool) load(caddyfile string) {
	p.t.Helper()
	p.tester.InitServer(caddyfile, "caddyfile")
	if p.t.Failed() {
		p.t.FailNow()
	}
}

// fakeOf returns the index of the fake whose URL is a prefix of u.
func (p *pool) fakeOf(u string) int {
	for i, f := range p.fakes {
		if strings.HasPrefix(u, f.URL()) {
			return i
		}
	}
	return -1
}

// holder returns the index of the fake that runs meetingID, or -1.
func (p *pool) holder(meetingID string) int {
	found := -1
	for i, f := range p.fakes {
		for _, m := range f.Meetings() {
			if m == meetingID {
				if found >= 0 {
					p.t.Fatalf("meeting %s runs on fake %d and fake %d", meetingID, found, i)
				}
				found = i
			}
		}
	}
	return found
}

// apiCalls returns the calls a fake got from front-ends through the
// balancer, leaving out the poller's getMeetings and index.
func apiCalls(f *bbbtest.Server) []bbbtest.Call {
	var out []bbbtest.Call
	for _, c := range f.Calls() {
		if c.Name != "getMeetings" && c.Name != "index" {
			out = append(out, c)
		}
	}
	return out
}

// client signs calls as a front-end does.
type client struct {
	secret string
	alg    bbb.Algorithm
	http   *http.Client
}

func newClient() *client {
	return &client{secret: lbSecret, alg: bbb.SHA1, http: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) url(call, query string) string {
	return base + "/bigbluebutton/api/" + call + "?" + bbb.Sign(c.alg, call, query, c.secret)
}

// answer is what the tests read of an XML answer.
type answer struct {
	ReturnCode       string `xml:"returncode"`
	MessageKey       string `xml:"messageKey"`
	Message          string `xml:"message"`
	MeetingID        string `xml:"meetingID"`
	Running          bool   `xml:"running"`
	ParticipantCount int    `xml:"participantCount"`
	ModeratorPW      string `xml:"moderatorPW"`
	Meetings         []struct {
		MeetingID string `xml:"meetingID"`
	} `xml:"meetings>meeting"`
	Raw string `xml:"-"`
}

func (c *client) do(t *testing.T, req *http.Request) (*http.Response, answer) {
	t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a answer
	a.Raw = string(body)
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		if err := xml.Unmarshal(body, &a); err != nil {
			t.Fatalf("%s: unreadable XML %q: %v", req.URL, body, err)
		}
	}
	return resp, a
}

func (c *client) get(t *testing.T, call, query string) answer {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.url(call, query), nil)
	resp, a := c.do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s?%s: HTTP %d %s", call, query, resp.StatusCode, a.Raw)
	}
	return a
}

// mustOK fails the test unless the answer is SUCCESS.
func mustOK(t *testing.T, what string, a answer) answer {
	t.Helper()
	if a.ReturnCode != bbb.Success {
		t.Fatalf("%s: %s %s %s", what, a.ReturnCode, a.MessageKey, a.Message)
	}
	return a
}

func mustFail(t *testing.T, what string, a answer, key string) {
	t.Helper()
	if a.ReturnCode != bbb.Failed || a.MessageKey != key {
		t.Fatalf("%s: got %s/%s (%s), want FAILED/%s", what, a.ReturnCode, a.MessageKey, a.Message, key)
	}
}

// adminGet decodes a JSON answer of Caddy's admin endpoint.
func adminGet(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get("http://localhost:2999" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

// serverStatus returns the balancer's view of server id.
func serverStatus(t *testing.T, id string) balancer.ServerStatus {
	t.Helper()
	var s balancer.ServerStatus
	adminGet(t, "/bbb/servers/"+id, &s)
	return s
}

// registry returns the keys of the meeting registry.
func registry(t *testing.T) map[string]string {
	t.Helper()
	var list []balancer.MeetingRecord
	adminGet(t, "/bbb/meetings", &list)
	out := map[string]string{}
	for _, m := range list {
		out[m.Key] = m.ServerID
	}
	return out
}

// eventually waits for cond, which the poller makes true in its own time;
// the deadline only stops a test that would otherwise hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adminServers lists the servers as the admin API shows them, by id.
func adminServers(t *testing.T) map[string]balancer.ServerStatus {
	t.Helper()
	var list []balancer.ServerStatus
	adminGet(t, "/bbb/servers", &list)
	out := map[string]balancer.ServerStatus{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// newFake starts one more fake BBB server, outside the pool.
func newFake(t *testing.T, secret string) *bbbtest.Server {
	t.Helper()
	f, err := bbbtest.New(bbbtest.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}
