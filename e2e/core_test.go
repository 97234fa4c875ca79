package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

func createQuery(id string) string {
	return "name=" + url.QueryEscape("Room "+id) + "&meetingID=" + url.QueryEscape(id) + "&attendeePW=ap&moderatorPW=mp&record=true"
}

func TestCreateJoinInfoEnd(t *testing.T) {
	p := startPool(t, 3, "")
	c := newClient()

	a := mustOK(t, "create", c.get(t, "create", createQuery("room-alpha")))
	if a.MeetingID != "room-alpha" {
		t.Errorf("create answered meetingID %q", a.MeetingID)
	}
	on := p.holder("room-alpha")
	if on < 0 {
		t.Fatal("no fake server got the meeting")
	}

	// join: a 302 straight to the server, signed with that server's secret.
	req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=Alice%20Doe&meetingID=room-alpha&role=MODERATOR&userID=u1"), nil)
	resp, _ := c.do(t, req)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("join: HTTP %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if p.fakeOf(loc) != on || !strings.Contains(loc, "/join?") {
		t.Fatalf("join redirects to %s, want fake %d", loc, on)
	}
	// The browser follows it; the fake checks the checksum like BBB.
	req, _ = http.NewRequest(http.MethodGet, loc, nil)
	resp, body := c.do(t, req)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "html5client") {
		t.Fatalf("fake join: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body.Raw)
	}

	info := mustOK(t, "getMeetingInfo", c.get(t, "getMeetingInfo", "meetingID=room-alpha"))
	if info.ParticipantCount != 1 || !info.Running {
		t.Errorf("getMeetingInfo: participants %d running %v", info.ParticipantCount, info.Running)
	}
	if r := mustOK(t, "isMeetingRunning", c.get(t, "isMeetingRunning", "meetingID=room-alpha")); !r.Running {
		t.Error("isMeetingRunning: false for a running meeting")
	}

	end := mustOK(t, "end", c.get(t, "end", "meetingID=room-alpha&password=mp"))
	if end.MessageKey != "sentEndMeetingRequest" {
		t.Errorf("end: %s", end.MessageKey)
	}
	mustFail(t, "getMeetingInfo after end", c.get(t, "getMeetingInfo", "meetingID=room-alpha"), "notFound")
	if r := mustOK(t, "isMeetingRunning after end", c.get(t, "isMeetingRunning", "meetingID=room-alpha")); r.Running {
		t.Error("still running after end")
	}
	// Every call reached the server with a valid checksum.
	for _, call := range p.fakes[on].Calls() {
		if !call.ChecksumOK {
			t.Errorf("fake got %s with a bad checksum: %s", call.Name, call.RawQuery)
		}
	}
}

func TestEveryParameterForwarded(t *testing.T) {
	p := startPool(t, 1, "")
	c := newClient()
	q := "meetingID=m1&name=Odd%20%26%20Name&meta_bbb-origin=greenlight&welcome=Hi+%3Cb%3Ethere%3C%2Fb%3E&duration=30&lockSettingsDisableCam=true"
	mustOK(t, "create", c.get(t, "create", q))
	calls := apiCalls(p.fakes[0])
	if len(calls) != 1 || calls[0].Name != "create" {
		t.Fatalf("fake calls: %+v", calls)
	}
	// The balancer adds its own meetingEndedURL (callbacks) and the pool's
	// voice bridge; the rest is the client's query, byte for byte.
	got, _, _ := bbb.SplitChecksum(calls[0].RawQuery)
	if rest := string(bbb.Query(got).Without("meetingEndedURL", "voiceBridge")); rest != q {
		t.Errorf("forwarded query %q, want the client's %q", rest, q)
	}
	if vb := bbb.Query(got).Get("voiceBridge"); len(vb) != 9 {
		t.Errorf("voiceBridge %q is not the pool's 9 digits", vb)
	}
	if ended := bbb.Query(got).Get("meetingEndedURL"); !strings.HasPrefix(ended, base+"/bigbluebutton/callback/meeting-ended?") {
		t.Errorf("meetingEndedURL %q is not the balancer's", ended)
	}
}

func TestCreateWithSlidesBody(t *testing.T) {
	p := startPool(t, 2, "")
	c := newClient()
	slides := `<modules><module name="presentation"><document url="https://files.example.com/deck.pdf" filename="deck.pdf"/></module></modules>`
	req, _ := http.NewRequest(http.MethodPost, c.url("create", createQuery("slides")), strings.NewReader(slides))
	req.Header.Set("Content-Type", "application/xml")
	_, a := c.do(t, req)
	mustOK(t, "create with slides", a)
	on := p.holder("slides")
	calls := apiCalls(p.fakes[on])
	if len(calls) == 0 || calls[0].Method != http.MethodPost || string(calls[0].Body) != slides {
		t.Fatalf("fake got %+v, want the slides body", calls)
	}

	// insertDocument: POST XML to the meeting's server.
	req, _ = http.NewRequest(http.MethodPost, c.url("insertDocument", "meetingID=slides"), strings.NewReader(slides))
	req.Header.Set("Content-Type", "text/xml")
	_, a = c.do(t, req)
	mustOK(t, "insertDocument", a)
	if p.fakes[on].CallCount("insertDocument") != 1 {
		t.Error("insertDocument did not reach the meeting's server")
	}
	// A GET insertDocument is not a thing.
	mustFail(t, "GET insertDocument", c.get(t, "insertDocument", "meetingID=slides"), "unsupportedRequest")
}

// A BBB 3.0 form POST: everything in the body, the checksum over call+secret.
func TestCreateFormPostEmptyQuery(t *testing.T) {
	p := startPool(t, 1, "")
	c := newClient()
	form := "name=Form%20Room&meetingID=form-room&checksum=" + bbb.Checksum(bbb.SHA256, "create", "", lbSecret)
	req, _ := http.NewRequest(http.MethodPost, base+"/bigbluebutton/api/create", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, a := c.do(t, req)
	mustOK(t, "form create", a)
	if p.holder("form-room") != 0 {
		t.Error("form create did not reach the server")
	}
	// The same body with a wrong checksum fails.
	form = "name=Form%20Room&meetingID=form-room2&checksum=" + bbb.Checksum(bbb.SHA256, "create", "", "wrong")
	req, _ = http.NewRequest(http.MethodPost, base+"/bigbluebutton/api/create", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, a = c.do(t, req)
	mustFail(t, "form create, bad checksum", a, "checksumError")
	// An unsupported content type is refused as BBB does.
	req, _ = http.NewRequest(http.MethodPost, c.url("create", createQuery("ct")), strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	_, a = c.do(t, req)
	mustFail(t, "json body", a, "unsupportedContentType")
}

// Live answers (getmeetings_max_age off): every call asks every server.
func TestGetMeetingsWithServersDown(t *testing.T) {
	p := startPool(t, 3, "getmeetings_timeout 1s\ngetmeetings_max_age off")
	c := newClient()
	for i := 0; i < 3; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("gm", i))))
	}
	for i := range p.fakes {
		if len(p.fakes[i].Meetings()) != 1 {
			t.Fatalf("3 creates over 3 idle servers: fake %d has %v", i, p.fakes[i].Meetings())
		}
	}
	if got := len(mustOK(t, "getMeetings", c.get(t, "getMeetings", "")).Meetings); got != 3 {
		t.Fatalf("getMeetings lists %d meetings, want 3", got)
	}
	p.fakes[0].SetFailure(bbbtest.FailRefuse)
	p.fakes[1].SetSlow(30e9)
	p.fakes[1].SetFailure(bbbtest.FailSlow)
	a := mustOK(t, "getMeetings with one down and one slow", c.get(t, "getMeetings", ""))
	if len(a.Meetings) != 1 || a.Meetings[0].MeetingID != p.fakes[2].Meetings()[0] {
		t.Errorf("getMeetings: %+v, want only fake 3's meeting", a.Meetings)
	}
	p.fakes[2].SetFailure(bbbtest.FailGarbage)
	a = mustOK(t, "getMeetings with none answering", c.get(t, "getMeetings", ""))
	if len(a.Meetings) != 0 || a.MessageKey != "noMeetings" {
		t.Errorf("getMeetings with nothing: %+v", a)
	}
}

func TestConcurrentCreatesOneMeeting(t *testing.T) {
	p := startPool(t, 3, "")
	c := newClient()
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, c.url("create", createQuery("busy-room")), nil)
			_, a := c.do(t, req)
			if a.ReturnCode != bbb.Success {
				errs <- a.MessageKey + " " + a.Message
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a concurrent create failed: %s", e)
	}
	on := p.holder("busy-room")
	for i, f := range p.fakes {
		if n := f.CallCount("create"); (i == on) != (n == 50) || (i != on && n != 0) {
			t.Errorf("fake %d got %d creates (meeting on fake %d)", i, n, on)
		}
	}
}

func TestBurstSpreadsEvenly(t *testing.T) {
	p := startPool(t, 3, "")
	c := newClient()
	var wg sync.WaitGroup
	for i := 0; i < 99; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, c.url("create", createQuery(fmt.Sprint("burst-", i))), nil)
			if _, a := c.do(t, req); a.ReturnCode != bbb.Success {
				t.Errorf("create %d: %s", i, a.MessageKey)
			}
		}()
	}
	wg.Wait()
	for i, f := range p.fakes {
		if n := len(f.Meetings()); n != 33 {
			t.Errorf("fake %d has %d of 99 meetings, want 33", i, n)
		}
	}
}

// The registry lives in SQLite: a config that drops the engine and one that
// brings it back reads the placements from disk.
func TestRestartKeepsMapping(t *testing.T) {
	p := startPool(t, 3, "")
	c := newClient()
	for i := 0; i < 6; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("keep-", i))))
	}
	original := p.caddyfile()
	// Another database: the engine of the first is closed.
	other := strings.Replace(original, p.db, filepath.Join(t.TempDir(), "other.sqlite"), 1)
	p.load(other)
	if a := c.get(t, "isMeetingRunning", "meetingID=keep-0"); a.Running {
		t.Fatal("a fresh database knows the meeting")
	}
	p.load(original)
	for i := 0; i < 6; i++ {
		id := fmt.Sprint("keep-", i)
		req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=Bob&meetingID="+id+"&role=VIEWER"), nil)
		resp, a := c.do(t, req)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("join %s after restart: %d %s", id, resp.StatusCode, a.Raw)
		}
		if got, want := p.fakeOf(resp.Header.Get("Location")), p.holder(id); got != want {
			t.Errorf("join %s goes to fake %d, meeting is on %d", id, got, want)
		}
	}
	if _, err := os.Stat(p.db); err != nil {
		t.Error(err)
	}
}

// Creating a meeting again after its server was disabled places it anew.
func TestDisabledServerMeetingReplaced(t *testing.T) {
	p := startPool(t, 2, "")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("moving")))
	on := p.holder("moving")
	cfg := p.caddyfile()
	marker := fmt.Sprintf("server bbb%d %s {\n", on+1, p.fakes[on].URL())
	p.load(strings.Replace(cfg, marker, marker+"\t\t\tstate disabled\n", 1))

	req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=Bob&meetingID=moving&role=VIEWER"), nil)
	if _, a := c.do(t, req); a.MessageKey != "serverUnavailable" {
		t.Errorf("join on a disabled server: %s", a.Raw)
	}
	mustOK(t, "create again", c.get(t, "create", createQuery("moving")))
	if n := p.fakes[1-on].CallCount("create"); n != 1 {
		t.Errorf("the other server got %d creates, want 1", n)
	}
}

func TestBadChecksumEveryCall(t *testing.T) {
	p := startPool(t, 1, "")
	c := newClient()
	mustOK(t, "create", c.get(t, "create", createQuery("guarded")))
	p.fakes[0].ResetCalls()
	bad := &client{secret: "not-the-secret", alg: bbb.SHA256, http: c.http}
	calls := map[string]string{
		"create":            createQuery("guarded2"),
		"join":              "fullName=Eve&meetingID=guarded&role=MODERATOR",
		"end":               "meetingID=guarded",
		"isMeetingRunning":  "meetingID=guarded",
		"getMeetingInfo":    "meetingID=guarded",
		"getMeetings":       "",
		"sendChatMessage":   "meetingID=guarded&message=hi",
		"getRecordings":     "meetingID=guarded",
		"publishRecordings": "recordID=x&publish=true",
		"deleteRecordings":  "recordID=x",
		"updateRecordings":  "recordID=x&meta_a=b",
	}
	for call, q := range calls {
		mustFail(t, call+" with a bad checksum", bad.get(t, call, q), "checksumError")
		// and with none at all
		req, _ := http.NewRequest(http.MethodGet, base+"/bigbluebutton/api/"+call+"?"+q, nil)
		_, a := c.do(t, req)
		mustFail(t, call+" without a checksum", a, "checksumError")
	}
	req, _ := http.NewRequest(http.MethodPost, bad.url("insertDocument", "meetingID=guarded"), bytes.NewReader([]byte("<modules/>")))
	req.Header.Set("Content-Type", "application/xml")
	_, a := c.do(t, req)
	mustFail(t, "insertDocument with a bad checksum", a, "checksumError")
	// A tampered query fails too.
	u := c.url("getMeetingInfo", "meetingID=guarded")
	req, _ = http.NewRequest(http.MethodGet, strings.Replace(u, "guarded", "guarder", 1), nil)
	_, a = c.do(t, req)
	mustFail(t, "tampered query", a, "checksumError")
	// A join with a bad checksum and an errorRedirectUrl goes back there, as on BBB.
	req, _ = http.NewRequest(http.MethodGet, bad.url("join", "fullName=Eve&meetingID=guarded&role=VIEWER&errorRedirectUrl=https%3A%2F%2Flms.example.com%2Fbbb%3Fx%3D1"), nil)
	resp, _ := c.do(t, req)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != `https://lms.example.com/bbb?x=1&errors=[%7B%22key%22:%22checksumError%22,%22message%22:%22Checksums%20do%20not%20match%22%7D]` {
		t.Errorf("join error redirect: %d %s", resp.StatusCode, loc)
	}
	if n := len(apiCalls(p.fakes[0])); n != 0 {
		t.Errorf("%d calls with bad checksums reached the server", n)
	}
}

func TestAllAlgorithmsAndAllowList(t *testing.T) {
	startPool(t, 1, "checksum_algorithms sha256 sha384 sha512")
	for _, alg := range bbb.AllAlgorithms {
		c := newClient()
		c.alg = alg
		a := c.get(t, "isMeetingRunning", "meetingID=x")
		if alg == bbb.SHA1 {
			mustFail(t, "sha1 when not allowed", a, "checksumError")
		} else {
			mustOK(t, string(alg), a)
		}
	}
}

func TestLocalAnswers(t *testing.T) {
	p := startPool(t, 2, "")
	c := newClient()
	// index needs no checksum
	resp, err := http.Get(base + "/bigbluebutton/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != bbb.ContentTypeXML {
		t.Errorf("index: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if a := mustOK(t, "unknown isMeetingRunning", c.get(t, "isMeetingRunning", "meetingID=nobody")); a.Running {
		t.Error("unknown meeting running")
	}
	mustFail(t, "unknown getMeetingInfo", c.get(t, "getMeetingInfo", "meetingID=nobody"), "notFound")
	mustFail(t, "unknown end", c.get(t, "end", "meetingID=nobody"), "notFound")
	mustFail(t, "unknown sendChatMessage", c.get(t, "sendChatMessage", "meetingID=nobody&message=hi"), "meetingNotFound")
	mustFail(t, "create without meetingID", c.get(t, "create", "name=x"), "missingParamMeetingID")
	mustFail(t, "unknown call", c.get(t, "getDefaultConfigXML", ""), "unsupportedRequest")
	req, _ := http.NewRequest(http.MethodGet, c.url("join", "fullName=A&meetingID=nobody&role=VIEWER"), nil)
	_, a := c.do(t, req)
	mustFail(t, "join unknown", a, "invalidMeetingIdentifier")
	r := mustOK(t, "getRecordings", c.get(t, "getRecordings", "meetingID=x"))
	if r.MessageKey != "noRecordings" {
		t.Errorf("getRecordings: %s", r.Raw)
	}
	mustFail(t, "publishRecordings", c.get(t, "publishRecordings", "recordID=x&publish=true"), "notFound")
	mustFail(t, "publishRecordings without publish", c.get(t, "publishRecordings", "recordID=x"), "missingParamPublish")
	mustFail(t, "deleteRecordings without recordID", c.get(t, "deleteRecordings", ""), "missingParamRecordID")
	for i, f := range p.fakes {
		if n := len(apiCalls(f)); n != 0 {
			t.Errorf("fake %d was asked %d times for things the balancer answers itself", i, n)
		}
	}
	// Other paths go to the next handler.
	resp, err = http.Get(base + "/somewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("non-API path: %d", resp.StatusCode)
	}
}

func TestSecretFromEnvironment(t *testing.T) {
	t.Setenv("BBB_TEST_SECRET", "from-the-environment")
	startPool(t, 1, "secret {env.BBB_TEST_SECRET}")
	c := newClient()
	c.secret = "from-the-environment"
	mustOK(t, "isMeetingRunning with the env secret", c.get(t, "isMeetingRunning", "meetingID=x"))
	mustOK(t, "the first secret still works", newClient().get(t, "isMeetingRunning", "meetingID=x"))
}

// The JSON that `caddy adapt` makes of the Caddyfile runs as well.
func TestAdaptedJSONRuns(t *testing.T) {
	p := startPool(t, 2, "")
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(p.caddyfile()), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.tester.InitServer(string(out), "json")
	if t.Failed() {
		t.FailNow()
	}
	c := newClient()
	mustOK(t, "create through the JSON config", c.get(t, "create", createQuery("json-room")))
	if p.holder("json-room") < 0 {
		t.Error("the meeting reached no server")
	}
}

// getMeetings answers from the servers' kept answers (the polls', here
// never older than the hour allowed), asks a server again only after the
// balancer created or ended a meeting there, and a burst of calls asks it
// once.
func TestGetMeetingsFromKeptAnswers(t *testing.T) {
	p := startPool(t, 2, "getmeetings_max_age 1h")
	c := newClient()
	calls := func() [2]int {
		return [2]int{p.fakes[0].CallCount("getMeetings"), p.fakes[1].CallCount("getMeetings")}
	}
	polled := calls()
	if a := mustOK(t, "getMeetings", c.get(t, "getMeetings", "")); len(a.Meetings) != 0 || calls() != polled {
		t.Fatalf("getMeetings: %v, servers asked %v after the polls' %v", a.Meetings, calls(), polled)
	}
	mustOK(t, "create", c.get(t, "create", createQuery("kept-1")))
	on := p.holder("kept-1")
	var burst sync.WaitGroup
	for range 16 {
		burst.Add(1)
		go func() {
			defer burst.Done()
			if a := mustOK(t, "getMeetings", c.get(t, "getMeetings", "")); len(a.Meetings) != 1 || a.Meetings[0].MeetingID != "kept-1" {
				t.Errorf("getMeetings after a create: %v", a.Meetings)
			}
		}()
	}
	burst.Wait()
	want := polled
	want[on]++
	if got := calls(); got != want {
		t.Fatalf("16 getMeetings after a create asked the servers %v times, want %v (only the one that changed, once)", got, want)
	}
	mustOK(t, "end", c.get(t, "end", "meetingID=kept-1"))
	if a := mustOK(t, "getMeetings", c.get(t, "getMeetings", "")); len(a.Meetings) != 0 {
		t.Fatalf("getMeetings after an end: %v", a.Meetings)
	}
	want[on]++
	if got := calls(); got != want {
		t.Fatalf("getMeetings after an end asked the servers %v times, want %v", got, want)
	}
}
