package e2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// joinXML is BBB's answer to a join with redirect=false (bbb-api.md §2.3).
type joinXML struct {
	ReturnCode   string `xml:"returncode"`
	MessageKey   string `xml:"messageKey"`
	MeetingID    string `xml:"meeting_id"`
	UserID       string `xml:"user_id"`
	SessionToken string `xml:"session_token"`
	URL          string `xml:"url"`
}

// joinNoRedirect joins as a client that does not follow redirects (as
// b3scale's Go client and server-side integrations do) and reads the XML.
func joinNoRedirect(t *testing.T, u string) (joinXML, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("join %s: HTTP %d %s %q, want XML", u, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var j joinXML
	if err := xml.Unmarshal(body, &j); err != nil {
		t.Fatalf("join: unreadable XML %q: %v", body, err)
	}
	return j, string(body)
}

func TestJoinWithoutRedirect(t *testing.T) {
	p := startPool(t, 2, fmt.Sprintf(tenantsConfig, t.TempDir()))
	c := newClient()
	a := newTenantClient("a-secret", "/school-a", "")
	mustOK(t, "create", c.get(t, "create", "meetingID=xml-room&name=Room"))
	mustOK(t, "A create", a.get(t, "create", "meetingID=xml-room&name=A+Room"))

	for _, who := range []struct {
		name string
		url  func(q string) string
		key  string // the servers' id
	}{
		{"the default front-end", func(q string) string { return c.url("join", q) }, "xml-room"},
		{"tenant A", func(q string) string { return a.urlOf("join", q) }, "school-a~xml-room"},
	} {
		fake := p.fakes[p.holder(who.key)]
		for _, redirect := range []string{"false", "FALSE", "0"} {
			before := fake.CallCount("join")
			j, raw := joinNoRedirect(t, who.url("meetingID=xml-room&fullName=Ann&role=VIEWER&redirect="+redirect))
			if j.ReturnCode != bbb.Success || j.MessageKey != "successfullyJoined" || j.SessionToken == "" ||
				!strings.HasPrefix(j.URL, "http://"+fake.Addr()+"/html5client?sessionToken="+j.SessionToken) {
				t.Fatalf("%s, redirect=%s: %s", who.name, redirect, raw)
			}
			if strings.Contains(raw, "~") {
				t.Fatalf("%s: the answer shows a server-side id: %s", who.name, raw)
			}
			if fake.CallCount("join") != before+1 {
				t.Fatalf("%s: the join did not reach the meeting's server", who.name)
			}
		}
		info, _ := fake.Meeting(who.key)
		if len(info.Attendees) != 3 {
			t.Fatalf("%s: %d attendees on the server, want 3", who.name, len(info.Attendees))
		}
	}
	// redirect=true (and no redirect) stay redirects to the server.
	for _, q := range []string{"meetingID=xml-room&fullName=Bo&role=VIEWER&redirect=true", "meetingID=xml-room&fullName=Bo&role=VIEWER"} {
		req, _ := http.NewRequest(http.MethodGet, c.url("join", q), nil)
		if resp, _ := c.do(t, req); resp.StatusCode != http.StatusFound {
			t.Fatalf("join %s: HTTP %d, want 302", q, resp.StatusCode)
		}
	}
	// Errors in BBB's shapes: an unknown meeting is a validation error.
	if j, raw := joinNoRedirect(t, c.url("join", "meetingID=nope&fullName=Ann&role=VIEWER&redirect=false")); j.ReturnCode != bbb.Failed || j.MessageKey != bbb.KeyInvalidMeetingID {
		t.Fatalf("unknown meeting: %s", raw)
	}
	// A meeting that ended on its server behind the balancer's back: the
	// server redirects to the caller's errorRedirectUrl, which the
	// balancer must not fetch; the client gets an XML failure.
	var fetched atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
	defer front.Close()
	p.fakes[p.holder("xml-room")].EndMeeting("xml-room")
	j, raw := joinNoRedirect(t, c.url("join", "meetingID=xml-room&fullName=Ann&role=VIEWER&redirect=false&errorRedirectUrl="+url.QueryEscape(front.URL+"/error")))
	if j.ReturnCode != bbb.Failed || fetched.Load() != 0 {
		t.Fatalf("join of a meeting gone from its server: %s (error URL fetched %d times)", raw, fetched.Load())
	}
}
