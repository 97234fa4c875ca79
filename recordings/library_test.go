package recordings_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/recordings"
)

func newLibrary(t testing.TB) *recordings.Library {
	t.Helper()
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// putFormat creates <tree>/<format>/<id>/f holding body.
func putFormat(t testing.TB, lib *recordings.Library, id, format string, published bool, body string) {
	t.Helper()
	d := lib.Dir(id, format, published)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFormat(t testing.TB, lib *recordings.Library, id, format string, published bool) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lib.Dir(id, format, published), "f"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func formatsOf(t testing.TB, lib *recordings.Library, id string) []recordings.FormatDir {
	t.Helper()
	fs, err := lib.Formats(id)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func workEmpty(t testing.TB, lib *recordings.Library) {
	t.Helper()
	if ents, _ := os.ReadDir(lib.WorkDir); len(ents) != 0 {
		t.Errorf("work/ not empty: %v", ents)
	}
}

func TestNewLibraryLayout(t *testing.T) {
	root := t.TempDir()
	spool := filepath.Join(t.TempDir(), "incoming")
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: root, Spool: spool})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{spool, filepath.Join(root, "work"), filepath.Join(root, "failed"),
		filepath.Join(root, "published"), filepath.Join(root, "unpublished")}
	got := []string{lib.SpoolDir, lib.WorkDir, lib.FailedDir, lib.PublishedDir, lib.UnpublishedDir}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("dirs %v, want %v", got, want)
	}
	for _, d := range got {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	workEmpty(t, lib)
	if _, err := recordings.NewLibrary(recordings.LibraryConfig{Spool: spool}); err == nil {
		t.Error("a library without root nor dirs was accepted")
	}
}

func TestLibraryDirRefusesBadNames(t *testing.T) {
	lib := newLibrary(t)
	id := recID(1)
	if d := lib.Dir(id, "presentation", true); d != filepath.Join(lib.PublishedDir, "presentation", id) {
		t.Errorf("Dir = %q", d)
	}
	for _, c := range [][2]string{{"../x", "video"}, {id, ".."}, {id, "a/b"}, {id + "/..", "video"}, {id, ""}} {
		if d := lib.Dir(c[0], c[1], false); d != "" {
			t.Errorf("Dir(%q, %q) = %q", c[0], c[1], d)
		}
	}
}

func TestSetPublishedBothWays(t *testing.T) {
	lib := newLibrary(t)
	id := recID(1)
	putFormat(t, lib, id, "presentation", true, "p")
	putFormat(t, lib, id, "video", true, "v")
	if err := lib.SetPublished(id, []string{"presentation", "video"}, false); err != nil {
		t.Fatal(err)
	}
	want := []recordings.FormatDir{{Format: "presentation", Published: false}, {Format: "video", Published: false}}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("after unpublish: %v", got)
	}
	if readFormat(t, lib, id, "video", false) != "v" {
		t.Fatal("video files lost")
	}
	// nil: every format on disk; a second call is a no-op.
	for range 2 {
		if err := lib.SetPublished(id, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	want = []recordings.FormatDir{{Format: "presentation", Published: true}, {Format: "video", Published: true}}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("after publish: %v", got)
	}
	workEmpty(t, lib)
}

func TestSetPublishedInBothTreesDropsSource(t *testing.T) {
	lib := newLibrary(t)
	id := recID(1)
	putFormat(t, lib, id, "video", true, "new")
	putFormat(t, lib, id, "video", false, "old")
	if err := lib.SetPublished(id, []string{"video"}, true); err != nil {
		t.Fatal(err)
	}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, []recordings.FormatDir{{Format: "video", Published: true}}) {
		t.Fatalf("formats %v", got)
	}
	if readFormat(t, lib, id, "video", true) != "new" {
		t.Fatal("target copy replaced")
	}
	workEmpty(t, lib)
}

func TestSetPublishedNeitherIsAnErrorAndMovesNothing(t *testing.T) {
	lib := newLibrary(t)
	id := recID(1)
	putFormat(t, lib, id, "presentation", true, "p")
	err := lib.SetPublished(id, []string{"presentation", "video"}, false)
	if !errors.Is(err, recordings.ErrNoFiles) {
		t.Fatalf("err = %v", err)
	}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, []recordings.FormatDir{{Format: "presentation", Published: true}}) {
		t.Fatalf("something moved: %v", got)
	}
	if err := lib.SetPublished(recID(2), nil, true); !errors.Is(err, recordings.ErrNoFiles) {
		t.Fatalf("no files at all: err = %v", err)
	}
}

func TestSetPublishedUndoesOnFailure(t *testing.T) {
	lib := newLibrary(t)
	id := recID(1)
	putFormat(t, lib, id, "presentation", true, "p")
	putFormat(t, lib, id, "video", true, "v")
	// unpublished/video is a file: the second move cannot be done.
	if err := os.WriteFile(filepath.Join(lib.UnpublishedDir, "video"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetPublished(id, []string{"presentation", "video"}, false); err == nil {
		t.Fatal("no error")
	}
	want := []recordings.FormatDir{{Format: "presentation", Published: true}, {Format: "video", Published: true}}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("not all or nothing: %v", got)
	}
	workEmpty(t, lib)
}

func TestRemoveFromBothTrees(t *testing.T) {
	lib := newLibrary(t)
	id, other := recID(1), recID(2)
	putFormat(t, lib, id, "presentation", true, "p")
	putFormat(t, lib, id, "video", false, "v")
	putFormat(t, lib, id, "podcast", true, "a")
	putFormat(t, lib, id, "podcast", false, "b")
	putFormat(t, lib, other, "video", false, "o")
	if err := lib.Remove(id, "podcast"); err != nil {
		t.Fatal(err)
	}
	want := []recordings.FormatDir{{Format: "presentation", Published: true}, {Format: "video", Published: false}}
	if got := formatsOf(t, lib, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("after removing podcast: %v", got)
	}
	if err := lib.Remove(id, ""); err != nil {
		t.Fatal(err)
	}
	if got := formatsOf(t, lib, id); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	if err := lib.Remove(id, ""); err != nil {
		t.Fatalf("removing nothing: %v", err)
	}
	if readFormat(t, lib, other, "video", false) != "o" {
		t.Fatal("another recording was touched")
	}
	workEmpty(t, lib)
}

func TestLockPerRecording(t *testing.T) {
	lib := newLibrary(t)
	a := lib.Lock(recID(1))
	b := lib.Lock(recID(2)) // another recording: not blocked
	a()
	a() // idempotent
	done := make(chan struct{})
	go func() {
		lib.Lock(recID(1))()
		close(done)
	}()
	<-done
	b()
}

func TestCleanWorkKeepsNewEntries(t *testing.T) {
	lib := newLibrary(t)
	old := filepath.Join(lib.WorkDir, "import-old")
	if err := os.MkdirAll(filepath.Join(old, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(lib.WorkDir, "import-new")
	if err := os.Mkdir(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := lib.CleanWork(time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old entry kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("new entry removed: %v", err)
	}
}
