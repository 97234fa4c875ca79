package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// chromium finds Debian's chromium; scripts/test.sh sets
// BBB_REQUIRE_CHROMIUM=1 (CI installs it), so there a missing browser is
// a failure, not a skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BBB_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium not installed; scripts/test.sh installs it")
	return ""
}

// dumpDOM opens u in headless chromium with the given profile and returns
// the DOM after the page has loaded (the test player's request is
// synchronous, so its result is in it).
func dumpDOM(t *testing.T, bin, profile, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-extensions", "--disable-sync",
		"--user-data-dir="+profile, "--virtual-time-budget=5000", "--dump-dom", u)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium %s: %v\n%s", u, err, stderr)
	}
	return string(out)
}

// A protected recording opened in a real browser: the one-time link sets
// the cookie and leads to the player, whose request for the recording's
// file carries it; a fresh profile without it is refused; the link does
// not work twice.
func TestProtectedRecordingInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	startPlaybackPool(t, dir)
	c := newClient()
	rec := importRecording(t, c, dir, rectest.Recording{MeetingID: "room-browser", Published: true}, "presentation")
	mustOK(t, "protect", c.get(t, "updateRecordings", "recordID="+rec.ID+"&protect=true"))
	link := getRecordings(t, c, "recordID="+rec.ID).Recordings[0].Formats[0].URL
	if !strings.Contains(link, "/recording/"+rec.ID+"/presentation?token=") {
		t.Fatalf("not a one-time link: %s", link)
	}

	dom := dumpDOM(t, bin, t.TempDir(), link)
	if !strings.Contains(dom, "status=200 body=&lt;recording&gt;") {
		t.Fatalf("the player did not load the protected file with the link's cookie:\n%s", dom)
	}

	player := base + "/playback/presentation/2.3/" + rec.ID
	fresh := t.TempDir()
	dom = dumpDOM(t, bin, fresh, player)
	if !strings.Contains(dom, "status=404") {
		t.Fatalf("the player loaded the protected file without the cookie:\n%s", dom)
	}

	dom = dumpDOM(t, bin, fresh, link)
	if !strings.Contains(dom, "Recording not found") || strings.Contains(dom, "status=200") {
		t.Fatalf("the link worked a second time:\n%s", dom)
	}
}
