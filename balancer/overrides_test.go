package balancer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// overrideMem is memStore that also keeps overrides.
type overrideMem struct {
	*memStore
	mu sync.Mutex
	o  map[string]Override
}

func newOverrideMem() *overrideMem {
	return &overrideMem{memStore: newMemStore(), o: map[string]Override{}}
}

func (s *overrideMem) Overrides(context.Context) ([]Override, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Override
	for _, o := range s.o {
		out = append(out, o)
	}
	return out, nil
}
func (s *overrideMem) SaveOverride(_ context.Context, o Override) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o[o.ID] = o
	return nil
}
func (s *overrideMem) DeleteOverride(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.o, id)
	return nil
}

func TestOperatorWinsOverConfig(t *testing.T) {
	st := newOverrideMem()
	p := NewPool(st)
	cfg := servers(2)
	setOnline(p, cfg)
	ctx := context.Background()

	if _, err := p.SetState(ctx, "bbb1", Cordoned); err != nil {
		t.Fatal(err)
	}
	extra := ServerConfig{ID: "bbb9", URL: "http://10.0.0.9/bigbluebutton/api", Secret: "s"}
	if _, err := p.AddServer(ctx, extra); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddServer(ctx, extra); !errors.Is(err, ErrServerExists) {
		t.Errorf("second add: %v", err)
	}
	// The config changes the weight of bbb1: that applies; the cordon stays.
	cfg[0].Weight = 3
	p.SetServers(cfg)
	if s, _ := p.Server("bbb1"); s.State != Cordoned || s.Weight != 3 {
		t.Errorf("bbb1 after a new config: %+v", s)
	}
	if _, ok := p.Server("bbb9"); !ok {
		t.Error("run-time server lost by a new config")
	}

	// A new pool on the same store (a restart) sees the same.
	p2 := NewPool(st)
	if err := p2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	p2.SetServers(cfg)
	if s, _ := p2.Server("bbb1"); s.State != Cordoned {
		t.Errorf("after restart: %+v", s)
	}

	// Removing a configured server keeps it out, and says so.
	if _, err := p2.RemoveServer(ctx, "bbb2", false); err != nil {
		t.Fatal(err)
	}
	_, notes := p2.SetServers(cfg)
	if _, ok := p2.Server("bbb2"); ok || len(notes) != 1 || !strings.Contains(notes[0], "bbb2") {
		t.Errorf("removed server: present=%v notes=%v", ok, notes)
	}
	// Removing a run-time server leaves nothing behind.
	if _, err := p2.RemoveServer(ctx, "bbb9", false); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.o["bbb9"]; ok {
		t.Error("override of a removed run-time server kept")
	}
}

func TestRemoveAndPanicMeetings(t *testing.T) {
	p := NewPool(newOverrideMem())
	setOnline(p, servers(1))
	ctx := context.Background()
	p.Place(ctx, Request{Key: "a", MeetingID: "a"})
	p.Place(ctx, Request{Key: "b", MeetingID: "b"})
	if _, err := p.RemoveServer(ctx, "bbb1", false); !errors.Is(err, ErrHasMeetings) {
		t.Fatalf("remove with meetings: %v", err)
	}
	gone, err := p.ForgetServerMeetings(ctx, "bbb1")
	if err != nil || len(gone) != 2 {
		t.Fatalf("forget: %v %v", gone, err)
	}
	if _, err := p.Lookup("a"); err != ErrUnknownMeeting {
		t.Errorf("forgotten meeting: %v", err)
	}
	if _, err := p.RemoveServer(ctx, "bbb1", false); err != nil {
		t.Errorf("remove when empty: %v", err)
	}
}

func TestInvalidChangesRefused(t *testing.T) {
	p := NewPool(newOverrideMem())
	setOnline(p, servers(1))
	ctx := context.Background()
	bad := "not a url"
	neg := -2.0
	for _, patch := range []ServerPatch{{URL: &bad}, {Weight: &neg}} {
		if _, err := p.UpdateServer(ctx, "bbb1", patch); !IsInvalid(err) {
			t.Errorf("%+v: %v", patch, err)
		}
	}
	if _, err := p.UpdateServer(ctx, "nope", ServerPatch{Weight: &neg}); !errors.Is(err, ErrNoSuchServer) {
		t.Errorf("unknown server: %v", err)
	}
	if _, err := NewPool(newMemStore()).AddServer(ctx, servers(1)[0]); !errors.Is(err, ErrNoOverrides) {
		t.Errorf("store without overrides: %v", err)
	}
}

func TestUnchangedValuesAreNotPinned(t *testing.T) {
	st := newOverrideMem()
	p := NewPool(st)
	cfg := servers(1)
	setOnline(p, cfg)
	ctx := context.Background()
	same := cfg[0].Secret
	if _, err := p.UpdateServer(ctx, "bbb1", ServerPatch{Secret: &same}); err != nil {
		t.Fatal(err)
	}
	if o, ok := st.o["bbb1"]; ok && o.Secret != nil {
		t.Error("re-sending the same secret pinned it")
	}
	cfg[0].Secret = "rotated"
	p.SetServers(cfg)
	if p.servers["bbb1"].Secret != "rotated" {
		t.Error("the config's new secret does not apply")
	}
}
