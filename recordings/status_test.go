package recordings_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/recordings"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type statusEnv struct {
	*importRig
	srv  *httptest.Server
	logs *observer.ObservedLogs
	now  time.Time
}

func newStatusEnv(t *testing.T) *statusEnv {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e := &statusEnv{importRig: newImportRig(t), logs: logs, now: time.Now().Truncate(time.Second)}
	e.srv = httptest.NewServer(&recordings.StatusHandler{
		Library: e.lib,
		Index:   e.db,
		Servers: func(id string) (string, bool) {
			switch id {
			case "bbb1", "bbb2":
				return upSecret, true
			}
			return "", false
		},
		Now:    func() time.Time { return e.now },
		Logger: zap.New(core),
	})
	t.Cleanup(e.srv.Close)
	return e
}

type statusCall struct {
	server, recordID, formats, secret string
	ts                                time.Time
	alg                               bbb.Algorithm
}

func (e *statusEnv) call(server, recordID, formats string) statusCall {
	return statusCall{server: server, recordID: recordID, formats: formats, secret: upSecret, ts: e.now, alg: bbb.SHA256}
}

func (c statusCall) query() string {
	q := "server=" + url.QueryEscape(c.server) + "&recordID=" + c.recordID + "&formats=" + c.formats +
		fmt.Sprintf("&timestamp=%d", c.ts.Unix())
	return bbb.Sign(c.alg, recordings.StatusCall, q, c.secret)
}

func (e *statusEnv) get(t *testing.T, method string, c statusCall) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/bigbluebutton/recording/status?"+c.query(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expect checks that the status call of server about id asking for these
// formats answers 200 with the line want.
func (e *statusEnv) expect(t *testing.T, server, id, formats, want string) {
	t.Helper()
	code, body := e.get(t, http.MethodGet, e.call(server, id, formats))
	if code != http.StatusOK || body != want+"\n" {
		t.Fatalf("status of %s as %s, formats %q: %d %q, want %q", id, server, formats, code, body, want)
	}
}

func TestStatusRejected(t *testing.T) {
	id := recID(1)
	cases := []struct {
		name   string
		status int
		edit   func(e *statusEnv, c *statusCall)
	}{
		{"bad signature", 403, func(e *statusEnv, c *statusCall) { c.secret = "other" }},
		{"sha1 not accepted", 403, func(e *statusEnv, c *statusCall) { c.alg = bbb.SHA1 }},
		{"unknown server", 403, func(e *statusEnv, c *statusCall) { c.server = "bbb9" }},
		{"stale timestamp", 403, func(e *statusEnv, c *statusCall) { c.ts = e.now.Add(-recordings.UploadSkew - time.Second) }},
		{"future timestamp", 403, func(e *statusEnv, c *statusCall) { c.ts = e.now.Add(recordings.UploadSkew + time.Second) }},
		{"invalid recordID", 400, func(e *statusEnv, c *statusCall) { c.recordID = "..%2F..%2Fetc" }},
		{"invalid format", 400, func(e *statusEnv, c *statusCall) { c.formats = "presentation,..%2Fx" }},
		{"empty format", 400, func(e *statusEnv, c *statusCall) { c.formats = "presentation," }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newStatusEnv(t)
			e.spool(recordings.UploadName(id, "bbb1"), recordingTar(t, id, true, "presentation"))
			call := e.call("bbb1", id, "presentation")
			c.edit(e, &call)
			code, body := e.get(t, http.MethodGet, call)
			if code != c.status {
				t.Fatalf("status %d %q, want %d", code, body, c.status)
			}
			if strings.Count(body, "\n") != 1 || strings.Contains(body, "queued") {
				t.Errorf("body %q: want one line, and no state", body)
			}
			if len(e.logs.All()) == 0 {
				t.Error("rejection not logged")
			}
			_, sum, _ := bbb.SplitChecksum(call.query())
			noSecretsLogged(t, e.logs, sum)
		})
	}
}

func TestStatusMethodAndMissingChecksum(t *testing.T) {
	e := newStatusEnv(t)
	if code, _ := e.get(t, http.MethodPost, e.call("bbb1", recID(1), "")); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", code)
	}
	resp, err := http.Get(e.srv.URL + "/?server=bbb1&recordID=" + recID(1) + fmt.Sprintf("&timestamp=%d", e.now.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no checksum: %d", resp.StatusCode)
	}
}

// A recording goes from missing through queued to imported, as the
// importer takes its tars; a server learns about its own recordings only.
func TestStatusStates(t *testing.T) {
	e := newStatusEnv(t)
	ctx := context.Background()
	id := recID(1)
	im := e.importer(nil)

	e.expect(t, "bbb1", id, "presentation", "missing presentation")
	name := recordings.UploadName(id, "bbb1")
	p := e.spool(name, recordingTar(t, id, true, "presentation"))
	e.expect(t, "bbb1", id, "presentation", "queued")
	// Claimed by an import under way: still queued.
	claimed := filepath.Join(e.lib.SpoolDir, "."+name+".importing")
	if err := os.Rename(p, claimed); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "bbb1", id, "presentation", "queued")
	if err := os.Rename(claimed, p); err != nil {
		t.Fatal(err)
	}
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "bbb1", id, "presentation", "imported presentation")
	e.expect(t, "bbb1", id, "", "imported presentation")
	e.expect(t, "bbb1", id, "presentation,video", "missing video")
	e.expect(t, "bbb2", id, "presentation", "missing presentation")

	// The second tar, with both formats, is queued although the index has
	// the first: what the server sent last is what it asks about.
	e.spool(name, recordingTar(t, id, true, "presentation", "video"))
	e.expect(t, "bbb1", id, "presentation", "queued")
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "bbb1", id, "video,presentation,video", "imported presentation,video")

	if err := e.db.MarkDeleted(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "bbb1", id, "presentation", "deleted")
}

// A refused tar is failed, with the importer's reason; a later import
// with the formats asked wins over an older refusal.
func TestStatusFailed(t *testing.T) {
	e := newStatusEnv(t)
	ctx := context.Background()
	id := recID(2)
	im := e.importer(nil)
	broken := buildTar(t, []tarEntry{tarDir("presentation/"), tarDir("presentation/" + id + "/"),
		tarFile("presentation/"+id+"/shapes.svg", "<svg/>")}) // no metadata.xml
	e.spool(recordings.UploadName(id, "bbb1"), broken)
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	code, body := e.get(t, http.MethodGet, e.call("bbb1", id, "presentation"))
	if code != http.StatusOK || !strings.HasPrefix(body, "failed ") || !strings.Contains(body, "metadata.xml") || strings.Count(body, "\n") != 1 {
		t.Fatalf("status after a refused tar: %d %q", code, body)
	}
	e.spool(recordings.UploadName(id, "bbb1"), recordingTar(t, id, true, "presentation"))
	if _, err := im.ImportSpool(ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(t, "bbb1", id, "presentation", "imported presentation")
	e.expect(t, "bbb1", id, "presentation,video", "failed "+strings.TrimSuffix(strings.TrimPrefix(body, "failed "), "\n"))
}

// brokenIndex is an index whose database does not answer.
type brokenIndex struct{ recordings.Store }

func (brokenIndex) Recording(context.Context, string) (recordings.Entry, bool, error) {
	return recordings.Entry{}, false, errors.New("database is down")
}

// An index that cannot be read is the balancer's fault: 500, the server
// keeps its copy and asks again later.
func TestStatusIndexDown(t *testing.T) {
	e := newStatusEnv(t)
	srv := httptest.NewServer(&recordings.StatusHandler{Library: e.lib, Index: brokenIndex{},
		Servers: func(string) (string, bool) { return upSecret, true }})
	defer srv.Close()
	e.srv = srv
	if code, body := e.get(t, http.MethodGet, e.call("bbb1", recID(1), "presentation")); code != http.StatusInternalServerError {
		t.Fatalf("status %d %q, want 500", code, body)
	}
}
