package balancer

import (
	"context"

	"fmt"
	"github.com/bbb-balance/bbb_balance/bbb"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for unit tests.
type memStore struct {
	mu sync.Mutex
	m  map[string]MeetingRecord
}

func newMemStore() *memStore { return &memStore{m: map[string]MeetingRecord{}} }

func (s *memStore) Meetings(context.Context) ([]MeetingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MeetingRecord
	for _, r := range s.m {
		out = append(out, r)
	}
	return out, nil
}
func (s *memStore) SaveMeeting(_ context.Context, r MeetingRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[r.Key] = r
	return nil
}
func (s *memStore) DeleteMeeting(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func servers(n int) []ServerConfig {
	out := make([]ServerConfig, n)
	for i := range out {
		out[i] = ServerConfig{ID: fmt.Sprintf("bbb%d", i+1), URL: fmt.Sprintf("http://10.0.0.%d/bigbluebutton/api", i+1), Secret: "s"}
		if err := out[i].Normalize(); err != nil {
			panic(err)
		}
	}
	return out
}

// setOnline sets the servers and reports a good poll for each.
func setOnline(p *Pool, cfgs []ServerConfig) {
	p.SetServers(cfgs)
	for _, c := range cfgs {
		p.Report(context.Background(), c.ID, Poll{Started: time.Now()}, HealthRule{Passes: 1, Fails: 1})
	}
}

func countByServer(t *testing.T, p *Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range p.Servers() {
		out[s.ID] = s.Placed
	}
	return out
}

func TestBurstSpreadsEvenly(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(4))
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Place(context.Background(), Request{Key: fmt.Sprint("m", i), MeetingID: fmt.Sprint("m", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for id, n := range countByServer(t, p) {
		if n != 50 {
			t.Errorf("%s got %d meetings, want 50", id, n)
		}
	}
}

func TestWeightsSplitPlacements(t *testing.T) {
	p := NewPool(newMemStore())
	cfg := servers(2)
	cfg[1].Weight = 2 // fuller per meeting: takes half as many
	setOnline(p, cfg)
	for i := 0; i < 300; i++ {
		if _, err := p.Place(context.Background(), Request{Key: fmt.Sprint(i), MeetingID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if c := countByServer(t, p); c["bbb1"] != 200 || c["bbb2"] != 100 {
		t.Errorf("placements %v, want 200/100", c)
	}
}

func TestSameMeetingOneServer(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(3))
	got := make(chan string, 50)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl, err := p.Place(context.Background(), Request{Key: "room", MeetingID: "room"})
			if err != nil {
				t.Error(err)
				return
			}
			got <- pl.ServerID
		}()
	}
	wg.Wait()
	close(got)
	first := ""
	for id := range got {
		if first == "" {
			first = id
		} else if id != first {
			t.Fatalf("one meeting placed on %s and %s", first, id)
		}
	}
}

func TestDisabledOrRemovedServerReplaced(t *testing.T) {
	p := NewPool(newMemStore())
	cfg := servers(2)
	setOnline(p, cfg)
	ctx := context.Background()
	pl, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if _, err := p.Lookup("room"); err != nil {
		t.Fatal(err)
	}
	for i := range cfg {
		if cfg[i].ID == pl.ServerID {
			cfg[i].State = Disabled
		}
	}
	p.SetServers(cfg)
	if _, err := p.Lookup("room"); err != ErrUnavailable {
		t.Errorf("lookup on a disabled server: %v", err)
	}
	pl2, err := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if err != nil || pl2.ServerID == pl.ServerID || !pl2.Fresh {
		t.Fatalf("re-placement %+v %v", pl2, err)
	}
	// Removing the server drops its meetings from lookups.
	p.SetServers(cfg[:0])
	if _, err := p.Lookup("room"); err != ErrUnknownMeeting {
		t.Errorf("lookup on a removed server: %v", err)
	}
	if _, err := p.Place(ctx, Request{Key: "other", MeetingID: "other"}); err != ErrNoServer {
		t.Errorf("empty pool: %v", err)
	}
}

func TestCordonedKeepsMeetingsTakesNoNew(t *testing.T) {
	p := NewPool(newMemStore())
	cfg := servers(2)
	setOnline(p, cfg)
	ctx := context.Background()
	pl, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	for i := range cfg {
		if cfg[i].ID == pl.ServerID {
			cfg[i].State = Cordoned
		}
	}
	p.SetServers(cfg)
	if r, err := p.Lookup("room"); err != nil || r.ServerID != pl.ServerID {
		t.Errorf("join to a cordoned server: %+v %v", r, err)
	}
	again, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if again.ServerID != pl.ServerID || again.Fresh {
		t.Errorf("create of a running meeting moved it: %+v", again)
	}
	for i := 0; i < 5; i++ {
		n, _ := p.Place(ctx, Request{Key: fmt.Sprint(i), MeetingID: fmt.Sprint(i)})
		if n.ServerID == pl.ServerID {
			t.Errorf("new meeting on a cordoned server")
		}
	}
}

func TestFailedCreateUndone(t *testing.T) {
	st := newMemStore()
	p := NewPool(st)
	setOnline(p, servers(2))
	ctx := context.Background()
	pl, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if err := p.ForgetUnconfirmed(ctx, "room", pl.ServerID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Lookup("room"); err != ErrUnknownMeeting {
		t.Errorf("after undo: %v", err)
	}
	if len(st.m) != 0 {
		t.Errorf("store still has %v", st.m)
	}
	// A confirmed meeting survives a concurrent failure.
	pl, _ = p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	p.Confirm(ctx, "room", "room", pl.ServerID, "")
	p.ForgetUnconfirmed(ctx, "room", pl.ServerID)
	if _, err := p.Lookup("room"); err != nil {
		t.Errorf("confirmed meeting dropped: %v", err)
	}
}

func TestLoadRestoresRegistry(t *testing.T) {
	st := newMemStore()
	p := NewPool(st)
	setOnline(p, servers(2))
	ctx := context.Background()
	pl, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})

	p2 := NewPool(st)
	if err := p2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	p2.SetServers(servers(2))
	// Servers start offline after a restart, but the meeting's route is known.
	r, err := p2.Lookup("room")
	if err != ErrUnavailable || r.ServerID != pl.ServerID {
		t.Fatalf("after reload: %+v %v", r, err)
	}
	p2.Report(ctx, pl.ServerID, Poll{Started: time.Now(), Meetings: xmls(bbb.Meeting{MeetingID: "room"})}, HealthRule{Passes: 1})
	if r, err := p2.Lookup("room"); err != nil || r.ServerID != pl.ServerID {
		t.Errorf("after the first poll: %+v %v", r, err)
	}
}

func TestServerConfigNormalize(t *testing.T) {
	c := ServerConfig{ID: "a", URL: "https://a.example.com/bigbluebutton/api/", Secret: "x"}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://a.example.com/bigbluebutton/api" || c.Weight != 1 || c.State != Enabled || c.Algorithm != "sha256" {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []ServerConfig{
		{ID: "a", URL: "a.example.com/api", Secret: "x"},
		{ID: "a", URL: "https://a.example.com/api?x=1", Secret: "x"},
		{ID: "a", URL: "https://a.example.com/api", Secret: "x", Weight: -1},
		{ID: "a", URL: "https://a.example.com/api", Secret: "x", Algorithm: "md5"},
	} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestRouteAndServerByHost(t *testing.T) {
	p := NewPool(nil)
	p.SetServers([]ServerConfig{
		{ID: "bbb1", URL: "https://BBB1.example.com/bigbluebutton/api", Secret: "s1"},
		{ID: "bbb2", URL: "https://bbb2.example.com:8443/bigbluebutton/api", Secret: "s2"},
	})
	if id, ok := p.ServerByHost("bbb1.example.com"); !ok || id != "bbb1" {
		t.Fatalf("bbb1.example.com: %q %v", id, ok)
	}
	if id, ok := p.ServerByHost("bbb2.example.com"); !ok || id != "bbb2" {
		t.Fatalf("bbb2 (API on a port): %q %v", id, ok)
	}
	if _, ok := p.ServerByHost("bbb3.example.com"); ok {
		t.Fatal("an unknown host matched")
	}
	r, ok := p.Route("bbb2")
	if !ok || r.Server.Secret != "s2" || r.ServerID != "bbb2" {
		t.Fatalf("route: %+v %v", r, ok)
	}
	if _, ok := p.Route("nope"); ok {
		t.Fatal("unknown server has a route")
	}
}

func TestUsageByPrefix(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	ctx := context.Background()
	for _, key := range []string{"a~1", "a~2", "b~1", "plain"} {
		pl, err := p.Place(ctx, Request{Key: key, MeetingID: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Confirm(ctx, key, key, pl.ServerID, ""); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := p.Join("a~1"); err != nil {
			t.Fatal(err)
		}
	}
	if m, u := p.Usage("a"); m != 2 || u != 3 {
		t.Fatalf("a~: %d meetings %d participants, want 2 and 3", m, u)
	}
	if m, u := p.Usage("b"); m != 1 || u != 0 {
		t.Fatalf("b~: %d meetings %d participants, want 1 and 0", m, u)
	}
}

// A group's counts follow polls and meetings leaving the registry.
func TestUsageFollowsPollsAndEnds(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(1))
	ctx := context.Background()
	for _, key := range []string{"a~1", "a~2"} {
		if _, err := p.Place(ctx, Request{Key: key, MeetingID: key}); err != nil {
			t.Fatal(err)
		}
		if err := p.Confirm(ctx, key, key, "bbb1", ""); err != nil {
			t.Fatal(err)
		}
	}
	p.Join("a~1")
	p.Join("a~1")
	// The poll sees 5 in a~1 (the joins among them) and 1 in a~2.
	p.Report(ctx, "bbb1", Poll{Started: time.Now().Add(time.Second), Meetings: xmls(
		bbb.Meeting{MeetingID: "a~1", ParticipantCount: 5, Running: true}, bbb.Meeting{MeetingID: "a~2", ParticipantCount: 1, Running: true})},
		HealthRule{Passes: 1, Fails: 1})
	if m, u := p.Usage("a"); m != 2 || u != 6 {
		t.Fatalf("after the poll: %d meetings %d participants, want 2 and 6", m, u)
	}
	p.Join("a~2")
	if err := p.Forget(ctx, "a~1", "bbb1"); err != nil {
		t.Fatal(err)
	}
	if m, u := p.Usage("a"); m != 1 || u != 2 {
		t.Fatalf("after a~1 ended: %d meetings %d participants, want 1 and 2", m, u)
	}
}
