package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// recordingsAnswer is what the tests read of a getRecordings answer.
type recordingsAnswer struct {
	ReturnCode string `xml:"returncode"`
	MessageKey string `xml:"messageKey"`
	Recordings []struct {
		RecordID  string `xml:"recordID"`
		MeetingID string `xml:"meetingID"`
		State     string `xml:"state"`
		Published bool   `xml:"published"`
		Metadata  struct {
			Inner string `xml:",innerxml"`
		} `xml:"metadata"`
		Formats []struct {
			Type   string   `xml:"type"`
			URL    string   `xml:"url"`
			Images []string `xml:"preview>images>image"`
		} `xml:"playback>format"`
	} `xml:"recordings>recording"`
	Total int `xml:"pagination>totalElements"`
}

func getRecordings(t *testing.T, c *client, query string) recordingsAnswer {
	t.Helper()
	return parseRecordings(t, query, c.get(t, "getRecordings", query))
}

func parseRecordings(t *testing.T, query string, a answer) recordingsAnswer {
	t.Helper()
	var r recordingsAnswer
	if err := xml.Unmarshal([]byte(a.Raw), &r); err != nil {
		t.Fatalf("getRecordings?%s: %v\n%s", query, err, a.Raw)
	}
	if r.ReturnCode != bbb.Success {
		t.Fatalf("getRecordings?%s: %s", query, a.Raw)
	}
	return r
}

// spool drops a recording tar into the spool the way the transfer script
// does: written under a dot-name, then renamed.
func spool(t *testing.T, dir, name string, tarball []byte) {
	t.Helper()
	part := filepath.Join(dir, "spool", "."+name+".part")
	if err := os.WriteFile(part, tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part, filepath.Join(dir, "spool", name)); err != nil {
		t.Fatal(err)
	}
}

func mustTar(t *testing.T, r rectest.Recording, formats ...string) []byte {
	t.Helper()
	b, err := r.Tar(formats...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// readyReceiver is a front-end's recording-ready endpoint.
type readyReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newReadyReceiver(t *testing.T) *readyReceiver {
	rr := &readyReceiver{}
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		r.ParseForm()
		rr.mu.Lock()
		rr.tokens = append(rr.tokens, r.PostForm.Get("signed_parameters"))
		rr.mu.Unlock()
	}))
	t.Cleanup(rr.Close)
	return rr
}

func (rr *readyReceiver) got() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]string(nil), rr.tokens...)
}

// verifyHS256 checks a JWT as a front-end does and returns its claims.
func verifyHS256(t *testing.T, token, secret string) map[string]string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != parts[2] {
		t.Fatalf("JWT signature does not verify with the front-end's secret")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]string
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("JWT payload %q: %v", raw, err)
	}
	return claims
}

func TestRecordingsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := startPool(t, 2, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t\tupload\n\t\t}", dir))
	c := newClient()
	ready := newReadyReceiver(t)
	fakeHost := strings.Split(strings.TrimPrefix(p.fakes[0].URL(), "http://"), ":")[0]

	// No recordings yet: BBB's answer.
	if a := getRecordings(t, c, "meetingID=room-alpha"); a.MessageKey != bbb.KeyNoRecordings || len(a.Recordings) != 0 {
		t.Fatalf("empty index: %+v", a)
	}

	// The front-end asks for a recording-ready callback at create; the
	// server must not get it (it would sign with its own secret).
	mustOK(t, "create", c.get(t, "create", "meetingID=room-alpha&name=Alpha&record=true&meta_bbb-recording-ready-url="+
		url.QueryEscape(ready.URL+"/ready")+"&meta_bbb-origin=greenlight"))
	holder := p.holder("room-alpha")
	for _, call := range apiCalls(p.fakes[holder]) {
		if strings.Contains(call.RawQuery, "recording-ready") {
			t.Fatalf("the server got the recording-ready URL: %s", call.RawQuery)
		}
	}

	// The server publishes; its post-publish script drops a tar.
	rec := rectest.Recording{MeetingID: "room-alpha", Host: fakeHost, Published: true,
		Meta: [][2]string{{"bbb-origin", "greenlight"}}}.WithDefaults()
	spool(t, dir, rec.ID+".tar", mustTar(t, rec, "presentation", "video"))
	var got recordingsAnswer
	eventually(t, "the recording is imported", func() bool {
		got = getRecordings(t, c, "meetingID=room-alpha")
		return len(got.Recordings) == 1
	})
	r := got.Recordings[0]
	if r.RecordID != rec.ID || r.State != "published" || !r.Published || len(r.Formats) != 2 {
		t.Fatalf("recording: %+v", r)
	}
	if want := base + "/playback/presentation/2.3/" + rec.ID; r.Formats[0].URL != want {
		t.Fatalf("playback URL %q, want %q (on the balancer's host)", r.Formats[0].URL, want)
	}
	if len(r.Formats[0].Images) != 1 || !strings.HasPrefix(r.Formats[0].Images[0], base+"/presentation/"+rec.ID+"/") {
		t.Fatalf("thumbnails: %v", r.Formats[0].Images)
	}
	published := filepath.Join(dir, "published", "presentation", rec.ID, "metadata.xml")
	unpublished := filepath.Join(dir, "unpublished", "presentation", rec.ID, "metadata.xml")
	if !exists(published) || exists(filepath.Join(dir, "spool", rec.ID+".tar")) {
		t.Fatal("files not in published/, or the tar is still in the spool")
	}

	// The recording-ready callback, signed with the front-end's secret.
	eventually(t, "the recording-ready callback", func() bool { return len(ready.got()) > 0 })
	claims := verifyHS256(t, ready.got()[0], lbSecret)
	if claims["meeting_id"] != "room-alpha" || claims["record_id"] != rec.ID {
		t.Fatalf("callback claims %v", claims)
	}

	// The server that made it is known: text tracks go there.
	textTrack(t, c, rec.ID)
	if p.fakes[0].CallCount("putRecordingTextTrack") != 1 || p.fakes[0].CallCount("getRecordingTextTracks") != 1 {
		t.Fatal("text-track calls did not reach the recording's server")
	}

	// Unpublish moves the files; publish moves them back.
	mustOK(t, "unpublish", c.get(t, "publishRecordings", "recordID="+rec.ID+"&publish=false"))
	if exists(published) || !exists(unpublished) {
		t.Fatal("unpublish did not move the files to unpublished/")
	}
	if a := getRecordings(t, c, "recordID="+rec.ID); a.Recordings[0].State != "unpublished" || a.Recordings[0].Published {
		t.Fatalf("after unpublish: %+v", a.Recordings[0])
	}
	if a := getRecordings(t, c, "recordID="+rec.ID+"&state=published"); len(a.Recordings) != 0 {
		t.Fatal("state=published lists an unpublished recording")
	}
	mustOK(t, "publish", c.get(t, "publishRecordings", "recordID="+rec.ID+"&publish=true"))
	if !exists(published) || exists(unpublished) {
		t.Fatal("publish did not move the files back")
	}

	// Metadata edits; filters are ANDed with BBB's wildcards.
	mustOK(t, "update", c.get(t, "updateRecordings", "recordID="+rec.ID+"&meta_Course=math-101&meta_bbb-origin="))
	for q, want := range map[string]int{
		"meta_course=math-101":                     1,
		"meta_course=math%25":                      1,
		"meta_course=%25-101":                      1,
		"meta_course=%25th-1%25":                   1,
		"meta_course=math-102":                     0,
		"meta_course=math-101&meta_bbb-origin=%25": 0, // the key was removed
	} {
		if a := getRecordings(t, c, q); len(a.Recordings) != want {
			t.Errorf("getRecordings?%s: %d recordings, want %d", q, len(a.Recordings), want)
		}
	}
	// The edit survives the server sending the recording again.
	spool(t, dir, rec.ID+".tar", mustTar(t, rec, "presentation", "video", "podcast"))
	eventually(t, "the re-sent recording is imported", func() bool {
		a := getRecordings(t, c, "recordID="+rec.ID)
		return len(a.Recordings) == 1 && len(a.Recordings[0].Formats) == 3
	})
	if a := getRecordings(t, c, "meta_course=math-101"); len(a.Recordings) != 1 {
		t.Fatal("a re-import lost the metadata edit")
	}

	// More recordings, then pages.
	for i := 1; i <= 3; i++ {
		more := rectest.Recording{MeetingID: fmt.Sprintf("room-%d", i), Host: fakeHost, Published: true, StartTime: 1715171203311 + int64(i)*1000}
		spool(t, dir, more.WithDefaults().ID+".tar", mustTar(t, more, "presentation"))
	}
	eventually(t, "three more recordings", func() bool { return len(getRecordings(t, c, "").Recordings) == 4 })
	page := getRecordings(t, c, "limit=2&offset=1")
	if page.Total != 4 || len(page.Recordings) != 2 || page.Recordings[0].MeetingID != "room-2" || page.Recordings[1].MeetingID != "room-1" {
		t.Fatalf("page 2 of 2: %+v", page)
	}

	// Delete removes every file and keeps the recording as deleted.
	mustOK(t, "delete", c.get(t, "deleteRecordings", "recordID="+rec.ID))
	if exists(filepath.Dir(published)) || exists(filepath.Dir(unpublished)) || exists(filepath.Join(dir, "published", "video", rec.ID)) {
		t.Fatal("files left after delete")
	}
	if a := getRecordings(t, c, "meetingID=room-alpha"); len(a.Recordings) != 0 {
		t.Fatal("a deleted recording is listed by default")
	}
	if a := getRecordings(t, c, "meetingID=room-alpha&state=deleted"); len(a.Recordings) != 1 || a.Recordings[0].State != "deleted" {
		t.Fatalf("state=deleted: %+v", a)
	}
	// Sent again, a deleted recording stays deleted.
	spool(t, dir, rec.ID+".tar", mustTar(t, rec, "presentation"))
	eventually(t, "the tar of a deleted recording is taken", func() bool {
		return !exists(filepath.Join(dir, "spool", rec.ID+".tar"))
	})
	if a := getRecordings(t, c, "meetingID=room-alpha&state=any"); len(a.Recordings) != 1 || a.Recordings[0].State != "deleted" || exists(filepath.Dir(published)) {
		t.Fatal("a re-sent deleted recording came back")
	}

	// BBB's errors.
	mustFail(t, "publish without id", c.get(t, "publishRecordings", "publish=true"), bbb.KeyMissingRecordID)
	mustFail(t, "publish without publish", c.get(t, "publishRecordings", "recordID="+rec.ID), bbb.KeyMissingPublish)
	mustFail(t, "publish unknown", c.get(t, "publishRecordings", "recordID=nope&publish=true"), bbb.KeyNotFound)
	mustFail(t, "delete unknown", c.get(t, "deleteRecordings", "recordID=nope"), bbb.KeyNotFound)
	mustFail(t, "update unknown", c.get(t, "updateRecordings", "recordID=nope&meta_a=b"), bbb.KeyNotFound)

	// A bad tar goes to failed/ with its reason and does not block others.
	spool(t, dir, "garbage.tar", []byte("this is not a tar"))
	eventually(t, "the bad tar is moved to failed/", func() bool {
		return exists(filepath.Join(dir, "failed", "garbage.tar")) && exists(filepath.Join(dir, "failed", "garbage.tar.error"))
	})
	after := rectest.Recording{MeetingID: "room-after", Host: fakeHost, Published: true}
	spool(t, dir, after.WithDefaults().ID+".tar", mustTar(t, after, "presentation"))
	eventually(t, "a good tar after a bad one", func() bool { return len(getRecordings(t, c, "meetingID=room-after").Recordings) == 1 })

	// Operators see the index.
	var listing struct {
		Total      int `json:"total"`
		Recordings []struct {
			RecordID string `json:"record_id"`
			Server   string `json:"server"`
		} `json:"recordings"`
	}
	adminGet(t, "/bbb/recordings?meeting=room-after", &listing)
	if listing.Total != 1 || listing.Recordings[0].Server != "bbb1" {
		t.Fatalf("admin listing: %+v", listing)
	}
}

// textTrack uploads a caption through the balancer and lists it.
func textTrack(t *testing.T, c *client, id string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "captions.vtt")
	fw.Write([]byte("WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.url("putRecordingTextTrack", "recordID="+id+"&kind=subtitles&lang=en-US"), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"upload_text_track_success"`) {
		t.Fatalf("putRecordingTextTrack: %s", raw)
	}
	a := c.get(t, "getRecordingTextTracks", "recordID="+id)
	if !strings.Contains(a.Raw, `"lang":"en-US"`) || !strings.Contains(a.Raw, `"SUCCESS"`) {
		t.Fatalf("getRecordingTextTracks: %s", a.Raw)
	}
}

// upload sends a recording as examples/bbb/bbb-balance-send does.
func upload(t *testing.T, serverID, secret, nonce string, tarball []byte, id string) (int, string) {
	t.Helper()
	sum := sha256.Sum256(tarball)
	q := "server=" + url.QueryEscape(serverID) + "&recordID=" + id + "&timestamp=" + strconv.FormatInt(time.Now().Unix(), 10) +
		"&nonce=" + nonce + "&sha256=" + hex.EncodeToString(sum[:])
	resp, err := http.Post(base+"/bigbluebutton/recording/upload?"+bbb.Sign(bbb.SHA256, "uploadRecording", q, secret), "application/x-tar", bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// recordingStatus asks as examples/bbb/bbb-balance-send does whether a
// recording is imported.
func recordingStatus(t *testing.T, serverID, secret, id, formats string) (int, string) {
	t.Helper()
	q := "server=" + url.QueryEscape(serverID) + "&recordID=" + id + "&formats=" + formats +
		"&timestamp=" + strconv.FormatInt(time.Now().Unix(), 10)
	resp, err := http.Get(base + "/bigbluebutton/recording/status?" + bbb.Sign(bbb.SHA256, "recordingStatus", q, secret))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestRecordingUpload(t *testing.T) {
	dir := t.TempDir()
	p := startPool(t, 2, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t\tupload\n\t\t}", dir))
	c := newClient()
	// Links on a host the pool does not know: the uploader names the server.
	rec := rectest.Recording{MeetingID: "room-up", Host: "elsewhere.example.com", Published: true}.WithDefaults()
	tarball := mustTar(t, rec, "presentation")
	nonce := make([]byte, 16)
	rand.Read(nonce)
	n := hex.EncodeToString(nonce)

	if code, body := upload(t, "bbb2", "not-the-secret", n, tarball, rec.ID); code != http.StatusForbidden {
		t.Fatalf("bad signature: %d %s", code, body)
	}
	if code, body := upload(t, "bbb2", p.fakes[1].Secret(), n, tarball, rec.ID); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := upload(t, "bbb2", p.fakes[1].Secret(), n, tarball, rec.ID); code != http.StatusConflict {
		t.Fatalf("replay: %d %s", code, body)
	}
	eventually(t, "the uploaded recording is imported", func() bool {
		return len(getRecordings(t, c, "meetingID=room-up").Recordings) == 1
	})
	var listing struct {
		Recordings []struct {
			Server string `json:"server"`
		} `json:"recordings"`
	}
	adminGet(t, "/bbb/recordings?meeting=room-up", &listing)
	if len(listing.Recordings) != 1 || listing.Recordings[0].Server != "bbb2" {
		t.Fatalf("uploaded recording's server: %+v", listing)
	}
	// The server may now delete its copy; another server learns nothing.
	if code, body := recordingStatus(t, "bbb2", p.fakes[1].Secret(), rec.ID, "presentation"); code != http.StatusOK || body != "imported presentation\n" {
		t.Fatalf("status call: %d %q", code, body)
	}
	if code, body := recordingStatus(t, "bbb1", p.fakes[0].Secret(), rec.ID, "presentation"); code != http.StatusOK || body != "missing presentation\n" {
		t.Fatalf("status call of another server: %d %q", code, body)
	}
	if code, body := recordingStatus(t, "bbb2", "not-the-secret", rec.ID, "presentation"); code != http.StatusForbidden {
		t.Fatalf("status call with a bad signature: %d %q", code, body)
	}
}

// An existing BBB (or scalelite) published/ tree moves over in one
// command, and the CLI lists the index.
func TestCLIRecordingsImport(t *testing.T) {
	dir := t.TempDir()
	startPool(t, 1, fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t}", dir))
	old := t.TempDir() // like /var/bigbluebutton/published on a BBB server
	var ids []string
	for i := range 3 {
		r := rectest.Recording{MeetingID: fmt.Sprintf("old-%d", i), Published: true, StartTime: 1700000000000 + int64(i)}.WithDefaults()
		ids = append(ids, r.ID)
		for _, e := range r.Entries("presentation", "video") {
			p := filepath.Join(old, e.Name)
			if e.Type == rectest.Dir("").Type {
				os.MkdirAll(p, 0o755)
				continue
			}
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(e.Body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.MkdirAll(filepath.Join(old, "presentation", "not-a-recording"), 0o755)

	out := cli(t, "recordings", "import", old)
	if !strings.Contains(out, "3 recording(s) imported") || !strings.Contains(out, "skipped presentation/not-a-recording") {
		t.Fatalf("import said:\n%s", out)
	}
	for _, id := range ids {
		if !exists(filepath.Join(dir, "published", "video", id, "metadata.xml")) || !exists(filepath.Join(old, "video", id, "metadata.xml")) {
			t.Fatalf("%s: not copied into the library, or the source was not kept", id)
		}
	}
	list := cli(t, "recordings", "list")
	if strings.Count(list, "[presentation video]") != 3 || !strings.Contains(list, ids[2]) {
		t.Fatalf("list:\n%s", list)
	}
	cliFail(t, "no such file or directory", "recordings", "import", filepath.Join(old, "missing"))

	// The index summed up: 3 published recordings of the default
	// front-end, then one of them unpublished.
	var stats []struct {
		Tenant     string `json:"tenant"`
		State      string `json:"state"`
		Recordings int64  `json:"recordings"`
		Bytes      int64  `json:"bytes"`
	}
	adminGet(t, "/bbb/recordings/stats", &stats)
	if len(stats) != 1 || stats[0].State != "published" || stats[0].Recordings != 3 || stats[0].Bytes <= 0 {
		t.Fatalf("stats: %+v", stats)
	}
	c := newClient()
	mustOK(t, "publishRecordings", c.get(t, "publishRecordings", "recordID="+ids[0]+"&publish=false"))
	out = cli(t, "recordings", "stats")
	for _, want := range []string{"TENANT  STATE        RECORDINGS  SIZE", "-       published    2", "-       unpublished  1", "all                  3"} {
		if !strings.Contains(out, want) {
			t.Fatalf("recordings stats lacks %q:\n%s", want, out)
		}
	}
	if n := metric(t, `caddy_bbb_recordings{state="unpublished",tenant=""}`); n != 1 {
		t.Fatalf("caddy_bbb_recordings of unpublished: %v", n)
	}
	if n := metric(t, `caddy_bbb_recordings_bytes{state="published",tenant=""}`); n != float64(stats[0].Bytes)*2/3 {
		t.Fatalf("caddy_bbb_recordings_bytes of published: %v, want two thirds of %d", n, stats[0].Bytes)
	}
}
