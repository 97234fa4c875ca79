package bbbtest

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// refSecret is the secret of the reference test vectors (§7, §8.1).
const refSecret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Secret == "" {
		opts.Secret = refSecret
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// fixedClock is a settable clock for deterministic tests.
type fixedClock struct{ ms atomic.Int64 }

func newClock(ms int64) *fixedClock {
	c := &fixedClock{}
	c.ms.Store(ms)
	return c
}

func (c *fixedClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

func (c *fixedClock) Set(ms int64) { c.ms.Store(ms) }

// noRedirect is a client that does not follow redirects.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type result struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, contentType, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

// rawGet sends GET URL()/call?rawQuery without adding a checksum.
func rawGet(t *testing.T, s *Server, call, rawQuery string) result {
	t.Helper()
	u := s.URL() + "/" + call
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return do(t, http.MethodGet, u, "", "")
}

// signed sends GET URL()/call?query&checksum=sha1.
func signed(t *testing.T, s *Server, call, query string) result {
	t.Helper()
	return do(t, http.MethodGet, s.SignedURL(call, query), "", "")
}

type xattendee struct {
	UserID     string `xml:"userID"`
	FullName   string `xml:"fullName"`
	Role       string `xml:"role"`
	Presenter  bool   `xml:"isPresenter"`
	ListenOnly bool   `xml:"isListeningOnly"`
	Voice      bool   `xml:"hasJoinedVoice"`
	Video      bool   `xml:"hasVideo"`
	CustomData struct {
		Items []xkv `xml:",any"`
	} `xml:"customdata"`
}

type xkv struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type xmeeting struct {
	MeetingName       string      `xml:"meetingName"`
	MeetingID         string      `xml:"meetingID"`
	InternalMeetingID string      `xml:"internalMeetingID"`
	CreateTime        int64       `xml:"createTime"`
	VoiceBridge       string      `xml:"voiceBridge"`
	AttendeePW        string      `xml:"attendeePW"`
	ModeratorPW       string      `xml:"moderatorPW"`
	Running           bool        `xml:"running"`
	HasUserJoined     bool        `xml:"hasUserJoined"`
	Recording         bool        `xml:"recording"`
	Duration          int         `xml:"duration"`
	ParticipantCount  int         `xml:"participantCount"`
	ListenerCount     int         `xml:"listenerCount"`
	VoiceCount        int         `xml:"voiceParticipantCount"`
	VideoCount        int         `xml:"videoCount"`
	MaxUsers          int         `xml:"maxUsers"`
	ModeratorCount    int         `xml:"moderatorCount"`
	Attendees         []xattendee `xml:"attendees>attendee"`
	Metadata          struct {
		Items []xkv `xml:",any"`
	} `xml:"metadata"`
	IsBreakout      bool     `xml:"isBreakout"`
	ParentMeetingID string   `xml:"parentMeetingID"`
	Breakouts       []string `xml:"breakoutRooms>breakout"`
}

type xresp struct {
	XMLName    xml.Name `xml:"response"`
	ReturnCode string   `xml:"returncode"`
	MessageKey string   `xml:"messageKey"`
	Message    string   `xml:"message"`
	xmeeting
	Meetings []xmeeting `xml:"meetings>meeting"`
	Errors   []struct {
		Key     string `xml:"key"`
		Message string `xml:"message"`
	} `xml:"errors>error"`
	// join
	JoinMeetingID string `xml:"meeting_id"`
	UserID        string `xml:"user_id"`
	AuthToken     string `xml:"auth_token"`
	SessionToken  string `xml:"session_token"`
	GuestStatus   string `xml:"guestStatus"`
	URL           string `xml:"url"`
	// index
	BBBVersion string `xml:"bbbVersion"`
}

func parse(t *testing.T, r result) xresp {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/xml;charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if strings.HasPrefix(r.body, "<?xml") {
		t.Fatalf("unexpected XML declaration: %q", r.body)
	}
	var x xresp
	if err := xml.Unmarshal([]byte(r.body), &x); err != nil {
		t.Fatalf("bad XML %q: %v", r.body, err)
	}
	return x
}

func expectKey(t *testing.T, r result, returncode, key string) xresp {
	t.Helper()
	x := parse(t, r)
	if x.ReturnCode != returncode || x.MessageKey != key {
		t.Fatalf("got %s/%s, want %s/%s; body %s", x.ReturnCode, x.MessageKey, returncode, key, r.body)
	}
	return x
}

func mustParseQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", raw, err)
	}
	return q
}
