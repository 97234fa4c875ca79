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

	"github.com/bbb-balance/bbb_balance/internal/rectest"
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
	writeFiles(t, s.published, files)
	return s
}

// writeFiles writes files (path under root → content).
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
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

// openStore opens a store in a new SQLite file, closed with the test.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// balancer is the upload endpoint on a real store; fail503 answers the
// first n requests with 503 before reaching the handler.
func newBalancer(t *testing.T, fail503 int32) (*httptest.Server, string, *atomic.Int32) {
	t.Helper()
	db := openStore(t)
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

// The deletion after a confirmed import (DELETE_AFTER_IMPORT, --delete-local).

// bbbTree lays out a BBB server's /var/bigbluebutton (root): recA
// published in two formats, recB in one, each with the raw files, status
// files and presentation uploads BBB keeps beside.
func bbbTree(t *testing.T) *bbbServer {
	t.Helper()
	root := t.TempDir()
	s := &bbbServer{root: root, published: filepath.Join(root, "published"),
		work: filepath.Join(root, "recording", "bbb-balance"), status: filepath.Join(root, "recording", "status", "published")}
	files := map[string]string{}
	for id, formats := range map[string][]string{recA: {"presentation", "video"}, recB: {"presentation"}} {
		for _, e := range (rectest.Recording{ID: id, Published: true}).Entries(formats...) {
			if e.Type == tar.TypeReg {
				files["published/"+e.Name] = e.Body
			}
		}
		for _, f := range formats {
			files["recording/status/published/"+id+"-"+f+".done"] = ""
			files["recording/status/processed/"+id+"-"+f+".done"] = ""
			files["recording/process/"+f+"/"+id+"/x"] = "processed"
		}
		files["recording/raw/"+id+"/events.xml"] = "<recording/>"
		files["recording/status/sanity/"+id+".done"] = ""
		files[id+"/"+id+"/slides.pdf"] = "pdf"
	}
	writeFiles(t, root, files)
	return s
}

// localFiles lists the files under the server's root that belong to id.
func (s *bbbServer) localFiles(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if rel, _ := filepath.Rel(s.root, p); !d.IsDir() && strings.Contains(rel, id) {
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// expectKept checks that id's files are all still there.
func (s *bbbServer) expectKept(t *testing.T, id string, out string) {
	t.Helper()
	n := 11 // recA: two formats
	if id == recB {
		n = 8
	}
	if files := s.localFiles(t, id); len(files) < n {
		t.Fatalf("%s lost files: %q left\n%s", id, files, out)
	}
}

// importingBalancer is the balancer's upload and status endpoints on one
// real library and store, and its importer. The importer runs when a
// status call comes, from the importFrom-th on (0: never; the test runs
// it): a real balancer often answers "queued" at first, and the script
// must ask again.
type importingBalancer struct {
	srv         *httptest.Server
	lib         *recordings.Library
	db          *store.DB
	im          *recordings.Importer
	statusCalls atomic.Int32
}

func newImportingBalancer(t *testing.T, importFrom int32) *importingBalancer {
	t.Helper()
	db := openStore(t)
	lib, err := recordings.NewLibrary(recordings.LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	im, err := recordings.NewImporter(recordings.ImporterConfig{Library: lib, Store: db, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	servers := func(id string) (string, bool) { return secret, id == "bbb 1" }
	upload := &recordings.UploadHandler{Spool: lib.SpoolDir, Servers: servers, Nonces: db}
	status := &recordings.StatusHandler{Library: lib, Index: db, Servers: servers}
	b := &importingBalancer{lib: lib, db: db, im: im}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bigbluebutton/recording/upload":
			upload.ServeHTTP(w, r)
		case "/bigbluebutton/recording/status":
			if n := b.statusCalls.Add(1); importFrom > 0 && n >= importFrom {
				b.importSpool(t)
			}
			status.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *importingBalancer) importSpool(t *testing.T) {
	if _, err := b.im.ImportSpool(context.Background()); err != nil {
		t.Error(err)
	}
}

// formats returns the formats the balancer's index has for id.
func (b *importingBalancer) formats(t *testing.T, id string) string {
	t.Helper()
	e, ok, err := b.db.Recording(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	var fs []string
	for _, f := range e.Formats {
		fs = append(fs, f.Type)
	}
	sort.Strings(fs)
	return strings.Join(fs, ",")
}

// fakeBBBRecord is a stand-in for bbb-record that writes its arguments to
// a file, one call a line, and deletes nothing.
func fakeBBBRecord(t *testing.T) (cmd string, calls func() []string) {
	t.Helper()
	dir := t.TempDir()
	log, script := filepath.Join(dir, "calls"), filepath.Join(dir, "bbb-record")
	if err := os.WriteFile(script, []byte("#!/bin/bash\necho \"$*\" >> '"+log+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script + " --delete", func() []string {
		b, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

// deleteEnv is the environment of an upload with the deletion on.
func deleteEnv(s *bbbServer, b *httptest.Server, extra ...string) []string {
	return append([]string{"MODE=upload", "BALANCER_URL=" + b.URL, "SERVER_ID=bbb 1", "SECRET=" + secret,
		"BBB_DIR=" + s.root, "RECORDING_FORMATS=presentation video", "IMPORT_CHECK_DELAY=0", "IMPORT_CHECKS=4"}, extra...)
}

// After an upload, the script asks until the balancer confirms the import
// of every format, then calls bbb-record --delete with the recording.
func TestDeleteAfterImport(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 2)
	cmd, calls := fakeBBBRecord(t)
	out, err := s.run(t, "bbb-balance-send", deleteEnv(s, b.srv, "DELETE_AFTER_IMPORT=1", "DELETE_COMMAND="+cmd), recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if got := b.formats(t, recA); got != "presentation,video" {
		t.Fatalf("the balancer has %s with formats %q\n%s", recA, got, out)
	}
	if got := calls(); len(got) != 1 || got[0] != "--delete "+recA {
		t.Fatalf("bbb-record calls %q\n%s", got, out)
	}
	if n := b.statusCalls.Load(); n != 2 {
		t.Errorf("%d status calls, want 2 (queued, then imported)\n%s", n, out)
	}
	if !strings.Contains(out, "deleted "+recA) || strings.Contains(out, secret) {
		t.Errorf("output:\n%s", out)
	}
	expectDir(t, s.work, ".bbb-balance-send.lock") // no tar, no response file left
}

// Without bbb-record, the script removes what bbb-record would: every
// file of the recording, and nothing of the others. Spool mode asks the
// same status call.
func TestDeleteAfterImportWithoutBBBRecord(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 2)
	env := []string{"MODE=spool", "SPOOL_DIR=" + b.lib.SpoolDir, "BALANCER_URL=" + b.srv.URL, "SERVER_ID=bbb 1", "SECRET=" + secret,
		"BBB_DIR=" + s.root, "RECORDING_FORMATS=presentation,video", "IMPORT_CHECK_DELAY=0",
		"DELETE_COMMAND=" + filepath.Join(s.root, "no-such-bbb-record") + " --delete"}
	out, err := s.run(t, "bbb-balance-send", env, "--delete-local", recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if got := b.formats(t, recA); got != "presentation,video" {
		t.Fatalf("the balancer has %s with formats %q\n%s", recA, got, out)
	}
	if left := s.localFiles(t, recA); len(left) != 0 {
		t.Fatalf("left of %s: %q\n%s", recA, left, out)
	}
	s.expectKept(t, recB, out)
	expectDir(t, filepath.Join(s.published, "presentation"), recB)
}

// BBB publishes one format after another: the recording stays until every
// format BBB's workflow publishes is published here (deleting it after
// the first loses the others, scalelite#888). The formats come from
// bigbluebutton.yml's steps, the override's when it has steps.
func TestDeleteWaitsForEveryFormat(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 1)
	cmd, calls := fakeBBBRecord(t)
	base, override := filepath.Join(s.root, "bigbluebutton.yml"), filepath.Join(s.root, "recording.yml")
	os.WriteFile(base, []byte("published_dir: /var/bigbluebutton/published\nsteps:\n  archive: 'sanity'\n  sanity: 'captions'\n"+
		"  captions: 'process:presentation'\n  'process:presentation': 'publish:presentation'\nplayback_host: x\n"), 0o644)
	os.WriteFile(override, []byte("steps:\n  archive: 'sanity'\n  sanity: 'captions'\n  captions:\n"+
		"    - 'process:presentation'\n    - 'process:video'\n  'process:presentation': 'publish:presentation'\n"+
		"  'process:video': 'publish:video'\n"), 0o644)
	env := deleteEnv(s, b.srv, "RECORDING_FORMATS=", "BBB_RECORDING_YML="+base+" "+override, "DELETE_COMMAND="+cmd)
	out, err := s.run(t, "bbb-balance-send", env, "--delete-local", recB)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if !strings.Contains(out, "not yet: video") || b.statusCalls.Load() != 0 || len(calls()) != 0 {
		t.Fatalf("%d status calls, bbb-record calls %q\n%s", b.statusCalls.Load(), calls(), out)
	}
	expectDir(t, b.lib.SpoolDir, recordings.UploadName(recB, "bbb 1")) // sent all the same

	out, err = s.run(t, "bbb-balance-send", env, "--delete-local", recA)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if got := calls(); len(got) != 1 || got[0] != "--delete "+recA {
		t.Fatalf("bbb-record calls %q\n%s", got, out)
	}

	// Without steps anywhere, nothing says which formats to wait for.
	out, err = s.run(t, "bbb-balance-send", deleteEnv(s, b.srv, "RECORDING_FORMATS=", "BBB_RECORDING_YML="+filepath.Join(s.root, "none.yml"),
		"DELETE_COMMAND="+cmd), "--delete-local", recB)
	if err != nil || !strings.Contains(out, "set RECORDING_FORMATS") || len(calls()) != 1 {
		t.Fatalf("without steps: %v, bbb-record calls %q\n%s", err, calls(), out)
	}
}

// A tar the balancer refuses (here: a metadata.xml that does not parse)
// is not imported: the recording stays, and the log says why.
func TestDeleteKeptWhenImportFails(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	os.WriteFile(filepath.Join(s.published, "presentation", recB, "metadata.xml"), []byte("not xml"), 0o644)
	b := newImportingBalancer(t, 2)
	cmd, calls := fakeBBBRecord(t)
	out, err := s.run(t, "bbb-balance-send", deleteEnv(s, b.srv, "RECORDING_FORMATS=presentation", "DELETE_COMMAND="+cmd), "--delete-local", recB)
	if err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	if b.formats(t, recB) != "" || len(calls()) != 0 || !strings.Contains(out, "did not import it (failed ") {
		t.Fatalf("index %q, bbb-record calls %q\n%s", b.formats(t, recB), calls(), out)
	}
	if n := b.statusCalls.Load(); n != 2 {
		t.Errorf("%d status calls, want 2: a failed import is final\n%s", n, out)
	}
	s.expectKept(t, recB, out)
}

// A balancer that does not answer confirms nothing: an upload that cannot
// be made fails and deletes nothing; a spool send whose status calls get
// no answer leaves the recording after its checks.
func TestDeleteKeptWhenBalancerUnreachable(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 1)
	b.srv.Close()
	cmd, calls := fakeBBBRecord(t)
	out, err := s.run(t, "bbb-balance-send", deleteEnv(s, b.srv, "RETRIES=2", "DELETE_COMMAND="+cmd), "--delete-local", recA)
	if err == nil || !strings.Contains(out, "failed after 2 attempts") {
		t.Fatalf("upload to a closed balancer: %v\n%s", err, out)
	}
	spool := t.TempDir()
	out, err = s.run(t, "bbb-balance-send", deleteEnv(s, b.srv, "MODE=spool", "SPOOL_DIR="+spool, "IMPORT_CHECKS=2", "DELETE_COMMAND="+cmd), "--delete-local", recA)
	if err != nil {
		t.Fatalf("spool send: %v\n%s", err, out)
	}
	if !strings.Contains(out, "not confirmed after 2 checks (last: no answer") || len(calls()) != 0 {
		t.Fatalf("bbb-record calls %q\n%s", calls(), out)
	}
	expectDir(t, spool, recordings.UploadName(recA, "bbb 1"))
	s.expectKept(t, recA, out)
}

// Off (the default), nothing is asked and nothing is deleted, even once
// the balancer has imported the recording.
func TestDeleteOff(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 0)
	cmd, calls := fakeBBBRecord(t)
	env := deleteEnv(s, b.srv, "DELETE_COMMAND="+cmd)
	for _, id := range []string{recA, recB} {
		if out, err := s.run(t, "bbb-balance-send", env, id); err != nil {
			t.Fatalf("bbb-balance-send: %v\n%s", err, out)
		}
	}
	b.importSpool(t)
	if b.formats(t, recA) != "presentation,video" || b.formats(t, recB) != "presentation" {
		t.Fatalf("index: %q %q", b.formats(t, recA), b.formats(t, recB))
	}
	if out, err := s.run(t, "bbb-balance-send-all", env, "--missing"); err != nil || !strings.Contains(out, "0 sent, 0 failed, 2 already sent") {
		t.Fatalf("bbb-balance-send-all --missing: %v\n%s", err, out)
	}
	if b.statusCalls.Load() != 0 || len(calls()) != 0 {
		t.Fatalf("%d status calls, bbb-record calls %q", b.statusCalls.Load(), calls())
	}
	s.expectKept(t, recA, "")
	s.expectKept(t, recB, "")
}

// The backlog: bbb-balance-send-all --missing --delete-local asks about
// the recordings sent before (once each, sending nothing) and deletes
// those imported; it sends and deletes the others.
func TestSendAllDeleteLocal(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	b := newImportingBalancer(t, 0)
	env := deleteEnv(s, b.srv, "DELETE_COMMAND=", "RECORDING_FORMATS=presentation")
	if out, err := s.run(t, "bbb-balance-send", env, recB); err != nil {
		t.Fatalf("bbb-balance-send: %v\n%s", err, out)
	}
	b.importSpool(t)
	out, err := s.run(t, "bbb-balance-send-all", env, "--missing", "--delete-local")
	if err != nil || !strings.Contains(out, "1 sent, 0 failed, 1 already sent") {
		t.Fatalf("bbb-balance-send-all: %v\n%s", err, out)
	}
	if left := s.localFiles(t, recB); len(left) != 0 {
		t.Fatalf("left of %s: %q\n%s", recB, left, out)
	}
	// recA was sent now, but nothing imports it in this test: asked, kept.
	if !strings.Contains(out, "keeping "+recA+": its import is not confirmed after 4 checks (last: queued)") {
		t.Fatalf("output:\n%s", out)
	}
	s.expectKept(t, recA, out)
	if n := b.statusCalls.Load(); n != 5 {
		t.Errorf("%d status calls, want 1 for recB and 4 for recA\n%s", n, out)
	}

	// Once imported, the next run deletes it without sending it again.
	b.importSpool(t)
	out, err = s.run(t, "bbb-balance-send-all", []string{"DELETE_AFTER_IMPORT=1", "MODE=upload", "BALANCER_URL=" + b.srv.URL,
		"SERVER_ID=bbb 1", "SECRET=" + secret, "BBB_DIR=" + s.root, "RECORDING_FORMATS=presentation", "DELETE_COMMAND="}, "--missing")
	if err != nil || !strings.Contains(out, "0 sent, 0 failed, 1 already sent") {
		t.Fatalf("bbb-balance-send-all: %v\n%s", err, out)
	}
	if left := s.localFiles(t, recA); len(left) != 0 {
		t.Fatalf("left of %s: %q\n%s", recA, left, out)
	}
	expectDir(t, b.lib.SpoolDir)
}

// A mistake in the deletion settings stops before anything is sent.
func TestDeleteBadSettings(t *testing.T) {
	needTools(t)
	s := bbbTree(t)
	spool := t.TempDir()
	for _, env := range [][]string{
		{"DELETE_AFTER_IMPORT=yes"},
		{"DELETE_AFTER_IMPORT=1"}, // no BALANCER_URL
		{"DELETE_AFTER_IMPORT=1", "BALANCER_URL=http://127.0.0.1:1", "SERVER_ID=bbb1", "IMPORT_CHECKS=0"},
		{"DELETE_AFTER_IMPORT=1", "BALANCER_URL=http://127.0.0.1:1", "SERVER_ID=bbb1", "BBB_DIR=relative"},
	} {
		out, err := s.run(t, "bbb-balance-send", append([]string{"MODE=spool", "SPOOL_DIR=" + spool}, env...), recB)
		if err == nil {
			t.Errorf("%q accepted\n%s", env, out)
		}
	}
	if out, err := s.run(t, "bbb-balance-send", []string{"MODE=spool", "SPOOL_DIR=" + spool}, "--delete", recB); err == nil {
		t.Errorf("an unknown option accepted\n%s", out)
	}
	expectDir(t, spool)
	s.expectKept(t, recB, "")
}
