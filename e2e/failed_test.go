package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Refused recording tars through the admin API and the CLI: listed with
// the importer's reason, a bad name refused, and once fixed, retried into
// the spool and imported.
func TestFailedImportsAdminAndCLI(t *testing.T) {
	dir := t.TempDir()
	startPool(t, 1, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t}", dir))
	c := newClient()
	rec := rectest.Recording{MeetingID: "retry-me", Published: true}.WithDefaults()
	name := rec.ID + ".tar"
	good := mustTar(t, rec, "presentation")
	spool(t, dir, name, good[:len(good)/2]) // cut short in transfer

	var list []recordings.FailedImport
	eventually(t, "the tar refused", func() bool {
		adminGet(t, "/bbb/recordings/failed", &list)
		return len(list) == 1
	})
	if f := list[0]; f.Name != name || f.Reason == "" || strings.Contains(f.Reason, "Move the file back") || f.Size != int64(len(good)/2) {
		t.Fatalf("listed %+v", f)
	}
	out := cli(t, "recordings", "failed")
	if !strings.HasPrefix(out, "FILE") || !strings.Contains(out, name) || !strings.Contains(out, list[0].Reason) {
		t.Errorf("caddy bbb recordings failed:\n%s", out)
	}

	// Names that are not a refused tar's.
	mustAdmin(t, 400, "POST", "/bbb/recordings/failed/sub%2F"+name+"/retry", nil)
	mustAdmin(t, 400, "POST", "/bbb/recordings/failed/"+name+".error/retry", nil)
	mustAdmin(t, 404, "POST", "/bbb/recordings/failed/"+rec.ID+".1.tar/retry", nil)
	mustAdmin(t, 405, "GET", "/bbb/recordings/failed/"+name+"/retry", nil)
	cliFail(t, "no refused recording tar", "recordings", "retry", "nothing.tar")
	cliFail(t, "not the name of a refused recording tar", "recordings", "retry", "../"+name)
	if _, err := os.Stat(filepath.Join(dir, "failed", name)); err != nil {
		t.Fatalf("a refused retry moved the tar: %v", err)
	}

	// Fixed (sent again whole), then retried: imported, nothing left.
	if err := os.WriteFile(filepath.Join(dir, "failed", name), good, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := cli(t, "recordings", "retry", name); out != name+" is back in the spool as "+name+"; the importer takes it again\n" {
		t.Errorf("caddy bbb recordings retry: %q", out)
	}
	eventually(t, "the recording imported", func() bool {
		return len(getRecordings(t, c, "recordID="+rec.ID).Recordings) == 1
	})
	if out := cli(t, "recordings", "failed"); out != "no failed imports\n" {
		t.Errorf("after the retry:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "failed", "*")); len(left) != 0 {
		t.Errorf("left in failed/: %v", left)
	}
}

// Without recordings, the calls say so.
func TestFailedImportsWithoutRecordings(t *testing.T) {
	startPool(t, 1, "")
	mustAdmin(t, 409, "GET", "/bbb/recordings/failed", nil)
	cliFail(t, "recordings are not configured", "recordings", "retry", "x.tar")
}
