package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// Retention in a running Caddy: the pool's rule from the Caddyfile, a
// tenant's own, changed through the CLI (the tenants admin API); the dry
// run lists and changes nothing; the run deletes as deleteRecordings does
// and counts it.
func TestRetentionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	startPool(t, 1, fmt.Sprintf(`		recordings %s {
			settle 1ms
			retention {
				max_age 365d
				unpublished_max_age 30d
				keep_meta bbb-retain=true
				at 03:00
				max_per_run 100
			}
		}
		tenant school-a {
			secret a-secret
			path_prefix /school-a
			retention {
				max_age 90d
			}
		}
`, dir))
	ago := func(days int) int64 { return time.Now().Add(-time.Duration(days) * 24 * time.Hour).UnixMilli() }
	recs := map[string]rectest.Recording{
		"old":     {MeetingID: "old", Published: true, StartTime: ago(400)},
		"recent":  {MeetingID: "recent", Published: true, StartTime: ago(100)},
		"kept":    {MeetingID: "kept", Published: true, StartTime: ago(400), Meta: [][2]string{{"bbb-retain", "true"}}},
		"a-old":   {MeetingID: "school-a~lecture", Published: true, StartTime: ago(100)},
		"a-young": {MeetingID: "school-a~seminar", Published: true, StartTime: ago(10)},
	}
	ids := map[string]string{}
	for name, r := range recs {
		r = r.WithDefaults()
		ids[name] = r.ID
		spool(t, dir, r.ID+".tar", mustTar(t, r, "presentation"))
	}
	var stats []struct {
		Recordings int64 `json:"recordings"`
	}
	eventually(t, "the recordings are imported", func() bool {
		adminGet(t, "/bbb/recordings/stats", &stats)
		n := int64(0)
		for _, s := range stats {
			n += s.Recordings
		}
		return n == int64(len(recs))
	})
	files := func(name string) bool {
		return exists(filepath.Join(dir, "published", "presentation", ids[name], "metadata.xml"))
	}

	dry := cli(t, "recordings", "expire", "--dry-run")
	for _, want := range []string{ids["old"], "pool: max_age 365d", ids["a-old"], "tenant school-a: max_age 90d",
		"2 recording(s)", "would be deleted"} {
		if !strings.Contains(dry, want) {
			t.Fatalf("dry run lacks %q:\n%s", want, dry)
		}
	}
	for _, name := range []string{"recent", "kept", "a-young"} {
		if strings.Contains(dry, ids[name]) {
			t.Fatalf("dry run lists %s:\n%s", name, dry)
		}
	}
	for name := range recs {
		if !files(name) {
			t.Fatalf("%s: files gone after a dry run", name)
		}
	}

	// The tenants admin API (through the CLI) turns school-a's retention
	// off: its recording is no longer due.
	cli(t, "tenants", "update", "school-a", "--max-age", "off")
	dry = cli(t, "recordings", "expire", "--dry-run")
	if strings.Contains(dry, ids["a-old"]) || !strings.Contains(dry, "1 recording(s)") {
		t.Fatalf("dry run after school-a's max_age off:\n%s", dry)
	}
	cliFail(t, "max-age", "tenants", "update", "school-a", "--max-age", "soon")

	out := cli(t, "recordings", "expire")
	if !strings.Contains(out, ids["old"]) || !strings.Contains(out, "1 recording(s)") || !strings.Contains(out, "deleted") {
		t.Fatalf("expire said:\n%s", out)
	}
	if files("old") {
		t.Fatal("the expired recording's files are still there")
	}
	for _, name := range []string{"recent", "kept", "a-old", "a-young"} {
		if !files(name) {
			t.Fatalf("%s: files gone", name)
		}
	}
	// Deleted as deleteRecordings deletes: listed with state=deleted.
	a := getRecordings(t, newClient(), "recordID="+ids["old"]+"&state=any")
	if len(a.Recordings) != 1 || a.Recordings[0].State != "deleted" {
		t.Fatalf("getRecordings of the expired recording: %+v", a.Recordings)
	}
	if n := metric(t, `caddy_bbb_recordings_expired_total{tenant=""}`); n != 1 {
		t.Fatalf("caddy_bbb_recordings_expired_total: %v", n)
	}
	if n := metric(t, `caddy_bbb_recordings_expired_bytes_total{tenant=""}`); n <= 0 {
		t.Fatalf("caddy_bbb_recordings_expired_bytes_total: %v", n)
	}
	if out := cli(t, "recordings", "expire", "--json"); !strings.Contains(out, `"recordings": []`) {
		t.Fatalf("a second run:\n%s", out)
	}
}
