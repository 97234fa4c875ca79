package bbb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

// Unanswered tells a call that never got an answer (refused, or the
// connection closed before any answer) from a timeout or an answer.
func TestUnanswered(t *testing.T) {
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer closer.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "oops", http.StatusBadGateway)
	}))
	defer failing.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not xml")) }))
	defer garbage.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	c := &Client{HTTP: &http.Client{}}
	for _, tc := range []struct {
		name, url  string
		unanswered bool
	}{
		{"refused", refusedURL, true},
		{"closed without an answer", closer.URL, true},
		{"timed out", slow.URL, false},
		{"HTTP 502", failing.URL, false},
		{"not XML", garbage.URL, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := c.Do(ctx, Endpoint{URL: tc.url, Secret: "s"}, "create", "meetingID=m", nil, "")
		cancel()
		if err == nil || Unanswered(err) != tc.unanswered {
			t.Errorf("%s: %v, Unanswered %v, want %v", tc.name, err, Unanswered(err), tc.unanswered)
		}
	}
	if Unanswered(errors.New("not a call")) || Unanswered(nil) {
		t.Error("Unanswered of a non-call error")
	}
}
