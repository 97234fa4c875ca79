//go:build unix

package recordings_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// While another process imports from the library (it holds the spool
// lock), a claimed tar may be its import's: it is not judged, and a
// repair leaves it.
func TestCheckLeavesClaimsOfAnotherProcess(t *testing.T) {
	r := newImportRig(t)
	f, err := os.OpenFile(filepath.Join(r.lib.WorkDir, ".importer.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	claimed := filepath.Join(r.lib.SpoolDir, "."+recID(1)+".tar.importing")
	os.WriteFile(claimed, recordingTar(t, recID(1), true, "presentation"), 0o644)
	rep := check(t, r.importer(nil), true)
	if len(rep.Findings) != 0 || len(rep.Notes) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(claimed); err != nil {
		t.Fatalf("the other process's claim: %v", err)
	}
	f.Close() // the other process is done: the claim is stale now
	rep = check(t, r.importer(nil), true)
	if len(rep.Findings) != 1 || !rep.Findings[0].Repaired || len(rep.Notes) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(r.lib.SpoolDir, recID(1)+".tar")); err != nil {
		t.Fatalf("the claim was not given its name back: %v", err)
	}
}
