// Package multi runs several real Caddy processes with the bbb_balance
// module that share one PostgreSQL database, in front of fake BBB servers,
// and checks that they act as one balancer. Each Caddy is this test binary
// run again as `caddy run` (TestMain), so it is the module as built, in a
// process of its own that a test can kill -9.
package multi

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/internal/pgtest"

	_ "github.com/bbb-balance/bbb_balance"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

const (
	lbSecret = "lb-secret-for-multi"
	// childEnv makes the test binary Caddy itself: its arguments after
	// "--" are Caddy's.
	childEnv = "BBB_MULTI_CADDY"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"caddy"}, os.Args[i+1:]...)
				break
			}
		}
		caddycmd.Main()
		return
	}
	os.Exit(m.Run())
}

// pool is fake BBB servers and the database the instances share.
type pool struct {
	t     *testing.T
	fakes []*bbbtest.Server
	db    string
	extra string // more lines inside bbb_balance { }
	site  string // more lines in the site block, after bbb_balance
}

func newPool(t *testing.T, servers int, db, extra string) *pool {
	t.Helper()
	p := &pool{t: t, db: db, extra: extra}
	for i := 0; i < servers; i++ {
		f, err := bbbtest.New(bbbtest.Options{Secret: fmt.Sprintf("fake-secret-%d", i+1), MaxCalls: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		p.fakes = append(p.fakes, f)
	}
	return p
}

// instance is one Caddy process.
type instance struct {
	name  string
	base  string // http://127.0.0.1:port
	admin string // 127.0.0.1:port
	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs one more instance and waits until it serves.
func (p *pool) start(name string) *instance {
	t := p.t
	t.Helper()
	dir := t.TempDir()
	httpPort, adminPort := freePort(t), freePort(t)
	var servers strings.Builder
	for i, f := range p.fakes {
		fmt.Fprintf(&servers, "\t\tserver bbb%d %s {\n\t\t\tsecret %s\n\t\t}\n", i+1, f.URL(), f.Secret())
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	http_port %d
	auto_https off
	storage file_system %s
	log {
		level INFO
	}
}
http://127.0.0.1:%d {
	bbb_balance {
		secret %s
		database %s
		health_interval 1s
		health_timeout 500ms
%s%s
	}
%s
}
`, adminPort, httpPort, filepath.Join(dir, "data"), httpPort, lbSecret, p.db, p.extra, servers.String(), p.site)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), childEnv+"=1", "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), admin: fmt.Sprintf("127.0.0.1:%d", adminPort),
		cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("goroutines of %s:\n%s", name, in.goroutines())
		}
		in.kill(syscall.SIGTERM)
		logf.Close()
		if t.Failed() {
			raw, _ := os.ReadFile(logf.Name())
			t.Logf("log of %s:\n%s", name, tail(string(raw), 200))
		}
	})
	eventually(t, name+" serves", func() bool {
		select {
		case <-in.done:
			raw, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited:\n%s", name, tail(string(raw), 40))
		default:
		}
		var list []balancer.ServerStatus
		if in.adminGet("/bbb/servers", &list) != nil || len(list) != len(p.fakes) {
			return false
		}
		for _, s := range list {
			if !s.Online && p.fakes[serverIndex(s.ID)].Failure() == bbbtest.FailNone {
				return false
			}
		}
		_, err := in.call("getMeetings", "")
		return err == nil
	})
	return in
}

// serverIndex is the index in fakes of server "bbb<n>".
func serverIndex(id string) int {
	var n int
	fmt.Sscanf(id, "bbb%d", &n)
	return n - 1
}

// tail is the last n lines of a log, without the admin API's own lines
// (the tests ask it often).
func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if !strings.Contains(l, `"logger":"admin.api"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goroutines is the stacks of the instance's goroutines that run the
// module's code (Caddy's admin endpoint serves them), for a failed test.
func (in *instance) goroutines() string {
	resp, err := httpClient.Get("http://" + in.admin + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var keep []string
	for _, g := range strings.Split(string(raw), "\n\n") {
		if strings.Contains(g, "bbb_balance") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// kill sends sig and waits for the process to end.
func (in *instance) kill(sig syscall.Signal) {
	select {
	case <-in.done:
		return
	default:
	}
	in.cmd.Process.Signal(sig)
	select {
	case <-in.done:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
}

var httpClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

func (in *instance) adminGet(path string, into any) error {
	return in.adminDo(http.MethodGet, path, nil, into)
}

func (in *instance) adminDo(method, path string, body io.Reader, into any) error {
	req, _ := http.NewRequest(method, "http://"+in.admin+path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, raw)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(raw, into)
}

// answer is what the tests read of an XML answer.
type answer struct {
	ReturnCode string `xml:"returncode"`
	MessageKey string `xml:"messageKey"`
	Message    string `xml:"message"`
	MeetingID  string `xml:"meetingID"`
	Running    bool   `xml:"running"`
	Status     int    `xml:"-"`
	Location   string `xml:"-"`
}

// call sends a signed API call; an error is a transport error.
func (in *instance) call(name, query string) (answer, error) {
	return in.callAt("", lbSecret, name, query)
}

// callAt sends an API call under a path prefix (a tenant's), signed with
// secret.
func (in *instance) callAt(prefix, secret, name, query string) (answer, error) {
	u := in.base + prefix + "/bigbluebutton/api/" + name + "?" + bbb.Sign(bbb.SHA256, name, query, secret)
	resp, err := httpClient.Get(u)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Location: resp.Header.Get("Location")}
	if resp.StatusCode == http.StatusOK {
		if err := xml.Unmarshal(raw, &a); err != nil {
			return a, fmt.Errorf("%s: unreadable answer %q", name, raw)
		}
	}
	return a, nil
}

func (in *instance) mustOK(t *testing.T, name, query string) answer {
	t.Helper()
	a, err := in.call(name, query)
	if err != nil {
		t.Fatalf("%s at %s: %v", name, in.name, err)
	}
	if a.ReturnCode != bbb.Success {
		t.Fatalf("%s at %s: %s %s %s", name, in.name, a.ReturnCode, a.MessageKey, a.Message)
	}
	return a
}

// join sends a join and returns the server it redirects to.
func (in *instance) join(meetingID string) (string, error) {
	a, err := in.call("join", "fullName=Ann&meetingID="+meetingID+"&role=VIEWER")
	if err != nil {
		return "", err
	}
	if a.Status != http.StatusFound {
		return "", fmt.Errorf("join %s at %s: HTTP %d %s %s", meetingID, in.name, a.Status, a.MessageKey, a.Message)
	}
	return a.Location, nil
}

func (in *instance) servers(t *testing.T) map[string]balancer.ServerStatus {
	t.Helper()
	var list []balancer.ServerStatus
	if err := in.adminGet("/bbb/servers", &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]balancer.ServerStatus{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// registry is an instance's registry: key -> server.
func (in *instance) registry(t *testing.T) map[string]string {
	t.Helper()
	var list []balancer.MeetingStatus
	if err := in.adminGet("/bbb/meetings", &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range list {
		out[m.Key] = m.ServerID
	}
	return out
}

type instanceRow struct {
	ID     string `json:"id"`
	Leases string `json:"leases"`
	Self   bool   `json:"self"`
}

// poller returns the id of the instance that polls, as in sees it, and
// its own id.
func (in *instance) poller() (polls, self string, err error) {
	var ans struct {
		Instances []instanceRow `json:"instances"`
	}
	if err := in.adminGet("/bbb/instances", &ans); err != nil {
		return "", "", err
	}
	for _, r := range ans.Instances {
		if r.Leases == "poller" {
			polls = r.ID
		}
		if r.Self {
			self = r.ID
		}
	}
	return polls, self, nil
}

// holders counts, per fake server, the meetings it runs.
func (p *pool) holders() map[string][]int {
	out := map[string][]int{}
	for i, f := range p.fakes {
		for _, m := range f.Meetings() {
			out[m] = append(out[m], i)
		}
	}
	return out
}

// eventually waits for cond; the deadline only stops a test that would
// otherwise hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sharedDB(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t)
}
