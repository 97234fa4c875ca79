package recordings_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

type importRig struct {
	t      *testing.T
	lib    *recordings.Library
	db     *store.DB
	obs    *importObserver
	dbPath string
}

func newImportRig(t *testing.T) *importRig {
	t.Helper()
	lib := newLibrary(t)
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &importRig{t: t, lib: lib, db: db, obs: &importObserver{}, dbPath: path}
}

func (r *importRig) importer(mod func(*recordings.ImporterConfig)) *recordings.Importer {
	r.t.Helper()
	c := recordings.ImporterConfig{Library: r.lib, Store: r.db, Settle: -1, Observer: r.obs}
	if mod != nil {
		mod(&c)
	}
	im, err := recordings.NewImporter(c)
	if err != nil {
		r.t.Fatal(err)
	}
	return im
}

// spool writes a tar into the spool the way writers should: a dot file
// renamed into place.
func (r *importRig) spool(name string, b []byte) string {
	r.t.Helper()
	tmp := filepath.Join(r.lib.SpoolDir, "."+name+".part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	p := filepath.Join(r.lib.SpoolDir, name)
	if err := os.Rename(tmp, p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *importRig) entry(id string) (recordings.Entry, bool) {
	r.t.Helper()
	e, ok, err := r.db.Recording(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return e, ok
}

func (r *importRig) spoolNames() []string {
	ents, _ := os.ReadDir(r.lib.SpoolDir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// consistent checks that row and files of recording id agree: every
// format of the row has its directory (with metadata.xml) in the tree of
// its published flag and none in the other tree, and no format directory
// exists without its row.
func (r *importRig) consistent(id string) recordings.Entry {
	r.t.Helper()
	e, ok := r.entry(id)
	dirs := formatsOf(r.t, r.lib, id)
	if !ok || e.State == recordings.StateDeleted {
		if len(dirs) != 0 {
			r.t.Fatalf("%s: files without a recording: %v", id, dirs)
		}
		return e
	}
	var want []recordings.FormatDir
	for _, f := range e.Formats {
		want = append(want, recordings.FormatDir{Format: f.Type, Published: e.Published})
		if _, err := os.Stat(filepath.Join(r.lib.Dir(id, f.Type, e.Published), "metadata.xml")); err != nil {
			r.t.Fatalf("%s: format %s: %v", id, f.Type, err)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Format < want[j].Format })
	if !reflect.DeepEqual(dirs, want) {
		r.t.Fatalf("%s: directories %v, row says %v", id, dirs, want)
	}
	wantState := recordings.StateUnpublished
	if e.Published {
		wantState = recordings.StatePublished
	}
	if e.State != wantState {
		r.t.Fatalf("%s: state %q with published=%t", id, e.State, e.Published)
	}
	return e
}

type importObserver struct {
	mu       sync.Mutex
	imported []string
	failed   []string
}

func (o *importObserver) Imported(e recordings.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.imported = append(o.imported, e.RecordID)
}

func (o *importObserver) Failed(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, reason)
}

func (o *importObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.imported), len(o.failed)
}

func formatTypes(e recordings.Entry) string {
	var s []string
	for _, f := range e.Formats {
		s = append(s, f.Type)
	}
	return strings.Join(s, ",")
}

func TestImportTarPublished(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.ServerForHost = func(h string) string { return map[string]string{"bbb1.example.com": "bbb1"}[h] }
	})
	id := recID(1)
	p := r.spool(id+".tar", recordingTar(t, id, true, "presentation", "video"))
	if err := im.ImportTar(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e := r.consistent(id)
	if !e.Published || e.State != recordings.StatePublished || e.ServerID != "bbb1" || e.Protected || e.PublishSet ||
		formatTypes(e) != "presentation,video" || e.MeetingID != "room-alpha" {
		t.Fatalf("entry %+v", e)
	}
	if b, err := os.ReadFile(filepath.Join(r.lib.Dir(id, "video", true), "video-0.m4v")); err != nil || len(b) != 1500 {
		t.Fatalf("video file: %d bytes, %v", len(b), err)
	}
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("spool: %v", names)
	}
	if n, f := r.obs.counts(); n != 1 || f != 0 {
		t.Fatalf("importObserver: %d imported, %d failed", n, f)
	}
	workEmpty(t, r.lib)
}

func TestImportTarServerFromName(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.ServerForHost = func(string) string { return "from-host" }
		c.ProtectByDefault = true
	})
	id := recID(1)
	// The upload endpoint's name: the server id is path-escaped and may
	// hold dots; a gzip tar may be named .tar.gz.
	name := strings.TrimSuffix(recordings.UploadName(id, "bbb/2.example.org"), ".tar") + ".tar.gz"
	p := r.spool(name, gzipped(t, recordingTar(t, id, true, "presentation")))
	if err := im.ImportTar(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); e.ServerID != "bbb/2.example.org" || !e.Protected {
		t.Fatalf("entry %+v", e)
	}
	// A name that names another recording than the tar holds is refused.
	other := recID(2)
	p = r.spool(other+".bbb3.tar", recordingTar(t, id, true, "video"))
	if err := im.ImportTar(context.Background(), p); !errors.Is(err, recordings.ErrBadRecording) {
		t.Fatalf("err = %v", err)
	}
}

func TestImportUnpublished(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) { c.ImportUnpublished = true })
	id := recID(1)
	if err := im.ImportTar(context.Background(), r.spool("a.tar", recordingTar(t, id, true, "presentation"))); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); e.Published || e.State != recordings.StateUnpublished {
		t.Fatalf("entry %+v", e)
	}
	// Metadata that says unpublished lands unpublished without the option.
	id2 := recID(2)
	if err := r.importer(nil).ImportTar(context.Background(), r.spool("b.tar", recordingTar(t, id2, false, "video"))); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id2); e.Published {
		t.Fatalf("entry %+v", e)
	}
}

// publish does what the API does for publishRecordings.
func (r *importRig) publish(id string, published bool) {
	r.t.Helper()
	unlock := r.lib.Lock(id)
	defer unlock()
	if err := r.lib.SetPublished(id, nil, published); err != nil {
		r.t.Fatal(err)
	}
	if err := r.db.SetPublished(context.Background(), id, published); err != nil {
		r.t.Fatal(err)
	}
}

func TestReimportKeepsAPIChanges(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	ctx := context.Background()
	id := recID(1)
	if err := im.ImportTar(ctx, r.spool("1.tar", recordingTar(t, id, true, "presentation"))); err != nil {
		t.Fatal(err)
	}
	r.publish(id, false)
	if err := r.db.SetProtected(ctx, []string{id}, true); err != nil {
		t.Fatal(err)
	}
	if err := r.db.UpdateMeta(ctx, []string{id}, []recordings.MetaEntry{{Key: "bbb-origin", Value: "edited"}}); err != nil {
		t.Fatal(err)
	}
	// BBB sends the recording again with a new format, published.
	if err := im.ImportTar(ctx, r.spool("2.tar", recordingTar(t, id, true, "presentation", "video"))); err != nil {
		t.Fatal(err)
	}
	e := r.consistent(id)
	if e.Published || !e.PublishSet || !e.Protected || formatTypes(e) != "presentation,video" {
		t.Fatalf("entry %+v", e)
	}
	if v, _ := e.MetaValue("bbb-origin"); v != "edited" {
		t.Fatalf("meta edit lost: %q", v)
	}
	// A later tar without the presentation format keeps it (scalelite #888).
	if err := im.ImportTar(ctx, r.spool("3.tar", recordingTar(t, id, true, "podcast"))); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); formatTypes(e) != "podcast,presentation,video" || e.Published {
		t.Fatalf("entry %+v", e)
	}
	workEmpty(t, r.lib)
}

func TestReimportMovesKeptFormatsWithThePublishedState(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	ctx := context.Background()
	id := recID(1)
	if err := im.ImportTar(ctx, r.spool("1.tar", recordingTar(t, id, false, "presentation"))); err != nil {
		t.Fatal(err)
	}
	// Not changed through the API: the metadata decides, for every format.
	if err := im.ImportTar(ctx, r.spool("2.tar", recordingTar(t, id, true, "video"))); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); !e.Published || formatTypes(e) != "video,presentation" {
		t.Fatalf("entry %+v", e)
	}
}

func TestDeletedStaysDeleted(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	ctx := context.Background()
	id := recID(1)
	if err := im.ImportTar(ctx, r.spool("1.tar", recordingTar(t, id, true, "presentation"))); err != nil {
		t.Fatal(err)
	}
	func() { // what deleteRecordings does
		unlock := r.lib.Lock(id)
		defer unlock()
		if err := r.lib.Remove(id, ""); err != nil {
			t.Fatal(err)
		}
		if err := r.db.MarkDeleted(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
	}()
	if err := im.ImportTar(ctx, r.spool("2.tar", recordingTar(t, id, true, "presentation", "video"))); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); e.State != recordings.StateDeleted || len(e.Formats) != 0 {
		t.Fatalf("resurrected: %+v", e)
	}
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("tar kept: %v", names)
	}
	workEmpty(t, r.lib)
}

func TestBadTarGoesToFailedAndQueueGoesOn(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	ctx := context.Background()
	id := recID(1)
	bad := r.spool("bad.tar", buildTar(t, append(formatFiles(id, "video", true), tarFile("/etc/passwd", "x"))))
	past := time.Now().Add(-time.Hour)
	os.Chtimes(bad, past, past) // oldest: taken first
	r.spool("good.tar", recordingTar(t, recID(2), true, "video"))
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	r.consistent(recID(2))
	if _, ok := r.entry(id); ok {
		t.Fatal("bad tar imported")
	}
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("spool: %v", names)
	}
	if _, err := os.Stat(filepath.Join(r.lib.FailedDir, "bad.tar")); err != nil {
		t.Fatal(err)
	}
	why, err := os.ReadFile(filepath.Join(r.lib.FailedDir, "bad.tar.error"))
	if err != nil || !strings.Contains(string(why), "absolute name") {
		t.Fatalf(".error: %q, %v", why, err)
	}
	if n, f := r.obs.counts(); n != 1 || f != 1 {
		t.Fatalf("importObserver: %d imported, %d failed", n, f)
	}
	// A second bad tar of the same name does not overwrite the first.
	r.spool("bad.tar", []byte("garbage"))
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.lib.FailedDir, "bad.tar.1.error")); err != nil {
		t.Fatal(err)
	}
	workEmpty(t, r.lib)
}

func TestSpoolSkipsOtherNames(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	tar := recordingTar(t, recID(1), true, "video")
	for _, n := range []string{".hidden.tar", "x.tar.part", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(r.lib.SpoolDir, n), tar, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := im.ImportSpool(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.entry(recID(1)); ok {
		t.Fatal("imported a file it should not take")
	}
	if got := r.spoolNames(); len(got) != 3 {
		t.Fatalf("spool %v", got)
	}
}

func TestSettle(t *testing.T) {
	r := newImportRig(t)
	now := time.Now()
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.Settle = 5 * time.Second
		c.Now = func() time.Time { return now }
	})
	id := recID(1)
	p := r.spool(id+".tar", recordingTar(t, id, true, "video"))
	mod := now.Add(-2 * time.Second)
	os.Chtimes(p, mod, mod)
	next, err := im.ImportSpool(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.entry(id); ok {
		t.Fatal("taken before it settled")
	}
	if !next.Equal(mod.Add(5 * time.Second)) {
		t.Fatalf("next = %v, want %v", next, mod.Add(5*time.Second))
	}
	now = next
	if next, err = im.ImportSpool(context.Background()); err != nil || !next.IsZero() {
		t.Fatalf("next %v, %v", next, err)
	}
	r.consistent(id)

	// An mtime ahead of our clock (a writer with a fast clock) settles
	// from when the importer first saw the file.
	id2 := recID(2)
	p = r.spool(id2+".tar", recordingTar(t, id2, true, "video"))
	ahead := now.Add(time.Hour)
	os.Chtimes(p, ahead, ahead)
	if next, _ = im.ImportSpool(context.Background()); !next.Equal(now.Add(5 * time.Second)) {
		t.Fatalf("next = %v, want %v", next, now.Add(5*time.Second))
	}
	now = now.Add(4 * time.Second)
	if next, _ = im.ImportSpool(context.Background()); !next.Equal(now.Add(time.Second)) {
		t.Fatalf("next = %v, want %v", next, now.Add(time.Second))
	}
	if _, ok := r.entry(id2); ok {
		t.Fatal("taken before it settled")
	}
	now = next
	if _, err := im.ImportSpool(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.consistent(id2)
}

// flakyStore fails SaveImports while fail is set.
type flakyStore struct {
	*store.DB
	mu    sync.Mutex
	fail  error
	calls int
}

func (s *flakyStore) SaveImports(ctx context.Context, es []recordings.Entry) ([]recordings.Entry, error) {
	s.mu.Lock()
	s.calls++
	err := s.fail
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.DB.SaveImports(ctx, es)
}

func TestSaveImportFailureRollsBackAndRetries(t *testing.T) {
	r := newImportRig(t)
	ctx := context.Background()
	id := recID(1)
	if err := r.importer(nil).ImportTar(ctx, r.spool("1.tar", recordingTar(t, id, true, "presentation"))); err != nil {
		t.Fatal(err)
	}
	fs := &flakyStore{DB: r.db, fail: errors.New("database is locked")}
	r.spool("2.tar", recordingTar(t, id, true, "presentation", "video"))
	now := time.Now()
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.Store = fs
		c.Now = func() time.Time { return now }
		c.MaxAttempts = 3
		c.RetryBackoff = time.Minute
	})
	next, err := im.ImportSpool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); formatTypes(e) != "presentation" {
		t.Fatalf("half-done: %+v", e)
	}
	if !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("retry at %v, want %v", next, now.Add(time.Minute))
	}
	// Not retried before its time.
	if _, err := im.ImportSpool(ctx); err != nil || fs.calls != 1 {
		t.Fatalf("calls %d, %v", fs.calls, err)
	}
	now = next
	if next, _ = im.ImportSpool(ctx); fs.calls != 2 || !next.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("calls %d, next %v", fs.calls, next)
	}
	// The database is back.
	fs.mu.Lock()
	fs.fail = nil
	fs.mu.Unlock()
	now = next
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); formatTypes(e) != "presentation,video" {
		t.Fatalf("entry %+v", e)
	}
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("spool: %v", names)
	}
	workEmpty(t, r.lib)
}

func TestRetriesAreBounded(t *testing.T) {
	r := newImportRig(t)
	fs := &flakyStore{DB: r.db, fail: errors.New("disk I/O error")}
	r.spool("1.tar", recordingTar(t, recID(1), true, "video"))
	now := time.Now()
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.Store = fs
		c.Now = func() time.Time { return now }
		c.MaxAttempts = 3
	})
	for i := 0; i < 10; i++ {
		next, err := im.ImportSpool(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if next.IsZero() {
			break
		}
		now = next
	}
	if fs.calls != 3 {
		t.Fatalf("%d attempts, want 3", fs.calls)
	}
	why, err := os.ReadFile(filepath.Join(r.lib.FailedDir, "1.tar.error"))
	if err != nil || !strings.Contains(string(why), "gave up after 3 attempts: disk I/O error") {
		t.Fatalf(".error %q, %v", why, err)
	}
	r.consistent(recID(1))
}

// The fsnotify path: a tar renamed into the spool is imported by Run
// without waiting for the periodic scan.
func TestRunPicksUpRenamedTar(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) { c.ScanInterval = time.Hour })
	// Leftovers of a killed run are cleared at start.
	left := filepath.Join(r.lib.WorkDir, "import-left")
	os.Mkdir(left, 0o755)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(left, past, past)
	waiting := recID(1)
	r.spool("waiting.tar", recordingTar(t, waiting, true, "video"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- im.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	id := recID(2)
	r.awaitRow(waiting)
	r.spool(id+".tar", recordingTar(t, id, true, "presentation"))
	r.awaitRow(id)
	r.consistent(id)
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover kept: %v", err)
	}
}

// A tar written in place (not renamed in) is taken once it settled: the
// pass after the events is scheduled Settle later, not by the scan.
func TestRunTakesTarWrittenInPlaceAfterSettle(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.ScanInterval = time.Hour
		c.Settle = 100 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- im.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Run is watching once its first pass found the spool empty; a tar
	// renamed in proves it.
	r.spool(recID(1)+".tar", recordingTar(t, recID(1), true, "video"))
	r.awaitRow(recID(1))
	id := recID(2)
	if err := os.WriteFile(filepath.Join(r.lib.SpoolDir, id+".tar"), recordingTar(t, id, true, "presentation"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.awaitRow(id)
	r.consistent(id)
}

func (r *importRig) awaitRow(id string) {
	r.t.Helper()
	r.await(id+" not imported", func() bool {
		_, ok := r.entry(id)
		return ok
	})
}

// await polls until cond holds, and fails with what after a while.
func (r *importRig) await(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s in time; spool %v", what, r.spoolNames())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cancelStore cancels the import's context inside SaveImports, before the
// commit: the importer is stopped at its most delicate point.
type cancelStore struct {
	*store.DB
	cancel context.CancelFunc
}

func (s *cancelStore) SaveImports(ctx context.Context, es []recordings.Entry) ([]recordings.Entry, error) {
	s.cancel()
	return s.DB.SaveImports(ctx, es)
}

func TestInterruptedImportResumes(t *testing.T) {
	r := newImportRig(t)
	id := recID(1)
	bg := context.Background()
	if err := r.importer(nil).ImportTar(bg, r.spool("1.tar", recordingTar(t, id, true, "presentation"))); err != nil {
		t.Fatal(err)
	}
	r.spool("2.tar", recordingTar(t, id, true, "presentation", "video"))
	r.spool("3.tar", recordingTar(t, recID(2), true, "podcast"))
	ctx, cancel := context.WithCancel(bg)
	im := r.importer(func(c *recordings.ImporterConfig) { c.Store = &cancelStore{DB: r.db, cancel: cancel} })
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopped: the old state is whole and the tars wait.
	if e := r.consistent(id); formatTypes(e) != "presentation" {
		t.Fatalf("half-done: %+v", e)
	}
	if got := r.spoolNames(); len(got) != 2 {
		t.Fatalf("spool %v", got)
	}
	// A new importer on the same directories and database finishes.
	if _, err := r.importer(nil).ImportSpool(bg); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); formatTypes(e) != "presentation,video" {
		t.Fatalf("entry %+v", e)
	}
	r.consistent(recID(2))
	if got := r.spoolNames(); len(got) != 0 {
		t.Fatalf("spool %v", got)
	}
}

// BenchmarkImportTar imports recordings of two formats from tars, one
// at a time as the importer does (recordings/s = 1e9 / ns/op).
func BenchmarkImportTar(b *testing.B) {
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "x.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	im, err := recordings.NewImporter(recordings.ImporterConfig{Library: lib, Store: db, Settle: -1})
	if err != nil {
		b.Fatal(err)
	}
	tars := make([][]byte, b.N)
	for i := range tars {
		tars[i] = recordingTar(b, recID(i), true, "presentation", "video")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(lib.SpoolDir, fmt.Sprintf("%d.tar", i))
		if err := os.WriteFile(p, tars[i], 0o644); err != nil {
			b.Fatal(err)
		}
		if err := im.ImportTar(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// hookStore runs hook inside SaveImports, before committing.
type hookStore struct {
	*store.DB
	hook func()
}

func (s *hookStore) SaveImports(ctx context.Context, es []recordings.Entry) ([]recordings.Entry, error) {
	if s.hook != nil {
		s.hook()
		s.hook = nil
	}
	return s.DB.SaveImports(ctx, es)
}

// A newer tar of the same name sent while the older one is being imported
// must survive that import (the server published another format).
func TestNewerTarDuringImportIsKept(t *testing.T) {
	r := newImportRig(t)
	ctx := context.Background()
	id := recID(7)
	p := r.spool(id+".tar", recordingTar(t, id, true, "presentation"))
	hs := &hookStore{DB: r.db, hook: func() { r.spool(id+".tar", recordingTar(t, id, true, "presentation", "video")) }}
	im := r.importer(func(c *recordings.ImporterConfig) { c.Store = hs })
	if err := im.ImportTar(ctx, p); err != nil {
		t.Fatal(err)
	}
	if names := r.spoolNames(); len(names) != 1 || names[0] != id+".tar" {
		t.Fatalf("spool after the first import: %v, want the newer tar", names)
	}
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); len(e.Formats) != 2 {
		t.Fatalf("after the newer tar: %d formats", len(e.Formats))
	}
}

// A claim left by a crashed import goes back to the spool on the next pass.
func TestCrashedClaimIsRecovered(t *testing.T) {
	r := newImportRig(t)
	id := recID(8)
	if err := os.WriteFile(filepath.Join(r.lib.SpoolDir, "."+id+".tar.importing"), recordingTar(t, id, true, "presentation"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.importer(nil).ImportSpool(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.consistent(id)
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("spool: %v", names)
	}
}

// One pass over tars of the same recording and others: the later tar of a
// recording waits for the earlier one's commit (the committer holds its
// lock) and is applied over it, in the spool's order.
func TestSpoolPassWithTheSameRecordingTwice(t *testing.T) {
	r := newImportRig(t)
	ctx := context.Background()
	id := recID(20)
	base := time.Now().Add(-time.Hour)
	tars := []struct {
		name string
		b    []byte
	}{
		{"a.tar", recordingTar(t, id, true, "presentation")},
		{"b.tar", recordingTar(t, recID(21), true, "video")},
		{"c.tar", recordingTar(t, id, true, "presentation", "video")},
		{"d.tar", recordingTar(t, recID(22), false, "podcast")},
	}
	for i, tr := range tars {
		p := r.spool(tr.name, tr.b)
		at := base.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.importer(nil).ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.consistent(id); formatTypes(e) != "presentation,video" {
		t.Fatalf("%s: %+v", id, e)
	}
	r.consistent(recID(21))
	if e := r.consistent(recID(22)); e.Published {
		t.Fatalf("%s: %+v", recID(22), e)
	}
	if n, f := r.obs.counts(); n != 4 || f != 0 {
		t.Fatalf("observer: %d imported, %d failed", n, f)
	}
	if names := r.spoolNames(); len(names) != 0 {
		t.Fatalf("spool: %v", names)
	}
	workEmpty(t, r.lib)
}

// An import records the recording's size on disk; a recording whose size
// the index does not know (indexed before it kept sizes) is measured by
// the importer's walk in the background.
func TestImportRecordsSizeAndTheWalkFillsItIn(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	id := recID(7)
	p := r.spool(id+".tar", recordingTar(t, id, true, "presentation", "video"))
	if err := im.ImportTar(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	want, err := r.lib.DiskSize(id)
	if err != nil || want < 1500 { // the video file alone has 1500 bytes
		t.Fatalf("on disk: %d, %v", want, err)
	}
	if e, _ := r.entry(id); e.Bytes != want {
		t.Fatalf("indexed size %d, on disk %d", e.Bytes, want)
	}
	// Forgotten, as by an index from before sizes were kept.
	if err := r.db.SetRecordingBytes(context.Background(), id, -1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { im.Run(ctx); close(done) }()
	r.await("the walk did not measure the recording", func() bool {
		e, _ := r.entry(id)
		return e.Bytes == want
	})
	cancel()
	<-done
}
