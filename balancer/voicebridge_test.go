package balancer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// 1,000 creates at once over several servers: every meeting has its own
// voice bridge, of the policy's length, first digit not 0.
func TestVoiceBridgesUniqueUnderConcurrentCreates(t *testing.T) {
	p := NewPool(newMemStore())
	setOnline(p, servers(4))
	p.SetVoiceBridges(VoiceBridgePolicy{Length: 5}) // few numbers: clashes happen
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]string{}
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 1000; i += 20 {
				key := fmt.Sprint("room-", i)
				pl, err := p.Place(context.Background(), Request{Key: key, MeetingID: key})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, taken := seen[pl.VoiceBridge]; taken {
					t.Errorf("voice bridge %s given to %s and %s", pl.VoiceBridge, other, key)
				}
				seen[pl.VoiceBridge] = key
				mu.Unlock()
				if len(pl.VoiceBridge) != 5 || pl.VoiceBridge[0] == '0' {
					t.Errorf("voice bridge %q", pl.VoiceBridge)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 1000 {
		t.Fatalf("%d voice bridges for 1000 meetings", len(seen))
	}
}

// A create again reuses the number; a meeting placed anew (its server
// went away) keeps it; one that ends frees it, and a meeting created
// later with the same id gets the same number again (stable).
func TestVoiceBridgeReusedMovedFreed(t *testing.T) {
	ctx := context.Background()
	db := newMemStore()
	p := NewPool(db)
	setOnline(p, servers(2))
	first, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	p.Confirm(ctx, "room", "room", first.ServerID, first.VoiceBridge)
	again, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if again.VoiceBridge != first.VoiceBridge || again.Fresh {
		t.Fatalf("create again: %+v, first %+v", again, first)
	}
	if db.m["room"].VoiceBridge != first.VoiceBridge {
		t.Fatalf("stored %+v", db.m["room"])
	}
	// Its server goes offline: the next create places it anew, same number.
	p.Report(ctx, first.ServerID, Poll{Started: time.Now(), Err: fmt.Errorf("down")}, HealthRule{Passes: 1, Fails: 1})
	moved, err := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if err != nil || moved.ServerID == first.ServerID || moved.VoiceBridge != first.VoiceBridge {
		t.Fatalf("placed anew: %+v %v; first %+v", moved, err, first)
	}
	if d, ok := p.ByVoiceBridge(first.VoiceBridge); !ok || d.ServerID != moved.ServerID || d.Host == "" {
		t.Fatalf("dialled: %+v %v", d, ok)
	}
	p.Confirm(ctx, "room", "room", moved.ServerID, moved.VoiceBridge)
	p.Forget(ctx, "room", moved.ServerID) // ended
	if _, ok := p.ByVoiceBridge(first.VoiceBridge); ok {
		t.Fatal("an ended meeting's number still leads to it")
	}
	later, _ := p.Place(ctx, Request{Key: "room", MeetingID: "room"})
	if later.VoiceBridge != first.VoiceBridge {
		t.Fatalf("the same meeting created later got %s, first %s", later.VoiceBridge, first.VoiceBridge)
	}
	// Numbers differ between meetings.
	other, _ := p.Place(ctx, Request{Key: "other", MeetingID: "other"})
	if other.VoiceBridge == later.VoiceBridge {
		t.Fatal("two meetings, one number")
	}
}

// With External, the front-end's own number is kept while free; another
// meeting's gets ErrVoiceBridgeTaken; without External it is ignored.
func TestExternalVoiceBridge(t *testing.T) {
	ctx := context.Background()
	p := NewPool(newMemStore())
	setOnline(p, servers(2))
	p.SetVoiceBridges(VoiceBridgePolicy{External: true})
	a, err := p.Place(ctx, Request{Key: "a", MeetingID: "a", VoiceBridge: "71234"})
	if err != nil || a.VoiceBridge != "71234" {
		t.Fatalf("external number: %+v %v", a, err)
	}
	if _, err := p.Place(ctx, Request{Key: "b", MeetingID: "b", VoiceBridge: "71234"}); err != ErrVoiceBridgeTaken {
		t.Fatalf("another meeting with the same number: %v", err)
	}
	if again, err := p.Place(ctx, Request{Key: "a", MeetingID: "a", VoiceBridge: "71234"}); err != nil || again.VoiceBridge != "71234" {
		t.Fatalf("the same meeting again: %+v %v", again, err)
	}
	if c, err := p.Place(ctx, Request{Key: "c", MeetingID: "c", VoiceBridge: "0${x}"}); err != nil || c.VoiceBridge == "0${x}" || len(c.VoiceBridge) != 9 {
		t.Fatalf("an unusable external number is replaced: %+v %v", c, err)
	}
	p.SetVoiceBridges(VoiceBridgePolicy{})
	if d, err := p.Place(ctx, Request{Key: "d", MeetingID: "d", VoiceBridge: "81234"}); err != nil || d.VoiceBridge == "81234" {
		t.Fatalf("without external: %+v %v", d, err)
	}
}

// Instances sharing a database: a number another instance gave a moment
// ago (the database refuses it) makes this one take another, unless it
// was the front-end's own (External): that one is BBB's error.
func TestVoiceBridgeTakenInTheSharedDatabase(t *testing.T) {
	db := bridgeStore{sharedStore{newMemStore()}}
	a, b := NewPool(db), NewPool(db)
	setOnline(a, servers(2))
	setOnline(b, servers(2))
	ctx := context.Background()
	// a gives "x" the number b would try first for "y"; b has not heard.
	wanted := VoiceBridgePolicy{}.WithDefaults().bridgeCandidates("y")()
	a.SetVoiceBridges(VoiceBridgePolicy{External: true})
	if pa, err := a.Place(ctx, Request{Key: "x", MeetingID: "x", VoiceBridge: wanted}); err != nil || pa.VoiceBridge != wanted {
		t.Fatalf("a: %+v %v", pa, err)
	}
	pb, err := b.Place(ctx, Request{Key: "y", MeetingID: "y"})
	if err != nil || pb.VoiceBridge == wanted || pb.VoiceBridge == "" {
		t.Fatalf("b's placement %+v %v; a took %s", pb, err, wanted)
	}
	b.SetVoiceBridges(VoiceBridgePolicy{External: true})
	if _, err := b.Place(ctx, Request{Key: "z", MeetingID: "z", VoiceBridge: wanted}); err != ErrVoiceBridgeTaken {
		t.Fatalf("b, the front-end's own number that a gave: %v", err)
	}
	if _, err := b.Lookup("z"); err != ErrUnknownMeeting {
		t.Fatalf("the refused create left a placement: %v", err)
	}
}

// bridgeStore refuses, as the database's unique index does, a voice
// bridge another meeting holds.
type bridgeStore struct{ sharedStore }

func (s bridgeStore) ClaimMeeting(ctx context.Context, rec MeetingRecord, replaces *MeetingRecord) (MeetingRecord, error) {
	s.mu.Lock()
	for _, r := range s.m {
		if r.VoiceBridge == rec.VoiceBridge && r.Key != rec.Key {
			s.mu.Unlock()
			return MeetingRecord{}, ErrVoiceBridgeTaken
		}
	}
	s.mu.Unlock()
	return s.sharedStore.ClaimMeeting(ctx, rec, replaces)
}

// A voice bridge this instance has not heard of (a meeting created on
// another a moment ago) is read through from the shared database.
func TestByVoiceBridgeReadsThrough(t *testing.T) {
	db := sharedStore{newMemStore()}
	p := NewPool(db)
	setOnline(p, servers(2))
	db.SaveMeeting(context.Background(), MeetingRecord{Key: "elsewhere", MeetingID: "elsewhere", ServerID: "bbb2",
		Created: time.UnixMilli(time.Now().UnixMilli()), VoiceBridge: "555666777"})
	d, ok := p.ByVoiceBridge("555666777")
	if !ok || d.ServerID != "bbb2" || d.MeetingID != "elsewhere" || d.Host != "10.0.0.2" {
		t.Fatalf("dialled %+v %v", d, ok)
	}
	if _, ok := p.ByVoiceBridge("${x}"); ok {
		t.Fatal("found a meeting by an unusable number")
	}
}
