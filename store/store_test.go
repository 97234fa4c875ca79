package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
)

func TestMeetingsSurviveReopen(t *testing.T) { forEachEngine(t, testMeetingsSurviveReopen) }

func testMeetingsSurviveReopen(t *testing.T, loc string) {
	ctx := context.Background()
	path := loc
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := balancer.MeetingRecord{Key: fmt.Sprint("k", i), MeetingID: fmt.Sprint("m", i), ServerID: "bbb1", Created: time.UnixMilli(int64(i))}
			if err := db.SaveMeeting(ctx, rec); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := db.DeleteMeeting(ctx, "k7"); err != nil {
		t.Fatal(err)
	}
	// Saving again updates in place.
	if err := db.SaveMeeting(ctx, balancer.MeetingRecord{Key: "k8", MeetingID: "m8", ServerID: "bbb2", Created: time.UnixMilli(8)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again runs the migrations again, harmlessly.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Meetings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 499 {
		t.Fatalf("%d meetings after reopen, want 499", len(got))
	}
	for _, m := range got {
		if m.Key == "k7" {
			t.Error("deleted meeting came back")
		}
		if m.Key == "k8" && m.ServerID != "bbb2" {
			t.Errorf("update lost: %+v", m)
		}
		if m.Key == "k9" && (m.MeetingID != "m9" || m.Created.UnixMilli() != 9) {
			t.Errorf("round trip: %+v", m)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) { forEachEngine(t, testNewerSchemaRefused) }

func testNewerSchemaRefused(t *testing.T, loc string) {
	ctx := context.Background()
	path := loc
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := "PRAGMA user_version = 999"
	if db.Engine() == Postgres {
		future = "UPDATE schema_version SET version = 999"
	}
	if _, err := db.db.Exec(future); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path); err == nil {
		t.Fatal("opened a database from a newer version")
	}
}

func TestWriteAfterClose(t *testing.T) { forEachEngine(t, testWriteAfterClose) }

func testWriteAfterClose(t *testing.T, loc string) {
	db, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.DeleteMeeting(context.Background(), "x"); err != errClosed {
		t.Errorf("write after close: %v", err)
	}
}
