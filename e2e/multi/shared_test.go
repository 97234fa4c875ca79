package multi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// A tenant's limit counts its meetings on every instance.
func TestTenantLimitAcrossInstances(t *testing.T) {
	p := newPool(t, 2, sharedDB(t), "\t\ttenant school {\n\t\t\tsecret school-secret-123\n\t\t\tpath_prefix /school\n\t\t\tmax_meetings 3\n\t\t}\n")
	a, b := p.start("a"), p.start("b")
	create := func(in *instance, id string) answer {
		ans, err := in.callAt("/school", "school-secret-123", "create", createQuery(id))
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}
	for _, id := range []string{"one", "two"} {
		if ans := create(a, id); ans.ReturnCode != bbb.Success {
			t.Fatalf("create %s at a: %+v", id, ans)
		}
	}
	eventually(t, "b hears of a's meetings", func() bool { return len(b.registry(t)) == 2 })
	if ans := create(b, "three"); ans.ReturnCode != bbb.Success {
		t.Fatalf("the third create, at b: %+v", ans)
	}
	eventually(t, "a hears of b's meeting", func() bool { return len(a.registry(t)) == 3 })
	if ans := create(a, "four"); ans.ReturnCode != "FAILED" {
		t.Fatalf("a fourth meeting of a tenant limited to 3 (2 at a, 1 at b) was created at a: %+v", ans)
	}
}

// The callback URL a server got at a create through one instance works
// through any other (the servers may reach the balancer's name on any
// instance), and the front-end's own URL is called once.
func TestCallbackOnAnotherInstance(t *testing.T) {
	p := newPool(t, 1, sharedDB(t), "")
	a, b := p.start("a"), p.start("b")
	var ended atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ended.Add(1) }))
	t.Cleanup(receiver.Close)

	a.mustOK(t, "create", createQuery("cb-room")+"&meetingEndedURL="+url.QueryEscape(receiver.URL+"/ended"))
	info, ok := p.fakes[0].Meeting("cb-room")
	if !ok {
		t.Fatal("the meeting is not on the server")
	}
	given := info.Params.Get("meetingEndedURL")
	if !strings.HasPrefix(given, a.base) {
		t.Fatalf("the server got meetingEndedURL %q, want one of the balancer's on %s", given, a.base)
	}
	// The server ends the meeting and calls back, through b; then once
	// more through a, as a retry would.
	p.fakes[0].EndMeeting("cb-room")
	for _, in := range []*instance{b, a} {
		resp, err := httpClient.Get(in.base + strings.TrimPrefix(given, a.base))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("callback through %s: HTTP %d", in.name, resp.StatusCode)
		}
	}
	eventually(t, "the front-end's meetingEndedURL is called", func() bool { return ended.Load() >= 1 })
	for _, in := range []*instance{a, b} {
		eventually(t, in.name+" forgets the ended meeting", func() bool { return in.registry(t)["cb-room"] == "" })
	}
	if n := ended.Load(); n != 1 {
		t.Fatalf("the front-end's meetingEndedURL was called %d times, want once", n)
	}
}

// A phone call looked up at another instance than the create's finds the
// meeting by its voice bridge at once (read through the database).
func TestDialinOnAnotherInstance(t *testing.T) {
	p := newPool(t, 2, sharedDB(t), "\t\tdialin {\n\t\t\tpassword fs-secret\n\t\t}\n")
	a, b := p.start("a"), p.start("b")
	a.mustOK(t, "create", createQuery("phone-room"))
	info, ok := p.fakes[0].Meeting("phone-room")
	holder := p.fakes[0]
	if !ok {
		info, _ = p.fakes[1].Meeting("phone-room")
		holder = p.fakes[1]
	}
	form := url.Values{"section": {"dialplan"}, "Caller-Context": {"public"}, "Caller-Destination-Number": {"+4930123456"},
		"variable_pin": {info.VoiceBridge}}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/fsapi", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("fsapi", "fs-secret")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	host := mustHost(t, holder.URL())
	if want := `data="sofia/external/` + info.VoiceBridge + `@` + host + `"`; len(info.VoiceBridge) != 9 || !strings.Contains(string(raw), want) {
		t.Fatalf("b's answer for voice bridge %q:\n%s\nwant a bridge %s", info.VoiceBridge, raw, want)
	}
}
