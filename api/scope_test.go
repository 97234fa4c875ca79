package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Every call that names another tenant's meeting from the default
// front-end is answered as for an unknown meeting before its handler
// runs: the Front has no client, so a call that reached a server would
// panic, and the registry holds beta's meeting under the very id named.
func TestForeignMeetingIDsNeverReachAHandler(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pool := balancer.NewPool(db)
	pool.SetServers([]balancer.ServerConfig{{ID: "bbb1", URL: "http://127.0.0.1:1/bigbluebutton/api", Secret: "s"}})
	pool.Report(ctx, "bbb1", balancer.Poll{}, balancer.HealthRule{})
	if _, err := pool.Place(ctx, balancer.Request{Key: "beta~x", MeetingID: "beta~x"}); err != nil {
		t.Fatal(err)
	}
	set, err := tenants.NewSet(tenants.Tenant{Secrets: []string{"pool"}}, []tenants.Tenant{{Name: "beta", Secrets: []string{"b"}, PathPrefix: "/beta"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var src atomic.Pointer[tenants.Set]
	src.Store(set)
	f := &api.Front{Tenants: &src, Logger: zap.NewNop(), Meetings: &api.Meetings{Servers: api.Servers{Pool: pool, Logger: zap.NewNop()}}}

	answers := map[string]string{
		"create":           "<messageKey>validationError</messageKey>",
		"join":             "<messageKey>invalidMeetingIdentifier</messageKey>",
		"end":              "<messageKey>notFound</messageKey>",
		"isMeetingRunning": "<running>false</running>",
		"getMeetingInfo":   "<messageKey>notFound</messageKey>",
		"insertDocument":   "<messageKey>notFound</messageKey>",
		"sendChatMessage":  "<messageKey>meetingNotFound</messageKey>",
		"getRecordings":    "<messageKey>noRecordings</messageKey>",
	}
	for call, want := range answers {
		for _, id := range []string{"beta~x", "beta%7Ex", "beta%7ex", "%62eta~x", "beta~x&meetingID=x", "zz~x"} {
			query := "meetingID=" + id + "&fullName=Eve&name=Evil"
			method := http.MethodGet
			if call == "insertDocument" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, api.Prefix+"/"+call+"?"+bbb.Sign(bbb.SHA256, call, query, "pool"), nil)
			w := httptest.NewRecorder()
			f.ServeHTTP(w, r)
			if !strings.Contains(w.Body.String(), want) || w.Code != http.StatusOK {
				t.Errorf("%s meetingID=%s: HTTP %d %s, want %s", call, id, w.Code, w.Body, want)
			}
		}
	}
}
