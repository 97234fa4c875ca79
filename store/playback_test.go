package store

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/notify"
)

func TestSigningKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.SigningKey(ctx, "playback")
	if err != nil || len(a) != 32 {
		t.Fatalf("SigningKey = %x, %v", a, err)
	}
	b, _ := db.SigningKey(ctx, "callbacks")
	if bytes.Equal(a, b) {
		t.Fatal("two names share a key")
	}
	// A second handle (another process) gets the same key, also after a
	// restart.
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := other.SigningKey(ctx, "playback"); !bytes.Equal(a, again) {
		t.Fatal("a second handle made another key")
	}
	other.Close()
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again, _ := db.SigningKey(ctx, "playback"); !bytes.Equal(a, again) {
		t.Fatal("the key changed across a restart")
	}
}

func TestMeetingCallbacks(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := api.MeetingCallbacks{Key: "t~room", ServerID: "bbb1", MeetingID: "room", EndedURL: "https://fe/ended",
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
	if _, ok, err := db.TakeMeetingCallback(ctx, "t~room", "bbb2", api.CallbackEnd); ok || err != nil {
		t.Fatalf("taken for another server: %v %v", ok, err)
	}
	if _, _, err := db.TakeMeetingCallback(ctx, "t~room", "bbb1", api.CallbackAnalytics); err == nil {
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
			got, ok, err := db.TakeMeetingCallback(ctx, "t~room", "bbb1", api.CallbackEnd)
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
	if got, ok, _ := db.TakeMeetingCallback(ctx, "t~room", "bbb1", api.CallbackMeetingEnded); !ok || got.EndedURL != c.EndedURL {
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
	if err := db.SaveMeetingCallbacks(ctx, api.MeetingCallbacks{Key: "new", ServerID: "bbb1", EndURL: "https://fe/x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.MeetingCallbacks(ctx, "t~room"); ok {
		t.Fatal("an old meeting's callbacks were kept")
	}
	if _, ok, _ := db.MeetingCallbacks(ctx, "new"); !ok {
		t.Fatal("the new meeting's callbacks were purged")
	}
}

// A GET delivery has no body; its method and headers are kept.
func TestDeliveryMethodAndHeaders(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if _, err := db.EnqueueDelivery(ctx, notify.Delivery{Kind: "end", Method: "GET", URL: "https://fe/end",
		Header: map[string][]string{"Authorization": {"Bearer x"}}, NextAt: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnqueueDelivery(ctx, notify.Delivery{Kind: "post", URL: "https://fe/post", Body: []byte("b"), NextAt: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	due, err := db.DueDeliveries(ctx, now, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due %+v, %v", due, err)
	}
	if d := due[0]; d.Method != "GET" || d.Header.Get("Authorization") != "Bearer x" || len(d.Body) != 0 {
		t.Fatalf("GET delivery read back as %+v", d)
	}
	if d := due[1]; d.Method != "" || d.Header != nil || string(d.Body) != "b" {
		t.Fatalf("POST delivery read back as %+v", d)
	}
}
