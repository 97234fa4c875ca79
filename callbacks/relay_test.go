package callbacks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/health"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

const (
	feSecret     = "front-end-secret"
	schoolSecret = "school-secret"
)

// frontEnd is a front-end's callback receiver: it records every request.
type frontEnd struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body []string
}

func newFrontEnd(t *testing.T) *frontEnd {
	fe := &frontEnd{}
	fe.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fe.mu.Lock()
		fe.got = append(fe.got, r)
		fe.body = append(fe.body, string(b))
		fe.mu.Unlock()
	}))
	t.Cleanup(fe.Close)
	return fe
}

// wait returns the requests once there are n, failing after a deadline.
func (fe *frontEnd) wait(t *testing.T, n int) ([]*http.Request, []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fe.mu.Lock()
		got, body := append([]*http.Request(nil), fe.got...), append([]string(nil), fe.body...)
		fe.mu.Unlock()
		if len(got) >= n {
			return got, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("front-end got %d requests, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type callbackEnv struct {
	fake  *bbbtest.Server
	pool  *balancer.Pool
	db    *store.DB
	front *api.Front
	srv   *httptest.Server // the balancer
	seen  chan string      // callback results, "kind result"
}

type tenantSource struct{ set *tenants.Set }

func (s tenantSource) Load() *tenants.Set { return s.set }

type callbackObserver struct{ seen chan string }

func (callbackObserver) Call(string, string)       {}
func (callbackObserver) Placement(string)          {}
func (callbackObserver) LimitHit(string, string)   {}
func (o callbackObserver) Callback(kind, r string) { o.seen <- kind + " " + r }

func newCallbackEnv(t *testing.T) *callbackEnv {
	t.Helper()
	ctx := context.Background()
	fake, err := bbbtest.New(bbbtest.Options{Secret: "server-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool := balancer.NewPool(db)
	pool.SetServers([]balancer.ServerConfig{{ID: "bbb1", URL: fake.URL(), Secret: fake.Secret()}})
	client := &bbb.Client{HTTP: http.DefaultClient}
	health.New(pool, client, health.Config{}.WithDefaults(), zap.NewNop()).Round(ctx, nil, true)

	set, err := tenants.NewSet(tenants.Tenant{Secrets: []string{feSecret}},
		[]tenants.Tenant{{Name: "school", Secrets: []string{schoolSecret}, PathPrefix: "/school"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := db.SigningKey(ctx, "callbacks")
	if err != nil {
		t.Fatal(err)
	}
	queue := &notify.Queue{Store: db, Backoff: []time.Duration{time.Millisecond}}
	qctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { queue.Run(qctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	e := &callbackEnv{fake: fake, pool: pool, db: db, seen: make(chan string, 100)}
	relay := &callbacks.Relay{Key: key, Store: db, Queue: queue, Pool: pool, Tenants: tenantSource{set},
		Logger: zaptest.NewLogger(t), Observer: callbackObserver{e.seen}}
	logger := zaptest.NewLogger(t)
	e.front = &api.Front{
		Tenants: tenantSource{set}, Logger: logger, Observer: callbackObserver{e.seen},
		Meetings: &api.Meetings{
			Servers:   api.Servers{Pool: pool, Client: client, Logger: logger, Timeout: 5 * time.Second},
			Callbacks: relay,
		},
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if callbacks.Handles(r) {
			relay.ServeHTTP(w, r)
			return
		}
		e.front.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// create makes a create through the balancer, as the front-end whose
// secret and path prefix are given.
func (e *callbackEnv) create(t *testing.T, prefix, secret, query string) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + prefix + api.Prefix + "/create?" + bbb.Sign(bbb.SHA256, "create", query, secret))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<returncode>SUCCESS</returncode>") {
		t.Fatalf("create: %s", body)
	}
}

// serverCall makes the call a server makes to a callback URL it got.
func (e *callbackEnv) serverCall(t *testing.T, method, u string, header http.Header, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *callbackEnv) expectResult(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-e.seen:
		if got != want {
			t.Fatalf("callback %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no callback result, want %q", want)
	}
}

func signHS512(t *testing.T, secret string, claims any) string {
	t.Helper()
	tok, err := bbb.SignJWT("HS512", secret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCallbacksRelayed(t *testing.T) {
	e := newCallbackEnv(t)
	fe := newFrontEnd(t)
	q := url.Values{
		"meetingID":                   {"room"},
		"name":                        {"Room"},
		"meetingEndedURL":             {fe.URL + "/ended?room=1"},
		"meta_EndCallbackUrl":         {fe.URL + "/end?x=1"},
		"meta_analytics-callback-url": {fe.URL + "/analytics"},
	}
	e.create(t, "", feSecret, q.Encode())

	m, ok := e.fake.Meeting("room")
	if !ok {
		t.Fatal("the meeting is not on the server")
	}
	ended, end, analytics := m.Params.Get("meetingEndedURL"), m.Metadata["endcallbackurl"], m.Metadata["analytics-callback-url"]
	for name, u := range map[string]string{"meetingEndedURL": ended, "meta_endCallbackUrl": end, "meta_analytics-callback-url": analytics} {
		if !strings.HasPrefix(u, e.srv.URL+callbacks.Prefix) {
			t.Fatalf("the server got %s=%q, not the balancer's", name, u)
		}
		if strings.Contains(u, fe.URL) {
			t.Fatalf("the server got the front-end's URL in %s", name)
		}
	}
	if len(m.Params["meta_EndCallbackUrl"]) != 0 {
		t.Fatal("the front-end's spelling of meta_endCallbackUrl reached the server")
	}

	// The end callback: the server appends recordingmarks and meetingID.
	if code := e.serverCall(t, "GET", end+"&recordingmarks=true&meetingID=room", nil, ""); code != 200 {
		t.Fatalf("end callback: HTTP %d", code)
	}
	e.expectResult(t, callbacks.End+" relayed")
	got, _ := fe.wait(t, 1)
	if got[0].Method != "GET" || got[0].URL.Path != "/end" || got[0].URL.RawQuery != "x=1&recordingmarks=true&meetingID=room" {
		t.Fatalf("front-end got %s %s", got[0].Method, got[0].URL)
	}
	// Once only.
	e.serverCall(t, "GET", end+"&recordingmarks=true&meetingID=room", nil, "")
	e.expectResult(t, callbacks.End+" none")

	// A forged token changes nothing.
	forged := strings.Replace(ended, "token=", "token=x", 1)
	if code := e.serverCall(t, "GET", forged, nil, ""); code != http.StatusNotFound {
		t.Fatalf("forged token: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" refused")
	if _, err := e.pool.Lookup("room"); err != nil {
		t.Fatalf("a forged callback removed the meeting: %v", err)
	}

	// The meeting ends: the registry forgets it at once, and the
	// front-end's meetingEndedURL is called as given.
	if code := e.serverCall(t, "GET", ended, nil, ""); code != 200 {
		t.Fatalf("meeting-ended callback: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" relayed")
	if _, err := e.pool.Lookup("room"); !errors.Is(err, balancer.ErrUnknownMeeting) {
		t.Fatalf("after the meeting-ended callback, Lookup: %v", err)
	}
	got, _ = fe.wait(t, 2)
	if got[1].Method != "GET" || got[1].URL.String() != "/ended?room=1" {
		t.Fatalf("front-end got %s %s", got[1].Method, got[1].URL)
	}

	// Analytics: the server's JWT is checked, the front-end's made.
	data := `{"version":"1.0","meeting_id":"room","internal_meeting_id":"abc-1","data":{"duration":5}}`
	serverJWT := signHS512(t, "server-secret", map[string]int64{"exp": time.Now().Add(time.Hour).Unix()})
	wrongJWT := signHS512(t, "not-the-server-secret", map[string]int64{"exp": time.Now().Add(time.Hour).Unix()})
	if code := e.serverCall(t, "POST", analytics, http.Header{"Authorization": {"Bearer " + wrongJWT}}, data); code != http.StatusUnauthorized {
		t.Fatalf("analytics with a wrong JWT: HTTP %d", code)
	}
	e.expectResult(t, callbacks.Analytics+" refused")
	if code := e.serverCall(t, "POST", analytics, http.Header{"Authorization": {"Bearer " + serverJWT},
		"Content-Type": {"application/json"}}, data); code != 200 {
		t.Fatalf("analytics: HTTP %d", code)
	}
	e.expectResult(t, callbacks.Analytics+" relayed")
	got, body := fe.wait(t, 3)
	a := got[2]
	if a.Method != "POST" || a.URL.Path != "/analytics" || a.Header.Get("Content-Type") != "application/json" ||
		a.Header.Get("User-Agent") != "BigBlueButton Analytics Callback" || body[2] != data {
		t.Fatalf("front-end got %s %s %v %q", a.Method, a.URL, a.Header, body[2])
	}
	checkHS512(t, strings.TrimPrefix(a.Header.Get("Authorization"), "Bearer "), feSecret)
}

// checkHS512 verifies a JWT as a front-end does: HS512 with its secret,
// expiring in the future.
func checkHS512(t *testing.T, token, secret string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	m := hmac.New(sha512.New, []byte(secret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(m.Sum(nil)) != parts[2] {
		t.Fatal("the relayed JWT does not verify with the front-end's secret")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Exp int64 }
	if json.Unmarshal(raw, &claims) != nil || claims.Exp <= time.Now().Unix() {
		t.Fatalf("claims %s", raw)
	}
}

// A tenant's meeting is known to its server by a scoped id; the relays
// speak of it by the tenant's own id and are signed with its secret.
func TestCallbacksOfATenant(t *testing.T) {
	e := newCallbackEnv(t)
	fe := newFrontEnd(t)
	q := url.Values{"meetingID": {"room"}, "name": {"Room"},
		"meta_endCallbackUrl": {fe.URL + "/end"}, "meta_analytics-callback-url": {fe.URL + "/analytics"}}
	e.create(t, "/school", schoolSecret, q.Encode())
	serverID := "school" + tenants.Sep + "room"
	m, ok := e.fake.Meeting(serverID)
	if !ok {
		t.Fatalf("no meeting %s on the server: %v", serverID, e.fake.Meetings())
	}
	e.serverCall(t, "GET", m.Metadata["endcallbackurl"]+"&recordingmarks=false&meetingID="+url.QueryEscape(serverID), nil, "")
	e.expectResult(t, callbacks.End+" relayed")
	got, _ := fe.wait(t, 1)
	if got[0].URL.RawQuery != "recordingmarks=false&meetingID=room" {
		t.Fatalf("front-end got %s", got[0].URL)
	}

	serverJWT := signHS512(t, "server-secret", map[string]int64{"exp": time.Now().Add(time.Hour).Unix()})
	e.serverCall(t, "POST", m.Metadata["analytics-callback-url"], http.Header{"Authorization": {"Bearer " + serverJWT}},
		`{"version":"1.0","meeting_id":"`+serverID+`","data":{}}`)
	e.expectResult(t, callbacks.Analytics+" relayed")
	got, body := fe.wait(t, 2)
	var doc map[string]any
	if err := json.Unmarshal([]byte(body[1]), &doc); err != nil || doc["meeting_id"] != "room" || doc["version"] != "1.0" {
		t.Fatalf("relayed analytics %s (%v)", body[1], err)
	}
	checkHS512(t, strings.TrimPrefix(got[1].Header.Get("Authorization"), "Bearer "), schoolSecret)

	// The meeting-ended URL names the scoped key.
	var calls atomic.Int32
	for _, c := range e.fake.Calls() {
		if c.Name == "create" {
			calls.Add(1)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d creates reached the server", calls.Load())
	}
	if code := e.serverCall(t, "GET", m.Params.Get("meetingEndedURL"), nil, ""); code != 200 {
		t.Fatalf("meeting-ended: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" none")
	if _, err := e.pool.Lookup(serverID); !errors.Is(err, balancer.ErrUnknownMeeting) {
		t.Fatalf("the tenant's meeting is still in the registry: %v", err)
	}
}

// Without callback URLs from the front-end, the server still gets the
// balancer's meetingEndedURL, and nothing is stored.
func TestCallbacksWithoutFrontEndURLs(t *testing.T) {
	e := newCallbackEnv(t)
	e.create(t, "", feSecret, "meetingID=plain&name=Plain&meta_endCallbackUrl=not-a-url")
	m, _ := e.fake.Meeting("plain")
	if !strings.HasPrefix(m.Params.Get("meetingEndedURL"), e.srv.URL+callbacks.Prefix+callbacks.MeetingEnded+"?") {
		t.Fatalf("meetingEndedURL %q", m.Params.Get("meetingEndedURL"))
	}
	if m.Metadata["endcallbackurl"] != "not-a-url" {
		t.Fatalf("an unusable endCallbackUrl was not left to the server: %q", m.Metadata["endcallbackurl"])
	}
	if _, ok, err := e.db.MeetingCallbacks(context.Background(), "plain"); ok || err != nil {
		t.Fatalf("callbacks stored: %v %v", ok, err)
	}
	if code := e.serverCall(t, "GET", m.Params.Get("meetingEndedURL"), nil, ""); code != 200 {
		t.Fatalf("meeting-ended: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" none")
	if _, err := e.pool.Lookup("plain"); !errors.Is(err, balancer.ErrUnknownMeeting) {
		t.Fatal("the registry kept an ended meeting")
	}
	// Unknown kinds and missing parameters are refused.
	for _, p := range []string{"nope?meeting=plain&server=bbb1&token=x", callbacks.MeetingEnded, callbacks.End + "?meeting=&server=bbb1"} {
		if code := e.serverCall(t, "GET", e.srv.URL+callbacks.Prefix+p, nil, ""); code != http.StatusNotFound {
			t.Errorf("%s: HTTP %d", p, code)
		}
		<-e.seen
	}
}

// A meeting-ended call that arrives after the meeting was created again
// (a late retry of the server) is about the earlier instance: the new one
// stays in the registry and its callbacks stay unrelayed.
func TestLateEndCallbackOfAnEarlierInstance(t *testing.T) {
	e := newCallbackEnv(t)
	fe := newFrontEnd(t)
	q := url.Values{"meetingID": {"room"}, "name": {"Room"}, "meetingEndedURL": {fe.URL + "/ended"}}.Encode()
	e.create(t, "", feSecret, q)
	m, _ := e.fake.Meeting("room")
	first := m.Params.Get("meetingEndedURL")
	if code := e.serverCall(t, "GET", first, nil, ""); code != 200 {
		t.Fatalf("meeting-ended: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" relayed")
	if !e.fake.EndMeeting("room") {
		t.Fatal("the server did not have the meeting")
	}
	// Created again: a later placement, so a later time in its URLs (a
	// placement in the same millisecond is ended and made again).
	for {
		e.create(t, "", feSecret, q)
		if m, ok := e.fake.Meeting("room"); ok && m.Params.Get("meetingEndedURL") != first {
			break
		}
		e.fake.EndMeeting("room")
		e.pool.Forget(context.Background(), "room", "bbb1")
	}
	if code := e.serverCall(t, "GET", first, nil, ""); code != 200 {
		t.Fatalf("late meeting-ended: HTTP %d", code)
	}
	e.expectResult(t, callbacks.MeetingEnded+" stale")
	if _, err := e.pool.Lookup("room"); err != nil {
		t.Fatalf("a late callback removed the new instance: %v", err)
	}
}
