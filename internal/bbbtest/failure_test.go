package bbbtest

import (
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// get performs a GET with a plain client (keep-alive, no redirects).
func get(c *http.Client, u string) (int, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func newClient() *http.Client {
	tr := &http.Transport{}
	return &http.Client{Transport: tr}
}

func TestFailRefuse(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient()
	defer c.CloseIdleConnections()
	addr, url := s.Addr(), s.URL()
	if st, _, err := get(c, url); err != nil || st != 200 { // leaves a pooled keep-alive connection
		t.Fatalf("before: %d %v", st, err)
	}
	s.SetFailure(FailRefuse)
	if s.Failure() != FailRefuse {
		t.Fatal("Failure()")
	}
	if _, _, err := get(c, url); err == nil {
		t.Fatal("request succeeded while refusing")
	}
	_, err := net.Dial("tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial error %v, want ECONNREFUSED", err)
	}
	if _, _, err := get(c, s.SignedURL("getMeetings", "")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("client error %v, want ECONNREFUSED", err)
	}
	s.SetFailure(FailRefuse) // idempotent
	s.SetFailure(FailNone)
	if s.Addr() != addr || s.URL() != url {
		t.Fatalf("address changed: %s -> %s", addr, s.Addr())
	}
	if st, body, err := get(c, s.SignedURL("getMeetings", "")); err != nil || st != 200 {
		t.Fatalf("after FailNone: %d %q %v", st, body, err)
	}
	// refused calls are not recorded
	if n := s.CallCount("getMeetings"); n != 1 {
		t.Errorf("getMeetings recorded %d times", n)
	}
	// Switching from refuse straight to another failure mode listens again too.
	s.SetFailure(FailRefuse)
	s.SetFailure(FailHTTP500)
	if st, _, err := get(c, url); err != nil || st != 500 {
		t.Fatalf("refuse -> 500: %d %v", st, err)
	}
}

func TestFailReset(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient()
	defer c.CloseIdleConnections()
	s.SetFailure(FailReset)
	_, _, err := get(c, s.SignedURL("getMeetings", ""))
	if err == nil {
		t.Fatal("no error on reset")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("reset reported as timeout: %v", err)
	}
	if s.CallCount("getMeetings") == 0 {
		t.Error("reset call not recorded")
	}
	// also on the index
	if _, _, err := get(c, s.URL()); err == nil {
		t.Fatal("index answered during reset")
	}
	s.SetFailure(FailNone)
	if st, _, err := get(c, s.URL()); err != nil || st != 200 {
		t.Fatalf("after reset: %d %v", st, err)
	}
}

func TestFailHTTPResponses(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient()
	defer c.CloseIdleConnections()
	for _, u := range []string{s.URL(), s.SignedURL("getMeetings", ""), s.SignedURL("create", "name=Xx&meetingID=xx")} {
		s.SetFailure(FailHTTP500)
		if st, _, err := get(c, u); err != nil || st != 500 {
			t.Errorf("500 mode %s: %d %v", u, st, err)
		}

		s.SetFailure(FailGarbage)
		st, body, err := get(c, u)
		if err != nil || st != 200 || body != GarbageBody {
			t.Errorf("garbage mode: %d %q %v", st, body, err)
		}
		var x xresp
		if err := xml.Unmarshal([]byte(body), &x); err == nil {
			t.Errorf("garbage body parsed as XML")
		}

		s.SetFailure(FailFailed)
		st, body, err = get(c, u)
		if err != nil || st != 200 || body != FailedBody {
			t.Errorf("failed mode: %d %q %v", st, body, err)
		}
		if err := xml.Unmarshal([]byte(body), &x); err != nil || x.ReturnCode != "FAILED" || x.MessageKey != "internalError" || x.Message != "fake failure" {
			t.Errorf("failed body %+v %v", x, err)
		}
	}
	// nothing was created while failing
	if len(s.Meetings()) != 0 {
		t.Error("state changed while failing")
	}
	s.SetFailure(FailNone)
	if st, body, err := get(c, s.SignedURL("getMeetings", "")); err != nil || st != 200 || body == FailedBody {
		t.Errorf("recovered: %d %q %v", st, body, err)
	}
}

func TestFailSlow(t *testing.T) {
	s := newServer(t, Options{})
	s.SetFailure(FailSlow)

	s.SetSlow(time.Hour)
	c := &http.Client{Timeout: 100 * time.Millisecond}
	_, _, err := get(c, s.URL())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a client timeout, got %v", err)
	}

	s.SetSlow(time.Millisecond)
	if st, body, err := get(http.DefaultClient, s.SignedURL("getMeetings", "")); err != nil || st != 200 || body == "" {
		t.Fatalf("slow answer: %d %q %v", st, body, err)
	}

	// A slow request in flight does not keep Close from returning, and the
	// client gets an error rather than a response.
	s.SetSlow(time.Hour)
	before := s.CallCount("index")
	done := make(chan error, 1)
	go func() {
		_, _, err := get(newClient(), s.URL())
		done <- err
	}()
	for s.CallCount("index") == before {
		time.Sleep(time.Millisecond) // wait until the request is being held
	}
	s.Close()
	s.Close() // idempotent
	if err := <-done; err == nil {
		t.Fatal("slow request answered after Close")
	}
}

func TestFlapping(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient()
	defer c.CloseIdleConnections()
	s.SetFlapping(2)
	var got []int
	for range 7 {
		st, _, err := get(c, s.URL())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st)
	}
	want := []int{500, 500, 200, 200, 500, 500, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("flapping statuses %v, want %v", got, want)
		}
	}
	// an explicit failure mode wins over flapping
	s.SetFailure(FailFailed)
	if _, body, _ := get(c, s.URL()); body != FailedBody {
		t.Errorf("explicit failure ignored: %q", body)
	}
	s.SetFailure(FailNone)
	s.SetFlapping(0)
	for range 3 {
		if st, _, err := get(c, s.URL()); err != nil || st != 200 {
			t.Fatalf("flapping off: %d %v", st, err)
		}
	}
}

func TestListenAddrOptions(t *testing.T) {
	s := newServer(t, Options{Addr: "0.0.0.0:0"})
	host, _, _ := net.SplitHostPort(s.Addr())
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		t.Errorf("Addr %s", s.Addr())
	}
	if st, _, err := get(http.DefaultClient, s.URL()); err != nil || st != 200 || s.URL()[:17] != "http://127.0.0.1:" {
		t.Fatalf("URL %s: %d %v", s.URL(), st, err)
	}
	if _, err := New(Options{Secret: "x", Addr: "256.0.0.1:0"}); err == nil {
		t.Error("bad address accepted")
	}
}
