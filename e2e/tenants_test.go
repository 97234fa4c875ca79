package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	bbbbalance "github.com/bbb-balance/bbb_balance"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// tenantClient signs as one tenant's front-end: its secret, and its path
// prefix or host.
type tenantClient struct {
	*client
	prefix, host string
}

func newTenantClient(secret, prefix, host string) *tenantClient {
	c := newClient()
	c.secret = secret
	return &tenantClient{client: c, prefix: prefix, host: host}
}

func (tc *tenantClient) urlOf(call, query string) string {
	return base + tc.prefix + "/bigbluebutton/api/" + call + "?" + bbb.Sign(tc.alg, call, query, tc.secret)
}

func (tc *tenantClient) get(t *testing.T, call, query string) answer {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tc.urlOf(call, query), nil)
	if tc.host != "" {
		req.Host = tc.host
	}
	resp, a := tc.do(t, req)
	if call == "join" && resp.StatusCode == http.StatusFound {
		a.Raw = resp.Header.Get("Location")
		return a
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s?%s: HTTP %d %s", call, query, resp.StatusCode, a.Raw)
	}
	return a
}

const tenantsConfig = `		create {
			default welcome "Hello from the pool"
			override allowStartStopRecording false
			exclude dialNumber
		}
		join {
			default userdata-bbb_auto_join_audio true
		}
		max_duration 240
		recordings %s {
			settle 1ms
		}
		tenant school-a {
			secret a-secret
			path_prefix /school-a
			max_meetings 3
			max_attendees 3
			create {
				override welcome "Hello from A"
			}
		}
		tenant school-b {
			secret b-secret
			host bbb.school-b.test
		}
		tenant school-c {
			secret c-secret
			path_prefix /school-c
			tag hd!
		}
`

// Every call of tenant A against tenant B's meetings and recordings finds
// nothing; the same meeting id lives in both tenants on one server.
func TestTenantIsolation(t *testing.T) {
	dir := t.TempDir()
	p := startPool(t, 1, fmt.Sprintf(tenantsConfig, dir))
	a := newTenantClient("a-secret", "/school-a", "")
	b := newTenantClient("b-secret", "", "bbb.school-b.test")
	pool := newTenantClient(lbSecret, "", "")

	// Secrets are per tenant.
	mustFail(t, "A's secret on B", newTenantClient("a-secret", "", "bbb.school-b.test").get(t, "getMeetings", ""), bbb.KeyChecksumError)
	mustFail(t, "B's secret on the pool", newTenantClient("b-secret", "", "").get(t, "getMeetings", ""), bbb.KeyChecksumError)

	// One meeting id, three tenants, one server.
	for _, c := range []*tenantClient{a, b, pool} {
		mustOK(t, "create room", c.get(t, "create", "meetingID=room&name=Room&moderatorPW=mp&attendeePW=ap"))
	}
	ready := newReadyReceiver(t)
	mustOK(t, "B creates only-b", b.get(t, "create", "meetingID=only-b&name=Bee&meta_bbb-recording-ready-url="+url.QueryEscape(ready.URL)))
	meetings := p.fakes[0].Meetings()
	for _, want := range []string{"room", "school-a~room", "school-b~room", "school-b~only-b"} {
		if !containsString(meetings, want) {
			t.Fatalf("the server runs %v, want %q among them", meetings, want)
		}
	}
	// Each sees its own meeting by the id it gave.
	info := a.get(t, "getMeetingInfo", "meetingID=room")
	if mustOK(t, "A's room", info).MeetingID != "room" || strings.Contains(info.Raw, "school-a~") {
		t.Fatalf("A's getMeetingInfo shows the server's id: %s", info.Raw)
	}
	if got := mustOK(t, "A getMeetings", a.get(t, "getMeetings", "")); len(got.Meetings) != 1 || got.Meetings[0].MeetingID != "room" {
		t.Fatalf("A's getMeetings: %+v", got.Meetings)
	}
	if got := mustOK(t, "B getMeetings", b.get(t, "getMeetings", "")); len(got.Meetings) != 2 {
		t.Fatalf("B's getMeetings: %+v", got.Meetings)
	}
	if got := mustOK(t, "pool getMeetings", pool.get(t, "getMeetings", "")); len(got.Meetings) != 1 || got.Meetings[0].MeetingID != "room" {
		t.Fatalf("the default tenant's getMeetings: %+v", got.Meetings)
	}
	// A default-tenant id that would be another tenant's on the servers.
	mustFail(t, "reserved id", pool.get(t, "create", "meetingID=school-a~room&name=X"), bbb.KeyValidationError)

	// B's recording.
	rec := rectest.Recording{MeetingID: "school-b~only-b", Host: "127.0.0.1", Published: true}.WithDefaults()
	spool(t, dir, rec.ID+".tar", mustTar(t, rec, "presentation"))
	var bRecs recordingsAnswer
	eventually(t, "B's recording is imported", func() bool {
		bRecs = getRecordingsAs(t, b, "meetingID=only-b")
		return len(bRecs.Recordings) == 1
	})
	if bRecs.Recordings[0].MeetingID != "only-b" || strings.Contains(bRecs.Recordings[0].Metadata.Inner, "school-b~") {
		t.Fatalf("B sees its recording under the server's id: %+v", bRecs.Recordings[0])
	}
	// B's recording plays on B's host only.
	asset := base + "/presentation/" + rec.ID + "/shapes/1.svg"
	for host, want := range map[string]int{"bbb.school-b.test": http.StatusOK, "": http.StatusNotFound, "school-a.example.com": http.StatusNotFound} {
		req, _ := http.NewRequest(http.MethodGet, asset, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("B's recording on host %q: HTTP %d, want %d", host, resp.StatusCode, want)
		}
	}
	// B's recording-ready callback: B's secret, B's meeting id.
	eventually(t, "B's recording-ready callback", func() bool { return len(ready.got()) > 0 })
	if claims := verifyHS256(t, ready.got()[0], "b-secret"); claims["meeting_id"] != "only-b" || claims["record_id"] != rec.ID {
		t.Fatalf("B's callback claims %v", claims)
	}

	// The matrix: A (and the default tenant) against B's meeting and recording.
	for _, c := range []*tenantClient{a, pool} {
		who := "A"
		if c == pool {
			who = "the default tenant"
		}
		mustFail(t, who+" getMeetingInfo only-b", c.get(t, "getMeetingInfo", "meetingID=only-b"), bbb.KeyNotFound)
		mustFail(t, who+" end only-b", c.get(t, "end", "meetingID=only-b&password=mp"), bbb.KeyNotFound)
		if r := c.get(t, "isMeetingRunning", "meetingID=only-b"); r.Running {
			t.Fatalf("%s: only-b is running", who)
		}
		mustFail(t, who+" join only-b", c.get(t, "join", "meetingID=only-b&fullName=Eve&role=MODERATOR"), bbb.KeyInvalidMeetingID)
		mustFail(t, who+" sendChatMessage only-b", c.get(t, "sendChatMessage", "meetingID=only-b&message=hi"), "meetingNotFound")
		for _, q := range []string{"meetingID=only-b", "recordID=" + rec.ID, "", "meetingID=school-b~only-b", "meta_bbb-origin=greenlight"} {
			if got := getRecordingsAs(t, c, q); len(got.Recordings) != 0 {
				t.Fatalf("%s getRecordings?%s sees B's recording", who, q)
			}
		}
		mustFail(t, who+" publish", c.get(t, "publishRecordings", "recordID="+rec.ID+"&publish=false"), bbb.KeyNotFound)
		mustFail(t, who+" update", c.get(t, "updateRecordings", "recordID="+rec.ID+"&meta_x=y"), bbb.KeyNotFound)
		mustFail(t, who+" delete", c.get(t, "deleteRecordings", "recordID="+rec.ID), bbb.KeyNotFound)
		if tracks := c.get(t, "getRecordingTextTracks", "recordID="+rec.ID); !strings.Contains(tracks.Raw, bbb.KeyNoRecordings) {
			t.Fatalf("%s getRecordingTextTracks: %s", who, tracks.Raw)
		}
	}
	// B's meeting and recording are untouched.
	mustOK(t, "B's only-b still there", b.get(t, "getMeetingInfo", "meetingID=only-b"))
	if got := getRecordingsAs(t, b, "recordID="+rec.ID); len(got.Recordings) != 1 || !got.Recordings[0].Published {
		t.Fatal("B's recording was changed by another tenant")
	}
	// B ends its room; A's and the pool's rooms stay.
	mustOK(t, "B ends room", b.get(t, "end", "meetingID=room&password=mp"))
	mustOK(t, "A's room", a.get(t, "getMeetingInfo", "meetingID=room"))
	mustOK(t, "the pool's room", pool.get(t, "getMeetingInfo", "meetingID=room"))
}

// Parameter rules, the maximum duration, required tags and limits.
func TestTenantRulesAndLimits(t *testing.T) {
	p := startPool(t, 1, fmt.Sprintf(tenantsConfig, t.TempDir()))
	a := newTenantClient("a-secret", "/school-a", "")
	pool := newTenantClient(lbSecret, "", "")
	fake := p.fakes[0]

	mustOK(t, "A create", a.get(t, "create", "meetingID=r1&name=R1&dialNumber=123&allowStartStopRecording=true&duration=1000"))
	mustOK(t, "pool create", pool.get(t, "create", "meetingID=r1&name=R1&welcome=Mine&duration=30"))
	var creates []url.Values
	for _, c := range apiCalls(fake) {
		if c.Name == "create" {
			v, _ := url.ParseQuery(c.RawQuery)
			creates = append(creates, v)
		}
	}
	if len(creates) != 2 {
		t.Fatalf("%d creates reached the server", len(creates))
	}
	for k, want := range map[string]string{"welcome": "Hello from A", "allowStartStopRecording": "false", "dialNumber": "", "duration": "240", "meetingID": "school-a~r1"} {
		if got := creates[0].Get(k); got != want {
			t.Errorf("A's create: %s=%q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"welcome": "Mine", "allowStartStopRecording": "false", "duration": "30", "meetingID": "r1"} {
		if got := creates[1].Get(k); got != want {
			t.Errorf("the pool's create: %s=%q, want %q", k, got, want)
		}
	}
	// Join rules.
	loc := a.get(t, "join", "meetingID=r1&fullName=Ann&role=VIEWER").Raw
	if u, err := url.Parse(loc); err != nil || u.Query().Get("userdata-bbb_auto_join_audio") != "true" || u.Query().Get("meetingID") != "school-a~r1" {
		t.Fatalf("A's join went to %q", loc)
	}
	// A required tag no server has.
	mustFail(t, "C needs an hd server", newTenantClient("c-secret", "/school-c", "").get(t, "create", "meetingID=r&name=R"), bbb.KeyServerTagUnavailable)

	// Attendees: one join above, two more, then the limit of 3.
	for range 2 {
		if loc := a.get(t, "join", "meetingID=r1&fullName=Ann&role=VIEWER").Raw; !strings.HasPrefix(loc, fake.URL()) {
			t.Fatalf("join under the limit: %s", loc)
		}
	}
	mustFail(t, "4th attendee", a.get(t, "join", "meetingID=r1&fullName=Dan&role=VIEWER"), bbb.KeyMaxParticipants)
	// Meetings: r1 plus two more, then the limit of 3; an existing one still answers.
	mustOK(t, "A r2", a.get(t, "create", "meetingID=r2&name=R2"))
	mustOK(t, "A r3", a.get(t, "create", "meetingID=r3&name=R3"))
	mustFail(t, "A r4", a.get(t, "create", "meetingID=r4&name=R4"), "maxMeetingsReached")
	mustOK(t, "A re-creates r3", a.get(t, "create", "meetingID=r3&name=R3"))
	// The pool is not limited by A's limits.
	mustOK(t, "pool r2", pool.get(t, "create", "meetingID=r2&name=R2"))

	for series, want := range map[string]float64{
		`caddy_bbb_tenant_limit_hits_total{limit="meetings",tenant="school-a"}`:  1,
		`caddy_bbb_tenant_limit_hits_total{limit="attendees",tenant="school-a"}`: 1,
		`caddy_bbb_tenant_meetings{tenant="school-a"}`:                           3,
		`caddy_bbb_tenant_attendees{tenant="school-a"}`:                          3,
		`caddy_bbb_tenant_meetings{tenant="school-b"}`:                           0,
	} {
		if got := metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

func getRecordingsAs(t *testing.T, c *tenantClient, query string) recordingsAnswer {
	t.Helper()
	a := c.get(t, "getRecordings", query)
	return parseRecordings(t, query, a)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Tenants added, changed and removed at run time work at once, survive a
// reload, and never show their secrets.
func TestTenantAdmin(t *testing.T) {
	p := startPool(t, 1, fmt.Sprintf(tenantsConfig, t.TempDir()))
	d := newTenantClient("d-secret", "/school-d", "")
	// Before it exists its path is not the API.
	notTheAPI(t, "an unknown prefix", d.urlOf("getMeetings", ""))

	if code, body := adminDo(t, "POST", "/bbb/tenants", map[string]any{"name": "school-d", "secrets": []string{"d-secret"}, "path_prefix": "/school-d", "max_meetings": 1}); code != http.StatusCreated || strings.Contains(body, "d-secret") {
		t.Fatalf("add: %d %s", code, body)
	}
	mustOK(t, "D creates", d.get(t, "create", "meetingID=x&name=Xx"))
	mustFail(t, "D's limit", d.get(t, "create", "meetingID=y&name=Yy"), "maxMeetingsReached")
	if code, body := adminDo(t, "PATCH", "/bbb/tenants/school-d", map[string]any{"max_meetings": 5}); code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	mustOK(t, "D under its new limit", d.get(t, "create", "meetingID=y&name=Yy"))
	// Mistakes are refused and change nothing.
	for _, tc := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/bbb/tenants", map[string]any{"name": "school-d", "secrets": []string{"x"}}, http.StatusConflict},
		{"POST", "/bbb/tenants", map[string]any{"name": "Bad Name", "secrets": []string{"x"}}, http.StatusBadRequest},
		{"POST", "/bbb/tenants", map[string]any{"name": "e", "secrets": []string{"x"}, "path_prefix": "/school-a"}, http.StatusBadRequest},
		{"PATCH", "/bbb/tenants/nope", map[string]any{"max_meetings": 1}, http.StatusNotFound},
		{"DELETE", "/bbb/tenants/school-d", nil, http.StatusConflict}, // it has meetings
	} {
		if code, body := adminDo(t, tc.method, tc.path, tc.body); code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}
	// A reload keeps run-time changes; removing a configured tenant sticks.
	if code, body := adminDo(t, "DELETE", "/bbb/tenants/school-c", nil); code != http.StatusOK {
		t.Fatalf("remove school-c: %d %s", code, body)
	}
	p.load(p.caddyfile())
	mustOK(t, "D after a reload", d.get(t, "getMeetingInfo", "meetingID=y"))
	notTheAPI(t, "a removed tenant's prefix", newTenantClient("c-secret", "/school-c", "").urlOf("getMeetings", ""))

	var list []struct {
		Name     string   `json:"name"`
		Secrets  []string `json:"secrets"`
		Source   string   `json:"source"`
		Meetings int      `json:"meetings"`
	}
	adminGet(t, "/bbb/tenants", &list)
	got := map[string]string{}
	for _, x := range list {
		got[x.Name] = fmt.Sprintf("%s/%d", x.Source, x.Meetings)
		for _, s := range x.Secrets {
			if s != "********" {
				t.Fatalf("tenant %s shows a secret", x.Name)
			}
		}
	}
	if fmt.Sprint(got) != "map[school-a:config/0 school-b:config/0 school-d:admin/2]" {
		t.Fatalf("tenants: %v", got)
	}
	out := cli(t, "tenants", "list")
	if !strings.Contains(out, "school-d") || !strings.Contains(out, "admin") || strings.Contains(out, "d-secret") {
		t.Fatalf("caddy bbb tenants list:\n%s", out)
	}
	if code, _ := adminDo(t, "DELETE", "/bbb/tenants/school-d?force=true", nil); code != http.StatusOK {
		t.Fatal("forced removal refused")
	}
	notTheAPI(t, "a removed tenant's prefix", d.urlOf("getMeetings", ""))
}

// notTheAPI checks that u is passed on to the site's next handler: no
// tenant claims its path.
func notTheAPI(t *testing.T, what, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%s: HTTP %d, want the site's 404", what, resp.StatusCode)
	}
}

// The default front-end names other tenants' meetings and recordings by
// their server-side ids ("school-b~X"), spelled every way a client can,
// and a removed tenant's too: every call answers as for an unknown
// meeting or recording, and no server hears of it.
func TestTenantScopedIDsFromTheDefaultFrontEnd(t *testing.T) {
	dir := t.TempDir()
	p := startPool(t, 1, fmt.Sprintf(tenantsConfig, dir))
	fake := p.fakes[0]
	b := newTenantClient("b-secret", "", "bbb.school-b.test")
	pool := newTenantClient(lbSecret, "", "")

	mustOK(t, "B creates xx", b.get(t, "create", "meetingID=xx&name=Bee&moderatorPW=mp&attendeePW=ap"))
	mustOK(t, "the pool creates xx", pool.get(t, "create", "meetingID=xx&name=Pool&moderatorPW=mp&attendeePW=ap"))
	// A tenant that creates yy and is removed while yy runs.
	mustAdmin(t, http.StatusCreated, "POST", "/bbb/tenants", map[string]any{"name": "school-d", "secrets": []string{"d-secret"}, "path_prefix": "/school-d"})
	mustOK(t, "D creates yy", newTenantClient("d-secret", "/school-d", "").get(t, "create", "meetingID=yy&name=Dee"))
	mustAdmin(t, http.StatusOK, "DELETE", "/bbb/tenants/school-d?force=true", nil)
	// Recordings of B's xx and of the removed tenant's yy (imported after
	// its removal).
	recB := rectest.Recording{MeetingID: "school-b~xx", Host: "127.0.0.1", Published: true}.WithDefaults()
	recD := rectest.Recording{MeetingID: "school-d~yy", Host: "127.0.0.1", Published: true}.WithDefaults()
	for _, r := range []rectest.Recording{recB, recD} {
		spool(t, dir, r.ID+".tar", mustTar(t, r, "presentation"))
	}
	type listing struct{ Recordings []bbbbalance.RecordingInfo }
	eventually(t, "both recordings imported", func() bool {
		var all listing
		adminGet(t, "/bbb/recordings", &all)
		return len(all.Recordings) == 2
	})
	var dRecs listing
	adminGet(t, "/bbb/recordings?tenant=school-d", &dRecs)
	if len(dRecs.Recordings) != 1 || dRecs.Recordings[0].MeetingID != "yy" {
		t.Fatalf("the removed tenant's recording is listed as %+v, want school-d's yy", dRecs)
	}

	before := len(apiCalls(fake))
	foreign := []string{
		"school-b~xx", "school-b%7Exx", "school-b%7exx", "%73chool-b~xx", "school-b~xx&meetingID=xx",
		"school-d~yy", "school-d%7Eyy", "school-d~school-b~xx",
	}
	for _, id := range foreign {
		q := "meetingID=" + id
		mustFail(t, "getMeetingInfo "+id, pool.get(t, "getMeetingInfo", q), bbb.KeyNotFound)
		if r := pool.get(t, "isMeetingRunning", q); r.ReturnCode != bbb.Success || r.Running {
			t.Fatalf("isMeetingRunning %s: %s", id, r.Raw)
		}
		mustFail(t, "join "+id, pool.get(t, "join", q+"&fullName=Eve&role=MODERATOR"), bbb.KeyInvalidMeetingID)
		mustFail(t, "end "+id, pool.get(t, "end", q+"&password=mp"), bbb.KeyNotFound)
		mustFail(t, "sendChatMessage "+id, pool.get(t, "sendChatMessage", q+"&message=hi"), "meetingNotFound")
		mustFail(t, "create "+id, pool.get(t, "create", q+"&name=Evil"), bbb.KeyValidationError)
		req, _ := http.NewRequest(http.MethodPost, pool.urlOf("insertDocument", q), strings.NewReader(`<modules><module name="presentation"><document url="https://example.com/x.pdf"/></module></modules>`))
		req.Header.Set("Content-Type", "application/xml")
		_, a := pool.do(t, req)
		mustFail(t, "insertDocument "+id, a, bbb.KeyNotFound)
		if got := getRecordingsAs(t, pool, q); len(got.Recordings) != 0 {
			t.Fatalf("getRecordings?%s: %+v", q, got.Recordings)
		}
	}
	// Other spellings are the default front-end's own ids, and unknown.
	for _, id := range []string{"School-B~xx", "SCHOOL-B~xx", "school-b%7EXX", "school-b+xx", "school-b~"} {
		q := "meetingID=" + id
		mustFail(t, "getMeetingInfo "+id, pool.get(t, "getMeetingInfo", q), bbb.KeyNotFound)
		mustFail(t, "join "+id, pool.get(t, "join", q+"&fullName=Eve&role=MODERATOR"), bbb.KeyInvalidMeetingID)
		mustFail(t, "end "+id, pool.get(t, "end", q+"&password=mp"), bbb.KeyNotFound)
	}
	if calls := apiCalls(fake); len(calls) != before {
		t.Fatalf("calls reached the server: %+v", calls[before:])
	}
	// The default front-end's list holds its own xx only.
	if got := mustOK(t, "pool getMeetings", pool.get(t, "getMeetings", "")); len(got.Meetings) != 1 || got.Meetings[0].MeetingID != "xx" {
		t.Fatalf("the default front-end's getMeetings: %+v", got.Meetings)
	}
	// Recordings by their ids: none is the default front-end's.
	for _, r := range []rectest.Recording{recB, recD} {
		if got := getRecordingsAs(t, pool, "recordID="+r.ID); len(got.Recordings) != 0 {
			t.Fatalf("getRecordings recordID=%s: %+v", r.ID, got.Recordings)
		}
		mustFail(t, "publish "+r.ID, pool.get(t, "publishRecordings", "recordID="+r.ID+"&publish=false"), bbb.KeyNotFound)
		mustFail(t, "update "+r.ID, pool.get(t, "updateRecordings", "recordID="+r.ID+"&meta_x=y"), bbb.KeyNotFound)
		mustFail(t, "delete "+r.ID, pool.get(t, "deleteRecordings", "recordID="+r.ID), bbb.KeyNotFound)
		if tracks := pool.get(t, "getRecordingTextTracks", "recordID="+r.ID); !strings.Contains(tracks.Raw, bbb.KeyNoRecordings) {
			t.Fatalf("getRecordingTextTracks %s: %s", r.ID, tracks.Raw)
		}
	}
	if got := getRecordingsAs(t, pool, ""); len(got.Recordings) != 0 {
		t.Fatalf("the default front-end lists %+v", got.Recordings)
	}
	// The removed tenant's recording plays nowhere; B's on B's host only.
	for u, want := range map[string]int{
		base + "/presentation/" + recD.ID + "/shapes/1.svg": http.StatusNotFound,
		base + "/presentation/" + recB.ID + "/shapes/1.svg": http.StatusNotFound,
	} {
		resp, body := fetch(t, http.MethodGet, u, nil)
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d %.80s, want %d", u, resp.StatusCode, body, want)
		}
	}
	// B's meeting and the removed tenant's are untouched on the server.
	for _, id := range []string{"school-b~xx", "school-d~yy", "xx"} {
		if !containsString(fake.Meetings(), id) {
			t.Fatalf("%s no longer runs: %v", id, fake.Meetings())
		}
	}
	mustOK(t, "B's xx", b.get(t, "getMeetingInfo", "meetingID=xx"))

	// The operator sees tenants and front-end ids apart, and filters.
	var all, onlyB, onlyDefault []bbbbalance.MeetingListing
	adminGet(t, "/bbb/meetings", &all)
	adminGet(t, "/bbb/meetings?tenant=school-b", &onlyB)
	adminGet(t, "/bbb/meetings?tenant=", &onlyDefault)
	got := map[string]string{}
	for _, m := range all {
		got[m.Key] = m.Tenant + "/" + m.MeetingID
	}
	if fmt.Sprint(got) != "map[school-b~xx:school-b/xx school-d~yy:school-d/yy xx:/xx]" {
		t.Fatalf("GET /bbb/meetings: %v", got)
	}
	if len(onlyB) != 1 || onlyB[0].Key != "school-b~xx" || len(onlyDefault) != 1 || onlyDefault[0].Key != "xx" {
		t.Fatalf("filtered: school-b %+v, default %+v", onlyB, onlyDefault)
	}
	out := cli(t, "meetings", "list", "--tenant", "school-b")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || strings.Join(strings.Fields(lines[1])[:3], " ") != "school-b xx bbb1" {
		t.Fatalf("caddy bbb meetings list --tenant school-b:\n%s", out)
	}
	// Ending by a front-end's id needs its tenant; the default front-end's
	// namespace rule holds here too.
	cliFail(t, `no meeting "school-b~xx" of the default front-end`, "meetings", "end", "school-b~xx", "--tenant", "")
	if out := cli(t, "meetings", "end", "xx", "--tenant", "school-b"); out != "meeting xx ended\n" {
		t.Fatalf("end xx of school-b: %q", out)
	}
	if containsString(fake.Meetings(), "school-b~xx") || !containsString(fake.Meetings(), "xx") {
		t.Fatalf("after ending school-b's xx the server runs %v", fake.Meetings())
	}
}
