package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

// scaleliteReply is an answer of scalelite's management API.
type scaleliteReply struct {
	code int
	ct   string
	body string
}

// scaleliteDo sends a call as scalelite's docs show: the checksum is
// sha256(call + query + LB secret) in the query string (query may be
// empty), and a POST carries a JSON body. secret "" sends no checksum.
func scaleliteDo(t *testing.T, method, call, query, secret, contentType, body string) scaleliteReply {
	t.Helper()
	q := query
	if secret != "" {
		q = bbb.Sign(bbb.SHA256, call, query, secret)
	}
	target := base + "/scalelite/api/" + call
	if q != "" {
		target += "?" + q
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, target, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, call, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return scaleliteReply{resp.StatusCode, resp.Header.Get("Content-Type"), string(out)}
}

func scaleliteGet(t *testing.T, call, query string) scaleliteReply {
	t.Helper()
	return scaleliteDo(t, "GET", call, query, lbSecret, "", "")
}

func scalelitePost(t *testing.T, call string, body any) scaleliteReply {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return scaleliteDo(t, "POST", call, "", lbSecret, "application/json", string(raw))
}

func (r scaleliteReply) want(t *testing.T, code int, into any) {
	t.Helper()
	if r.code != code || !strings.HasPrefix(r.ct, "application/json") {
		t.Fatalf("HTTP %d (%s) %s, want %d JSON", r.code, r.ct, r.body, code)
	}
	if into != nil {
		if err := json.Unmarshal([]byte(r.body), into); err != nil {
			t.Fatalf("unreadable JSON %q: %v", r.body, err)
		}
	}
}

func (r scaleliteReply) wantMsg(t *testing.T, code int, key, msg string) {
	t.Helper()
	var m map[string]string
	r.want(t, code, &m)
	if len(m) != 1 || m[key] != msg {
		t.Fatalf("%s, want {%q: %q}", r.body, key, msg)
	}
}

func (r scaleliteReply) wantXMLError(t *testing.T, key string) {
	t.Helper()
	var env bbb.Envelope
	if r.code != 200 || !strings.HasPrefix(r.ct, "application/xml") || xml.Unmarshal([]byte(r.body), &env) != nil ||
		env.ReturnCode != bbb.Failed || env.MessageKey != key {
		t.Fatalf("HTTP %d (%s) %q, want the XML error %s", r.code, r.ct, r.body, key)
	}
}

// scaleliteServer is the server object, decoded loosely to check types.
type scaleliteServer map[string]any

// checkShape checks a server object has scalelite's keys, in scalelite's
// order, with scalelite's JSON types, and no secret in clear.
func checkShape(t *testing.T, raw json.RawMessage) scaleliteServer {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip any
		dec.Decode(&skip)
	}
	want := []string{"id", "url", "secret", "tag", "bbb_version", "state", "load", "load_multiplier", "online"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	var s scaleliteServer
	json.Unmarshal(raw, &s)
	for _, k := range []string{"id", "url", "secret", "tag", "bbb_version", "state", "online"} {
		if _, ok := s[k].(string); !ok {
			t.Fatalf("%s is not a string: %s", k, raw)
		}
	}
	if _, ok := s["load_multiplier"].(float64); !ok {
		t.Fatalf("load_multiplier is not a number: %s", raw)
	}
	switch l := s["load"].(type) {
	case float64:
		if s["online"] != "online" {
			t.Fatalf("a load for a server that is not online: %s", raw)
		}
	case string:
		if l != "unavailable" {
			t.Fatalf("load %q: %s", l, raw)
		}
	default:
		t.Fatalf("load is neither a number nor \"unavailable\": %s", raw)
	}
	if s["secret"] != "********" {
		t.Fatalf("secret not masked: %s", raw)
	}
	if s["online"] != "online" && s["online"] != "offline" {
		t.Fatalf("online: %s", raw)
	}
	return s
}

func TestScaleliteAPI(t *testing.T) {
	p := startPool(t, 2, "")
	c := newClient()

	// getServers: every server, in scalelite's shape, secrets masked.
	r := scaleliteGet(t, "getServers", "")
	var list []json.RawMessage
	r.want(t, 200, &list)
	if len(list) != 2 {
		t.Fatalf("getServers: %s", r.body)
	}
	for _, f := range p.fakes {
		if strings.Contains(r.body, f.Secret()) || strings.Contains(r.body, lbSecret) {
			t.Fatalf("a secret is in getServers: %s", r.body)
		}
	}
	s := checkShape(t, list[0])
	admin := serverStatus(t, "bbb1")
	if s["id"] != "bbb1" || s["url"] != p.fakes[0].URL() || s["state"] != "enabled" || s["online"] != "online" ||
		s["load"] != admin.Load || s["load_multiplier"] != 1.0 || s["tag"] != "" || s["bbb_version"] != admin.Version {
		t.Fatalf("bbb1: %v, admin API says %+v", s, admin)
	}

	// getServerInfo.
	r = scaleliteGet(t, "getServerInfo", "id=bbb2")
	var raw json.RawMessage
	r.want(t, 200, &raw)
	if s := checkShape(t, raw); s["id"] != "bbb2" {
		t.Fatalf("getServerInfo: %s", r.body)
	}
	scaleliteGet(t, "getServerInfo", "id=nope").wantMsg(t, 404, "error", "Couldn't find server with id=nope")

	// The checksum rule: missing, wrong secret, signed for another call.
	scaleliteDo(t, "GET", "getServers", "", "", "", "").wantXMLError(t, "checksumError")
	scaleliteDo(t, "GET", "getServers", "", "not-the-secret", "", "").wantXMLError(t, "checksumError")
	scaleliteDo(t, "GET", "getServerInfo", "id=bbb1", p.fakes[0].Secret(), "", "").wantXMLError(t, "checksumError")
	resp, err := http.Get(base + "/scalelite/api/getServerInfo?" + bbb.Sign(bbb.SHA256, "getServers", "id=bbb1", lbSecret))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	scaleliteReply{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)}.wantXMLError(t, "checksumError")
	// The content-type rule, and calls that do not exist.
	extra := newFake(t, "extra-secret")
	add := `{"server":{"url":"` + extra.URL() + `","secret":"extra-secret","load_multiplier":2,"tag":"big"}}`
	scaleliteDo(t, "POST", "addServer", "", lbSecret, "application/x-www-form-urlencoded", add).wantXMLError(t, "unsupportedContentType")
	scaleliteDo(t, "POST", "addServer", "", lbSecret, "", add).wantXMLError(t, "unsupportedContentType")
	scaleliteDo(t, "GET", "addServer", "", lbSecret, "", "").wantXMLError(t, "unsupportedRequest")
	scaleliteDo(t, "GET", "getTenants", "", lbSecret, "", "").wantXMLError(t, "unsupportedRequest")
	if len(adminServers(t)) != 2 {
		t.Fatal("a refused call added a server")
	}

	// addServer: 201, disabled, id = the URL's host name; it is real (the
	// admin API lists it) and polled at once.
	r = scaleliteDo(t, "POST", "addServer", "", lbSecret, "application/json", add)
	r.want(t, 201, &raw)
	s = checkShape(t, raw)
	const id = "127.0.0.1"
	if s["id"] != id || s["url"] != extra.URL() || s["state"] != "disabled" || s["load"] != "unavailable" || s["load_multiplier"] != 2.0 || s["tag"] != "big" {
		t.Fatalf("addServer: %s", r.body)
	}
	if strings.Contains(r.body, "extra-secret") {
		t.Fatal("addServer returns the secret")
	}
	st, ok := adminServers(t)[id]
	if !ok || st.State != balancer.Disabled || st.Weight != 2 || st.Tag != "big" || st.URL != extra.URL() {
		t.Fatalf("the admin API shows %+v (%v)", st, ok)
	}
	eventually(t, "the added server polled", func() bool { return serverStatus(t, id).Online })
	scalelitePost(t, "addServer", map[string]any{"server": map[string]any{"url": extra.URL(), "secret": "x"}}).
		wantMsg(t, 400, "error", "Server already exists with id '"+id+"'")
	scalelitePost(t, "addServer", map[string]any{"server": map[string]any{"url": "https://bbb9.example.com/bigbluebutton/api"}}).
		wantMsg(t, 400, "error", "Server needs a URL and a secret")

	// updateServer: enable it, drop the tag, change the multiplier; disable
	// the two others, so new meetings go to it.
	r = scalelitePost(t, "updateServer", map[string]any{"id": id, "server": map[string]any{"state": "enable", "tag": "", "load_multiplier": "1.5"}})
	r.want(t, 200, &raw)
	if s := checkShape(t, raw); s["state"] != "enabled" || s["tag"] != "" || s["load_multiplier"] != 1.5 || s["online"] != "online" {
		t.Fatalf("updateServer: %s", r.body)
	}
	if st := serverStatus(t, id); st.State != balancer.Enabled || st.Tag != "" || st.Weight != 1.5 {
		t.Fatalf("the admin API shows %+v", st)
	}
	for _, other := range []string{"bbb1", "bbb2"} {
		scalelitePost(t, "updateServer", map[string]any{"id": other, "server": map[string]any{"state": "disable"}}).want(t, 200, nil)
		if st := serverStatus(t, other); st.State != balancer.Disabled {
			t.Fatalf("%s: %s", other, st.State)
		}
	}
	scalelitePost(t, "updateServer", map[string]any{"id": id, "server": map[string]any{"state": "drain"}}).
		wantMsg(t, 400, "error", "Invalid state parameter: drain")
	scalelitePost(t, "updateServer", map[string]any{"id": id, "server": map[string]any{"load_multiplier": 0}}).
		wantMsg(t, 400, "error", "Load-multiplier must be a non-zero number")
	scalelitePost(t, "updateServer", map[string]any{"id": "nope", "server": map[string]any{"state": "enable"}}).
		wantMsg(t, 404, "error", "Couldn't find server with id=nope")

	// panicServer ends the meetings on the server, forgets them and
	// disables it.
	const success = "Server id=" + id + " has been disabled and the meetings have been destroyed"
	mustOK(t, "create", c.get(t, "create", createQuery("sl-one")))
	mustOK(t, "create", c.get(t, "create", createQuery("sl-two")))
	if ms := extra.Meetings(); len(ms) != 2 {
		t.Fatalf("meetings on the added server: %v", ms)
	}
	scalelitePost(t, "panicServer", map[string]any{"id": id}).wantMsg(t, 200, "success", success)
	if ms := extra.Meetings(); len(ms) != 0 {
		t.Fatalf("panic left meetings running: %v", ms)
	}
	if reg := registry(t); len(reg) != 0 {
		t.Fatalf("panic left meetings in the registry: %v", reg)
	}
	if st := serverStatus(t, id); st.State != balancer.Disabled {
		t.Fatalf("after panic: %s", st.State)
	}
	// keep_state (in "server", as scalelite's docs put it) keeps it enabled.
	scalelitePost(t, "updateServer", map[string]any{"id": id, "server": map[string]any{"state": "enable"}}).want(t, 200, nil)
	mustOK(t, "create", c.get(t, "create", createQuery("sl-three")))
	scalelitePost(t, "panicServer", map[string]any{"id": id, "server": map[string]any{"keep_state": true}}).wantMsg(t, 200, "success", success)
	if st := serverStatus(t, id); st.State != balancer.Enabled || len(extra.Meetings()) != 0 {
		t.Fatalf("panic with keep_state: %s, %v", st.State, extra.Meetings())
	}

	// deleteServer removes a server even with a meeting on it.
	mustOK(t, "create", c.get(t, "create", createQuery("sl-four")))
	scalelitePost(t, "deleteServer", map[string]any{"id": id}).wantMsg(t, 200, "success", "Server id="+id+" was destroyed")
	if _, ok := adminServers(t)[id]; ok {
		t.Fatal("the admin API still lists the deleted server")
	}
	if _, ok := registry(t)["sl-four"]; ok {
		t.Fatal("the deleted server's meeting is still in the registry")
	}
	scaleliteGet(t, "getServerInfo", "id="+id).wantMsg(t, 404, "error", "Couldn't find server with id="+id)
	scalelitePost(t, "deleteServer", map[string]any{"id": id}).wantMsg(t, 404, "error", "Couldn't find server with id="+id)

	// Configured servers go too; with none left, getServers says so.
	for _, other := range []string{"bbb1", "bbb2"} {
		scalelitePost(t, "deleteServer", map[string]any{"id": other}).wantMsg(t, 200, "success", "Server id="+other+" was destroyed")
	}
	if len(adminServers(t)) != 0 {
		t.Fatal("servers left")
	}
	scaleliteGet(t, "getServers", "").wantMsg(t, 404, "error", "No servers are configured")
}

// Changes made through scalelite's API outlive a reload of the config.
func TestScaleliteChangesSurviveReload(t *testing.T) {
	p := startPool(t, 2, "")
	scalelitePost(t, "updateServer", map[string]any{"id": "bbb1", "server": map[string]any{"state": "disable", "load_multiplier": 3, "tag": "big"}}).want(t, 200, nil)
	scalelitePost(t, "deleteServer", map[string]any{"id": "bbb2"}).want(t, 200, nil)
	check := func(when string) {
		t.Helper()
		all := adminServers(t)
		// (Not cordoned: a poll disables a cordoned server without meetings.)
		if st, ok := all["bbb1"]; !ok || st.State != balancer.Disabled || st.Weight != 3 || st.Tag != "big" {
			t.Fatalf("bbb1 %s: %+v", when, st)
		}
		if _, ok := all["bbb2"]; ok {
			t.Fatalf("bbb2 came back %s", when)
		}
	}
	// A changed config (an unchanged one is not reloaded at all).
	p.extra = "health_timeout 4s"
	p.load(p.caddyfile())
	check("after a reload")
	// Another database and back: the engine stops, and starts again from
	// the database, as after a restart.
	original := p.caddyfile()
	p.load(strings.Replace(original, p.db, filepath.Join(t.TempDir(), "other.sqlite"), 1))
	p.load(original)
	check("after a restart")
}
