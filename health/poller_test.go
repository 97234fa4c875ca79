package health

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
	"github.com/bbb-balance/bbb_balance/store"
)

// rig is a pool of fake servers with a poller.
type rig struct {
	fakes  []*bbbtest.Server
	pool   *balancer.Pool
	poller *Poller
}

func newRig(t testing.TB, n int, cfg Config) *rig {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bbb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{pool: balancer.NewPool(db)}
	var cfgs []balancer.ServerConfig
	for i := 0; i < n; i++ {
		f, err := bbbtest.New(bbbtest.Options{Secret: fmt.Sprint("secret-", i), MaxCalls: 100})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		r.fakes = append(r.fakes, f)
		c := balancer.ServerConfig{ID: fmt.Sprintf("bbb%d", i+1), URL: f.URL(), Secret: f.Secret()}
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	r.pool.SetServers(cfgs)
	client := &bbb.Client{HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	r.poller = New(r.pool, client, cfg, zap.NewNop())
	return r
}

func (r *rig) status(id string) balancer.ServerStatus {
	for _, s := range r.pool.Servers() {
		if s.ID == id {
			return s
		}
	}
	panic("no server " + id)
}

// createOn creates a meeting directly on a fake, as another front-end would.
func createOn(t *testing.T, f *bbbtest.Server, id string) {
	t.Helper()
	resp, err := http.Get(f.SignedURL("create", "name=Direct&meetingID="+id))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestRoundBringsServersOnlineWithLoad(t *testing.T) {
	r := newRig(t, 2, Config{Rule: balancer.HealthRule{Passes: 1, Fails: 1}})
	createOn(t, r.fakes[0], "busy")
	for i := 0; i < 3; i++ {
		if err := r.fakes[0].AddAttendee("busy", bbbtest.Attendee{FullName: fmt.Sprint("u", i), Role: "VIEWER", Video: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	r.poller.Round(context.Background(), nil, true)
	s1, s2 := r.status("bbb1"), r.status("bbb2")
	if !s1.Online || !s2.Online {
		t.Fatalf("not online after a good poll: %+v %+v", s1, s2)
	}
	if s1.Meetings != 1 || s1.Users != 3 || s1.Videos != 1 || s1.Version != "3.0.0" {
		t.Errorf("stats %+v", s1.Stats)
	}
	if s1.Load <= s2.Load {
		t.Errorf("busy server load %v not above idle %v", s1.Load, s2.Load)
	}
}

func TestEveryFailureModeFailsThePoll(t *testing.T) {
	modes := []bbbtest.Failure{bbbtest.FailRefuse, bbbtest.FailReset, bbbtest.FailSlow, bbbtest.FailHTTP500, bbbtest.FailGarbage, bbbtest.FailFailed}
	r := newRig(t, len(modes), Config{Timeout: 200 * time.Millisecond, Rule: balancer.HealthRule{Passes: 1, Fails: 1}})
	r.poller.Round(context.Background(), nil, true)
	for i, m := range modes {
		r.fakes[i].SetSlow(time.Minute)
		r.fakes[i].SetFailure(m)
	}
	r.poller.Round(context.Background(), nil, true)
	for i, m := range modes {
		s := r.status(fmt.Sprintf("bbb%d", i+1))
		if s.Online || s.LastError == "" {
			t.Errorf("%v: online=%v last error %q", m, s.Online, s.LastError)
		}
		r.fakes[i].SetFailure(bbbtest.FailNone)
	}
}

func TestSlowServerPollsDoNotPileUp(t *testing.T) {
	r := newRig(t, 2, Config{Timeout: time.Minute})
	slow := r.fakes[0]
	slow.SetSlow(time.Minute)
	slow.SetFailure(bbbtest.FailSlow)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.poller.Round(ctx, nil, false)
	// The fast server's poll completes while the slow one hangs.
	deadline := time.Now().Add(10 * time.Second)
	for !r.status("bbb2").Online {
		if time.Now().After(deadline) {
			t.Fatal("fast server not polled while the slow one hangs")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		r.poller.Round(ctx, []string{"bbb1"}, false)
	}
	if n := slow.CallCount("getMeetings"); n != 1 {
		t.Errorf("%d polls of the slow server under way, want 1", n)
	}
	cancel()
	slow.SetFailure(bbbtest.FailNone)
}

func TestRunStopsOnCancel(t *testing.T) {
	r := newRig(t, 1, Config{Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.poller.Run(ctx); close(done) }()
	for r.fakes[0].CallCount("getMeetings") < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

// BenchmarkRound1000 polls 1,000 fake servers (each running 5 meetings)
// per iteration: wall time and allocations of one poll round. The fakes
// run in the same process, so CPU per round is measured with bench/poller.sh
// against a separate fake process instead.
func BenchmarkRound1000(b *testing.B) {
	r := newRig(b, 1000, Config{Timeout: 10 * time.Second})
	for _, f := range r.fakes {
		for m := 0; m < 5; m++ {
			resp, err := http.Get(f.SignedURL("create", fmt.Sprintf("name=Bench&meetingID=m%d", m)))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	ctx := context.Background()
	r.poller.Round(ctx, nil, true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.poller.Round(ctx, nil, true)
	}
}
