package recordings_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

// putFiles writes the files of format of r into the published (or
// unpublished) tree, as a BBB server or a person copying them would.
func putFiles(t *testing.T, lib *recordings.Library, r rectest.Recording, format string, published bool) {
	t.Helper()
	root := lib.UnpublishedDir
	if published {
		root = lib.PublishedDir
	}
	writeTree(t, root, r.Entries(format))
}

// copyDir copies the directory from to to (which must not exist).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeOld makes p look last changed two hours ago.
func makeOld(t *testing.T, p string) {
	t.Helper()
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, past, past); err != nil {
		t.Fatal(err)
	}
}

// librarySnapshot is every entry under the library's root (files with
// their size and time) and every index entry: what a check that does not
// repair, or a repair with nothing to do, leaves as it is. (work/'s lock
// file is the importer's, taken while the spool's claims are judged.)
func librarySnapshot(t *testing.T, r *importRig) string {
	t.Helper()
	var b strings.Builder
	root := filepath.Dir(r.lib.SpoolDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Name() == ".importer.lock" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			fmt.Fprintf(&b, "%s %v\n", rel, fi.Mode())
		} else {
			fmt.Fprintf(&b, "%s %v %d %d\n", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.db.Find(context.Background(), recordings.Query{States: []string{"any"}, AllTenants: true}, func(e *recordings.Entry) error {
		fmt.Fprintf(&b, "%s %s %t [%s] %q %d\n", e.RecordID, e.State, e.Published, formatTypes(*e), e.Tenant, e.Bytes)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func check(t *testing.T, im *recordings.Importer, repair bool) recordings.CheckReport {
	t.Helper()
	rep, err := im.Check(context.Background(), recordings.CheckOptions{Repair: repair, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// findingsByKey indexes a report's findings by "kind id format" (the
// path's base name for those without a record id).
func findingsByKey(t *testing.T, rep recordings.CheckReport) map[string]recordings.Finding {
	t.Helper()
	out := map[string]recordings.Finding{}
	for _, f := range rep.Findings {
		k := f.Kind + " " + f.RecordID + " " + f.Format
		if f.RecordID == "" {
			k = f.Kind + " " + filepath.Base(f.Path)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("two findings %s: %+v", k, rep.Findings)
		}
		out[k] = f
	}
	return out
}

// A library broken in each way a check knows: it reports each with the
// repair's action and changes nothing; the repair fixes each but those a
// person must decide on, after which the index agrees with the files; a
// second repair finds only those and changes nothing.
func TestCheckAndRepair(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(func(c *recordings.ImporterConfig) {
		c.TenantOf = func(m string) (string, string) {
			if rest, ok := strings.CutPrefix(m, "t1-"); ok {
				return "t1", rest
			}
			return "", m
		}
	})
	ctx := context.Background()
	lib := r.lib
	ids := map[string]string{}
	for i, name := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"} {
		ids[name] = recID(i)
	}
	imported := map[string][]string{"A": {"presentation", "video"}, "B": {"presentation"}, "D": {"presentation"},
		"E": {"presentation", "video"}, "G": {"presentation"}, "H": {"presentation"}, "I": {"presentation"}, "L": {"presentation"}}
	for name, formats := range imported {
		r.spool(ids[name]+".tar", recordingTar(t, ids[name], true, formats...))
	}
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	for name := range imported {
		r.consistent(ids[name])
	}
	if rep := check(t, im, false); len(rep.Findings) != 0 || rep.Recordings != len(imported) || rep.Directories != 10 {
		t.Fatalf("a sound library: %+v", rep)
	}

	// A: a format's directory is gone; B: its only one.
	os.RemoveAll(lib.Dir(ids["A"], "video", true))
	os.RemoveAll(lib.Dir(ids["B"], "presentation", true))
	// C: files without an index entry, of a tenant's meeting.
	putFiles(t, lib, rectest.Recording{ID: ids["C"], MeetingID: "t1-room", Published: true}, "presentation", true)
	// D: a format the index does not list.
	putFiles(t, lib, testRecording(ids["D"], true), "video", true)
	// E: deleted, but a delete that did not finish left the files.
	if err := r.db.MarkDeleted(ctx, ids["E"], ""); err != nil {
		t.Fatal(err)
	}
	// F: a directory whose metadata.xml cannot be read.
	os.MkdirAll(lib.Dir(ids["F"], "presentation", true), 0o755)
	os.WriteFile(filepath.Join(lib.Dir(ids["F"], "presentation", true), "metadata.xml"), []byte("<recording><id>"), 0o644)
	// And an entry that is no recording at all.
	os.MkdirAll(filepath.Join(lib.PublishedDir, "presentation", "not-a-recording"), 0o755)
	// G: published, its files in unpublished/.
	os.MkdirAll(filepath.Join(lib.UnpublishedDir, "presentation"), 0o755)
	if err := os.Rename(lib.Dir(ids["G"], "presentation", true), lib.Dir(ids["G"], "presentation", false)); err != nil {
		t.Fatal(err)
	}
	// H: in both trees, the same; I: in both, different.
	copyDir(t, lib.Dir(ids["H"], "presentation", true), lib.Dir(ids["H"], "presentation", false))
	copyDir(t, lib.Dir(ids["I"], "presentation", true), lib.Dir(ids["I"], "presentation", false))
	os.WriteFile(filepath.Join(lib.Dir(ids["I"], "presentation", false), "edited.txt"), []byte("by hand"), 0o644)
	// K: files without an entry in unpublished/: they stay unpublished,
	// whatever their metadata.xml says.
	putFiles(t, lib, testRecording(ids["K"], true), "presentation", false)
	// The spool: an upload that stopped, one being written, and a tar
	// claimed by an import that died.
	stalePart := filepath.Join(lib.SpoolDir, ".upload-1.part")
	os.WriteFile(stalePart, []byte("half a tar"), 0o644)
	makeOld(t, stalePart)
	os.WriteFile(filepath.Join(lib.SpoolDir, ".upload-2.part"), []byte("being written"), 0o644)
	claimed := filepath.Join(lib.SpoolDir, "."+ids["J"]+".tar.importing")
	os.WriteFile(claimed, recordingTar(t, ids["J"], true, "presentation"), 0o644)
	// work/: what an import that died left, and what one running uses.
	os.MkdirAll(filepath.Join(lib.WorkDir, "import-old", "presentation"), 0o755)
	makeOld(t, filepath.Join(lib.WorkDir, "import-old"))
	os.MkdirAll(filepath.Join(lib.WorkDir, "import-new"), 0o755)

	before := librarySnapshot(t, r)
	rep := check(t, im, false)
	if after := librarySnapshot(t, r); after != before {
		t.Fatalf("a check without repair changed the library:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	type want struct {
		action string // a part of it
		manual bool
	}
	wants := map[string]want{
		"missing_files " + ids["A"] + " video":        {"mark the format removed in the index", false},
		"missing_files " + ids["B"] + " presentation": {"the recording is marked deleted", false},
		"orphan " + ids["C"] + " presentation":        {"re-import it from its metadata.xml, published", false},
		"orphan " + ids["D"] + " video":               {"re-import it from its metadata.xml, published", false},
		"orphan " + ids["E"] + " presentation":        {"remove them", false},
		"orphan " + ids["E"] + " video":               {"remove them", false},
		"orphan " + ids["F"] + " presentation":        {"leave: it cannot be re-imported", true},
		"orphan not-a-recording":                      {"leave", true},
		"misplaced " + ids["G"] + " presentation":     {"move it to published/", false},
		"misplaced " + ids["H"] + " presentation":     {"remove the copy in unpublished/", false},
		"misplaced " + ids["I"] + " presentation":     {"leave: the copies differ", true},
		"orphan " + ids["K"] + " presentation":        {"re-import it from its metadata.xml, unpublished", false},
		"stale_part .upload-1.part":                   {"remove", false},
		"stale_claim ." + ids["J"] + ".tar.importing": {"rename it back to " + ids["J"] + ".tar", false},
		"stale_work import-old":                       {"remove", false},
	}
	got := findingsByKey(t, rep)
	for k, w := range wants {
		f, ok := got[k]
		if !ok {
			t.Errorf("no finding %s", k)
			continue
		}
		if !strings.Contains(f.Action, w.action) || f.Manual != w.manual || f.Repaired || f.Problem == "" {
			t.Errorf("%s: %+v, want the action %q, manual %t", k, f, w.action, w.manual)
		}
	}
	for k, f := range got {
		if _, ok := wants[k]; !ok {
			t.Errorf("unexpected finding %s: %+v", k, f)
		}
	}
	if rep.Remaining != len(wants) || rep.Repaired != 0 || rep.Counts["orphan"] != 7 || rep.Unlisted != 0 {
		t.Fatalf("report: %+v", rep)
	}

	rep = check(t, im, true)
	got = findingsByKey(t, rep)
	for k, w := range wants {
		if f := got[k]; f.Repaired == w.manual || (f.Error != "") {
			t.Errorf("repair of %s: %+v", k, f)
		}
	}
	if rep.Repaired != len(wants)-3 || rep.Remaining != 3 {
		t.Fatalf("repair report: %+v", rep)
	}

	// What the repair made: the index (as getRecordings reads it) agrees
	// with the files, but for I's two copies and F, left for a person.
	listed := map[string]recordings.Entry{}
	if _, err := r.db.Find(ctx, recordings.Query{AllTenants: true}, func(e *recordings.Entry) error {
		listed[e.RecordID] = *e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A", "C", "D", "G", "H", "K", "L"} {
		e := r.consistent(ids[name])
		if _, ok := listed[ids[name]]; !ok {
			t.Errorf("%s is not listed", name)
		}
		wantFormats := map[string]string{"A": "presentation", "D": "video,presentation"}[name]
		if wantFormats == "" {
			wantFormats = "presentation"
		}
		if formatTypes(e) != wantFormats {
			t.Errorf("%s: formats %s, want %s", name, formatTypes(e), wantFormats)
		}
	}
	if e := r.consistent(ids["C"]); e.Tenant != "t1" || e.MeetingID != "room" || !e.Published {
		t.Errorf("C re-imported as %+v: want tenant t1's published room", e)
	}
	if e := r.consistent(ids["K"]); e.Published || e.State != recordings.StateUnpublished {
		t.Errorf("K re-imported as %+v: want unpublished", e)
	}
	for _, name := range []string{"B", "E"} {
		if e := r.consistent(ids[name]); e.State != recordings.StateDeleted {
			t.Errorf("%s: %+v, want deleted", name, e)
		}
	}
	if len(listed) != 8 {
		t.Errorf("listed: %d recordings, want A, C, D, G, H, I, K, L", len(listed))
	}
	if _, err := os.Stat(filepath.Join(lib.Dir(ids["I"], "presentation", false), "edited.txt")); err != nil {
		t.Errorf("I's differing copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lib.Dir(ids["F"], "presentation", true), "metadata.xml")); err != nil {
		t.Errorf("F's unreadable files: %v", err)
	}
	names := r.spoolNames()
	sort.Strings(names)
	if strings.Join(names, " ") != ".upload-2.part "+ids["J"]+".tar" {
		t.Errorf("spool after the repair: %v", names)
	}
	if _, err := os.Stat(filepath.Join(lib.WorkDir, "import-old")); err == nil {
		t.Errorf("work/import-old is still there")
	}
	if ents, _ := os.ReadDir(lib.WorkDir); len(ents) != 2 || ents[0].Name() != ".importer.lock" || ents[1].Name() != "import-new" {
		t.Errorf("work/ after the repair: %v, want only the lock and import-new", ents)
	}

	before = librarySnapshot(t, r)
	rep = check(t, im, true)
	if after := librarySnapshot(t, r); after != before {
		t.Fatalf("a second repair changed the library:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	got = findingsByKey(t, rep)
	for k, f := range got {
		if w, ok := wants[k]; !ok || !w.manual || f.Repaired {
			t.Errorf("second repair: %s: %+v", k, f)
		}
	}
	if len(got) != 3 || rep.Repaired != 0 || rep.Remaining != 3 {
		t.Fatalf("second repair: %+v", rep)
	}
}

// A recording whose only indexed format lost its files, and whose other
// directory cannot be re-imported: dropping the format would delete the
// recording, and a later check would then remove the directory as the
// files of a deleted recording. Both are left to a person.
func TestCheckKeepsARecordingWithUnindexedFiles(t *testing.T) {
	r := newImportRig(t)
	ctx := context.Background()
	id := recID(1)
	r.spool(id+".tar", recordingTar(t, id, true, "presentation"))
	im := r.importer(nil)
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(r.lib.Dir(id, "presentation", true))
	video := r.lib.Dir(id, "video", true)
	os.MkdirAll(video, 0o755)
	os.WriteFile(filepath.Join(video, "metadata.xml"), []byte("not xml"), 0o644)

	before := librarySnapshot(t, r)
	rep := check(t, im, true)
	if after := librarySnapshot(t, r); after != before {
		t.Fatalf("the repair changed the library:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	got := findingsByKey(t, rep)
	if f := got["missing_files "+id+" presentation"]; !f.Manual || f.Repaired {
		t.Errorf("the missing format: %+v", f)
	}
	if f := got["orphan "+id+" video"]; !f.Manual || f.Repaired {
		t.Errorf("the unreadable directory: %+v", f)
	}
	if len(got) != 2 || rep.Manual != 2 || rep.Remaining != 2 {
		t.Fatalf("report: %+v", rep)
	}
}

// A recording where the index and the files disagree only for a moment (a
// delete between its row and its files) is judged again under its lock,
// with the index read again: it is no problem and the repair leaves it.
func TestCheckJudgesUnderTheLock(t *testing.T) {
	r := newImportRig(t)
	ctx := context.Background()
	id := recID(1)
	r.spool(id+".tar", recordingTar(t, id, true, "presentation"))
	im := r.importer(nil)
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	// The delete has marked the row and not yet removed the files when
	// the check walks the trees; it has when the check looks again.
	if err := r.db.MarkDeleted(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	index := &pageHook{DB: r.db, after: func() {
		unlock := r.lib.Lock(id)
		defer unlock()
		if err := r.lib.Remove(id, ""); err != nil {
			t.Error(err)
		}
	}}
	im = r.importer(func(c *recordings.ImporterConfig) { c.Store = index })
	if rep := check(t, im, true); len(rep.Findings) != 0 || rep.Recordings != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if !index.called {
		t.Fatal("the hook did not run")
	}
}

// pageHook runs after once the index's first page is read.
type pageHook struct {
	*store.DB
	after  func()
	called bool
}

func (h *pageHook) IndexPage(ctx context.Context, after string, limit int) ([]recordings.IndexRow, error) {
	rows, err := h.DB.IndexPage(ctx, after, limit)
	if !h.called {
		h.called = true
		h.after()
	}
	return rows, err
}

// A report lists at most MaxListed findings and counts the others.
func TestCheckListsAtMost(t *testing.T) {
	r := newImportRig(t)
	for i := range 5 {
		putFiles(t, r.lib, testRecording(recID(i), true), "presentation", true)
	}
	rep, err := r.importer(nil).Check(context.Background(), recordings.CheckOptions{MaxListed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 2 || rep.Unlisted != 3 || rep.Counts["orphan"] != 5 || rep.Remaining != 5 {
		t.Fatalf("report: %+v", rep)
	}
}
