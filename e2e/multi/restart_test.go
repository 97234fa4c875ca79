package multi

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/pgtest"
)

// PostgreSQL goes away under load (stopped at once, as a crash or a
// failover does) and comes back: joins of known meetings keep working from
// memory throughout, creates get BBB's error while it is away, and
// everything resumes by itself: creates, the notifications between the
// instances, polling; nothing created before is lost.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := pgtest.NewCluster(t)
	p := newPool(t, 3, pg.URL(), "")
	a, b := p.start("a"), p.start("b")
	var known []string
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("before-%d", i)
		a.mustOK(t, "create", createQuery(id))
		known = append(known, id)
	}
	for _, in := range []*instance{a, b} {
		eventually(t, in.name+" knows the meetings", func() bool { return len(in.registry(t)) == len(known) })
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var joins, failed atomic.Int64
	for _, in := range []*instance{a, b} {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := g; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					joins.Add(1)
					if _, err := in.join(known[k%len(known)]); err != nil {
						failed.Add(1)
						t.Errorf("join while PostgreSQL restarts: %v", err)
					}
				}
			}()
		}
	}

	pg.Stop()
	for _, in := range []*instance{a, b} {
		ans, err := in.call("create", createQuery("while-down-"+in.name))
		if err != nil || ans.Status != 200 || ans.ReturnCode != "FAILED" || ans.MessageKey == "" {
			t.Fatalf("create at %s while PostgreSQL is down: %v %+v; want BBB's FAILED answer", in.name, err, ans)
		}
	}
	down := joins.Load()
	eventually(t, "joins go on while PostgreSQL is down", func() bool { return joins.Load() > down+100 })
	pg.Start()

	// Creates work again on both, and a placement made by one reaches the
	// other's memory through the notifications (its registry lists it
	// before any call about it reaches it).
	eventually(t, "creates work again", func() bool {
		ans, err := a.call("create", createQuery("after-restart"))
		return err == nil && ans.ReturnCode == bbb.Success
	})
	eventually(t, "b hears of a's new meeting", func() bool { return b.registry(t)["after-restart"] != "" })
	b.mustOK(t, "create", createQuery("after-restart-b"))
	eventually(t, "a hears of b's new meeting", func() bool { return a.registry(t)["after-restart-b"] != "" })
	eventually(t, "an instance polls again", func() bool {
		polls, _, err := a.poller()
		return err == nil && polls != ""
	})
	close(stop)
	wg.Wait()
	t.Logf("%d joins during the restart, %d failed", joins.Load(), failed.Load())
	for _, in := range []*instance{a, b} {
		reg := in.registry(t)
		for _, id := range known {
			if reg[id] == "" {
				t.Errorf("%s lost meeting %s", in.name, id)
			}
		}
	}
}
