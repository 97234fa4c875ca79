package multi

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

type recordingsAnswer struct {
	ReturnCode string `xml:"returncode"`
	Recordings []struct {
		RecordID  string `xml:"recordID"`
		Published bool   `xml:"published"`
	} `xml:"recordings>recording"`
}

func (in *instance) recordings(t *testing.T, query string) recordingsAnswer {
	t.Helper()
	u := in.base + "/bigbluebutton/api/getRecordings?" + bbb.Sign(bbb.SHA256, "getRecordings", query, lbSecret)
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r recordingsAnswer
	if err := xml.NewDecoder(resp.Body).Decode(&r); err != nil || r.ReturnCode != bbb.Success {
		t.Fatalf("getRecordings at %s: %v %+v", in.name, err, r)
	}
	return r
}

// Two instances watch one recordings library (a shared volume, as
// scalelite's): each tar is imported once, each recording-ready callback
// is sent once, and the index is the same on both, whichever instance
// publishes or deletes.
func TestRecordingsSharedLibrary(t *testing.T) {
	dir := t.TempDir()
	p := newPool(t, 1, sharedDB(t), fmt.Sprintf("\t\trecordings %s {\n\t\t\tsettle 1ms\n\t\t}\n", dir))
	var mu sync.Mutex
	ready := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		ready[r.PostForm.Get("signed_parameters")]++
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	a, b := p.start("a"), p.start("b")

	const n = 12
	host := mustHost(t, p.fakes[0].URL())
	var ids []string
	for i := 0; i < n; i++ {
		meeting := fmt.Sprintf("rec-room-%d", i)
		(map[bool]*instance{true: a, false: b}[i%2 == 0]).mustOK(t, "create", createQuery(meeting)+
			"&record=true&meta_bbb-recording-ready-url="+url.QueryEscape(receiver.URL+"/ready"))
		rec := rectest.Recording{MeetingID: meeting, Host: host, Published: true, StartTime: 1715171203311 + int64(i)*1000}.WithDefaults()
		raw, err := rec.Tar("presentation")
		if err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(dir, "spool", "."+rec.ID+".tar.part")
		if err := os.WriteFile(part, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(part, filepath.Join(dir, "spool", rec.ID+".tar")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	for _, in := range []*instance{a, b} {
		eventually(t, in.name+" lists every recording", func() bool { return len(in.recordings(t, "").Recordings) == n })
	}
	eventually(t, "a recording-ready callback for every recording", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ready) == n
	})
	mu.Lock()
	for token, count := range ready {
		if count != 1 {
			t.Errorf("recording-ready callback sent %d times: %s", count, token)
		}
	}
	mu.Unlock()

	// Publish state and deletion made through one instance show on the other.
	b.mustOK(t, "publishRecordings", "recordID="+ids[0]+"&publish=false")
	if r := a.recordings(t, "recordID="+ids[0]); len(r.Recordings) != 1 || r.Recordings[0].Published {
		t.Fatalf("a after b unpublished: %+v", r)
	}
	a.mustOK(t, "deleteRecordings", "recordID="+ids[1])
	if r := b.recordings(t, ""); len(r.Recordings) != n-1 {
		t.Fatalf("b lists %d recordings after a deleted one, want %d", len(r.Recordings), n-1)
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}
