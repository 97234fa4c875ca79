package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// entry builds a recording of meeting m started at start (ms), with the
// given metadata as key, value pairs.
func entry(m string, start int64, state string, meta ...string) recordings.Entry {
	e := recordings.Entry{Recording: recordings.Recording{
		RecordID:  fmt.Sprintf("%040x-%013d", len(m)*1000+int(start%1000), start),
		MeetingID: m, Name: "Room " + m, State: state, Published: state == recordings.StatePublished,
		StartTime: start, EndTime: start + 60000, Participants: 3,
		Formats: []recordings.Format{
			{Type: "presentation", URL: "https://bbb1/playback/presentation/2.3/x", Path: "/playback/presentation/2.3/x", Length: 1, Size: 10,
				Thumbnails: []recordings.Thumbnail{{Width: "176", Height: "136", Alt: "a", URL: "https://bbb1/t1.png", Path: "/t1.png"}, {Width: "176", Height: "136", Alt: "b", URL: "https://bbb1/t2.png", Path: "/t2.png"}}},
			{Type: "video", URL: "https://bbb1/playback/video/x/", Path: "/playback/video/x/", Size: 20},
		},
	}}
	for i := 0; i+1 < len(meta); i += 2 {
		e.Meta = append(e.Meta, recordings.MetaEntry{Key: meta[i], Value: meta[i+1]})
	}
	return e
}

func save(t *testing.T, db *DB, es ...recordings.Entry) {
	t.Helper()
	for _, e := range es {
		if _, err := db.SaveImport(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func find(t *testing.T, db *DB, q recordings.Query) ([]string, int) {
	t.Helper()
	var ids []string
	total, err := db.Find(context.Background(), q, func(e *recordings.Entry) error {
		ids = append(ids, e.MeetingID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, total
}

func TestRecordingRoundTrip(t *testing.T) { forEachEngine(t, testRecordingRoundTrip) }

func testRecordingRoundTrip(t *testing.T, loc string) {
	db := openAt(t, loc)
	want := entry("alpha", 1715171203311, recordings.StatePublished, "bbb-origin", "greenlight", "gl-listed", "true")
	want.InternalMeetingID = want.RecordID
	want.ServerID = "bbb1"
	want.Breakout = &recordings.Breakout{ParentMeetingID: "p", Sequence: 2, FreeJoin: true}
	got, err := db.SaveImport(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	// Links are kept path-only.
	for i := range want.Formats {
		want.Formats[i].URL = ""
		for j := range want.Formats[i].Thumbnails {
			want.Formats[i].Thumbnails[j].URL = ""
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored\n%+v\nwant\n%+v", got, want)
	}
	if _, ok, err := db.Recording(context.Background(), "nope"); ok || err != nil {
		t.Fatalf("unknown id: ok=%v err=%v", ok, err)
	}
}

func TestFindFilters(t *testing.T) { forEachEngine(t, testFindFilters) }

func testFindFilters(t *testing.T, loc string) {
	db := openAt(t, loc)
	save(t, db,
		entry("alpha", 1000000000001, recordings.StatePublished, "origin", "greenlight", "course", "math-101"),
		entry("alpha", 1000000000002, recordings.StateUnpublished, "origin", "moodle", "course", "math-102"),
		entry("beta", 1000000000003, recordings.StatePublished, "origin", "greenlight", "course", "bio-101"),
		entry("gamma", 1000000000004, recordings.StateDeleted, "origin", "greenlight"),
		entry("delta", 1000000000005, recordings.StateProcessing),
	)
	for _, tc := range []struct {
		name string
		q    recordings.Query
		want []string
	}{
		{"default states, newest first", recordings.Query{}, []string{"beta", "alpha", "alpha"}},
		{"any state", recordings.Query{States: []string{"any"}}, []string{"delta", "gamma", "beta", "alpha", "alpha"}},
		{"deleted", recordings.Query{States: []string{"deleted"}}, []string{"gamma"}},
		{"two states", recordings.Query{States: []string{"processing", "unpublished"}}, []string{"delta", "alpha"}},
		{"meeting list", recordings.Query{MeetingIDs: []string{"alpha", "beta", "zeta"}}, []string{"beta", "alpha", "alpha"}},
		{"record id prefix beats meetingID", recordings.Query{RecordIDs: []string{fmt.Sprintf("%040x", 4003)}, MeetingIDs: []string{"alpha"}}, []string{"beta"}},
		{"exact meta", recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "greenlight"}}}, []string{"beta", "alpha"}},
		{"meta ANDed", recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "greenlight"}, {Key: "course", Value: "bio-101"}}}, []string{"beta"}},
		{"meta ANDed, nothing", recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "moodle"}, {Key: "course", Value: "bio-101"}}}, nil},
		{"starts with", recordings.Query{Meta: []recordings.MetaFilter{{Key: "course", Value: "math%"}}}, []string{"alpha", "alpha"}},
		{"ends with", recordings.Query{Meta: []recordings.MetaFilter{{Key: "course", Value: "%101"}}}, []string{"beta", "alpha"}},
		{"contains", recordings.Query{Meta: []recordings.MetaFilter{{Key: "course", Value: "%h-1%"}}}, []string{"alpha", "alpha"}},
		{"case-sensitive", recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "Greenlight"}}}, nil},
		{"key must exist", recordings.Query{Meta: []recordings.MetaFilter{{Key: "nokey", Value: "%"}}}, nil},
		{"bare % matches any value", recordings.Query{Meta: []recordings.MetaFilter{{Key: "course", Value: "%"}}}, []string{"beta", "alpha", "alpha"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total := find(t, db, tc.q)
			if !reflect.DeepEqual(got, tc.want) || total != len(tc.want) {
				t.Fatalf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
}

func TestFindPages(t *testing.T) { forEachEngine(t, testFindPages) }

func testFindPages(t *testing.T, loc string) {
	db := openAt(t, loc)
	for i := range 7 {
		save(t, db, entry(fmt.Sprintf("m%d", i), 1000000000000+int64(i), recordings.StatePublished))
	}
	for _, tc := range []struct {
		offset, limit int
		want          []string
	}{
		{0, 3, []string{"m6", "m5", "m4"}},
		{3, 3, []string{"m3", "m2", "m1"}},
		{6, 3, []string{"m0"}},
		{7, 3, nil},
		{100, 3, nil},
	} {
		got, total := find(t, db, recordings.Query{Offset: tc.offset, Limit: tc.limit})
		if !reflect.DeepEqual(got, tc.want) || total != 7 {
			t.Errorf("offset %d limit %d: got %v total %d, want %v total 7", tc.offset, tc.limit, got, total, tc.want)
		}
	}
}

func TestMetaEditsSurviveReimport(t *testing.T) { forEachEngine(t, testMetaEditsSurviveReimport) }

func testMetaEditsSurviveReimport(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	e := entry("alpha", 1000000000001, recordings.StatePublished, "origin", "greenlight", "title", "old")
	save(t, db, e)
	if err := db.UpdateMeta(ctx, []string{e.RecordID}, []recordings.MetaEntry{{Key: "title", Value: "new"}, {Key: "origin", Value: ""}, {Key: "added", Value: "yes"}}); err != nil {
		t.Fatal(err)
	}
	want := []recordings.MetaEntry{{Key: "title", Value: "new"}, {Key: "added", Value: "yes"}}
	for round := range 2 {
		got, _, err := db.Recording(ctx, e.RecordID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Meta, want) {
			t.Fatalf("round %d: meta %v, want %v", round, got.Meta, want)
		}
		save(t, db, e) // the server sends the recording again
	}
	if got, _ := find(t, db, recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "greenlight"}}}); got != nil {
		t.Fatalf("removed key still matches: %v", got)
	}
}

// SaveImports commits a batch at once and gives back each entry as stored,
// in order (metadata edits applied again); its connection, switched to
// synchronous=FULL for the commit, goes back to NORMAL.
func TestSaveImportsBatch(t *testing.T) { forEachEngine(t, testSaveImportsBatch) }

func testSaveImportsBatch(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	db.db.SetMaxOpenConns(1) // the commit's connection is the one read below
	a := entry("alpha", 1000000000001, recordings.StatePublished, "title", "a")
	b := entry("beta", 1000000000002, recordings.StateUnpublished, "title", "b")
	save(t, db, a)
	if err := db.UpdateMeta(ctx, []string{a.RecordID}, []recordings.MetaEntry{{Key: "title", Value: "edited"}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.SaveImports(ctx, []recordings.Entry{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RecordID != b.RecordID || got[1].RecordID != a.RecordID {
		t.Fatalf("entries %+v", got)
	}
	if want := []recordings.MetaEntry{{Key: "title", Value: "edited"}}; !reflect.DeepEqual(got[1].Meta, want) {
		t.Fatalf("meta %v, want %v", got[1].Meta, want)
	}
	if db.Engine() == SQLite {
		var sync int
		if err := db.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
			t.Fatalf("synchronous %d, %v; want 1 (NORMAL)", sync, err)
		}
	}
	// A failed batch commits nothing.
	bad := entry("gamma", 1000000000003, recordings.StatePublished)
	bad.Formats = append(bad.Formats, bad.Formats[0]) // the same format twice
	if _, err := db.SaveImports(ctx, []recordings.Entry{entry("delta", 1000000000004, recordings.StatePublished), bad}); err == nil {
		t.Fatal("a batch with a bad row committed")
	}
	if ids, _ := find(t, db, recordings.Query{MeetingIDs: []string{"delta", "gamma"}}); len(ids) != 0 {
		t.Fatalf("rows of a failed batch: %v", ids)
	}
}

func TestPublishDeleteProtect(t *testing.T) { forEachEngine(t, testPublishDeleteProtect) }

func testPublishDeleteProtect(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	e := entry("alpha", 1000000000001, recordings.StatePublished)
	save(t, db, e)
	if err := db.SetPublished(ctx, e.RecordID, false); err != nil {
		t.Fatal(err)
	}
	got, _, _ := db.Recording(ctx, e.RecordID)
	if got.Published || got.State != recordings.StateUnpublished || !got.PublishSet {
		t.Fatalf("after unpublish: %+v", got)
	}
	// An import does not clear PublishSet.
	save(t, db, e)
	if got, _, _ = db.Recording(ctx, e.RecordID); !got.PublishSet {
		t.Fatal("re-import cleared PublishSet")
	}
	if err := db.SetProtected(ctx, []string{e.RecordID}, true); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = db.Recording(ctx, e.RecordID); !got.Protected {
		t.Fatal("not protected")
	}
	if err := db.MarkDeleted(ctx, e.RecordID, "video"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = db.Recording(ctx, e.RecordID); len(got.Formats) != 1 || got.State == recordings.StateDeleted {
		t.Fatalf("after deleting one format: %+v", got)
	}
	if err := db.MarkDeleted(ctx, e.RecordID, ""); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = db.Recording(ctx, e.RecordID); len(got.Formats) != 0 || got.State != recordings.StateDeleted || got.Published {
		t.Fatalf("after delete: %+v", got)
	}
	if err := db.SetPublished(ctx, e.RecordID, true); !errors.Is(err, recordings.ErrNotFound) {
		t.Fatalf("publishing a deleted recording: %v", err)
	}
	if err := db.MarkDeleted(ctx, "nope", ""); !errors.Is(err, recordings.ErrNotFound) {
		t.Fatalf("deleting an unknown recording: %v", err)
	}
}

func TestReadyURLs(t *testing.T) { forEachEngine(t, testReadyURLs) }

func testReadyURLs(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	if _, _, ok, err := db.ReadyURL(ctx, "alpha"); ok || err != nil {
		t.Fatalf("unknown meeting: %v %v", ok, err)
	}
	for _, u := range []string{"https://a/1", "https://a/2"} {
		if err := db.SaveReadyURL(ctx, "alpha", u, "tag"); err != nil {
			t.Fatal(err)
		}
	}
	if u, tag, ok, err := db.ReadyURL(ctx, "alpha"); !ok || err != nil || u != "https://a/2" || tag != "tag" {
		t.Fatalf("got %q %q %v %v", u, tag, ok, err)
	}
}

func TestPageTotalsFollowWrites(t *testing.T) { forEachEngine(t, testPageTotalsFollowWrites) }

func testPageTotalsFollowWrites(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	q := recordings.Query{Limit: 1}
	a := entry("alpha", 1000000000001, recordings.StatePublished)
	save(t, db, a)
	if _, total := find(t, db, q); total != 1 {
		t.Fatalf("total %d, want 1", total)
	}
	save(t, db, entry("beta", 1000000000002, recordings.StatePublished))
	if _, total := find(t, db, q); total != 2 {
		t.Fatalf("after an import: total %d, want 2", total)
	}
	if err := db.MarkDeleted(ctx, a.RecordID, ""); err != nil {
		t.Fatal(err)
	}
	if _, total := find(t, db, q); total != 1 {
		t.Fatalf("after a delete: total %d, want 1", total)
	}
	if err := db.SetPublished(ctx, entry("beta", 1000000000002, "").RecordID, false); err != nil {
		t.Fatal(err)
	}
	if _, total := find(t, db, recordings.Query{Limit: 1, States: []string{"published"}}); total != 0 {
		t.Fatalf("after unpublish: %d published, want 0", total)
	}
}

func TestFindByTenant(t *testing.T) { forEachEngine(t, testFindByTenant) }

func testFindByTenant(t *testing.T, loc string) {
	db := openAt(t, loc)
	own := entry("room", 1000000000001, recordings.StatePublished, "origin", "x")
	other := entry("room", 1000000000002, recordings.StatePublished, "origin", "x")
	other.RecordID = fmt.Sprintf("%040x-%013d", 77, 1000000000002)
	other.Tenant = "school-a"
	save(t, db, own, other)
	for _, tc := range []struct {
		q    recordings.Query
		want int
	}{
		{recordings.Query{MeetingIDs: []string{"room"}}, 1},
		{recordings.Query{MeetingIDs: []string{"room"}, Tenant: "school-a"}, 1},
		{recordings.Query{Meta: []recordings.MetaFilter{{Key: "origin", Value: "x"}}, Tenant: "school-b"}, 0},
		{recordings.Query{RecordIDs: []string{other.RecordID}}, 0},
		{recordings.Query{AllTenants: true}, 2},
	} {
		var tenants []string
		n, err := db.Find(context.Background(), tc.q, func(e *recordings.Entry) error {
			tenants = append(tenants, e.Tenant)
			return nil
		})
		if err != nil || n != tc.want {
			t.Fatalf("%+v: %d (%v), want %d", tc.q, n, err, tc.want)
		}
		for _, got := range tenants {
			if !tc.q.AllTenants && got != tc.q.Tenant {
				t.Fatalf("%+v returned a recording of tenant %q", tc.q, got)
			}
		}
	}
}

// Recordings imported under the default tenant before the tenants'
// namespace rule go to the tenant their meeting id names, once.
func TestMigrationAttributesNamespacedRecordings(t *testing.T) {
	forEachEngine(t, testMigrationAttributesNamespacedRecordings)
}

func testMigrationAttributesNamespacedRecordings(t *testing.T, path string) {
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"school-b~x", "b~y~z", "Beta~y", "~z", "a-~w", "-a~w", "a.b~v", "plain", strings.Repeat("a", 64) + "~u", strings.Repeat("a", 63) + "~t"}
	for i, m := range ids {
		save(t, db, entry(m, int64(1000+i), recordings.StatePublished))
	}
	keep := entry("c~kept", 2000, recordings.StatePublished)
	keep.Tenant = "t" // attributed already: left alone
	save(t, db, keep)
	const before = 7 // the schema before migration 8, which this is about
	rewind := fmt.Sprintf("PRAGMA user_version = %d", before)
	if db.Engine() == Postgres {
		rewind = fmt.Sprintf("UPDATE schema_version SET version = %d", before)
	}
	// Undo what came after migration 8 and cannot run twice (10: voice
	// bridges; 12: recordings' sizes; 13: retention's index), so that the
	// rewound database is one of before 8's day.
	for _, undo := range []string{"DROP INDEX meetings_voice_bridge", "ALTER TABLE meetings DROP COLUMN voice_bridge",
		"DROP INDEX recordings_expiry", "ALTER TABLE recordings DROP COLUMN bytes"} {
		if _, err := db.db.Exec(undo); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.db.Exec(rewind); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]string{}
	if _, err := db.Find(ctx, recordings.Query{AllTenants: true}, func(e *recordings.Entry) error {
		got[e.Tenant+"|"+e.MeetingID] = e.RecordID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"school-b|x", "b|y~z", "|Beta~y", "|~z", "|a-~w", "|-a~w", "|a.b~v", "|plain",
		"|" + strings.Repeat("a", 64) + "~u", strings.Repeat("a", 63) + "|t", "t|c~kept"}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("no recording %q after the migration; have %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d recordings, want %d: %v", len(got), len(want), got)
	}
}

// The index summed up per tenant and state, after imports, an unpublish
// and a deletion.
func TestRecordingStats(t *testing.T) { forEachEngine(t, testRecordingStats) }

func testRecordingStats(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	if got, err := db.RecordingStats(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty index: %+v %v", got, err)
	}
	a, b, c := entry("alpha", 1000000000001, recordings.StatePublished), entry("beta", 1000000000002, recordings.StatePublished),
		entry("gamma", 1000000000003, recordings.StatePublished)
	c.Tenant = "school"
	a.Bytes, b.Bytes, c.Bytes = 5000, 1000, -1 // c's size on disk not known: its formats' sizes count
	for _, e := range []recordings.Entry{a, b, c} {
		save(t, db, e)
	}
	if err := db.SetPublished(ctx, b.RecordID, false); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDeleted(ctx, a.RecordID, "video"); err != nil { // its size is measured again
		t.Fatal(err)
	}
	if ids, err := db.UnsizedRecordings(ctx, 10); err != nil || len(ids) != 2 {
		t.Fatalf("unsized: %v %v; want alpha's and gamma's", ids, err)
	}
	got, err := db.RecordingStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []recordings.Stats{
		{Tenant: "", State: recordings.StatePublished, Recordings: 1, Bytes: 10},
		{Tenant: "", State: recordings.StateUnpublished, Recordings: 1, Bytes: 1000},
		{Tenant: "school", State: recordings.StatePublished, Recordings: 1, Bytes: 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	if err := db.SetRecordingBytes(ctx, c.RecordID, 777); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.RecordingStats(ctx); got[2].Bytes != 777 {
		t.Fatalf("after measuring gamma: %+v", got)
	}
	if e, _, _ := db.Recording(ctx, c.RecordID); e.Bytes != 777 {
		t.Fatalf("gamma's Bytes %d", e.Bytes)
	}
	if err := db.MarkDeleted(ctx, b.RecordID, ""); err != nil {
		t.Fatal(err)
	}
	got, _ = db.RecordingStats(ctx)
	if len(got) != 3 || got[0] != (recordings.Stats{Tenant: "", State: recordings.StateDeleted, Recordings: 1, Bytes: 0}) {
		t.Fatalf("after deleting beta: %+v", got)
	}
}

func TestExpiryCandidates(t *testing.T) { forEachEngine(t, testExpiryCandidates) }

// The query behind retention, on both engines: the states' cutoffs, the
// tenants, the keep rules (getRecordings' wildcards), oldest first, and
// the cursor.
func testExpiryCandidates(t *testing.T, loc string) {
	db := openAt(t, loc)
	ctx := context.Background()
	tenant := func(e recordings.Entry, name string) recordings.Entry { e.Tenant = name; return e }
	save(t, db,
		entry("p1", 1000, recordings.StatePublished),
		entry("p2", 2000, recordings.StatePublished),
		entry("p3", 5000, recordings.StatePublished),
		entry("u1", 1500, recordings.StateUnpublished),
		entry("u2", 3500, recordings.StateUnpublished),
		entry("k1", 1100, recordings.StatePublished, "bbb-retain", "true"),
		entry("k2", 1200, recordings.StatePublished, "course", "law-2025"),
		tenant(entry("a1", 1300, recordings.StatePublished), "school-a"),
		tenant(entry("b1", 1400, recordings.StatePublished), "school-b"),
	)
	if err := db.MarkDeleted(ctx, entry("p2", 2000, "").RecordID, ""); err != nil {
		t.Fatal(err)
	}
	ids := func(q recordings.ExpiryQuery, limit int) string {
		t.Helper()
		es, err := db.ExpiryCandidates(ctx, q, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.MeetingID)
		}
		return strings.Join(out, ",")
	}
	keep := []recordings.MetaFilter{{Key: "bbb-retain", Value: "true"}, {Key: "course", Value: "law-%"}}
	for _, c := range []struct {
		name string
		q    recordings.ExpiryQuery
		want string
	}{
		{"every tenant but a", recordings.ExpiryQuery{Others: true, Except: []string{"school-a"}, PublishedBefore: 4000, UnpublishedBefore: 2000, Keep: keep}, "p1,b1,u1"},
		{"no keep rules", recordings.ExpiryQuery{Others: true, PublishedBefore: 1250}, "p1,k1,k2"},
		{"one tenant", recordings.ExpiryQuery{Tenant: "school-a", PublishedBefore: 9000}, "a1"},
		{"the default tenant", recordings.ExpiryQuery{Tenant: "", PublishedBefore: 1250, Keep: keep}, "p1"},
		{"unpublished only", recordings.ExpiryQuery{Others: true, UnpublishedBefore: 9000}, "u1,u2"},
		{"after the cursor", recordings.ExpiryQuery{Others: true, PublishedBefore: 9000, AfterStartTime: 1300, AfterRecordID: entry("a1", 1300, "").RecordID}, "b1,p3"},
		{"nothing due", recordings.ExpiryQuery{Others: true}, ""},
	} {
		if got := ids(c.q, 10); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := ids(recordings.ExpiryQuery{Others: true, PublishedBefore: 9000, UnpublishedBefore: 9000}, 2); got != "p1,k1" {
		t.Errorf("limit 2: %q", got)
	}
}
