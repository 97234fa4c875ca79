package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/callbacks"
)

func TestMeetingCallbacks(t *testing.T) { forEachEngine(t, testMeetingCallbacks) }

func testMeetingCallbacks(t *testing.T, loc string) {
	ctx := context.Background()
	db, err := Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := callbacks.Meeting{Key: "t~room", ServerID: "bbb1", MeetingID: "room", EndedURL: "https://fe/ended",
		EndURL: "https://fe/end?x=1", AnalyticsURL: "https://fe/analytics", SecretTag: "abcd"}
	if err := db.SaveMeetingCallbacks(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := db.MeetingCallbacks(ctx, "t~room"); !ok || err != nil || got != c {
		t.Fatalf("MeetingCallbacks = %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := db.MeetingCallbacks(ctx, "other"); ok || err != nil {
		t.Fatalf("unknown meeting: %v %v", ok, err)
	}
	// Another server's call takes nothing.
	if _, ok, err := db.TakeMeetingCallback(ctx, "t~room", "bbb2", callbacks.End); ok || err != nil {
		t.Fatalf("taken for another server: %v %v", ok, err)
	}
	if _, _, err := db.TakeMeetingCallback(ctx, "t~room", "bbb1", callbacks.Analytics); err == nil {
		t.Fatal("analytics URLs are not taken, they stay")
	}

	// Racing takes: exactly one gets the URL.
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, ok, err := db.TakeMeetingCallback(ctx, "t~room", "bbb1", callbacks.End)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
				if got != c {
					t.Errorf("taken %+v, want %+v", got, c)
				}
			}
		}()
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("the end URL was taken %d times", taken)
	}
	after, _, _ := db.MeetingCallbacks(ctx, "t~room")
	if after.EndURL != "" || after.EndedURL != c.EndedURL || after.AnalyticsURL != c.AnalyticsURL {
		t.Fatalf("after the take: %+v", after)
	}
	if got, ok, _ := db.TakeMeetingCallback(ctx, "t~room", "bbb1", callbacks.MeetingEnded); !ok || got.EndedURL != c.EndedURL {
		t.Fatalf("meeting-ended take: %+v %v", got, ok)
	}

	// A new create replaces what the last one left; rows of meetings
	// created long ago are purged by the next save.
	c2 := c
	c2.ServerID, c2.EndURL = "bbb2", "https://fe/end2"
	if err := db.SaveMeetingCallbacks(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.MeetingCallbacks(ctx, "t~room"); got != c2 {
		t.Fatalf("after a second create: %+v", got)
	}
	if _, err := db.db.Exec("UPDATE meeting_callbacks SET created_at = ?", time.Now().Add(-callbacksKept-time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveMeetingCallbacks(ctx, callbacks.Meeting{Key: "new", ServerID: "bbb1", EndURL: "https://fe/x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.MeetingCallbacks(ctx, "t~room"); ok {
		t.Fatal("an old meeting's callbacks were kept")
	}
	if _, ok, _ := db.MeetingCallbacks(ctx, "new"); !ok {
		t.Fatal("the new meeting's callbacks were purged")
	}
}
