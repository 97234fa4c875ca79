package recordings_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A tar the importer refuses is listed with the reason the importer wrote;
// once the cause is fixed, a retry puts it back into the spool under its
// own name and the importer takes it.
func TestFailedImportsListAndRetry(t *testing.T) {
	r := newImportRig(t)
	im := r.importer(nil)
	ctx := context.Background()
	id := recID(1)
	name := id + ".tar"
	// Twice refused: the second is kept as <name>.1.
	r.spool(name, []byte("not a tar"))
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	r.spool(name, buildTar(t, append(formatFiles(id, "video", true), tarFile("/etc/passwd", "x"))))
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}

	list, total, err := r.lib.FailedImports(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || total != 2 {
		t.Fatalf("listed %+v of %d", list, total)
	}
	if newest, total, _ := r.lib.FailedImports(1); len(newest) != 1 || total != 2 || newest[0].Name != list[0].Name || newest[0].Reason != list[0].Reason {
		t.Errorf("the newest alone: %+v of %d", newest, total)
	}
	second, first := list[0], list[1] // newest first
	if first.Time.After(second.Time) {
		t.Errorf("not newest first: %+v", list)
	}
	if first.Name != name || second.Name != name+".1" {
		t.Fatalf("names %q, %q", first.Name, second.Name)
	}
	if !strings.Contains(second.Reason, "absolute name") || strings.Contains(second.Reason, "Move the file back") ||
		first.Reason == "" || strings.Contains(first.Reason, "\n") {
		t.Errorf("reasons %q and %q", first.Reason, second.Reason)
	}
	if time.Since(second.Time) > time.Hour || second.Size == 0 {
		t.Errorf("time %v, size %d", second.Time, second.Size)
	}

	// The operator fixes the second one and retries it: it goes back as
	// <name>, is imported, and leaves no .error behind.
	fixed := recordingTar(t, id, true, "video")
	if err := os.WriteFile(filepath.Join(r.lib.FailedDir, name+".1"), fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := r.lib.RetryFailed(name + ".1")
	if err != nil || got != name {
		t.Fatalf("retry: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(r.lib.FailedDir, name+".1.error")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".error left behind: %v", err)
	}
	// The first one cannot go back while the second waits in the spool.
	if _, err := r.lib.RetryFailed(name); !errors.Is(err, fs.ErrExist) {
		t.Errorf("retry over a waiting tar: %v", err)
	}
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	r.consistent(id)
	if list, _, _ := r.lib.FailedImports(0); len(list) != 1 || list[0].Name != name {
		t.Errorf("after the retry: %+v", list)
	}
}

func TestRetryFailedRefusesBadNames(t *testing.T) {
	lib := newLibrary(t)
	for _, f := range []string{"a.tar", "a.tar.error", "notes.txt", "b.tar.x"} {
		if err := os.WriteFile(filepath.Join(lib.FailedDir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(filepath.Dir(lib.FailedDir), "outside.tar")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{
		"":                  fs.ErrInvalid,
		"../outside.tar":    fs.ErrInvalid,
		"sub/a.tar":         fs.ErrInvalid,
		`sub\a.tar`:         fs.ErrInvalid,
		"..":                fs.ErrInvalid,
		".hidden.tar":       fs.ErrInvalid,
		"a.tar.error":       fs.ErrInvalid,
		"notes.txt":         fs.ErrInvalid,
		"b.tar.x":           fs.ErrInvalid,
		"missing.tar":       fs.ErrNotExist,
		"missing.tar.2":     fs.ErrNotExist,
		"/etc/passwd":       fs.ErrInvalid,
		"a.tar/../../x.tar": fs.ErrInvalid,
	} {
		if _, err := lib.RetryFailed(name); !errors.Is(err, want) {
			t.Errorf("RetryFailed(%q): %v, want %v", name, err, want)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a file outside the failed directory moved: %v", err)
	}
	if ents, _ := os.ReadDir(lib.SpoolDir); len(ents) != 0 {
		t.Errorf("spool: %v", ents)
	}
	// A tar without a .error file (put there by hand) is listed, and
	// retried.
	list, _, err := lib.FailedImports(0)
	if err != nil || len(list) != 3 {
		t.Fatalf("listed %+v, %v", list, err)
	}
	if got, err := lib.RetryFailed("a.tar"); err != nil || got != "a.tar" {
		t.Fatalf("retry: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(lib.SpoolDir, "a.tar")); err != nil {
		t.Error(err)
	}
}
