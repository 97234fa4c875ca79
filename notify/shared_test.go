package notify_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/pgtest"
	"github.com/bbb-balance/bbb_balance/notify"
)

// Two queues on one PostgreSQL database (two balancer instances): every
// delivery goes out once, whichever queue enqueued it, also when each
// queue can run fewer at a time than are due (a taken delivery it could
// not start would have waited out its lease).
func TestSharedQueuesDeliverOnce(t *testing.T) {
	loc := pgtest.Database(t)
	r := newReceiver(t, 200)
	slow := func(q *notify.Queue) { q.Concurrency = 2 }
	a, b := newEnv(t, loc, slow), newEnv(t, loc, slow)
	const n = 40
	for i := 0; i < n; i++ {
		(map[bool]*env{true: a, false: b}[i%2 == 0]).enqueue(t, r.URL, fmt.Sprint("d", i))
	}
	delivered := 0
	for delivered < n {
		select {
		case o := <-a.results:
			if o.result == notify.ResultDelivered {
				delivered++
			}
		case o := <-b.results:
			if o.result == notify.ResultDelivered {
				delivered++
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d delivered; the rest are stuck", delivered, n)
		}
	}
	r.mu.Lock()
	bodies := append([]string(nil), r.bodies...)
	r.mu.Unlock()
	sort.Strings(bodies)
	for i := 1; i < len(bodies); i++ {
		if bodies[i] == bodies[i-1] {
			t.Errorf("delivery %s sent twice", bodies[i])
		}
	}
	if len(bodies) != n {
		t.Fatalf("%d requests for %d deliveries: %s", len(bodies), n, strings.Join(bodies, ","))
	}
	if left := pending(t, a.db); left != 0 {
		t.Fatalf("%d deliveries left", left)
	}
}
