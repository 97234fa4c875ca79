package scaleliteapi

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/store"
)

const (
	lbSecret  = "lb-secret"
	oldSecret = "lb-secret-being-rotated-out"
)

// env is an API over a pool over a real store in a temporary directory,
// with a Manager that does not poll.
type env struct {
	t     *testing.T
	api   *API
	pool  *balancer.Pool
	db    *store.DB
	close func()
	path  string
	alg   bbb.Algorithm
}

func newEnv(t *testing.T, servers ...balancer.ServerConfig) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bbb.sqlite")
	e := &env{t: t, path: path, alg: bbb.SHA256}
	e.open(servers)
	return e
}

func (e *env) open(servers []balancer.ServerConfig) {
	e.t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	var once sync.Once
	e.close = func() { once.Do(func() { db.Close() }) }
	e.t.Cleanup(e.close)
	pool := balancer.NewPool(db)
	if err := pool.Load(ctx); err != nil {
		e.t.Fatal(err)
	}
	pool.SetServers(servers)
	e.db, e.pool = db, pool
	e.api = &API{
		Verifier: bbb.NewVerifier([]string{lbSecret, oldSecret}, nil),
		Manager:  &manage.Manager{Pool: pool, Client: &bbb.Client{HTTP: &http.Client{}}, Timeout: 5 * time.Second},
	}
}

// reopen starts over from the database, as a restart does.
func (e *env) reopen(servers ...balancer.ServerConfig) {
	e.t.Helper()
	e.close()
	e.open(servers)
}

// online reports a good poll of id, which brings it online.
func (e *env) online(id, version string) {
	e.t.Helper()
	ch := e.pool.Report(context.Background(), id, balancer.Poll{Started: time.Now(), Version: version}, balancer.HealthRule{Passes: 1, Fails: 1})
	if st, _ := e.pool.Server(id); !st.Online {
		e.t.Fatalf("%s did not come online: %+v", id, ch)
	}
}

type reply struct {
	code int
	ct   string
	body string
}

// do sends a call signed with secret (none if secret is "").
func (e *env) do(method, call, query, secret, contentType, body string) reply {
	e.t.Helper()
	q := query
	if secret != "" {
		q = bbb.Sign(e.alg, call, query, secret)
	}
	target := Prefix + call
	if q != "" {
		target += "?" + q
	}
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, req)
	return reply{w.Code, w.Header().Get("Content-Type"), w.Body.String()}
}

func (e *env) get(call, query string) reply {
	e.t.Helper()
	return e.do(http.MethodGet, call, query, lbSecret, "", "")
}

func (e *env) post(call string, body any) reply {
	e.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPost, call, "", lbSecret, "application/json", string(raw))
}

// want checks the status and decodes the JSON answer into into.
func (r reply) want(t *testing.T, code int, into any) {
	t.Helper()
	if r.code != code {
		t.Fatalf("HTTP %d %s, want %d", r.code, r.body, code)
	}
	if !strings.HasPrefix(r.ct, "application/json") {
		t.Fatalf("content type %q, want JSON (%s)", r.ct, r.body)
	}
	if into != nil {
		if err := json.Unmarshal([]byte(r.body), into); err != nil {
			t.Fatalf("unreadable JSON %q: %v", r.body, err)
		}
	}
}

// wantMsg checks a {"error": ...} or {"success": ...} answer.
func (r reply) wantMsg(t *testing.T, code int, key, msg string) {
	t.Helper()
	var m map[string]string
	r.want(t, code, &m)
	if len(m) != 1 || m[key] != msg {
		t.Fatalf("answer %s, want {%q: %q}", r.body, key, msg)
	}
}

// wantXMLError checks scalelite's XML error shape.
func (r reply) wantXMLError(t *testing.T, key, msg string) {
	t.Helper()
	if r.code != http.StatusOK || !strings.HasPrefix(r.ct, "application/xml") || !strings.HasPrefix(r.body, `<?xml version="1.0"?>`) {
		t.Fatalf("HTTP %d %q %q, want scalelite's XML error", r.code, r.ct, r.body)
	}
	var env bbb.Envelope
	if err := xml.Unmarshal([]byte(r.body), &env); err != nil {
		t.Fatal(err)
	}
	if env.ReturnCode != bbb.Failed || env.MessageKey != key || env.Message != msg {
		t.Fatalf("got %+v, want FAILED/%s/%s", env, key, msg)
	}
}

func cfg(id, u, secret string) balancer.ServerConfig {
	return balancer.ServerConfig{ID: id, URL: u, Secret: secret}
}

const checksumMsg = "You did not pass the checksum security check"

func TestChecksumRule(t *testing.T) {
	e := newEnv(t, cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"))
	// Right: every algorithm and either secret.
	for _, alg := range []bbb.Algorithm{bbb.SHA1, bbb.SHA256, bbb.SHA512} {
		e.alg = alg
		e.get("getServers", "").want(t, 200, nil)
		e.do("GET", "getServerInfo", "id=bbb1", oldSecret, "", "").want(t, 200, nil)
	}
	e.alg = bbb.SHA256
	// The query is covered byte for byte.
	q := bbb.Sign(bbb.SHA256, "getServerInfo", "id=bbb1", lbSecret)
	for name, target := range map[string]string{
		"missing":           "getServers",
		"empty":             "getServers?checksum=",
		"wrong secret":      "getServers?" + bbb.Sign(bbb.SHA256, "getServers", "", "nope"),
		"other call":        "getServerInfo?" + bbb.Sign(bbb.SHA256, "getServers", "id=bbb1", lbSecret),
		"changed query":     "getServerInfo?" + strings.Replace(q, "id=bbb1", "id=bbb2", 1),
		"added param":       "getServerInfo?" + q + "&x=1",
		"unknown length":    "getServers?checksum=abc123",
		"a server's secret": "getServers?" + bbb.Sign(bbb.SHA256, "getServers", "", "s1"),
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.api.ServeHTTP(w, httptest.NewRequest("GET", Prefix+target, nil))
			reply{w.Code, w.Header().Get("Content-Type"), w.Body.String()}.wantXMLError(t, "checksumError", checksumMsg)
		})
	}
	// POST calls too, and the body is not part of the checksum (as in
	// scalelite: the checksum is over the query).
	e.do("POST", "deleteServer", "", "", "application/json", `{"id":"bbb1"}`).wantXMLError(t, "checksumError", checksumMsg)
	e.do("POST", "deleteServer", "", "wrong", "application/json", `{"id":"bbb1"}`).wantXMLError(t, "checksumError", checksumMsg)
	if _, ok := e.pool.Server("bbb1"); !ok {
		t.Fatal("a call with a bad checksum changed something")
	}
	// Restricted algorithms are honoured.
	e.api.Verifier = bbb.NewVerifier([]string{lbSecret}, []bbb.Algorithm{bbb.SHA256})
	e.alg = bbb.SHA1
	e.get("getServers", "").wantXMLError(t, "checksumError", checksumMsg)
}

func TestContentTypeRule(t *testing.T) {
	e := newEnv(t, cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"))
	body := `{"server":{"url":"https://bbb2.example.com/bigbluebutton/api","secret":"s2"}}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"} {
		e.do("POST", "addServer", "", lbSecret, ct, body).wantXMLError(t, "unsupportedContentType", "POST request Content-Type is missing or unsupported")
	}
	// Checked before the checksum, as scalelite does.
	e.do("POST", "addServer", "", "wrong", "text/plain", body).wantXMLError(t, "unsupportedContentType", "POST request Content-Type is missing or unsupported")
	if len(e.pool.Servers()) != 1 {
		t.Fatal("a refused call added a server")
	}
	// With parameters, JSON is fine.
	e.do("POST", "addServer", "", lbSecret, "application/json; charset=utf-8", body).want(t, 201, nil)
	// An empty body needs no content type; the id may then come in the
	// (signed) query.
	e.do("POST", "deleteServer", "id=bbb2.example.com", lbSecret, "", "").wantMsg(t, 200, "success", "Server id=bbb2.example.com was destroyed")
	// Unreadable JSON.
	e.do("POST", "deleteServer", "", lbSecret, "application/json", "{").want(t, 400, nil)
}

func TestUnsupported(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, call string }{
		{"GET", "addServer"}, {"GET", "updateServer"}, {"GET", "deleteServer"}, {"GET", "panicServer"},
		{"POST", "getServers"}, {"POST", "getServerInfo"}, {"DELETE", "getServers"},
		{"GET", "noSuchCall"}, {"GET", ""}, {"GET", "getTenants"},
	} {
		e.do(c.method, c.call, "", lbSecret, "", "").wantXMLError(t, "unsupportedRequest", "This request is not supported.")
	}
}

func TestGetServers(t *testing.T) {
	e := newEnv(t)
	e.get("getServers", "").wantMsg(t, 404, "error", "No servers are configured")

	e = newEnv(t,
		balancer.ServerConfig{ID: "bbb1", URL: "https://bbb1.example.com/bigbluebutton/api", Secret: "secret-one", Tag: "big", Weight: 2},
		cfg("bbb2", "https://bbb2.example.com/bigbluebutton/api", "secret-two"),
		balancer.ServerConfig{ID: "bbb3", URL: "https://bbb3.example.com/bigbluebutton/api", Secret: "secret-three", State: balancer.Disabled})
	e.online("bbb1", "3.0.4")
	e.online("bbb3", "2.7.1")
	r := e.get("getServers", "")
	for _, s := range []string{"secret-one", "secret-two", "secret-three", lbSecret} {
		if strings.Contains(r.body, s) {
			t.Fatalf("a secret is in the listing: %s", r.body)
		}
	}
	// The exact shape: keys, their order, and their JSON types.
	want := `[` +
		`{"id":"bbb1","url":"https://bbb1.example.com/bigbluebutton/api","secret":"********","tag":"big","bbb_version":"3.0.4","state":"enabled","load":0,"load_multiplier":2,"online":"online"},` +
		`{"id":"bbb2","url":"https://bbb2.example.com/bigbluebutton/api","secret":"********","tag":"","bbb_version":"","state":"enabled","load":"unavailable","load_multiplier":1,"online":"offline"},` +
		`{"id":"bbb3","url":"https://bbb3.example.com/bigbluebutton/api","secret":"********","tag":"","bbb_version":"2.7.1","state":"disabled","load":"unavailable","load_multiplier":1,"online":"online"}` +
		`]`
	r.want(t, 200, nil)
	if r.body != want {
		t.Fatalf("getServers:\n got %s\nwant %s", r.body, want)
	}
}

func TestGetServerInfo(t *testing.T) {
	e := newEnv(t, cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"))
	var s Server
	e.get("getServerInfo", "id=bbb1").want(t, 200, &s)
	if s.ID != "bbb1" || s.Secret != SecretMask || s.State != "enabled" || s.Online != "offline" || s.Load != Unavailable {
		t.Fatalf("getServerInfo: %+v", s)
	}
	e.get("getServerInfo", "id=nope").wantMsg(t, 404, "error", "Couldn't find server with id=nope")
	e.get("getServerInfo", "").wantMsg(t, 404, "error", "Couldn't find server with id=")
}

func TestAddServer(t *testing.T) {
	e := newEnv(t, cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"))
	var s Server
	e.post("addServer", map[string]any{"server": map[string]any{
		"url": "https://BBB2.Example.com/bigbluebutton/api/", "secret": "secret-two", "load_multiplier": "2.5", "tag": "big"}}).want(t, 201, &s)
	want := Server{ID: "bbb2.example.com", URL: "https://BBB2.Example.com/bigbluebutton/api", Secret: SecretMask, Tag: "big",
		State: "disabled", Load: Unavailable, LoadMultiplier: 2.5, Online: "offline"}
	if s != want {
		t.Fatalf("added:\n got %+v\nwant %+v", s, want)
	}
	// It is real: in the pool, with its secret, and kept across a restart.
	e.reopen(cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"))
	st, ok := e.pool.Server("bbb2.example.com")
	if !ok || st.State != balancer.Disabled || st.Weight != 2.5 || st.Tag != "big" {
		t.Fatalf("after a restart: %+v %v", st, ok)
	}
	if secretOf(e.pool, "bbb2.example.com") != "secret-two" {
		t.Fatal("the secret was not kept")
	}

	// A multiplier that is missing, zero or unreadable is 1; no tag is "".
	for i, m := range []any{nil, 0, "zero"} {
		host := []string{"a", "b", "c"}[i] + ".example.com"
		p := map[string]any{"url": "https://" + host + "/bigbluebutton/api", "secret": "x"}
		if m != nil {
			p["load_multiplier"] = m
		}
		e.post("addServer", map[string]any{"server": p}).want(t, 201, &s)
		if s.ID != host || s.LoadMultiplier != 1 || s.Tag != "" || s.State != "disabled" {
			t.Fatalf("multiplier %v: %+v", m, s)
		}
	}
	// Fields at the top level (Rails' parameter wrapping).
	e.post("addServer", map[string]any{"url": "https://flat.example.com/bigbluebutton/api", "secret": "x"}).want(t, 201, &s)
	if s.ID != "flat.example.com" {
		t.Fatalf("flat: %+v", s)
	}

	for _, body := range []any{
		map[string]any{},
		map[string]any{"server": map[string]any{"url": "https://d.example.com/bigbluebutton/api"}},
		map[string]any{"server": map[string]any{"secret": "x"}},
		map[string]any{"server": map[string]any{"url": " ", "secret": "x"}},
		map[string]any{"server": map[string]any{"url": "https://d.example.com/bigbluebutton/api", "secret": ""}},
	} {
		e.post("addServer", body).wantMsg(t, 400, "error", "Server needs a URL and a secret")
	}
	// The same host again.
	e.post("addServer", map[string]any{"server": map[string]any{"url": "http://bbb2.example.com:8080/other/api", "secret": "x"}}).
		wantMsg(t, 400, "error", "Server already exists with id 'bbb2.example.com'")
	// Not an http(s) URL.
	e.post("addServer", map[string]any{"server": map[string]any{"url": "ftp://e.example.com/api", "secret": "x"}}).want(t, 400, nil)
	e.post("addServer", map[string]any{"server": map[string]any{"url": "not a url", "secret": "x"}}).want(t, 400, nil)
	if _, ok := e.pool.Server("e.example.com"); ok {
		t.Fatal("a refused server was added")
	}
}

// secretOf is the secret the pool signs with for server id.
func secretOf(p *balancer.Pool, id string) string {
	for _, t := range p.Targets() {
		if t.ServerID == id {
			return t.Server.Secret
		}
	}
	return ""
}

func TestUpdateServer(t *testing.T) {
	servers := []balancer.ServerConfig{{ID: "bbb1", URL: "https://bbb1.example.com/bigbluebutton/api", Secret: "s1", Tag: "old"}}
	e := newEnv(t, servers...)
	update := func(server map[string]any) reply {
		return e.post("updateServer", map[string]any{"id": "bbb1", "server": server})
	}
	var s Server
	for word, state := range map[string]string{"cordon": "cordoned", "disable": "disabled", "enable": "enabled"} {
		update(map[string]any{"state": word}).want(t, 200, &s)
		if s.State != state {
			t.Fatalf("%s: %+v", word, s)
		}
	}
	update(map[string]any{"state": "cordon", "load_multiplier": 3, "secret": "s1-new", "tag": "big"}).want(t, 200, &s)
	if s.State != "cordoned" || s.LoadMultiplier != 3 || s.Tag != "big" || s.Secret != SecretMask {
		t.Fatalf("update: %+v", s)
	}
	if secretOf(e.pool, "bbb1") != "s1-new" {
		t.Fatal("secret not changed")
	}
	// A blank secret is ignored; an empty tag removes the tag; a missing
	// tag keeps it.
	update(map[string]any{"secret": ""}).want(t, 200, &s)
	if secretOf(e.pool, "bbb1") != "s1-new" || s.Tag != "big" {
		t.Fatalf("blank secret: %+v", s)
	}
	update(map[string]any{"tag": ""}).want(t, 200, &s)
	if s.Tag != "" {
		t.Fatalf("empty tag: %+v", s)
	}

	// Refused changes change nothing, not even the valid part.
	update(map[string]any{"state": "drain", "tag": "x"}).wantMsg(t, 400, "error", "Invalid state parameter: drain")
	update(map[string]any{"load_multiplier": 0, "state": "enable"}).wantMsg(t, 400, "error", "Load-multiplier must be a non-zero number")
	update(map[string]any{"load_multiplier": "nonsense"}).wantMsg(t, 400, "error", "Load-multiplier must be a non-zero number")
	update(map[string]any{"load_multiplier": -2}).wantMsg(t, 400, "error", "Load-multiplier must be a positive number")
	st, _ := e.pool.Server("bbb1")
	if st.State != balancer.Cordoned || st.Weight != 3 || st.Tag != "" {
		t.Fatalf("a refused change changed the server: %+v", st)
	}
	e.post("updateServer", map[string]any{"id": "nope", "server": map[string]any{"state": "enable"}}).
		wantMsg(t, 404, "error", "Couldn't find server with id=nope")

	// Kept across a restart (the config says otherwise).
	e.reopen(servers...)
	st, _ = e.pool.Server("bbb1")
	if st.State != balancer.Cordoned || st.Weight != 3 || st.Tag != "" || secretOf(e.pool, "bbb1") != "s1-new" {
		t.Fatalf("after a restart: %+v", st)
	}
}

func TestDeleteServer(t *testing.T) {
	e := newEnv(t, cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"), cfg("bbb2", "https://bbb2.example.com/bigbluebutton/api", "s2"))
	e.online("bbb1", "")
	// A server with meetings goes too (scalelite deletes regardless); the
	// meetings are forgotten.
	if _, err := e.pool.Place(context.Background(), balancer.Request{Key: "room", MeetingID: "room"}); err != nil {
		t.Fatal(err)
	}
	e.post("deleteServer", map[string]any{"id": "bbb1"}).wantMsg(t, 200, "success", "Server id=bbb1 was destroyed")
	if _, ok := e.pool.Server("bbb1"); ok {
		t.Fatal("bbb1 still in the pool")
	}
	if len(e.pool.Meetings()) != 0 {
		t.Fatal("its meetings are still in the registry")
	}
	e.post("deleteServer", map[string]any{"id": "bbb1"}).wantMsg(t, 404, "error", "Couldn't find server with id=bbb1")
	e.post("deleteServer", map[string]any{}).wantMsg(t, 404, "error", "Couldn't find server with id=")
	// A configured server stays removed across a restart.
	e.reopen(cfg("bbb1", "https://bbb1.example.com/bigbluebutton/api", "s1"), cfg("bbb2", "https://bbb2.example.com/bigbluebutton/api", "s2"))
	if _, ok := e.pool.Server("bbb1"); ok {
		t.Fatal("bbb1 came back after a restart")
	}
	e.get("getServers", "").want(t, 200, nil)
}

func TestPanicServer(t *testing.T) {
	fake, err := bbbtest.New(bbbtest.Options{Secret: "fake-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	e := newEnv(t, cfg("bbb1", fake.URL(), fake.Secret()))
	ctx := context.Background()
	e.online("bbb1", "")
	// start runs a meeting on the fake and in the registry.
	start := func(id string) {
		t.Helper()
		pl, err := e.pool.Place(ctx, balancer.Request{Key: id, MeetingID: id})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.api.Manager.Client.Do(ctx, pl.Server, "create", bbb.Query("name=Room&meetingID="+url.QueryEscape(id)), nil, "")
		if err != nil || !res.OK() {
			t.Fatalf("create on the fake: %v %v", err, res)
		}
		if err := e.pool.Confirm(ctx, id, id, "bbb1", ""); err != nil {
			t.Fatal(err)
		}
	}
	const success = "Server id=bbb1 has been disabled and the meetings have been destroyed"

	start("one")
	start("two")
	if len(fake.Meetings()) != 2 || len(e.pool.Meetings()) != 2 {
		t.Fatal("meetings not started")
	}
	e.post("panicServer", map[string]any{"id": "bbb1"}).wantMsg(t, 200, "success", success)
	if ms := fake.Meetings(); len(ms) != 0 {
		t.Fatalf("still running on the server: %v", ms)
	}
	if len(e.pool.Meetings()) != 0 {
		t.Fatal("still in the registry")
	}
	if st, _ := e.pool.Server("bbb1"); st.State != balancer.Disabled {
		t.Fatalf("not disabled: %s", st.State)
	}

	// keep_state, at the top level (scalelite's code) or in "server" (its
	// docs), keeps the state; false does not.
	for _, body := range []map[string]any{
		{"id": "bbb1", "keep_state": true},
		{"id": "bbb1", "server": map[string]any{"keep_state": true}},
		{"id": "bbb1", "keep_state": "true"},
	} {
		e.post("updateServer", map[string]any{"id": "bbb1", "server": map[string]any{"state": "enable"}}).want(t, 200, nil)
		start("three")
		e.post("panicServer", body).wantMsg(t, 200, "success", success)
		if st, _ := e.pool.Server("bbb1"); st.State != balancer.Enabled {
			t.Fatalf("%v: state %s, want it kept", body, st.State)
		}
		if len(fake.Meetings()) != 0 || len(e.pool.Meetings()) != 0 {
			t.Fatalf("%v: meetings not ended", body)
		}
	}
	e.post("panicServer", map[string]any{"id": "bbb1", "keep_state": false}).want(t, 200, nil)
	if st, _ := e.pool.Server("bbb1"); st.State != balancer.Disabled {
		t.Fatalf("keep_state false: state %s", st.State)
	}
	e.post("panicServer", map[string]any{"id": "nope"}).wantMsg(t, 404, "error", "Couldn't find server with id=nope")
}
