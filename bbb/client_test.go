package bbb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A server's redirect to another host (a join error's errorRedirectUrl,
// chosen by the caller) is the answer, never fetched; one to the server's
// own host is followed.
func TestClientFollowsOnlySameHostRedirects(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client fetched %s", r.URL)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			http.Redirect(w, r, elsewhere.URL+"/error?errors=x", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/moved/getMeetings"):
			w.Write([]byte("<response><returncode>SUCCESS</returncode></response>"))
		default:
			http.Redirect(w, r, "/bigbluebutton/api/moved/getMeetings", http.StatusFound)
		}
	}))
	defer srv.Close()
	c := &Client{HTTP: &http.Client{CheckRedirect: SameHostRedirects}}
	e := Endpoint{URL: srv.URL + "/bigbluebutton/api", Secret: "s"}
	if res, err := c.Do(context.Background(), e, "getMeetings", "", nil, ""); err != nil || !res.OK() {
		t.Fatalf("same-host redirect: %v %v", res, err)
	}
	_, err := c.Do(context.Background(), e, "join", "meetingID=m&fullName=A&redirect=false", nil, "")
	var ce *CallError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "302") {
		t.Fatalf("another host's redirect: %v, want a CallError with the 302", err)
	}
}
