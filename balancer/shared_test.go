package balancer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// sharedStore is a memStore that is also a Claimer: two pools on one
// sharedStore are two instances on one database.
type sharedStore struct{ *memStore }

func (sharedStore) Shared() bool { return true }

func (s sharedStore) ClaimMeeting(_ context.Context, rec MeetingRecord, replaces *MeetingRecord) (MeetingRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if held, ok := s.m[rec.Key]; ok && (replaces == nil || !sameRecord(held, *replaces)) {
		return held, nil
	}
	s.m[rec.Key] = rec
	return rec, nil
}

func (s sharedStore) Meeting(_ context.Context, key string) (MeetingRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	return r, ok, nil
}

func (s sharedStore) MeetingByVoiceBridge(_ context.Context, vb string) (MeetingRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.m {
		if r.VoiceBridge == vb {
			return r, true, nil
		}
	}
	return MeetingRecord{}, false, nil
}

// Two instances placing the same meeting at once: the store's first claim
// wins, and the instance that lost adopts the winner's placement.
func TestClaimAdoptsTheDatabasesPlacement(t *testing.T) {
	db := sharedStore{newMemStore()}
	a, b := NewPool(db), NewPool(db)
	cfgs := servers(4)
	setOnline(a, cfgs)
	setOnline(b, cfgs)
	// b's memory makes it choose another server than a: it knows of two
	// placements on bbb1 that a does not.
	b.Adopt(MeetingRecord{Key: "x1", MeetingID: "x1", ServerID: "bbb1", Created: time.Now()})
	b.Adopt(MeetingRecord{Key: "x2", MeetingID: "x2", ServerID: "bbb1", Created: time.Now()})
	pa, err := a.Place(context.Background(), Request{Key: "room", MeetingID: "room"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Place(context.Background(), Request{Key: "room", MeetingID: "room"})
	if err != nil {
		t.Fatal(err)
	}
	if pa.ServerID != pb.ServerID || !pa.Fresh || pb.Fresh {
		t.Fatalf("a placed on %s (fresh %v), b on %s (fresh %v): want b to take a's placement", pa.ServerID, pa.Fresh, pb.ServerID, pb.Fresh)
	}
	if r, err := b.Lookup("room"); err != nil || r.ServerID != pa.ServerID {
		t.Fatalf("b's registry: %+v %v", r, err)
	}
}

// Many creates of a few meetings on several pools at once: each meeting
// has one server in every pool's registry, the one the store holds.
func TestConcurrentClaimsAgree(t *testing.T) {
	db := sharedStore{newMemStore()}
	pools := []*Pool{NewPool(db), NewPool(db), NewPool(db)}
	for _, p := range pools {
		setOnline(p, servers(4))
	}
	var wg sync.WaitGroup
	for _, p := range pools {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := 0; m < 20; m++ {
					key := fmt.Sprint("m", m)
					if _, err := p.Place(context.Background(), Request{Key: key, MeetingID: key}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	for i, p := range pools {
		for m := 0; m < 20; m++ {
			key := fmt.Sprint("m", m)
			held, _, _ := db.Meeting(context.Background(), key)
			if r, err := p.Lookup(key); err != nil || r.ServerID != held.ServerID {
				t.Errorf("pool %d: %s on %s (%v), the store says %s", i, key, r.ServerID, err, held.ServerID)
			}
		}
	}
}

// A placement another instance made counts in this one's load at once, so
// bursts spread over instances spread over the servers.
func TestAdoptedPlacementsCountInTheLoad(t *testing.T) {
	db := sharedStore{newMemStore()}
	a, b := NewPool(db), NewPool(db)
	setOnline(a, servers(2))
	setOnline(b, servers(2))
	for i := 0; i < 10; i++ {
		pl, err := a.Place(context.Background(), Request{Key: fmt.Sprint("a", i), MeetingID: fmt.Sprint("a", i)})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, _ := db.Meeting(context.Background(), pl.Key)
		b.Adopt(rec) // as the notification does
	}
	count := map[string]int{}
	for i := 0; i < 10; i++ {
		pl, err := b.Place(context.Background(), Request{Key: fmt.Sprint("b", i), MeetingID: fmt.Sprint("b", i)})
		if err != nil {
			t.Fatal(err)
		}
		count[pl.ServerID]++
	}
	if count["bbb1"] != 5 || count["bbb2"] != 5 {
		t.Fatalf("b's 10 creates after a's 10 went %v, want 5 and 5", count)
	}
	st, _ := b.Server("bbb1")
	if st.Placed != 10 {
		t.Fatalf("b counts %d meetings on bbb1, want 10", st.Placed)
	}
}

// A removal another instance made drops only the placement it names; a
// miss of the memory is read through; Resync makes the registry the
// store's.
func TestDropReadThroughResync(t *testing.T) {
	db := sharedStore{newMemStore()}
	p := NewPool(db)
	setOnline(p, servers(2))
	t0 := time.UnixMilli(time.Now().UnixMilli())
	p.Adopt(MeetingRecord{Key: "k", MeetingID: "k", ServerID: "bbb1", Created: t0})
	p.Drop(MeetingRecord{Key: "k", ServerID: "bbb1", Created: t0.Add(-time.Second)}) // an earlier placement
	if _, err := p.Lookup("k"); err != nil {
		t.Fatalf("dropped by a removal of another placement: %v", err)
	}
	p.Drop(MeetingRecord{Key: "k", ServerID: "bbb1", Created: t0})
	if _, err := p.Lookup("k"); err != ErrUnknownMeeting {
		t.Fatalf("after its removal: %v", err)
	}

	db.SaveMeeting(context.Background(), MeetingRecord{Key: "other", MeetingID: "other", ServerID: "bbb2", Created: t0})
	if r, err := p.Join("other"); err != nil || r.ServerID != "bbb2" {
		t.Fatalf("a meeting only the store knows: %+v %v", r, err)
	}
	if _, ok := p.PlacedAt("other"); !ok {
		t.Fatal("PlacedAt does not know it")
	}

	p.Adopt(MeetingRecord{Key: "gone", MeetingID: "gone", ServerID: "bbb1", Created: t0})
	recs, _ := db.Meetings(context.Background())
	p.Resync(recs)
	if _, err := p.Lookup("gone"); err != ErrUnknownMeeting {
		t.Fatalf("Resync kept a meeting the store does not have: %v", err)
	}
	if len(p.Meetings()) != len(recs) {
		t.Fatalf("%d meetings after Resync, the store has %d", len(p.Meetings()), len(recs))
	}
}

// gatedStore holds every claim until the test lets it go, so that a
// second create of the meeting in the same instance arrives while the
// first one's claim is undecided.
type gatedStore struct {
	sharedStore
	claiming chan struct{} // a claim started
	release  chan struct{} // let it go on
}

func (s gatedStore) ClaimMeeting(ctx context.Context, rec MeetingRecord, replaces *MeetingRecord) (MeetingRecord, error) {
	s.claiming <- struct{}{}
	<-s.release
	return s.sharedStore.ClaimMeeting(ctx, rec, replaces)
}

// Two creates of one meeting in one instance, while another instance's
// placement of it is already in the database: the second create must not
// take the first one's placement while its claim is undecided (it would
// start the meeting on a server that loses the claim: a copy); both end up
// on the database's placement.
func TestPlacementWaitsForItsClaim(t *testing.T) {
	db := gatedStore{sharedStore{newMemStore()}, make(chan struct{}), make(chan struct{})}
	p := NewPool(db)
	setOnline(p, servers(2))
	// Another instance holds "room" on bbb2 already; this pool does not
	// know it yet (the notification is on its way), so it chooses bbb1.
	p.Adopt(MeetingRecord{Key: "busy", MeetingID: "busy", ServerID: "bbb2", Created: time.Now()})
	winner := MeetingRecord{Key: "room", MeetingID: "room", ServerID: "bbb2", Created: time.Now().Truncate(time.Millisecond)}
	db.m["room"] = winner

	first := make(chan Placement, 1)
	go func() {
		pl, err := p.Place(context.Background(), Request{Key: "room", MeetingID: "room"})
		if err != nil {
			t.Error(err)
		}
		first <- pl
	}()
	<-db.claiming // the first create's placement (bbb1) is claiming
	second := make(chan Placement, 1)
	go func() {
		pl, err := p.Place(context.Background(), Request{Key: "room", MeetingID: "room"})
		if err != nil {
			t.Error(err)
		}
		second <- pl
	}()
	select {
	case pl := <-second:
		t.Fatalf("the second create went to %s before the first one's claim was decided", pl.ServerID)
	case <-time.After(50 * time.Millisecond): // it waits (a wrong answer comes at once)
	}
	close(db.release)
	a, b := <-first, <-second
	if a.ServerID != "bbb2" || b.ServerID != "bbb2" {
		t.Fatalf("creates placed on %s and %s; the database holds bbb2", a.ServerID, b.ServerID)
	}
}
