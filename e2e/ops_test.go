package e2e

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// metric reads one sample from Caddy's admin /metrics; series is the name
// with its labels as Prometheus prints them, e.g. x{a="1",b="2"}. A series
// not (yet) there reads 0.
func metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	p := startPool(t, 2, fastPolls)
	c := newClient()
	created := metric(t, `caddy_bbb_api_calls_total{call="create",result="success"}`)
	badSums := metric(t, `caddy_bbb_checksum_failures_total{call="getMeetingInfo"}`)
	placedBefore := metric(t, `caddy_bbb_placements_total{server="bbb1"}`) + metric(t, `caddy_bbb_placements_total{server="bbb2"}`)

	mustOK(t, "create", c.get(t, "create", createQuery("metered")))
	bad := &client{secret: "wrong", alg: bbb.SHA1, http: c.http}
	mustFail(t, "bad checksum", bad.get(t, "getMeetingInfo", "meetingID=metered"), "checksumError")
	c.get(t, "noSuchCall", "")

	if d := metric(t, `caddy_bbb_api_calls_total{call="create",result="success"}`) - created; d != 1 {
		t.Errorf("create successes counted %v, want 1", d)
	}
	if d := metric(t, `caddy_bbb_checksum_failures_total{call="getMeetingInfo"}`) - badSums; d != 1 {
		t.Errorf("checksum failures counted %v, want 1", d)
	}
	// A bad checksum on scalelite's management API is counted too.
	mgmt := metric(t, `caddy_bbb_checksum_failures_total{call="scalelite/getServers"}`)
	if resp, err := http.Get(base + "/scalelite/api/getServers?checksum=0000000000000000000000000000000000000000"); err == nil {
		resp.Body.Close()
	}
	if d := metric(t, `caddy_bbb_checksum_failures_total{call="scalelite/getServers"}`) - mgmt; d != 1 {
		t.Errorf("management API checksum failures counted %v, want 1", d)
	}
	if metric(t, `caddy_bbb_api_calls_total{call="unsupported",result="unsupportedRequest"}`) < 1 {
		t.Error("unknown calls not counted as unsupported")
	}
	placed := metric(t, `caddy_bbb_placements_total{server="bbb1"}`) + metric(t, `caddy_bbb_placements_total{server="bbb2"}`)
	if placed-placedBefore != 1 {
		t.Errorf("placements counted %v, want 1", placed-placedBefore)
	}
	on := p.holder("metered")
	id := []string{"bbb1", "bbb2"}[on]
	eventually(t, "meeting count in the server gauge", func() bool {
		return metric(t, `caddy_bbb_server_meetings{server="`+id+`"}`) == 1
	})
	if metric(t, `caddy_bbb_server_online{server="bbb1"}`) != 1 || metric(t, `caddy_bbb_server_state{server="bbb1",state="enabled"}`) != 1 {
		t.Error("bbb1 not reported online and enabled")
	}

	failures := metric(t, `caddy_bbb_poll_failures_total{server="bbb2"}`)
	p.fakes[1].SetFailure(bbbtest.FailHTTP500)
	eventually(t, "bbb2 reported offline", func() bool { return metric(t, `caddy_bbb_server_online{server="bbb2"}`) == 0 })
	if metric(t, `caddy_bbb_poll_failures_total{server="bbb2"}`)-failures < 2 {
		t.Error("poll failures not counted")
	}
	if metric(t, "caddy_bbb_poll_duration_seconds_count") == 0 {
		t.Error("poll durations not observed")
	}
	// The same collectors through the metrics directive on the site.
	p.load(strings.Replace(p.caddyfile(), "\trespond \"not the API\" 404", "\thandle /metrics {\n\t\tmetrics\n\t}\n\trespond \"not the API\" 404", 1))
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	site, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(site), `caddy_bbb_api_calls_total{call="create",result="success"}`) {
		t.Error("the metrics directive does not serve caddy_bbb_* metrics")
	}
	// Secrets never show up.
	resp, _ = http.Get("http://localhost:2999/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{lbSecret, p.fakes[0].Secret()} {
		if strings.Contains(string(body), secret) {
			t.Errorf("a secret is in /metrics")
		}
	}
}

func TestHealthCheckEndpoint(t *testing.T) {
	p := startPool(t, 1, fastPolls)
	get := func() (int, string) {
		resp, err := http.Get(base + "/health_check")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(); code != 200 || body != "success\n" {
		t.Fatalf("healthy pool: %d %q", code, body)
	}
	p.fakes[0].SetFailure(bbbtest.FailRefuse)
	eventually(t, "503 once no server is online", func() bool { code, _ := get(); return code == 503 })
	if _, body := get(); body != "Health Check Failure: no BBB server is online\n" {
		t.Errorf("reason: %q", body)
	}
	p.fakes[0].SetFailure(bbbtest.FailNone)
	eventually(t, "200 again", func() bool { code, _ := get(); return code == 200 })
}

// The admin listing never shows a secret.
func TestAdminListingHasNoSecrets(t *testing.T) {
	p := startPool(t, 2, "")
	for _, path := range []string{"/bbb/servers", "/bbb/servers/bbb1", "/bbb/meetings"} {
		resp, err := http.Get("http://localhost:2999" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		for _, f := range p.fakes {
			if strings.Contains(string(body), f.Secret()) {
				t.Errorf("%s shows a server secret", path)
			}
		}
	}
	resp, _ := http.Get("http://localhost:2999/bbb/servers/nope")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown server: %d", resp.StatusCode)
	}
}
