//go:build unix

package recordings

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSpoolLockIsExclusiveAndSurvivesCleanWork(t *testing.T) {
	lib, err := NewLibrary(LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	release, ok, err := lib.lockSpool()
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(lib.WorkDir, spoolLockName), past, past)
	if err := lib.CleanWork(time.Now()); err != nil {
		t.Fatal(err)
	}
	// A second open file description conflicts as another process would.
	if _, ok, err := lib.lockSpool(); err != nil || ok {
		t.Fatalf("second lock while held: %v %v", ok, err)
	}
	release()
	release2, ok, err := lib.lockSpool()
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	release2()
}
