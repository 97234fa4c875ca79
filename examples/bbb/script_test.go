// The BBB-side transfer scripts, run with bash against a real upload
// endpoint and real directories.
package bbb_test

import (
	"archive/tar"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

const (
	recA   = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123"
	recB   = "0123456789abcdef0123456789abcdef01234567-1715261728999"
	secret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
)

func needTools(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "tar", "openssl", "sha256sum", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BBB_REQUIRE_TOOLS") != "" {
				t.Fatalf("%s is not installed (scripts/test.sh installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// bbbServer lays out a BBB server's directories: recA published in two
// formats, recB in one.
type bbbServer struct {
	root, published, work, status string
}

func newBBBServer(t *testing.T) *bbbServer {
	t.Helper()
	root := t.TempDir()
	s := &bbbServer{root: root, published: filepath.Join(root, "published"),
		work: filepath.Join(root, "work"), status: filepath.Join(root, "status")}
	files := map[string]string{
		"presentation/" + recA + "/metadata.xml":      "<recording><id>" + recA + "</id></recording>",
		"presentation/" + recA + "/shapes.svg":        "<svg/>",
		"video/" + recA + "/metadata.xml":             "<recording><id>" + recA + "</id><format>video</format></recording>",
		"video/" + recA + "/video-0.m4v":              "not really a video",
		"presentation/" + recB + "/metadata.xml":      "<recording><id>" + recB + "</id></recording>",
		"presentation/" + recB + "/presentation/x.pn": "png",
	}
	for name, body := range files {
		p := filepath.Join(s.published, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run runs a script with the server's directories and env; no config file.
func (s *bbbServer) run(t *testing.T, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(),
		"BBB_BALANCE_CONF="+filepath.Join(s.root, "none.conf"),
		"PUBLISHED_DIR="+s.published, "WORK_DIR="+s.work, "STATUS_DIR="+s.status,
		"BBB_WEB_PROPERTIES="+filepath.Join(s.root, "none.properties"),
		"RETRY_DELAY=0",
		"BBB_BALANCE_SEND="+mustAbs(t, "bbb-balance-send"),
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tarFiles returns name → content of the regular files in a tar.
func tarFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[h.Name] = string(b)
		}
	}
}

func checkRecATar(t *testing.T, path string) {
	t.Helper()
	files := tarFiles(t, path)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{
		"presentation/" + recA + "/metadata.xml", "presentation/" + recA + "/shapes.svg",
		"video/" + recA + "/metadata.xml", "video/" + recA + "/video-0.m4v",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("tar holds %v, want %v", names, want)
	}
	if files["video/"+recA+"/video-0.m4v"] != "not really a video" {
		t.Fatalf("video content %q", files["video/"+recA+"/video-0.m4v"])
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// expectDir checks a directory holds exactly these names.
func expectDir(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := dirNames(t, dir)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %q, want %q", dir, got, want)
	}
}

// balancer is the upload endpoint on a real store; fail503 answers the
// first n requests with 503 before reaching the handler.
func newBalancer(t *testing.T, fail503 int32) (*httptest.Server, string, *atomic.Int32) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	spool := t.TempDir()
	h := &recordings.UploadHandler{
		Spool: spool,
		Servers: func(id string) (string, bool) {
			if id == "bbb 1" {
				return secret, true
			}
			return "", false
		},
		Nonces: db,
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= fail503 {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/bigbluebutton/recording/upload" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, spool, &calls
}

func TestSendUpload(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	srv, spool, calls := newBalancer(t, 1) // the first attempt meets a 503
	out, err := s.run(t, "bbb-balance-send", []string{"MODE=upload", "BALANCER_URL=" + srv.URL + "/", "SERVER_ID=bbb 1", "SECRET=" + secret}, recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d requests, want 2 (a 503, then the retry)\n%s", calls.Load(), out)
	}
	name := recordings.UploadName(recA, "bbb 1")
	expectDir(t, spool, name)
	checkRecATar(t, filepath.Join(spool, name))
	expectDir(t, s.status, recA+"-bbb-balance.done")
	done, _ := os.ReadFile(filepath.Join(s.status, recA+"-bbb-balance.done"))
	if !strings.Contains(string(done), "Formats: presentation,video") {
		t.Errorf("done marker %q", done)
	}
	expectDir(t, s.work, ".bbb-balance-send.lock") // no tar, no response file left
	if strings.Contains(out, secret) {
		t.Errorf("output shows the secret:\n%s", out)
	}
}

// The secret defaults to bbb-web's securitySalt, the override file winning.
func TestSendUploadSecretFromProperties(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	srv, spool, _ := newBalancer(t, 0)
	base := filepath.Join(s.root, "bigbluebutton.properties")
	override := filepath.Join(s.root, "bbb-web.properties")
	os.WriteFile(base, []byte("securitySalt=wrong\nserverURL=https://x\n"), 0o644)
	os.WriteFile(override, []byte("# local\nsecuritySalt = "+secret+"\r\n"), 0o644)
	out, err := s.run(t, "bbb-balance-send", []string{"MODE=upload", "BALANCER_URL=" + srv.URL, "SERVER_ID=bbb 1",
		"BBB_WEB_PROPERTIES=" + base + " " + override}, recB)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	expectDir(t, spool, recordings.UploadName(recB, "bbb 1"))
}

// A refused upload (wrong secret) fails at once, without retries, and
// marks nothing as sent.
func TestSendUploadRefused(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	srv, spool, calls := newBalancer(t, 0)
	out, err := s.run(t, "bbb-balance-send", []string{"MODE=upload", "BALANCER_URL=" + srv.URL, "SERVER_ID=bbb 1", "SECRET=wrong"}, recA)
	if err == nil {
		t.Fatalf("bbb-balance-send succeeded with a wrong secret\n%s", out)
	}
	if calls.Load() != 1 || !strings.Contains(out, "HTTP 403") {
		t.Fatalf("%d requests, output:\n%s", calls.Load(), out)
	}
	expectDir(t, spool)
	if _, err := os.Stat(s.status); !os.IsNotExist(err) {
		t.Fatalf("status dir: %v", err)
	}
	expectDir(t, s.work, ".bbb-balance-send.lock")
}

func TestSendSpool(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	spool := t.TempDir()
	out, err := s.run(t, "bbb-balance-send", []string{"MODE=spool", "SPOOL_DIR=" + spool}, recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	expectDir(t, spool, recA+".tar") // scalelite's name without a SERVER_ID
	checkRecATar(t, filepath.Join(spool, recA+".tar"))

	out, err = s.run(t, "bbb-balance-send", []string{"MODE=spool", "SPOOL_DIR=" + spool, "SERVER_ID=bbb 1"}, recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	expectDir(t, spool, recA+".tar", recordings.UploadName(recA, "bbb 1"))
	expectDir(t, s.work, ".bbb-balance-send.lock")
}

// The config file is read, and the environment overrides it.
func TestSendConfigFile(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	fromFile, fromEnv := t.TempDir(), t.TempDir()
	conf := filepath.Join(s.root, "bbb-balance.conf")
	os.WriteFile(conf, []byte("MODE=spool\nSPOOL_DIR="+fromFile+"\nSERVER_ID=bbb1\n"), 0o644)
	out, err := s.run(t, "bbb-balance-send", []string{"BBB_BALANCE_CONF=" + conf, "MODE=", "SERVER_ID="}, recB)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	expectDir(t, fromFile, recB+".tar") // SERVER_ID= in the environment wins, even empty
	out, err = s.run(t, "bbb-balance-send", []string{"BBB_BALANCE_CONF=" + conf, "SPOOL_DIR=" + fromEnv}, recB)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	expectDir(t, fromEnv, recB+".bbb1.tar")
}

func TestSendBadInput(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	spool := t.TempDir()
	for _, args := range [][]string{{}, {"../../etc"}, {recA, "extra"}} {
		if out, err := s.run(t, "bbb-balance-send", []string{"SPOOL_DIR=" + spool}, args...); err == nil {
			t.Errorf("args %q accepted\n%s", args, out)
		}
	}
	if out, err := s.run(t, "bbb-balance-send", []string{"MODE=ftp", "SPOOL_DIR=" + spool}, recA); err == nil {
		t.Errorf("MODE=ftp accepted\n%s", out)
	}
	// A recording with no published format is not an error: nothing to do.
	other := "ffffffffffffffffffffffffffffffffffffffff-1715261728000"
	if out, err := s.run(t, "bbb-balance-send", []string{"SPOOL_DIR=" + spool}, other); err != nil {
		t.Errorf("unpublished recording: %v\n%s", err, out)
	}
	expectDir(t, spool)
}

func TestSendAll(t *testing.T) {
	needTools(t)
	s := newBBBServer(t)
	spool := t.TempDir()
	env := []string{"MODE=spool", "SPOOL_DIR=" + spool}
	if out, err := s.run(t, "bbb-balance-send", env, recB); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	os.Remove(filepath.Join(spool, recB+".tar"))
	out, err := s.run(t, "bbb-balance-send-all", env, "--missing")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	expectDir(t, spool, recA+".tar") // recB was sent already
	if !strings.Contains(out, "1 sent, 0 failed, 1 already sent") {
		t.Errorf("summary:\n%s", out)
	}
	out, err = s.run(t, "bbb-balance-send-all", env)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	expectDir(t, spool, recA+".tar", recB+".tar")
	checkRecATar(t, filepath.Join(spool, recA+".tar"))

	// A failure is reported and does not stop the others.
	out, err = s.run(t, "bbb-balance-send-all", []string{"MODE=spool", "SPOOL_DIR=" + filepath.Join(spool, "missing")})
	if err == nil || !strings.Contains(out, "0 sent, 2 failed") {
		t.Errorf("with a missing spool: %v\n%s", err, out)
	}
}
