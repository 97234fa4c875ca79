package multi

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// The operator console's page served by one instance acts through
// another (a load balancer without sticky sessions in front of both): its
// CSRF token is signed with the pool's key, which the instances share
// through the database.
func TestConsoleActsThroughAnotherInstance(t *testing.T) {
	p := newPool(t, 2, sharedDB(t), "")
	p.site = "\tbbb_console /console"
	a, b := p.start("a"), p.start("b")

	resp, err := httpClient.Get(a.base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("a's console page: %d, no token in\n%s", resp.StatusCode, page)
	}

	act := func(in *instance, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, in.base+"/console/actions/cordon", strings.NewReader(`{"server":"bbb1"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-CSRF-Token", token)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := act(b, "not-the-token"); code != http.StatusForbidden {
		t.Fatalf("b took a wrong token: %d %s", code, body)
	}
	if code, body := act(b, string(m[1])); code != http.StatusOK {
		t.Fatalf("b refused the token of a's page: %d %s", code, body)
	}
	eventually(t, "a sees bbb1 cordoned", func() bool { return a.servers(t)["bbb1"].State == balancer.Cordoned })
}
