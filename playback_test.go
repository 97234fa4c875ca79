package bbbbalance

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/playback"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

const (
	pubID   = "1111111111111111111111111111111111111111-1715171203311"
	protID  = "2222222222222222222222222222222222222222-1715171203311"
	unpubID = "3333333333333333333333333333333333333333-1715171203311"
	noneID  = "4444444444444444444444444444444444444444-1715171203311"
)

type playbackEnv struct {
	p   *playback.Server
	lib *recordings.Library
	db  *store.DB
}

// writeFiles puts files under dir (name → content).
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newPlaybackEnv(t testing.TB) *playbackEnv {
	t.Helper()
	ctx := context.Background()
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	t.Cleanup(cancel)
	p, err := newPlayback(cctx, lib, db, &RecordingsConfig{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e := &playbackEnv{p: p, lib: lib, db: db}

	svg := `<svg xmlns="http://www.w3.org/2000/svg">` + strings.Repeat(`<g class="shape"><path d="M 1 2 L 3 4"/></g>`, 2000) + `</svg>`
	e.add(t, pubID, true, false, "presentation", map[string]string{"metadata.xml": "<recording>public</recording>", "shapes.svg": svg,
		"video/webcams.webm": "0123456789abcdefghij"})
	e.add(t, pubID, true, false, "podcast", map[string]string{"audio.ogg": "OggS..."})
	e.add(t, pubID, true, false, "video", map[string]string{"index.html": "<html>video</html>"})
	e.add(t, protID, true, true, "presentation", map[string]string{"metadata.xml": "<recording>protected</recording>"})
	e.add(t, unpubID, false, false, "presentation", map[string]string{"metadata.xml": "<recording>unpublished</recording>"})
	return e
}

// add writes a format's files into the published or unpublished tree and
// indexes the recording with it.
func (e *playbackEnv) add(t testing.TB, id string, published, protected bool, format string, files map[string]string) {
	t.Helper()
	writeFiles(t, e.lib.Dir(id, format, published), files)
	ctx := context.Background()
	cur, ok, err := e.db.Recording(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		state := recordings.StatePublished
		if !published {
			state = recordings.StateUnpublished
		}
		cur = recordings.Entry{Recording: recordings.Recording{RecordID: id, MeetingID: "room", Name: "Room", Published: published, State: state}}
	}
	link := map[string]string{"presentation": "/playback/presentation/2.3/" + id, "video": "/playback/video/" + id + "/", "podcast": "/podcast/" + id + "/audio.ogg"}[format]
	cur.Formats = append(cur.Formats, recordings.Format{Type: format, URL: "https://bbb1.example.com" + link, Path: link})
	if _, err := e.db.SaveImport(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if protected {
		if err := e.db.SetProtected(ctx, []string{id}, true); err != nil {
			t.Fatal(err)
		}
	}
}

// get makes a request through the playback handler, as Caddy prepares it.
func (e *playbackEnv) do(t *testing.T, method, target string, header http.Header, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	handled, err := e.p.Serve(w, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	if !handled {
		t.Fatalf("%s %s: not handled", method, target)
	}
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func expectNotFound(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	b := body(t, resp)
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(b, "Recording not found") {
		t.Fatalf("%s: HTTP %d %s %q, want the 404 page", what, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

func TestPlaybackFiles(t *testing.T) {
	e := newPlaybackEnv(t)
	resp := e.do(t, "GET", "/presentation/"+pubID+"/metadata.xml", nil)
	if resp.StatusCode != 200 || body(t, resp) != "<recording>public</recording>" {
		t.Fatalf("metadata.xml: HTTP %d", resp.StatusCode)
	}
	etag := resp.Header.Get("Etag")
	if etag == "" || resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Content-Disposition") != "" {
		t.Fatalf("headers %v", resp.Header)
	}
	if resp := e.do(t, "GET", "/presentation/"+pubID+"/metadata.xml", http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: HTTP %d", resp.StatusCode)
	}

	// Ranges, as a player seeking in a webcam video asks them.
	resp = e.do(t, "GET", "/presentation/"+pubID+"/video/webcams.webm", http.Header{"Range": {"bytes=10-14"}})
	if resp.StatusCode != http.StatusPartialContent || body(t, resp) != "abcde" || resp.Header.Get("Content-Range") != "bytes 10-14/20" {
		t.Fatalf("range: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	// The types BBB's nginx gives them (Go's table says audio/webm).
	if ct := resp.Header.Get("Content-Type"); ct != "video/webm" {
		t.Fatalf("webcams.webm: Content-Type %q", ct)
	}
	resp = e.do(t, "GET", "/presentation/"+pubID+"/video/webcams.webm", http.Header{"Range": {"bytes=30-40"}})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: HTTP %d", resp.StatusCode)
	}

	// Text compresses; what was compressed is what is on disk.
	resp = e.do(t, "GET", "/presentation/"+pubID+"/shapes.svg", http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("shapes.svg not compressed: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	onDisk, _ := os.ReadFile(filepath.Join(e.lib.Dir(pubID, "presentation", true), "shapes.svg"))
	if !bytes.Equal(unzipped, onDisk) {
		t.Fatal("the compressed svg is not the file")
	}

	// Downloads and directories.
	resp = e.do(t, "GET", "/podcast/"+pubID+"/audio.ogg", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != "attachment" || resp.Header.Get("Content-Type") != "audio/ogg" {
		t.Fatalf("podcast: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	if resp := e.do(t, "GET", "/video/"+pubID+"/", nil); resp.StatusCode != 200 || body(t, resp) != "<html>video</html>" ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("video index: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	if resp := e.do(t, "GET", "/video/"+pubID, nil); resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "/video/"+pubID+"/" {
		t.Fatalf("video without slash: HTTP %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := e.do(t, "POST", "/presentation/"+pubID+"/metadata.xml", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: HTTP %d", resp.StatusCode)
	}
}

func TestPlaybackNotFound(t *testing.T) {
	e := newPlaybackEnv(t)
	for what, target := range map[string]string{
		"unknown recording":       "/presentation/" + noneID + "/metadata.xml",
		"invalid record id":       "/presentation/not-an-id/metadata.xml",
		"unpublished recording":   "/presentation/" + unpubID + "/metadata.xml",
		"format it does not have": "/screenshare/" + pubID + "/metadata.xml",
		"missing file":            "/presentation/" + pubID + "/nope.xml",
		"directory without index": "/presentation/" + pubID + "/video/",
		"dot segments":            "/presentation/" + pubID + "/../" + protID + "/metadata.xml",
		"protected, no cookie":    "/presentation/" + protID + "/metadata.xml",
	} {
		expectNotFound(t, what, e.do(t, "GET", target, nil))
	}
	// Deleted: gone from the index's view at once.
	if err := e.db.MarkDeleted(context.Background(), pubID, ""); err != nil {
		t.Fatal(err)
	}
	expectNotFound(t, "deleted recording", e.do(t, "GET", "/presentation/"+pubID+"/metadata.xml", nil))
}

func TestPlaybackLegacyRedirects(t *testing.T) {
	e := newPlaybackEnv(t)
	for target, want := range map[string]string{
		"/playback/presentation/2.0/playback.html?meetingId=" + pubID: "/playback/presentation/2.3/" + pubID,
		"/playback/video/" + pubID + "/":                              "/video/" + pubID + "/",
		"/playback/video/" + pubID + "/video-0.m4v?t=1":               "/video/" + pubID + "/video-0.m4v?t=1",
		"/recording/screenshare/" + pubID + "/deskshare.webm":         "/screenshare/" + pubID + "/deskshare.webm",
	} {
		resp := e.do(t, "GET", target, nil)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("%s: HTTP %d to %q, want 301 to %q", target, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	expectNotFound(t, "2.0 player without an id", e.do(t, "GET", "/playback/presentation/2.0/playback.html?meetingId=x", nil))

	// Other paths are not playback's.
	for _, target := range []string{"/playback/presentation/2.3/" + pubID, "/", "/bigbluebutton/api", "/presentationx/" + pubID} {
		r := httptest.NewRequest("GET", target, nil)
		w := httptest.NewRecorder()
		if handled, _ := e.p.Serve(w, caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)); handled {
			t.Errorf("%s handled by playback", target)
		}
	}
}

func TestPlaybackProtected(t *testing.T) {
	e := newPlaybackEnv(t)
	link := e.p.Access.LinkPath(protID, "presentation")

	resp := e.do(t, "GET", link, nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/playback/presentation/2.3/"+protID {
		t.Fatalf("link: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Path != "/presentation/"+protID || !cookies[0].HttpOnly || cookies[0].Secure {
		t.Fatalf("cookies %+v", cookies)
	}
	resp = e.do(t, "GET", "/presentation/"+protID+"/metadata.xml", nil, cookies[0])
	if resp.StatusCode != 200 || body(t, resp) != "<recording>protected</recording>" || resp.Header.Get("Cache-Control") != "private" {
		t.Fatalf("with the cookie: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	expectNotFound(t, "the link a second time", e.do(t, "GET", link, nil))
	expectNotFound(t, "the cookie on another recording", e.do(t, "GET", "/presentation/"+pubID+"/nope", nil, cookies[0]))

	// Over TLS the cookie is Secure.
	r := httptest.NewRequest("GET", e.p.Access.LinkPath(protID, "presentation"), nil)
	r.TLS = &tlsState
	w := httptest.NewRecorder()
	if _, err := e.p.Serve(w, caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie over TLS: %+v", c)
	}

	// Links for another format, a tampered token, an expired link.
	expectNotFound(t, "other format", e.do(t, "GET", strings.Replace(e.p.Access.LinkPath(protID, "presentation"), "/presentation?", "/video?", 1), nil))
	u, _ := url.Parse(e.p.Access.LinkPath(protID, "presentation"))
	expectNotFound(t, "tampered", e.do(t, "GET", u.Path+"?token="+u.Query().Get("token")[1:], nil))
	old := *e.p.Access
	old.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expectNotFound(t, "expired", e.do(t, "GET", old.LinkPath(protID, "presentation"), nil))
	expectNotFound(t, "link to an unpublished recording", e.do(t, "GET", e.p.Access.LinkPath(unpubID, "presentation"), nil))
	expectNotFound(t, "malformed link", e.do(t, "GET", "/recording/"+protID+"/presentation/x?token=y", nil))

	// Unprotected, the recording's files need no cookie; a link still works.
	if err := e.db.SetProtected(context.Background(), []string{protID}, false); err != nil {
		t.Fatal(err)
	}
	if resp := e.do(t, "GET", "/presentation/"+protID+"/metadata.xml", nil); resp.StatusCode != 200 {
		t.Fatalf("unprotected: HTTP %d", resp.StatusCode)
	}
}

var tlsState = tls.ConnectionState{HandshakeComplete: true}

// BenchmarkPlaybackFile is one small file of a published recording: the
// index read, the checks and Caddy's file server (no cache in between).
func BenchmarkPlaybackFile(b *testing.B) {
	e := newPlaybackEnv(b)
	for b.Loop() {
		r := httptest.NewRequest("GET", "/presentation/"+pubID+"/metadata.xml", nil)
		w := httptest.NewRecorder()
		if _, err := e.p.Serve(w, caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)); err != nil || w.Code != 200 {
			b.Fatalf("HTTP %d %v", w.Code, err)
		}
	}
}
