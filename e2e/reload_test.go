package e2e

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// Reloads while front-ends keep creating and joining: a server added, a
// weight changed, the health interval changed, the last one through the
// real `caddy reload` command. No request fails, no meeting is lost, and
// afterwards one poller and one engine run for the one database. (A request
// that Go's HTTP server drops unread while Caddy replaces it is sent again,
// as browsers do; see errDropped.)
func TestReloadUnderLoad(t *testing.T) {
	p := startPool(t, 3, "")
	added := newFake(t, "fake-secret-4")
	fakes := append(append([]*bbbtest.Server{}, p.fakes...), added)
	if n := goroutinesIn("health.(*Poller).Run"); n != 1 {
		t.Fatalf("%d pollers before any reload", n)
	}

	const workers, reloads = 4, 4
	load := startLoad(t, newClient(), fakes, workers)
	load.await(t, 20) // creates are flowing before the first reload

	// Each config goes live while the load runs; the next one waits until
	// creates have gone through the live config.
	p.fakes = append(p.fakes, added)
	p.load(p.caddyfile())
	load.await(t, 20)
	p.load(serverLine(p.caddyfile(), "bbb2", "weight 2"))
	load.await(t, 20)
	p.extra = "health_interval 200ms"
	p.load(serverLine(p.caddyfile(), "bbb2", "weight 2"))
	load.await(t, 20)
	p.extra = "health_interval 300ms"
	caddyReload(t, serverLine(p.caddyfile(), "bbb2", "weight 3"))
	load.await(t, 20)
	created := load.stop()

	for _, err := range load.errs {
		t.Error(err)
	}
	// Each worker has one request in flight, so a reload can drop at most
	// one per worker.
	if d := load.dropped.Load(); d > reloads*workers {
		t.Errorf("%d requests dropped unanswered in %d reloads of %d workers", d, reloads, workers)
	}
	t.Logf("%d meetings created and joined under %d reloads; %d requests dropped unanswered by a server being replaced and sent again",
		len(created), reloads, load.dropped.Load())

	// Every meeting is still known, on the server that runs it, and joins.
	where := map[string]int{}
	for i, f := range fakes {
		for _, m := range f.Meetings() {
			where[m] = i
		}
	}
	reg := registry(t)
	c := newClient()
	for _, id := range created {
		i, running := where[id]
		if !running {
			t.Errorf("meeting %s runs on no server", id)
			continue
		}
		if got, want := reg[id], fmt.Sprintf("bbb%d", i+1); got != want {
			t.Errorf("meeting %s: registry says %q, it runs on %s", id, got, want)
			continue
		}
		if loc, err := join(c, fakes, id); err != nil || !strings.HasPrefix(loc, fakes[i].URL()) {
			t.Errorf("join %s after the reloads: %v %s", id, err, loc)
		}
	}

	// The new settings are live: the added server, the last weight.
	servers := adminServers(t) // fails if more than one pool ran
	if s := servers["bbb4"]; !s.Online {
		t.Errorf("added server: %+v", s)
	}
	if w := servers["bbb2"].Weight; w != 3 {
		t.Errorf("bbb2 weight %v after the last reload, want 3", w)
	}
	eventually(t, "one poller", func() bool { return goroutinesIn("health.(*Poller).Run") == 1 })
	eventually(t, "one engine (one database writer)", func() bool { return goroutinesIn("store.(*DB).writer") == 1 })
}

// serverLine adds line to the block of server id in a Caddyfile.
func serverLine(caddyfile, id, line string) string {
	i := strings.Index(caddyfile, "server "+id+" ")
	if i < 0 {
		panic("no server " + id)
	}
	j := i + strings.Index(caddyfile[i:], "{\n") + 2
	return caddyfile[:j] + "\t\t\t" + line + "\n" + caddyfile[j:]
}

// caddyReload runs the real `caddy reload` command (in-process, against
// the test Caddy's admin endpoint) with caddyfile.
func caddyReload(t *testing.T, caddyfile string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	reload, ok := caddycmd.Commands()["reload"]
	if !ok {
		t.Fatal("caddy has no reload command")
	}
	cmd := &cobra.Command{Use: reload.Name}
	reload.CobraFunc(cmd)
	cmd.SetArgs([]string{"--config", path, "--adapter", "caddyfile", "--address", "localhost:2999"})
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("caddy reload: %v", err)
	}
}

// loadRun is front-end traffic: each worker creates a new meeting and
// joins it, again and again, until stopped.
type loadRun struct {
	done    chan struct{}
	wg      sync.WaitGroup
	count   atomic.Int64
	dropped atomic.Int64 // requests sent again after errDropped
	mu      sync.Mutex
	created []string
	errs    []string
}

func startLoad(t *testing.T, c *client, fakes []*bbbtest.Server, workers int) *loadRun {
	l := &loadRun{done: make(chan struct{})}
	t.Cleanup(func() { l.stop() })
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				id := fmt.Sprintf("reload-%d-%d", w, i)
				err := l.retryDropped(func() error { return create(c, id) })
				if err == nil {
					err = l.retryDropped(func() error { _, err := join(c, fakes, id); return err })
				}
				l.mu.Lock()
				if err != nil {
					l.errs = append(l.errs, fmt.Sprintf("%s: %v", id, err))
				} else {
					l.created = append(l.created, id)
				}
				l.mu.Unlock()
				l.count.Add(1)
			}
		}()
	}
	return l
}

// retryDropped sends a request again, once, if a server that was being
// replaced dropped it unanswered; see errDropped.
func (l *loadRun) retryDropped(send func() error) error {
	err := send()
	if errors.Is(err, errDropped) {
		l.dropped.Add(1)
		err = send()
	}
	return err
}

// await waits until n more meetings have been tried.
func (l *loadRun) await(t *testing.T, n int64) {
	t.Helper()
	target := l.count.Load() + n
	eventually(t, fmt.Sprintf("%d more creates", n), func() bool { return l.count.Load() >= target })
}

// stop ends the load and returns the meetings created.
func (l *loadRun) stop() []string {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.created...)
}

// errDropped is a request that got no answer at all on a connection just
// opened for it. Go's HTTP server drops a request whose header it reads
// after its Shutdown began (net/http: "if c.server.shuttingDown() {
// return }" after readRequest), and on a reload Caddy shuts the old
// server down while a connection it has just accepted may still be
// waiting for its first request; the handler never sees the request.
// Browsers and most HTTP clients send an idempotent request again in that
// case; Go's client does so only on a reused connection, so the load does
// it here, and the test bounds how often it may happen.
var errDropped = errors.New("connection closed before any answer")

// get sends a GET and tells a dropped request (see errDropped) apart.
func get(c *client, u string) (*http.Response, error) {
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(g httptrace.GotConnInfo) { reused = g.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	// The old server closes such a connection with a FIN (EOF) or, when
	// the request's bytes are still unread in its socket, a reset.
	if err != nil && !reused && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return nil, fmt.Errorf("%w: %v", errDropped, err)
	}
	return resp, err
}

// create sends one create and wants SUCCESS.
func create(c *client, id string) error {
	resp, err := get(c, c.url("create", createQuery(id)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var a answer
	if resp.StatusCode != http.StatusOK || xml.Unmarshal(body, &a) != nil || a.ReturnCode != bbb.Success {
		return fmt.Errorf("create: HTTP %d %s", resp.StatusCode, body)
	}
	return nil
}

// join sends one join and wants a redirect to one of fakes.
func join(c *client, fakes []*bbbtest.Server, id string) (string, error) {
	resp, err := get(c, c.url("join", "fullName=Reload%20Tester&role=VIEWER&meetingID="+id))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("join: HTTP %d %s", resp.StatusCode, body)
	}
	for _, f := range fakes {
		if strings.HasPrefix(loc, f.URL()+"/join?") {
			return loc, nil
		}
	}
	return loc, fmt.Errorf("join: redirect to %s, not to a server of the pool", loc)
}
