package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// fakeKey is the fake pool's signing key.
var fakeKey = []byte("0123456789abcdef0123456789abcdef")

func (f *fakePool) SigningKey(_ context.Context, name string) ([]byte, error) {
	if name != csrfKeyName {
		return nil, fmt.Errorf("no key %q", name)
	}
	return fakeKey, nil
}

// fakePool is a pool in memory that records the actions asked of it.
type fakePool struct {
	mu        sync.Mutex
	servers   []balancer.ServerStatus
	meetings  []manage.MeetingListing
	tenants   []Tenant
	poller    Poller
	instances []cluster.Instance
	imports   Imports
	recs      bool
	failed    []recordings.FailedImport
	failedErr error
	actions   []string // "<who>|<action> <what>"
	refuse    error    // the actions' error

	serverReads, meetingReads int
}

func (f *fakePool) Servers() []balancer.ServerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serverReads++
	return append([]balancer.ServerStatus(nil), f.servers...)
}

func (f *fakePool) Meetings() []manage.MeetingListing {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meetingReads++
	return append([]manage.MeetingListing(nil), f.meetings...)
}

func (f *fakePool) Tenants() []Tenant { return f.tenants }
func (f *fakePool) Poller() Poller    { return f.poller }
func (f *fakePool) Instances(context.Context) ([]cluster.Instance, error) {
	return f.instances, nil
}

func (f *fakePool) Imports() (Imports, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.imports, f.recs
}

func (f *fakePool) FailedImports(limit int) ([]recordings.FailedImport, int, error) {
	if f.failedErr != nil {
		return nil, 0, f.failedErr
	}
	return f.failed[:min(limit, len(f.failed))], len(f.failed), nil
}

func (f *fakePool) did(who manage.Who, what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, string(who)+"|"+what)
	return f.refuse
}

func (f *fakePool) SetState(_ context.Context, who manage.Who, id string, st balancer.State) (balancer.ServerStatus, error) {
	return balancer.ServerStatus{ID: id, State: st}, f.did(who, fmt.Sprintf("state %s %s", id, st))
}

func (f *fakePool) UpdateServer(_ context.Context, who manage.Who, id string, p balancer.ServerPatch) (balancer.ServerStatus, error) {
	return balancer.ServerStatus{ID: id, Weight: *p.Weight}, f.did(who, fmt.Sprintf("weight %s %g", id, *p.Weight))
}

func (f *fakePool) Panic(_ context.Context, who manage.Who, id string, keep bool) (int, error) {
	return 2, f.did(who, fmt.Sprintf("panic %s keep=%t", id, keep))
}

func (f *fakePool) RemoveServer(_ context.Context, who manage.Who, id string, force bool) (int, error) {
	return 0, f.did(who, fmt.Sprintf("remove %s force=%t", id, force))
}

func (f *fakePool) EndMeeting(_ context.Context, who manage.Who, key string) error {
	return f.did(who, "end "+key)
}

func (f *fakePool) RetryImport(_ context.Context, who manage.Who, name string) (string, error) {
	return name, f.did(who, "retry "+name)
}

func (f *fakePool) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakePool) reads() (servers, meetings int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.serverReads, f.meetingReads
}

// newFakePool is a small pool: bbb1 online, bbb2 offline, bbb3 cordoned
// and failing its calls; 30 meetings of 0 to 29 participants; a tenant at
// its meeting limit; recordings with a refused tar.
func newFakePool() *fakePool {
	now := time.Now()
	f := &fakePool{
		servers: []balancer.ServerStatus{
			{ID: "bbb1", URL: "https://bbb1.example.com/bigbluebutton/api", State: balancer.Enabled, Online: true, Weight: 1, Load: 12,
				Stats: balancer.Stats{Meetings: 20, Users: 300, Voice: 40, Videos: 12, LastPoll: now}},
			{ID: "bbb2", URL: "https://bbb2.example.com/bigbluebutton/api", State: balancer.Enabled, Weight: 1,
				Stats: balancer.Stats{LastError: `getMeetings: Get "https://bbb2.example.com/bigbluebutton/api/getMeetings": dial tcp: connection refused`, LastPoll: now}},
			{ID: "bbb3", URL: "https://bbb3.example.com/bigbluebutton/api", State: balancer.Cordoned, Online: true, Failing: true, Weight: 2, Tag: "hd",
				Stats: balancer.Stats{Meetings: 10, Users: 135, Voice: 5, Videos: 3, LastPoll: now}},
		},
		tenants:   []Tenant{{Name: "school-a", Meetings: 5, Attendees: 40, MaxMeetings: 5, MaxAttendees: 100}, {Name: "moodle", Meetings: 25, Attendees: 395}},
		poller:    Poller{Interval: 10 * time.Second, Polls: true},
		instances: []cluster.Instance{{ID: "lb1", Host: "lb1", Leases: cluster.PollerLease, Self: true}},
		recs:      true,
		imports:   Imports{Imported: 7, Failed: 1},
		failed:    []recordings.FailedImport{{Name: "x.tar", Reason: "truncated archive", Size: 10, Time: now}},
	}
	for i := 0; i < 30; i++ {
		tenant := "moodle"
		if i < 5 {
			tenant = "school-a"
		}
		key := fmt.Sprintf("%s~room-%02d", tenant, i)
		f.meetings = append(f.meetings, manage.MeetingListing{
			MeetingStatus: balancer.MeetingStatus{MeetingRecord: balancer.MeetingRecord{Key: key, MeetingID: key, ServerID: "bbb1",
				Created: now.Add(-time.Duration(i) * time.Minute), VoiceBridge: fmt.Sprintf("7%08d", i)},
				Name: fmt.Sprintf("Class %02d", i), Participants: i, Running: true},
			Tenant: tenant, MeetingID: fmt.Sprintf("room-%02d", i)})
	}
	return f
}

func newHub(t testing.TB, p Pool, c HubConfig) *Hub {
	t.Helper()
	c.Find = func() (Pool, error) { return p, nil }
	h := NewHub(c)
	t.Cleanup(h.Close)
	return h
}

func TestSnapshotContents(t *testing.T) {
	f := newFakePool()
	h := newHub(t, f, HubConfig{})
	f.mu.Lock()
	f.imports.Failed++ // a refusal since the console started
	f.mu.Unlock()
	s := h.current(0).snap

	want := Totals{Servers: 3, Online: 2, TakingMeetings: 1, Meetings: 30, Participants: 435, Voice: 45, Video: 15, Load: 12}
	if s.Totals != want {
		t.Errorf("totals %+v, want %+v", s.Totals, want)
	}
	// The largest meetings first, a page of them, out of all 30.
	if s.Meetings.Total != 30 || len(s.Meetings.Meetings) != firstPage || s.Meetings.Meetings[0].Participants != 29 ||
		s.Meetings.Meetings[0].Name != "Class 29" || s.Meetings.Meetings[firstPage-1].Participants != 29-firstPage+1 {
		t.Errorf("meetings page: total %d, %d shown, first %+v", s.Meetings.Total, len(s.Meetings.Meetings), s.Meetings.Meetings[0])
	}
	var texts []string
	for _, p := range s.Problems {
		texts = append(texts, p.Level+": "+p.Text)
	}
	for _, w := range []string{
		"error: bbb2 is offline: connection refused.",
		"warning: bbb3 failed calls lately",
		"warning: Tenant school-a is at its limit of 5 meetings",
		"warning: 1 recording(s) failed to import in the last minute.",
	} {
		if !strings.Contains(strings.Join(texts, "\n"), w) {
			t.Errorf("problems lack %q:\n%s", w, strings.Join(texts, "\n"))
		}
	}
	if s.Problems[0].Level != "error" || s.Problems[0].Server != "bbb2" {
		t.Errorf("the worst is not first: %+v", s.Problems)
	}
	if r := s.Recordings; r == nil || r.FailedTotal != 1 || r.FailedList[0].Reason != "truncated archive" || len(r.PerBucket) != 12 {
		t.Errorf("recordings %+v", r)
	}
	if p := s.Poller; !p.Polls || p.IntervalSeconds != 10 || len(p.Instances) != 1 || p.LastPoll.IsZero() {
		t.Errorf("poller %+v", p)
	}

	// The JSON the page reads: no secret can be in it (ServerStatus has
	// none), and the names it uses are there.
	raw := h.current(0).json
	for _, key := range []string{`"totals"`, `"taking_meetings"`, `"problems"`, `"servers"`, `"last_error"`, `"meetings"`, `"voice_bridge"`,
		`"tenants"`, `"max_meetings"`, `"recordings"`, `"failed_list"`, `"poller"`, `"instances"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("snapshot JSON lacks %s", key)
		}
	}
}

// A pool in trouble says so first: no server takes meetings, nobody polls.
func TestSnapshotProblemsOfAPoolInTrouble(t *testing.T) {
	f := newFakePool()
	f.servers[0].Online = false
	f.servers[0].LastError = "timeout"
	f.poller = Poller{Interval: 10 * time.Second, Shared: true}
	f.instances = []cluster.Instance{{ID: "lb1", Self: true}, {ID: "lb2"}}
	s := newHub(t, f, HubConfig{}).current(0).snap
	if s.Problems[0].Text != "No server takes new meetings: every create of a new meeting fails." {
		t.Errorf("first problem %+v", s.Problems[0])
	}
	found := false
	for _, p := range s.Problems {
		found = found || p.Text == "No instance polls the servers: their health and load are not updated."
	}
	if !found {
		t.Errorf("nobody polls, and the summary does not say: %+v", s.Problems)
	}

	// A failed directory that cannot be read says so, and lists nothing.
	f = newFakePool()
	f.failedErr = fmt.Errorf("open /var/bigbluebutton/failed: permission denied")
	s = newHub(t, f, HubConfig{}).current(0).snap
	if r := s.Recordings; r.FailedError == "" || r.FailedList == nil || len(r.FailedList) != 0 ||
		!strings.Contains(s.Problems[len(s.Problems)-1].Text, "permission denied") {
		t.Errorf("unreadable failed directory: %+v, %+v", r, s.Problems)
	}

	// No pool at all: the page says why.
	h := NewHub(HubConfig{Find: func() (Pool, error) { return nil, fmt.Errorf("no bbb_balance handler is running") }})
	defer h.Close()
	s = h.current(0).snap
	if s.Error != "no bbb_balance handler is running" || len(s.Problems) != 1 || s.Servers == nil {
		t.Errorf("without a pool: %+v", s)
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory(3)
	sample := func(loads map[string]float64) {
		var list []balancer.ServerStatus
		for _, id := range []string{"a", "b", "c"} {
			if l, ok := loads[id]; ok {
				list = append(list, balancer.ServerStatus{ID: id, Load: l})
			}
		}
		h.Add(list)
	}
	sample(map[string]float64{"a": 1, "b": 10})
	sample(map[string]float64{"a": 2, "b": 20})
	sample(map[string]float64{"a": 3.14159, "c": 5})
	sample(map[string]float64{"a": 4, "c": 6})
	if got := h.Series("a"); !reflect.DeepEqual(got, []float64{2, 3.1, 4}) {
		t.Errorf("a: %v (the last 3, oldest first, a tenth)", got)
	}
	if got := h.Series("b"); got != nil {
		t.Errorf("b left the pool and kept its history: %v", got)
	}
	if got := h.Series("c"); !reflect.DeepEqual(got, []float64{5, 6}) {
		t.Errorf("c: %v", got)
	}
	if all := h.All(); len(all) != 2 {
		t.Errorf("all: %v", all)
	}
}

func TestImportsPerBucket(t *testing.T) {
	now := time.Now()
	at := func(minutesAgo int, imported int64) importSample {
		return importSample{at: now.Add(-time.Duration(minutesAgo) * time.Minute), Imports: Imports{Imported: imported}}
	}
	got := perBucket([]importSample{at(59, 0), at(58, 3), at(30, 5), at(1, 9), at(0, 2)}, now, time.Hour)
	want := make([]int64, 12)
	want[0], want[6], want[11] = 3, 2, 4+2 // the last: 4 more, then a restart that counted 2
	if !reflect.DeepEqual(got, want) {
		t.Errorf("per bucket %v, want %v", got, want)
	}
}

func TestSearch(t *testing.T) {
	h := newHub(t, newFakePool(), HubConfig{})
	for q, want := range map[string]int{
		"class 07":  1,  // a name, any case
		"ROOM-1":    10, // the front-end's meetingIDs room-10 .. room-19
		"school-a":  5,  // a tenant
		"700000003": 1,  // a voice bridge
		"bbb1":      30,
		"nowhere":   0,
		"":          30,
	} {
		pg, err := h.Search(q)
		if err != nil {
			t.Fatal(err)
		}
		if pg.Total != want || len(pg.Meetings) != min(want, searchPage) || pg.Query != q {
			t.Errorf("search %q: %d found, %d listed; want %d", q, pg.Total, len(pg.Meetings), want)
		}
	}
}

// testConsole serves a console over a fake pool; user is who the
// requests are authenticated as.
func testConsole(t *testing.T, readOnly bool, c HubConfig) (*fakePool, *Hub, *httptest.Server) {
	t.Helper()
	f := newFakePool()
	if c.Tick == 0 {
		c.Tick = 20 * time.Millisecond
	}
	hub := newHub(t, f, c)
	h, err := NewHandler(HandlerConfig{Hub: hub, Prefix: "/console", ReadOnly: readOnly,
		User: func(r *http.Request) string { u, _, _ := r.BasicAuth(); return u }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return f, hub, srv
}

// send sends req as alice, and reads the answer.
func send(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	req.SetBasicAuth("alice", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return send(t, req)
}

func post(t *testing.T, srv *httptest.Server, action, body string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/actions/"+action, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, b := send(t, req)
	return resp.StatusCode, b
}

func TestPageAndAssets(t *testing.T) {
	_, _, srv := testConsole(t, false, HubConfig{})
	resp, page := get(t, srv.URL+"/console/")
	if resp.StatusCode != 200 || !strings.Contains(page, `<meta name="csrf-token" content="`+token(fakeKey, "alice")+`">`) ||
		!strings.Contains(page, "Signed in as <strong>alice</strong>") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("page: %d %s\n%s", resp.StatusCode, resp.Header, page)
	}
	for name, ctype := range map[string]string{"console.js": "text/javascript", "console.css": "text/css"} {
		if !strings.Contains(page, "assets/"+name+"?v=") {
			t.Errorf("the page does not load %s", name)
		}
		resp, body := get(t, srv.URL+"/console/assets/"+name)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 || resp.Header.Get("ETag") == "" {
			t.Errorf("%s: %d %s, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for path, want := range map[string]int{
		"/console/assets/index.html": 404, // the template is not a file
		"/console/nothing":           404,
		"/consoles":                  404,
	} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(srv.URL + "/console"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Errorf("the prefix without its slash: %v %v", resp, err)
	}
}

func TestActionsNeedTokenAndSameOrigin(t *testing.T) {
	f, _, srv := testConsole(t, false, HubConfig{})
	host := strings.TrimPrefix(srv.URL, "http://")
	good := map[string]string{CSRFHeader: token(fakeKey, "alice"), "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	for what, header := range map[string]map[string]string{
		"no token":                  with(CSRFHeader, ""),
		"another user's token":      with(CSRFHeader, token(fakeKey, "mallory")),
		"another pool's token":      with(CSRFHeader, token([]byte("another pool's key, 32 bytes...."), "alice")),
		"a cross-site request":      with("Sec-Fetch-Site", "cross-site"),
		"a same-site request":       with("Sec-Fetch-Site", "same-site"),
		"no Sec-Fetch-Site, Origin": with("Sec-Fetch-Site", ""),
		"another Origin":            with("Sec-Fetch-Site", ""),
	} {
		if what == "another Origin" {
			header["Origin"] = "https://evil.example.com"
		}
		code, body := post(t, srv, "cordon", `{"server":"bbb1"}`, header)
		if code != http.StatusForbidden || !strings.Contains(body, "refused") {
			t.Errorf("%s: %d %s", what, code, body)
		}
	}
	if got := f.done(); len(got) != 0 {
		t.Fatalf("a refused request acted: %v", got)
	}

	// The page's token, from the page's origin: done, and logged with the
	// user. The token depends only on the user and the pool's key (kept in
	// its database), so a page served before a restart, or by another
	// instance sharing the database, acts all the same.
	code, body := post(t, srv, "cordon", `{"server":"bbb1"}`, good)
	if code != 200 || !strings.Contains(body, "bbb1 is now cordoned") {
		t.Fatalf("cordon: %d %s", code, body)
	}
	origin := with("Sec-Fetch-Site", "")
	origin["Origin"] = "http://" + host
	if code, body := post(t, srv, "weight", `{"server":"bbb3","weight":1.5}`, origin); code != 200 {
		t.Fatalf("weight with Origin alone: %d %s", code, body)
	}
	for action, body := range map[string]string{
		"panic":  `{"server":"bbb2"}`,
		"remove": `{"server":"bbb2","force":true}`,
		"end":    `{"meeting":"school-a~room-01"}`,
		"retry":  `{"name":"x.tar"}`,
		"enable": `{"server":"bbb3"}`,
	} {
		if code, out := post(t, srv, action, body, good); code != 200 {
			t.Errorf("%s: %d %s", action, code, out)
		}
	}
	got := strings.Join(f.done(), "\n")
	for _, want := range []string{"state bbb1 cordoned", "weight bbb3 1.5", "panic bbb2 keep=false", "remove bbb2 force=true",
		"end school-a~room-01", "retry x.tar", "state bbb3 enabled"} {
		if !strings.Contains(got, "console user alice from 127.0.0.1:") || !strings.Contains(got, "|"+want) {
			t.Errorf("actions done:\n%s\nlack %q by alice", got, want)
		}
	}

	// Bad requests get a clear answer and do nothing.
	n := len(f.done())
	for action, body := range map[string]string{
		"cordon":  `{}`,
		"weight":  `{"server":"bbb1"}`,
		"end":     `{"server":"bbb1"}`,
		"explode": `{"server":"bbb1"}`,
		"enable":  `{"server":"bbb1","extra":1}`,
		"disable": `not json`,
	} {
		if code, out := post(t, srv, action, body, good); code != http.StatusBadRequest || !strings.Contains(out, `"error"`) {
			t.Errorf("%s %s: %d %s", action, body, code, out)
		}
	}
	if len(f.done()) != n {
		t.Errorf("a bad request acted: %v", f.done()[n:])
	}
	// The pool's refusals keep their meaning.
	f.mu.Lock()
	f.refuse = balancer.ErrNoSuchServer
	f.mu.Unlock()
	if code, out := post(t, srv, "cordon", `{"server":"bbb9"}`, good); code != http.StatusNotFound {
		t.Errorf("unknown server: %d %s", code, out)
	}
	// Only POST acts.
	if resp, _ := get(t, srv.URL+"/console/actions/cordon"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET an action: %d", resp.StatusCode)
	}
}

func TestReadOnlyShowsAndRefuses(t *testing.T) {
	f, _, srv := testConsole(t, true, HubConfig{})
	_, page := get(t, srv.URL+"/console/")
	for _, action := range []string{"data-act", `id="manage"`, `id="confirm"`, "Actions</span>"} {
		if strings.Contains(page, action) {
			t.Errorf("the read-only page has %s", action)
		}
	}
	if !strings.Contains(page, `content="true"`) || !strings.Contains(page, "read-only") {
		t.Errorf("the page does not say it is read-only")
	}
	good := map[string]string{CSRFHeader: token(fakeKey, "alice"), "Sec-Fetch-Site": "same-origin"}
	for _, action := range []string{"cordon", "panic", "end", "retry"} {
		code, body := post(t, srv, action, `{"server":"bbb1","meeting":"x","name":"x.tar"}`, good)
		if code != http.StatusForbidden || !strings.Contains(body, "read-only") {
			t.Errorf("%s: %d %s", action, code, body)
		}
	}
	if got := f.done(); len(got) != 0 {
		t.Errorf("a read-only console acted: %v", got)
	}
	// It still shows everything.
	if resp, body := get(t, srv.URL+"/console/state"); resp.StatusCode != 200 || !strings.Contains(body, `"bbb2"`) {
		t.Errorf("state: %d %s", resp.StatusCode, body)
	}
}

// event is one server-sent event.
type event struct{ name, data string }

func readEvent(t *testing.T, r *bufio.Reader) event {
	t.Helper()
	var e event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && e.name != "":
			return e
		case strings.HasPrefix(line, "event: "):
			e.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEventsStreamSnapshots(t *testing.T) {
	f, hub, srv := testConsole(t, false, HubConfig{Step: 10 * time.Millisecond})
	before, _ := f.reads()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/events", nil)
	req.SetBasicAuth("alice", "x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	// At once: the history, then the snapshot.
	if e := readEvent(t, r); e.name != "history" || !strings.Contains(e.data, `"bbb1":[12`) {
		t.Fatalf("first event %+v", e)
	}
	e := readEvent(t, r)
	var s Snapshot
	if e.name != "snapshot" || json.Unmarshal([]byte(e.data), &s) != nil || len(s.Servers) != 3 {
		t.Fatalf("second event %+v", e)
	}
	if hub.Viewers() != 1 {
		t.Errorf("%d viewers", hub.Viewers())
	}
	// A change in the pool reaches the stream.
	f.mu.Lock()
	f.servers[1].Online, f.servers[1].LastError = true, ""
	f.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e := readEvent(t, r)
		if e.name != "snapshot" {
			continue
		}
		if err := json.Unmarshal([]byte(e.data), &s); err != nil {
			t.Fatal(err)
		}
		if s.Totals.Online == 3 {
			break
		}
	}
	if s.Totals.Online != 3 {
		t.Fatalf("the change never came: %+v", s.Totals)
	}
	cancel()
	resp.Body.Close()
	awaitCond(t, "the viewer leaves", func() bool { return hub.Viewers() == 0 })

	// With nobody watching, no snapshot is built (the meetings are not
	// read), while the history keeps its samples.
	servers, meetings := f.reads()
	awaitCond(t, "two more samples", func() bool { s, _ := f.reads(); return s >= servers+2 })
	if _, m := f.reads(); m != meetings {
		t.Errorf("%d snapshots built with nobody watching", m-meetings)
	}
	if before == 0 {
		t.Error("the history took no sample at start")
	}
}

func awaitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Closing a handler (its config unloaded) ends its streams.
func TestCloseEndsStreams(t *testing.T) {
	_, hub, _ := testConsole(t, false, HubConfig{})
	h, err := NewHandler(HandlerConfig{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(h)
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent(t, r)
	h.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

// Imports made by the pool before the console's first sample count from
// the pool's start (the demo imports a recording, then someone opens the
// console): not lost because no sample saw the counter at zero.
func TestImportsBeforeTheFirstSample(t *testing.T) {
	f := newFakePool()
	f.imports = Imports{Imported: 1, Since: time.Now().Add(-time.Minute)}
	h := newHub(t, f, HubConfig{})
	h.sample(time.Now()) // the first sample sees 1 already
	s := h.current(0).snap
	if s.Recordings == nil || s.Recordings.Imported != 1 {
		t.Fatalf("imports in the window: %+v, want 1", s.Recordings)
	}
	var sum int64
	for _, n := range s.Recordings.PerBucket {
		sum += n
	}
	if sum != 1 {
		t.Fatalf("per bucket %v, want the one import in one", s.Recordings.PerBucket)
	}
	// A pool started before the window: only what the samples saw counts.
	f.mu.Lock()
	f.imports = Imports{Imported: 5, Since: time.Now().Add(-2 * time.Hour)}
	f.mu.Unlock()
	h2 := newHub(t, f, HubConfig{})
	h2.sample(time.Now())
	if s := h2.current(0).snap; s.Recordings.Imported != 0 {
		t.Fatalf("a pool older than the window: %d imports counted, want 0", s.Recordings.Imported)
	}
}
