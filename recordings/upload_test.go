package recordings_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/bbb-balance/bbb_balance/store"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const (
	upRecordID = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123"
	upSecret   = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
)

type uploadEnv struct {
	spool string
	srv   *httptest.Server
	logs  *observer.ObservedLogs
	now   time.Time
}

func newUploadEnv(t *testing.T, maxSize int64) *uploadEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	core, logs := observer.New(zap.DebugLevel)
	e := &uploadEnv{spool: t.TempDir(), logs: logs, now: time.Now().Truncate(time.Second)}
	h := &recordings.UploadHandler{
		Spool:   e.spool,
		MaxSize: maxSize,
		Servers: func(id string) (string, bool) {
			switch id {
			case "bbb1", "bbb 2/x":
				return upSecret, true
			}
			return "", false
		},
		Nonces: db,
		Now:    func() time.Time { return e.now },
		Logger: zap.New(core),
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

type upload struct {
	server, recordID, nonce, secret string
	ts                              time.Time
	alg                             bbb.Algorithm
	body                            []byte
	hash                            string // overrides the body's sha256
}

func (e *uploadEnv) good(body string) upload {
	return upload{server: "bbb1", recordID: upRecordID, nonce: "00112233445566778899aabbccddeeff",
		secret: upSecret, ts: e.now, alg: bbb.SHA256, body: []byte(body)}
}

func (u upload) query() string {
	hash := u.hash
	if hash == "" {
		sum := sha256.Sum256(u.body)
		hash = hex.EncodeToString(sum[:])
	}
	q := "server=" + url.QueryEscape(u.server) + "&recordID=" + u.recordID +
		fmt.Sprintf("&timestamp=%d", u.ts.Unix()) + "&nonce=" + u.nonce + "&sha256=" + hash
	return bbb.Sign(u.alg, recordings.UploadCall, q, u.secret)
}

func (e *uploadEnv) post(t *testing.T, u upload) (int, string) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/bigbluebutton/recording/upload?"+u.query(), "application/x-tar", bytes.NewReader(u.body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// spool returns the names in the spool directory.
func (e *uploadEnv) spoolNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	return names
}

func (e *uploadEnv) expectSpool(t *testing.T, want ...string) {
	t.Helper()
	got := e.spoolNames(t)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("spool holds %q, want %q", got, want)
	}
}

// noSecrets checks that no log line carries the secret or a checksum.
func (e *uploadEnv) noSecrets(t *testing.T, checksums ...string) {
	t.Helper()
	noSecretsLogged(t, e.logs, checksums...)
}

// noSecretsLogged checks that no line of logs carries the secret or a
// checksum.
func noSecretsLogged(t *testing.T, logs *observer.ObservedLogs, checksums ...string) {
	t.Helper()
	for _, entry := range logs.All() {
		line := entry.Message + fmt.Sprint(entry.ContextMap())
		if strings.Contains(line, upSecret) {
			t.Errorf("log line carries the secret: %s", line)
		}
		for _, c := range checksums {
			if strings.Contains(line, c) {
				t.Errorf("log line carries the checksum: %s", line)
			}
		}
	}
}

func checksumOf(u upload) string {
	_, sum, _ := bbb.SplitChecksum(u.query())
	return sum
}

func TestUploadGood(t *testing.T) {
	for _, alg := range []bbb.Algorithm{bbb.SHA256, bbb.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			e := newUploadEnv(t, 0)
			u := e.good("tar bytes")
			u.alg = alg
			code, body := e.post(t, u)
			if code != http.StatusCreated {
				t.Fatalf("status %d %q", code, body)
			}
			name := upRecordID + ".bbb1.tar"
			e.expectSpool(t, name)
			got, err := os.ReadFile(filepath.Join(e.spool, name))
			if err != nil || string(got) != "tar bytes" {
				t.Fatalf("stored %q, %v", got, err)
			}
			e.noSecrets(t, checksumOf(u))
		})
	}
}

func TestUploadServerIDEscaped(t *testing.T) {
	e := newUploadEnv(t, 0)
	u := e.good("x")
	u.server = "bbb 2/x"
	if code, body := e.post(t, u); code != http.StatusCreated {
		t.Fatalf("status %d %q", code, body)
	}
	e.expectSpool(t, upRecordID+".bbb%202%2Fx.tar")
}

func TestUploadRejected(t *testing.T) {
	cases := []struct {
		name   string
		status int
		edit   func(e *uploadEnv, u *upload)
	}{
		{"bad signature", 403, func(e *uploadEnv, u *upload) { u.secret = "other" }},
		{"sha1 not accepted", 403, func(e *uploadEnv, u *upload) { u.alg = bbb.SHA1 }},
		{"unknown server", 403, func(e *uploadEnv, u *upload) { u.server = "bbb9" }},
		{"stale timestamp", 403, func(e *uploadEnv, u *upload) { u.ts = e.now.Add(-recordings.UploadSkew - time.Second) }},
		{"future timestamp", 403, func(e *uploadEnv, u *upload) { u.ts = e.now.Add(recordings.UploadSkew + time.Second) }},
		{"invalid recordID", 400, func(e *uploadEnv, u *upload) { u.recordID = "..%2F..%2Fetc" }},
		{"short nonce", 400, func(e *uploadEnv, u *upload) { u.nonce = "abc" }},
		{"bad sha256", 400, func(e *uploadEnv, u *upload) { u.hash = "xyz" }},
		{"hash mismatch", 400, func(e *uploadEnv, u *upload) { u.hash = strings.Repeat("0", 64) }},
		{"oversize", 413, func(e *uploadEnv, u *upload) { u.body = bytes.Repeat([]byte("x"), 101) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newUploadEnv(t, 100)
			u := e.good("tar bytes")
			c.edit(e, &u)
			code, body := e.post(t, u)
			if code != c.status {
				t.Fatalf("status %d %q, want %d", code, body, c.status)
			}
			if strings.Count(body, "\n") != 1 || body == "\n" {
				t.Errorf("body %q: want one line", body)
			}
			e.expectSpool(t)
			e.noSecrets(t, checksumOf(u))
			if len(e.logs.All()) == 0 {
				t.Error("rejection not logged")
			}
		})
	}
}

// A body without Content-Length is cut off by MaxBytesReader mid-stream.
func TestUploadOversizeChunked(t *testing.T) {
	e := newUploadEnv(t, 100)
	u := e.good(strings.Repeat("x", 1000))
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 10; i++ {
			pw.Write(u.body[i*100 : (i+1)*100])
		}
		pw.Close()
	}()
	resp, err := http.Post(e.srv.URL+"/?"+u.query(), "application/x-tar", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	e.expectSpool(t)
}

func TestUploadReplay(t *testing.T) {
	e := newUploadEnv(t, 0)
	u := e.good("tar bytes")
	if code, body := e.post(t, u); code != http.StatusCreated {
		t.Fatalf("first: %d %q", code, body)
	}
	if code, body := e.post(t, u); code != http.StatusConflict {
		t.Fatalf("replay: %d %q, want 409", code, body)
	}
	// A new nonce is a new upload, replacing the old tar (later uploads
	// carry more formats).
	u.nonce = "ffeeddccbbaa99887766554433221100"
	u.body = []byte("more formats")
	if code, body := e.post(t, u); code != http.StatusCreated {
		t.Fatalf("second upload: %d %q", code, body)
	}
	e.expectSpool(t, upRecordID+".bbb1.tar")
	got, _ := os.ReadFile(filepath.Join(e.spool, upRecordID+".bbb1.tar"))
	if string(got) != "more formats" {
		t.Fatalf("spool holds %q", got)
	}
}

// A forged request must not use up the nonce of a genuine one.
func TestUploadForgeryDoesNotBurnNonce(t *testing.T) {
	e := newUploadEnv(t, 0)
	forged := e.good("evil")
	forged.secret = "guess"
	if code, _ := e.post(t, forged); code != http.StatusForbidden {
		t.Fatalf("forged: %d", code)
	}
	if code, body := e.post(t, e.good("tar bytes")); code != http.StatusCreated {
		t.Fatalf("genuine after forgery: %d %q", code, body)
	}
}

// A hash mismatch spends the nonce (the request was genuine): the sender
// retries with a new one.
func TestUploadMismatchThenRetry(t *testing.T) {
	e := newUploadEnv(t, 0)
	u := e.good("tar bytes")
	u.hash = strings.Repeat("0", 64)
	if code, _ := e.post(t, u); code != http.StatusBadRequest {
		t.Fatalf("mismatch: %d", code)
	}
	u = e.good("tar bytes")
	u.nonce = "0123456789abcdef0123"
	if code, body := e.post(t, u); code != http.StatusCreated {
		t.Fatalf("retry: %d %q", code, body)
	}
	e.expectSpool(t, upRecordID+".bbb1.tar")
}

func TestUploadMethodAndMissingChecksum(t *testing.T) {
	e := newUploadEnv(t, 0)
	resp, err := http.Get(e.srv.URL + "/?" + e.good("x").query())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, err = http.Post(e.srv.URL+"/?server=bbb1&recordID="+upRecordID, "application/x-tar", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no checksum: %d", resp.StatusCode)
	}
	e.expectSpool(t)
}

// A spool that cannot be written is the balancer's fault (5xx: the sender
// retries) and leaves nothing behind.
func TestUploadSpoolMissing(t *testing.T) {
	e := newUploadEnv(t, 0)
	if err := os.Remove(e.spool); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.post(t, e.good("x")); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
}
