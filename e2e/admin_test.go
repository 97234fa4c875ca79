package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// adminDo sends a request to Caddy's admin endpoint and returns the status
// and the body.
func adminDo(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://localhost:2999"+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func mustAdmin(t *testing.T, want int, method, path string, body any) string {
	t.Helper()
	code, out := adminDo(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return out
}

func TestAdminServerLifecycle(t *testing.T) {
	p := startPool(t, 1, "")
	extra := newFake(t, "extra-secret")
	c := newClient()

	// Add a server at run time: it is polled at once and takes meetings.
	mustAdmin(t, 201, "POST", "/bbb/servers", map[string]any{"id": "bbb9", "url": extra.URL(), "secret": "extra-secret", "tag": "big", "weight": 2})
	s := serverStatus(t, "bbb9")
	if !s.Online || s.State != "enabled" || s.Tag != "big" || s.Weight != 2 {
		t.Fatalf("added server: %+v", s)
	}
	mustAdmin(t, 200, "POST", "/bbb/servers/bbb9/cordon", nil)
	mustAdmin(t, 200, "PATCH", "/bbb/servers/bbb9", map[string]any{"tag": "", "weight": 1.5})
	s = serverStatus(t, "bbb9")
	if s.State != "cordoned" || s.Tag != "" || s.Weight != 1.5 {
		t.Fatalf("after cordon and patch: %+v", s)
	}
	mustAdmin(t, 200, "POST", "/bbb/servers/bbb9/enable", nil)
	mustAdmin(t, 200, "POST", "/bbb/servers/bbb1/disable", nil)
	mustOK(t, "create", c.get(t, "create", createQuery("on-nine")))
	if got := registry(t)["on-nine"]; got != "bbb9" {
		t.Fatalf("meeting on %s with bbb1 disabled", got)
	}

	// The operator's word survives a reload and a restart.
	p.load(p.caddyfile())
	if s := serverStatus(t, "bbb9"); s.State != "enabled" || s.Weight != 1.5 {
		t.Errorf("after reload: %+v", s)
	}
	if s := serverStatus(t, "bbb1"); s.State != "disabled" {
		t.Errorf("a reload undid the operator's disable: %s", s.State)
	}
	original := p.caddyfile()
	p.load(strings.Replace(original, p.db, filepath.Join(t.TempDir(), "other.sqlite"), 1))
	p.load(original)
	if s := serverStatus(t, "bbb9"); s.State != "enabled" || !s.Online {
		t.Errorf("after a restart: %+v", s)
	}
	if got := registry(t)["on-nine"]; got != "bbb9" {
		t.Errorf("meeting after restart on %q", got)
	}

	// Remove: refused while it has a meeting, unless forced.
	code, out := adminDo(t, "DELETE", "/bbb/servers/bbb9", nil)
	if code != 409 || !strings.Contains(out, "has meetings") {
		t.Errorf("remove with a meeting: %d %s", code, out)
	}
	out = mustAdmin(t, 200, "DELETE", "/bbb/servers/bbb9?force=true", nil)
	if !strings.Contains(out, `"forgotten_meetings":1`) {
		t.Errorf("forced remove: %s", out)
	}
	mustAdmin(t, 404, "GET", "/bbb/servers/bbb9", nil)

	// A configured server removed at run time stays removed across reloads.
	mustAdmin(t, 200, "DELETE", "/bbb/servers/bbb1", nil)
	p.load(p.caddyfile())
	mustAdmin(t, 404, "GET", "/bbb/servers/bbb1", nil)
	mustAdmin(t, 201, "POST", "/bbb/servers", map[string]any{"id": "bbb1", "url": p.fakes[0].URL(), "secret": p.fakes[0].Secret()})
	if s := serverStatus(t, "bbb1"); !s.Online {
		t.Errorf("re-added server: %+v", s)
	}
}

func TestAdminPanicAndMeetings(t *testing.T) {
	p := startPool(t, 2, "health_interval 50ms")
	c := newClient()
	for i := 0; i < 4; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("pm-", i))))
	}
	if err := p.fakes[0].AddAttendee(p.fakes[0].Meetings()[0], bbbtest.Attendee{FullName: "Ann", Role: "VIEWER"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "participants in the meeting list", func() bool {
		var list []struct {
			Key          string
			Participants int
		}
		_, out := adminDo(t, "GET", "/bbb/meetings", nil)
		json.Unmarshal([]byte(out), &list)
		for _, m := range list {
			if m.Participants == 1 {
				return true
			}
		}
		return false
	})

	// End one meeting by hand.
	victim := p.fakes[1].Meetings()[0]
	mustAdmin(t, 200, "DELETE", "/bbb/meetings/"+victim, nil)
	if p.holder(victim) >= 0 {
		t.Error("ended meeting still runs on its server")
	}
	mustAdmin(t, 404, "DELETE", "/bbb/meetings/"+victim, nil)

	// Panic bbb1: its meetings end and are forgotten, and it is disabled.
	out := mustAdmin(t, 200, "POST", "/bbb/servers/bbb1/panic", nil)
	if !strings.Contains(out, `"ended_meetings":2`) || len(p.fakes[0].Meetings()) != 0 {
		t.Errorf("panic: %s; fake still runs %v", out, p.fakes[0].Meetings())
	}
	if s := serverStatus(t, "bbb1"); s.State != "disabled" {
		t.Errorf("after panic: %s", s.State)
	}
	for key, server := range registry(t) {
		if server == "bbb1" {
			t.Errorf("meeting %s still registered on bbb1", key)
		}
	}
	// keep_state keeps it enabled.
	mustAdmin(t, 200, "POST", "/bbb/servers/bbb2/panic?keep_state=true", nil)
	if s := serverStatus(t, "bbb2"); s.State != "enabled" {
		t.Errorf("panic with keep_state: %s", s.State)
	}
}

func TestAdminErrors(t *testing.T) {
	p := startPool(t, 1, "")
	cases := []struct {
		method, path string
		body         any
		code         int
		want         string
	}{
		{"POST", "/bbb/servers", map[string]any{"id": "x", "url": "ftp://x/api", "secret": "s"}, 400, "not an http(s) URL"},
		{"POST", "/bbb/servers", map[string]any{"id": "x", "url": "http://x/api"}, 400, "no secret"},
		{"POST", "/bbb/servers", map[string]any{"id": "bbb1", "url": "http://x/api", "secret": "s"}, 409, "exists"},
		{"POST", "/bbb/servers", map[string]any{"id": "x", "colour": "blue"}, 400, "unknown field"},
		{"PATCH", "/bbb/servers/bbb1", map[string]any{"weight": -1}, 400, "weight"},
		{"PATCH", "/bbb/servers/bbb1", map[string]any{"state": "sleeping"}, 400, "unknown server state"},
		{"PATCH", "/bbb/servers/nope", map[string]any{"weight": 1}, 404, "no server"},
		{"POST", "/bbb/servers/nope/enable", nil, 404, "no server"},
		{"POST", "/bbb/servers/bbb1/explode", nil, 405, "not an action"},
		{"PUT", "/bbb/meetings", nil, 405, "not allowed"},
		{"DELETE", "/bbb/meetings/nobody", nil, 404, "no meeting"},
	}
	for _, c := range cases {
		code, out := adminDo(t, c.method, c.path, c.body)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, code, out, c.code, c.want)
		}
	}
	// Nothing changed, and no secret shows in any answer.
	if s := serverStatus(t, "bbb1"); s.Weight != 1 || s.State != "enabled" {
		t.Errorf("a refused change changed something: %+v", s)
	}
	_, out := adminDo(t, "GET", "/bbb/servers", nil)
	if strings.Contains(out, p.fakes[0].Secret()) {
		t.Error("secret in the listing")
	}
}

// Meeting ids with "%" and "/" can be ended through the admin API.
func TestAdminEndOddMeetingIDs(t *testing.T) {
	p := startPool(t, 1, "")
	c := newClient()
	for _, id := range []string{"50%off", "a/b c"} {
		mustOK(t, "create "+id, c.get(t, "create", createQuery(id)))
		mustAdmin(t, 200, "DELETE", "/bbb/meetings/"+url.PathEscape(id), nil)
		if p.holder(id) >= 0 {
			t.Errorf("%s still runs", id)
		}
	}
}
