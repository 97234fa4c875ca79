package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// testPlayer stands in for the bbb-playback player: it loads the
// recording's metadata.xml the way the real player does (a request from
// the page to /presentation/<recordID>/...), synchronously so the result
// is in the DOM when the page has loaded, and shows the answer.
const testPlayer = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>test player</title></head><body>
<div id="out">loading</div>
<script>
var id = location.pathname.split('/').filter(Boolean).pop();
var x = new XMLHttpRequest();
x.open('GET', '/presentation/' + id + '/metadata.xml', false);
x.send();
document.getElementById('out').textContent = 'status=' + x.status + ' body=' + x.responseText.slice(0, 60);
</script></body></html>
`

// startPlaybackPool starts a pool with recordings in dir and the player
// route of examples/Caddyfile.playback, serving testPlayer.
func startPlaybackPool(t *testing.T, dir string) *pool {
	t.Helper()
	playerRoot := t.TempDir()
	player := filepath.Join(playerRoot, "playback", "presentation", "2.3", "index.html")
	if err := os.MkdirAll(filepath.Dir(player), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(player, []byte(testPlayer), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPool(t, 1, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t}", dir))
	route := fmt.Sprintf(`	handle /playback/presentation/2.3/* {
		root * %s
		try_files {path} /playback/presentation/2.3/index.html
		file_server
	}
	respond "not the API" 404`, playerRoot)
	p.load(strings.Replace(p.caddyfile(), `	respond "not the API" 404`, route, 1))
	return p
}

// importRecording spools a published recording and waits for its import.
func importRecording(t *testing.T, c *client, dir string, rec rectest.Recording, formats ...string) rectest.Recording {
	t.Helper()
	rec = rec.WithDefaults()
	spool(t, dir, rec.ID+".tar", mustTar(t, rec, formats...))
	eventually(t, "the recording is imported", func() bool {
		return len(getRecordings(t, c, "recordID="+rec.ID).Recordings) == 1
	})
	return rec
}

func fetch(t *testing.T, method, u string, header http.Header, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := newClient().http.Do(req) // redirects are not followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mustNotFound(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Recording not found") {
		t.Fatalf("%s: HTTP %d %q, want the 404 page", what, resp.StatusCode, body)
	}
}

func TestPlaybackEndToEnd(t *testing.T) {
	dir := t.TempDir()
	startPlaybackPool(t, dir)
	c := newClient()
	rec := importRecording(t, c, dir, rectest.Recording{MeetingID: "room-play", Published: true}, "presentation", "video", "podcast")

	got := getRecordings(t, c, "recordID="+rec.ID).Recordings[0]
	urls, images := map[string]string{}, map[string][]string{}
	for _, f := range got.Formats {
		urls[f.Type], images[f.Type] = f.URL, f.Images
	}
	player := urls["presentation"]
	if player != base+"/playback/presentation/2.3/"+rec.ID {
		t.Fatalf("player URL %q", player)
	}
	if resp, body := fetch(t, "GET", player, nil); resp.StatusCode != 200 || !strings.Contains(body, "test player") {
		t.Fatalf("the player route: HTTP %d", resp.StatusCode)
	}
	// Thumbnails are listed on the balancer and served by it.
	if len(images["presentation"]) != 1 {
		t.Fatalf("images %v", images)
	}
	if resp, _ := fetch(t, "GET", images["presentation"][0], nil); resp.StatusCode != http.StatusNotFound {
		// rectest lists a thumbnail it does not ship: the balancer answers for it.
		t.Fatalf("thumbnail: HTTP %d", resp.StatusCode)
	}

	// Files, with ranges and ETags, through a real Caddy.
	webcams := base + "/presentation/" + rec.ID + "/video/webcams.webm"
	resp, body := fetch(t, "GET", webcams, http.Header{"Range": {"bytes=100-109"}})
	if resp.StatusCode != http.StatusPartialContent || body != strings.Repeat("w", 10) || resp.Header.Get("Content-Range") != "bytes 100-109/3000" {
		t.Fatalf("range: HTTP %d %v %q", resp.StatusCode, resp.Header, body)
	}
	// As BBB's nginx serves it: Go's and Caddy's table say audio/webm.
	if ct := resp.Header.Get("Content-Type"); ct != "video/webm" {
		t.Fatalf("webcams.webm: Content-Type %q, want video/webm", ct)
	}
	resp, _ = fetch(t, "GET", webcams, nil)
	if etag := resp.Header.Get("Etag"); etag == "" {
		t.Fatal("no ETag")
	} else if again, _ := fetch(t, "GET", webcams, http.Header{"If-None-Match": {etag}}); again.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: HTTP %d", again.StatusCode)
	}
	if resp, _ := fetch(t, "GET", base+"/podcast/"+rec.ID+"/index.html", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != "attachment" {
		t.Fatalf("podcast: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := fetch(t, "GET", urls["video"], nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/video/"+rec.ID+"/" {
		t.Fatalf("legacy video link: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := fetch(t, "GET", base+"/video/"+rec.ID+"/video-0.m4v", nil); resp.StatusCode != 200 || len(body) != 1500 ||
		resp.Header.Get("Content-Type") != "video/x-m4v" {
		t.Fatalf("video: HTTP %d, %d bytes, %s", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}

	resp, body = fetch(t, "GET", base+"/presentation/"+strings.Repeat("5", 40)+"-1715171203311/metadata.xml", nil)
	mustNotFound(t, "unknown recording", resp, body)
	resp, body = fetch(t, "GET", base+"/presentation/"+rec.ID+"/nope.xml", nil)
	mustNotFound(t, "missing file", resp, body)

	// Unpublished, then deleted: 404.
	mustOK(t, "unpublish", c.get(t, "publishRecordings", "recordID="+rec.ID+"&publish=false"))
	resp, body = fetch(t, "GET", webcams, nil)
	mustNotFound(t, "unpublished", resp, body)
	mustOK(t, "publish", c.get(t, "publishRecordings", "recordID="+rec.ID+"&publish=true"))
	if resp, _ := fetch(t, "GET", webcams, nil); resp.StatusCode != 200 {
		t.Fatalf("published again: HTTP %d", resp.StatusCode)
	}

	// Protected: getRecordings hands out one-time links and no thumbnails.
	mustOK(t, "protect", c.get(t, "updateRecordings", "recordID="+rec.ID+"&protect=true"))
	var link string
	for _, f := range getRecordings(t, c, "recordID="+rec.ID).Recordings[0].Formats {
		if !strings.HasPrefix(f.URL, base+"/recording/"+rec.ID+"/"+f.Type+"?token=") || len(f.Images) != 0 {
			t.Fatalf("protected listing: %+v", f)
		}
		if f.Type == "presentation" {
			link = f.URL
		}
	}
	resp, body = fetch(t, "GET", webcams, nil)
	mustNotFound(t, "protected without cookie", resp, body)
	resp, _ = fetch(t, "GET", link, nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/playback/presentation/2.3/"+rec.ID || len(resp.Cookies()) != 1 {
		t.Fatalf("link: HTTP %d to %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	if resp, body := fetch(t, "GET", webcams, http.Header{"Range": {"bytes=0-1"}}, cookie); resp.StatusCode != http.StatusPartialContent || body != "ww" {
		t.Fatalf("protected with cookie: HTTP %d", resp.StatusCode)
	}
	resp, body = fetch(t, "GET", link, nil)
	mustNotFound(t, "the link a second time", resp, body)

	resp, body = fetch(t, "GET", base+"/no-such-thing", nil)
	if resp.StatusCode != 404 || body != "not the API" {
		t.Fatalf("other paths pass on: HTTP %d %q", resp.StatusCode, body)
	}
}

// endReceiver is a front-end's end-of-meeting callback endpoint.
type endReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // method and request URI
}

func newEndReceiver(t *testing.T) *endReceiver {
	er := &endReceiver{}
	er.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		er.mu.Lock()
		er.got = append(er.got, r.Method+" "+r.URL.RequestURI())
		er.mu.Unlock()
	}))
	t.Cleanup(er.Close)
	return er
}

func (er *endReceiver) calls() []string {
	er.mu.Lock()
	defer er.mu.Unlock()
	return append([]string(nil), er.got...)
}

func TestEndCallbacksEndToEnd(t *testing.T) {
	p := startPool(t, 2, "")
	c := newClient()
	fe := newEndReceiver(t)
	mustOK(t, "create", c.get(t, "create", "meetingID=room-cb&name=CB&meetingEndedURL="+url.QueryEscape(fe.URL+"/ended?r=1")+
		"&meta_endCallbackUrl="+url.QueryEscape(fe.URL+"/end")))
	holder := p.holder("room-cb")
	m, _ := p.fakes[holder].Meeting("room-cb")
	ended, end := m.Params.Get("meetingEndedURL"), m.Metadata["endcallbackurl"]
	if !strings.HasPrefix(ended, base+"/bigbluebutton/callback/") || !strings.HasPrefix(end, base+"/bigbluebutton/callback/") {
		t.Fatalf("the server got %q and %q, not the balancer's URLs", ended, end)
	}
	if _, ok := registry(t)["room-cb"]; !ok {
		t.Fatal("the meeting is not in the registry")
	}

	// What the server does when the meeting ends (bbb-api.md §4.1, §4.2).
	p.fakes[holder].EndMeeting("room-cb")
	if resp, _ := fetch(t, "GET", end+"&recordingmarks=false&meetingID=room-cb", nil); resp.StatusCode != 200 {
		t.Fatalf("end callback: HTTP %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, "GET", ended, nil); resp.StatusCode != 200 {
		t.Fatalf("meeting-ended callback: HTTP %d", resp.StatusCode)
	}
	// The registry is clean at once, long before the next poll (1h).
	if _, ok := registry(t)["room-cb"]; ok {
		t.Fatal("the meeting is still in the registry after its end callback")
	}
	eventually(t, "both relays", func() bool { return len(fe.calls()) == 2 })
	calls := strings.Join(fe.calls(), "\n")
	for _, want := range []string{"GET /end?recordingmarks=false&meetingID=room-cb", "GET /ended?r=1"} {
		if !strings.Contains(calls, want) {
			t.Fatalf("front-end got\n%s\nwant %s", calls, want)
		}
	}
	// A forged call changes nothing.
	mustOK(t, "create again", c.get(t, "create", "meetingID=room-cb2&name=CB"))
	forged := strings.Replace(ended, "room-cb", "room-cb2", 1)
	if resp, _ := fetch(t, "GET", forged, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("forged meeting-ended: HTTP %d", resp.StatusCode)
	}
	if _, ok := registry(t)["room-cb2"]; !ok {
		t.Fatal("a forged callback removed a meeting")
	}
}
