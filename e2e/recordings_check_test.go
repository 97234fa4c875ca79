package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// A published recording whose files were moved by hand into unpublished/
// (scalelite#214: listed, but its files are missing): the admin API's
// check reports it and changes nothing, the CLI's check prints it and
// exits non-zero, the repair moves it back, and a check then finds
// nothing.
func TestRecordingsCheck(t *testing.T) {
	dir := t.TempDir()
	startPool(t, 1, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t}", dir))
	c := newClient()
	rec := importRecording(t, c, dir, rectest.Recording{MeetingID: "room-check", Published: true}, "presentation")
	published := filepath.Join(dir, "published", "presentation", rec.ID)
	unpublished := filepath.Join(dir, "unpublished", "presentation", rec.ID)
	if err := os.MkdirAll(filepath.Dir(unpublished), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(published, unpublished); err != nil {
		t.Fatal(err)
	}
	metadata := base + "/presentation/" + rec.ID + "/metadata.xml"
	if resp, _ := fetch(t, "GET", metadata, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a file of the moved recording: HTTP %d", resp.StatusCode)
	}

	var rep recordings.CheckReport
	adminGet(t, "/bbb/recordings/check", &rep)
	if len(rep.Findings) != 1 || rep.Remaining != 1 || rep.Repair {
		t.Fatalf("check: %+v", rep)
	}
	if f := rep.Findings[0]; f.Kind != recordings.KindMisplaced || f.RecordID != rec.ID || f.Format != "presentation" ||
		f.Path != unpublished || f.Action != "move it to published/" || f.Repaired {
		t.Fatalf("finding: %+v", f)
	}
	if !exists(unpublished) || exists(published) {
		t.Fatal("a check moved the files")
	}
	resp, err := http.Post("http://localhost:2999/bbb/recordings/check", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !exists(unpublished) {
		t.Fatalf("POST without repair=true: HTTP %d", resp.StatusCode)
	}

	out, errOut, err := cliRun(t, "", "recordings", "check")
	if err == nil || !strings.Contains(out, "misplaced") || !strings.Contains(out, rec.ID) ||
		!strings.Contains(out, "1 problem(s), 1 of which --repair fixes") ||
		errOut != "caddy bbb: recordings check: 1 problem(s), 1 of which --repair fixes\n" {
		t.Fatalf("caddy bbb recordings check: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}

	out = cli(t, "recordings", "check", "--repair")
	if !strings.Contains(out, "move it to published/  repaired") || !strings.Contains(out, "1 problem(s), 1 repaired, 0 left") {
		t.Fatalf("caddy bbb recordings check --repair:\n%s", out)
	}
	if !exists(filepath.Join(published, "metadata.xml")) || exists(unpublished) {
		t.Fatal("the repair did not move the files back")
	}
	if resp, _ := fetch(t, "GET", metadata, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a file of the repaired recording: HTTP %d", resp.StatusCode)
	}
	if got := getRecordings(t, c, "recordID="+rec.ID).Recordings; len(got) != 1 || got[0].State != "published" {
		t.Fatalf("getRecordings after the repair: %+v", got)
	}
	if out := cli(t, "recordings", "check"); !strings.Contains(out, "1 recording(s) in the index, 1 directory(ies) on disk: no problems") {
		t.Fatalf("check after the repair:\n%s", out)
	}
}
