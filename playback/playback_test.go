package playback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

type refusals []string

func (r *refusals) Refused(reason string) { *r = append(*r, reason) }
func (*refusals) LinkOpened()             {}

// newServer gives a playback server over a real index with one published
// recording of each tenant ("" the default, "a" by host, "p" by path
// prefix, "gone" no longer configured); its files answer "file".
func newServer(t *testing.T) (*Server, *refusals, map[string]string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ids := map[string]string{}
	for i, tenant := range []string{"", "a", "p", "gone"} {
		id := string(rune('1'+i)) + "111111111111111111111111111111111111111-1715171203311"
		ids[tenant] = id
		e := recordings.Entry{Tenant: tenant, Recording: recordings.Recording{RecordID: id, MeetingID: "room", Published: true, State: recordings.StatePublished,
			Formats: []recordings.Format{{Type: "presentation", Path: "/playback/presentation/2.3/" + id}}}}
		if _, err := db.SaveImport(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	set, err := tenants.NewSet(tenants.Tenant{Secrets: []string{"s"}}, []tenants.Tenant{
		{Name: "a", Secrets: []string{"a"}, Hosts: []string{"a.example"}},
		{Name: "p", Secrets: []string{"p"}, PathPrefix: "/p"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var src atomic.Pointer[tenants.Set]
	src.Store(set)
	var seen refusals
	s := &Server{Index: db, Access: &recordings.Access{Key: []byte("k")}, Used: db, Logger: zap.NewNop(), Tenants: &src, Observer: &seen,
		Files: func(w http.ResponseWriter, r *http.Request) error {
			_, err := w.Write([]byte("file"))
			return err
		}}
	return s, &seen, ids
}

func get(t *testing.T, s *Server, host, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = host
	w := httptest.NewRecorder()
	if handled, err := s.Serve(w, r); !handled || err != nil {
		t.Fatalf("%s%s: handled %v, %v", host, target, handled, err)
	}
	return w
}

// A recording plays on its tenant's host only; a tenant chosen by path
// prefix alone plays on the hosts no tenant claims; a removed tenant's
// plays nowhere.
func TestTenantsByHost(t *testing.T) {
	s, seen, ids := newServer(t)
	for _, tc := range []struct {
		tenant, host string
		code         int
	}{
		{"", "bbb.example", 200},
		{"", "a.example", 404},
		{"a", "a.example", 200},
		{"a", "bbb.example", 404},
		{"p", "bbb.example", 200},
		{"p", "a.example", 404},
		{"gone", "bbb.example", 404},
		{"gone", "gone.example", 404},
	} {
		w := get(t, s, tc.host, "/presentation/"+ids[tc.tenant]+"/shapes.svg")
		if w.Code != tc.code {
			t.Errorf("tenant %q's recording on %s: HTTP %d, want %d", tc.tenant, tc.host, w.Code, tc.code)
		}
		if tc.code == 200 && (w.Body.String() != "file" || w.Header().Get("Content-Type") != "image/svg+xml") {
			t.Errorf("tenant %q's file: %q %s", tc.tenant, w.Body, w.Header().Get("Content-Type"))
		}
	}
	if len(*seen) != 5 || (*seen)[0] != "unpublished" {
		t.Errorf("refusals %v, want 5 × unpublished", *seen)
	}
}

func TestRefusalsAndRedirects(t *testing.T) {
	s, seen, ids := newServer(t)
	id := ids[""]
	for target, reason := range map[string]string{
		"/presentation/" + id + "/../" + ids["a"] + "/shapes.svg":    "unknown",
		"/presentation/not-an-id/shapes.svg":                         "unknown",
		"/presentation/4999999999999999999999999999999999999999-1/x": "unknown",
		"/video/" + id + "/video.webm":                               "unpublished", // no such format
		"/recording/" + id + "/presentation?token=forged":            "link",
	} {
		*seen = nil
		if w := get(t, s, "bbb.example", target); w.Code != 404 || len(*seen) != 1 || (*seen)[0] != reason {
			t.Errorf("%s: HTTP %d, refusals %v, want 404 for %s", target, w.Code, *seen, reason)
		}
	}
	for target, want := range map[string]string{
		"/playback/presentation/2.0/playback.html?meetingId=" + id: "/playback/presentation/2.3/" + id,
		"/playback/video/" + id + "/?t=1":                          "/video/" + id + "/?t=1",
		"/recording/screenshare/" + id + "/":                       "/screenshare/" + id + "/",
	} {
		if w := get(t, s, "bbb.example", target); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != want {
			t.Errorf("%s: HTTP %d to %q, want %q", target, w.Code, w.Header().Get("Location"), want)
		}
	}
	w := httptest.NewRecorder()
	if handled, _ := s.Serve(w, httptest.NewRequest(http.MethodGet, "/playback/presentation/2.3/"+id, nil)); handled {
		t.Error("the player's own path is not playback's")
	}
}
