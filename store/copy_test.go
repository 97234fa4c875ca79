package store

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/internal/pgtest"
	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// copyFixture is what fillForCopy wrote, for the checks.
type copyFixture struct {
	recs       []recordings.Entry
	deliveries []int64
}

// fillForCopy writes at least one row into every copied table, through
// the store's own methods.
func fillForCopy(t *testing.T, db *DB) copyFixture {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var f copyFixture
	t0 := time.UnixMilli(1715261800000)
	must(db.SaveMeeting(ctx, balancer.MeetingRecord{Key: "room-1", MeetingID: "room-1", ServerID: "bbb1", Created: t0}))
	must(db.SaveMeeting(ctx, balancer.MeetingRecord{Key: "school~room-2", MeetingID: "school~room-2", ServerID: "bbb2", Created: t0.Add(time.Second)}))
	url, weight, state := "https://bbb9.example.com/bigbluebutton/api", 2.5, balancer.Cordoned
	must(db.SaveOverride(ctx, balancer.Override{ID: "bbb9", Added: true, ServerPatch: balancer.ServerPatch{URL: &url, Weight: &weight, State: &state}}))
	must(db.SaveTenantOverride(ctx, tenants.Override{Name: "school", Config: tenants.Config{Name: "school", Secrets: []string{"s1"}, Hosts: []string{"school.example.com"}}}))
	must(db.SaveTenantOverride(ctx, tenants.Override{Name: "gone", Removed: true}))

	a := entry("alpha", 1715171203311, recordings.StatePublished, "bbb-origin", "greenlight", "gl-listed", "true")
	a.ServerID = "bbb1"
	b := entry("beta", 1715171204322, recordings.StateUnpublished, "subject", "ünïcode ✓")
	c := entry("room-2", 1715171205333, recordings.StatePublished, "k", "v")
	c.Tenant = "school"
	c.Breakout = &recordings.Breakout{ParentMeetingID: "p", Sequence: 2, FreeJoin: true}
	f.recs = []recordings.Entry{a, b, c}
	_, err := db.SaveImports(ctx, f.recs)
	must(err)
	must(db.UpdateMeta(ctx, []string{a.RecordID}, []recordings.MetaEntry{{Key: "gl-listed", Value: ""}, {Key: "edited", Value: "yes"}}))
	must(db.SetProtected(ctx, []string{b.RecordID}, true))

	must(db.SaveReadyURL(ctx, "room-1", "https://app.example.com/ready", "tag1"))
	must(db.SaveMeetingCallbacks(ctx, callbacks.Meeting{Key: "room-1", ServerID: "bbb1", MeetingID: "room-1",
		EndedURL: "https://app.example.com/ended", AnalyticsURL: "https://app.example.com/analytics", SecretTag: "tag1"}))
	for i, d := range []notify.Delivery{
		{Kind: "recording_ready", URL: "https://app.example.com/ready", ContentType: "application/x-www-form-urlencoded", Body: []byte("a")},
		{Kind: "recording_ready", URL: "https://app.example.com/ready", ContentType: "application/x-www-form-urlencoded", Body: []byte("signed=a.b\x00\xff")},
		{Kind: "meeting_ended", Method: "GET", URL: "https://app.example.com/ended?id=1", Header: http.Header{"Authorization": {"Bearer x"}}},
	} {
		d.NextAt, d.CreatedAt = t0.Add(time.Duration(i)*time.Second), t0
		id, err := db.EnqueueDelivery(ctx, d)
		must(err)
		f.deliveries = append(f.deliveries, id)
	}
	// The ids copied are not 1..n, so a sequence restarted at the count
	// would collide.
	must(db.DeleteDelivery(ctx, f.deliveries[0]))
	must(db.RescheduleDelivery(ctx, f.deliveries[1], 2, t0.Add(time.Minute), "timeout"))
	for _, n := range []string{"nonce-1", "nonce-2"} {
		if ok, err := db.UseNonce(ctx, n, time.Now().Add(time.Hour)); !ok || err != nil {
			t.Fatalf("UseNonce(%s) = %v, %v", n, ok, err)
		}
	}
	for _, n := range []string{"playback", "callbacks"} {
		_, err := db.SigningKey(ctx, n)
		must(err)
	}
	return f
}

func copyOK(t *testing.T, from, to *DB) CopyReport {
	t.Helper()
	rep, err := Copy(context.Background(), from, to)
	if err != nil {
		t.Fatalf("Copy: %v (report %+v)", err, rep)
	}
	if len(rep.Tables) != len(copyTables) {
		t.Fatalf("report of %d tables, want %d", len(rep.Tables), len(copyTables))
	}
	for _, tc := range rep.Tables {
		if tc.Dest != tc.Source {
			t.Errorf("%s: %d rows in the destination, %d in the source", tc.Table, tc.Dest, tc.Source)
		}
	}
	return rep
}

func counted(rep CopyReport, table string) TableCount {
	for _, tc := range rep.Tables {
		if tc.Table == table {
			return tc
		}
	}
	return TableCount{}
}

// dumpTables reads every copied table whole (SELECT *, not Copy's column
// list), with the values as the engines give them, made comparable.
func dumpTables(t *testing.T, db *DB) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, ct := range copyTables {
		rows, err := db.db.Query("SELECT * FROM " + ct.name + " ORDER BY " + strings.Join(ct.key, ", "))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := map[string]any{}
			for i, v := range vals {
				switch v := v.(type) {
				case int32:
					row[cols[i]] = int64(v)
				case []byte:
					row[cols[i]] = fmt.Sprintf("%x", v)
				default:
					row[cols[i]] = v
				}
			}
			out[ct.name] = append(out[ct.name], row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func sameTables(t *testing.T, src, dst *DB) {
	t.Helper()
	a, b := dumpTables(t, src), dumpTables(t, dst)
	for _, ct := range copyTables {
		if !reflect.DeepEqual(a[ct.name], b[ct.name]) {
			t.Errorf("%s differs:\nsqlite   %v\npostgres %v", ct.name, a[ct.name], b[ct.name])
		}
	}
}

// sameReads reads both databases through the store's own methods.
func sameReads(t *testing.T, src, dst *DB, f copyFixture) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, read func(db *DB) (any, error)) {
		t.Helper()
		a, err := read(src)
		if err != nil {
			t.Fatalf("%s from sqlite: %v", what, err)
		}
		b, err := read(dst)
		if err != nil {
			t.Fatalf("%s from postgres: %v", what, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\nsqlite   %+v\npostgres %+v", what, a, b)
		}
	}
	same("meetings", func(db *DB) (any, error) {
		ms, err := db.Meetings(ctx)
		slices.SortFunc(ms, func(a, b balancer.MeetingRecord) int { return strings.Compare(a.Key, b.Key) })
		return ms, err
	})
	same("server overrides", func(db *DB) (any, error) { return db.Overrides(ctx) })
	same("tenant overrides", func(db *DB) (any, error) { return db.TenantOverrides(ctx) })
	ids := []string{}
	for _, e := range f.recs {
		ids = append(ids, e.RecordID)
	}
	same("recordings", func(db *DB) (any, error) {
		es, err := db.Recordings(ctx, ids)
		slices.SortFunc(es, func(a, b recordings.Entry) int { return strings.Compare(a.RecordID, b.RecordID) })
		return es, err
	})
	same("getRecordings", func(db *DB) (any, error) {
		var got []string
		_, err := db.Find(ctx, recordings.Query{AllTenants: true, States: []string{"any"}, Meta: []recordings.MetaFilter{{Key: "edited", Value: "yes"}}},
			func(e *recordings.Entry) error { got = append(got, e.RecordID); return nil })
		return got, err
	})
	same("ready URL", func(db *DB) (any, error) {
		url, tag, ok, err := db.ReadyURL(ctx, "room-1")
		return []any{url, tag, ok}, err
	})
	same("meeting callbacks", func(db *DB) (any, error) {
		c, ok, err := db.MeetingCallbacks(ctx, "room-1")
		return []any{c, ok}, err
	})
	same("signing key", func(db *DB) (any, error) { return db.SigningKey(ctx, "playback") })
	for _, n := range []string{"nonce-1", "nonce-2"} {
		if ok, err := dst.UseNonce(ctx, n, time.Now().Add(time.Hour)); ok || err != nil {
			t.Errorf("the nonce %s used before the copy is new to the destination (%v, %v)", n, ok, err)
		}
	}
}

func TestCopy(t *testing.T) {
	ctx := context.Background()
	dst := openAt(t, pgtest.Database(t))
	src := openAt(t, filepath.Join(t.TempDir(), "bbb.sqlite"))
	f := fillForCopy(t, src)

	rep := copyOK(t, src, dst)
	for _, tc := range rep.Tables {
		if tc.Source == 0 {
			t.Errorf("%s: the test copies no row of it", tc.Table)
		}
		if tc.Written != tc.Source || tc.Removed != 0 {
			t.Errorf("first copy of %s: %+v", tc.Table, tc)
		}
	}
	sameTables(t, src, dst)
	sameReads(t, src, dst, f)

	// Again: nothing changed, nothing written, nothing doubled.
	rep = copyOK(t, src, dst)
	for _, tc := range rep.Tables {
		if tc.Written != 0 || tc.Removed != 0 {
			t.Errorf("second copy of %s: %+v", tc.Table, tc)
		}
	}
	sameTables(t, src, dst)

	// The deliveries' ids continue after the copied ones.
	extra, err := dst.EnqueueDelivery(ctx, notify.Delivery{Kind: "k", URL: "https://x/", NextAt: time.Now(), CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if last := slices.Max(f.deliveries); extra <= last {
		t.Fatalf("a new delivery in the destination got id %d, not after the copied %d", extra, last)
	}

	// What changes in the source meanwhile, deletions included, is
	// carried by the next copy; what only the destination has goes.
	a, b := f.recs[0], f.recs[1]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.DeleteMeeting(ctx, "room-1"))
	must(src.DeleteDelivery(ctx, f.deliveries[2]))
	must(src.MarkDeleted(ctx, a.RecordID, "presentation"))
	must(src.UpdateMeta(ctx, []string{b.RecordID}, []recordings.MetaEntry{{Key: "subject", Value: "changed"}}))
	d := entry("delta", 1715171206344, recordings.StatePublished)
	_, err = src.SaveImports(ctx, []recordings.Entry{d})
	must(err)
	f.recs = append(f.recs, d)
	rep = copyOK(t, src, dst)
	for table, want := range map[string]TableCount{
		"meetings":             {Removed: 1},
		"deliveries":           {Removed: 2}, // one deleted in the source, one only in the destination
		"recording_formats":    {Removed: 1, Written: 2},
		"recording_thumbnails": {Removed: 2, Written: 2},
		"recording_meta_edits": {Written: 1},
		"recordings":           {Written: 3},
		"signing_keys":         {},
	} {
		if got := counted(rep, table); got.Removed != want.Removed || got.Written != want.Written {
			t.Errorf("%s after changes: %+v, want %d written, %d removed", table, got, want.Written, want.Removed)
		}
	}
	sameTables(t, src, dst)
	sameReads(t, src, dst, f)

	// Read last, as they write: the due deliveries (taken, on
	// PostgreSQL), and the metadata edits, re-applied over a re-import.
	due := func(db *DB) []notify.Delivery {
		ds, err := db.DueDeliveries(ctx, time.UnixMilli(1815261800000), 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ds {
			if len(ds[i].Body) == 0 {
				ds[i].Body = nil
			}
		}
		return ds
	}
	if a, b := due(src), due(dst); !reflect.DeepEqual(a, b) || len(a) != 1 || !bytes.Contains(a[0].Body, []byte{0, 0xff}) {
		t.Errorf("due deliveries:\nsqlite   %+v\npostgres %+v", a, b)
	}
	orig := entry("alpha", 1715171203311, recordings.StatePublished, "bbb-origin", "greenlight", "gl-listed", "true")
	for _, db := range []*DB{src, dst} {
		if _, err := db.SaveImport(ctx, orig); err != nil {
			t.Fatal(err)
		}
	}
	sameReads(t, src, dst, f)
	if got, _, _ := dst.Recording(ctx, orig.RecordID); !reflect.DeepEqual(got.Meta, []recordings.MetaEntry{{Key: "bbb-origin", Value: "greenlight"}, {Key: "edited", Value: "yes"}}) {
		t.Errorf("re-imported in the destination, the edits were not re-applied: %+v", got.Meta)
	}
}

func TestCopyRefuses(t *testing.T) {
	ctx := context.Background()
	dst := openAt(t, pgtest.Database(t))
	src := openAt(t, filepath.Join(t.TempDir(), "bbb.sqlite"))
	other := openAt(t, filepath.Join(t.TempDir(), "other.sqlite"))
	fails := func(from, to *DB, want ...string) {
		t.Helper()
		_, err := Copy(ctx, from, to)
		if err == nil {
			t.Fatalf("copied; want an error saying %q", want)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
	fails(dst, src, "source of a copy must be a SQLite")
	fails(src, other, "destination of a copy must be a PostgreSQL")

	if err := src.SaveMeeting(ctx, balancer.MeetingRecord{Key: "room-1", MeetingID: "room-1", ServerID: "bbb1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	copyOK(t, src, dst)

	// A text PostgreSQL cannot hold fails the copy, naming its row, and
	// nothing of that copy is kept.
	if err := src.SaveMeeting(ctx, balancer.MeetingRecord{Key: "room-2", MeetingID: "bad\x00id", ServerID: "bbb1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveOverride(ctx, balancer.Override{ID: "bbb9", Added: true}); err != nil {
		t.Fatal(err)
	}
	fails(src, dst, `meetings (key="room-2")`, "meeting_id holds a NUL byte")
	if ovs, _ := dst.Overrides(ctx); len(ovs) != 0 {
		t.Errorf("a failed copy left %+v", ovs)
	}
	if err := src.DeleteMeeting(ctx, "room-2"); err != nil {
		t.Fatal(err)
	}

	// Not into a database running instances use.
	if err := dst.Heartbeat(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	fails(src, dst, "balancer instances use the destination", dst.Instance())
	if err := dst.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	copyOK(t, src, dst)

	// A table this build does not know is not left behind silently.
	if _, err := src.db.Exec("CREATE TABLE later_feature (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	fails(src, dst, "later_feature")
}
