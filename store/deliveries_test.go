package store

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/notify"
)

func TestDeliveries(t *testing.T) { forEachEngine(t, testDeliveries) }

func testDeliveries(t *testing.T, loc string) {
	ctx := context.Background()
	path := loc
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1715261800000)
	body := []byte("signed_parameters=a.b.c\x00\xff")
	enqueue := func(kind string, next time.Time) int64 {
		t.Helper()
		id, err := db.EnqueueDelivery(ctx, notify.Delivery{Kind: kind, URL: "https://app.example.com/cb?x=1",
			ContentType: "application/x-www-form-urlencoded", Body: body, NextAt: next, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	late := enqueue("late", t0.Add(time.Minute))
	first := enqueue("first", t0.Add(-time.Second))
	second := enqueue("second", t0)

	due, err := db.DueDeliveries(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != first || due[1].ID != second {
		t.Fatalf("due %+v, want ids %d, %d", due, first, second)
	}
	d := due[0]
	if d.Kind != "first" || d.URL != "https://app.example.com/cb?x=1" || d.ContentType != "application/x-www-form-urlencoded" ||
		!bytes.Equal(d.Body, body) || d.Attempts != 0 || !d.NextAt.Equal(t0.Add(-time.Second)) || !d.CreatedAt.Equal(t0) {
		t.Fatalf("read back %+v", d)
	}
	if db.Engine() == Postgres {
		// Read as due is taken, for a lease: another instance (or this
		// one) reads them again only once the lease has run out.
		if due, _ := db.DueDeliveries(ctx, t0, 10); len(due) != 0 {
			t.Fatalf("taken deliveries read again at once: %+v", due)
		}
		if due, _ := db.DueDeliveries(ctx, t0.Add(deliveryLease), 1); len(due) != 1 || due[0].ID != late {
			t.Fatalf("after the lease, limit 1: %+v", due)
		}
	} else if due, _ := db.DueDeliveries(ctx, t0, 1); len(due) != 1 || due[0].ID != first {
		t.Fatalf("limit 1: %+v", due)
	}

	if err := db.RescheduleDelivery(ctx, first, 1, t0.Add(2*time.Minute), "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDelivery(ctx, second); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.DueDeliveries(ctx, t0, 10); len(due) != 0 {
		t.Fatalf("due after reschedule and delete: %+v", due)
	}

	// Survives a restart.
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	due, err = db.DueDeliveries(ctx, t0.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if db.Engine() == Postgres {
		due = slices.DeleteFunc(due, func(d notify.Delivery) bool { return d.ID == late }) // taken above, for a lease
		due = append([]notify.Delivery{{ID: late}}, due...)
	}
	if len(due) != 2 || due[0].ID != late || due[1].ID != first {
		t.Fatalf("after reopen: %+v", due)
	}
	if due[1].Attempts != 1 || due[1].LastError != "HTTP 500" || !due[1].NextAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("rescheduled delivery read back as %+v", due[1])
	}
}

// A GET delivery has no body; its method and headers are kept.
func TestDeliveryMethodAndHeaders(t *testing.T) { forEachEngine(t, testDeliveryMethodAndHeaders) }

func testDeliveryMethodAndHeaders(t *testing.T, loc string) {
	ctx := context.Background()
	db, err := Open(ctx, loc)
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
