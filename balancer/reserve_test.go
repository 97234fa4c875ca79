package balancer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// naive is the reserve sum computed entry by entry.
func naive(list []fresh, window time.Duration, now time.Time) float64 {
	sum := 0.0
	for _, f := range list {
		age := now.Sub(f.created)
		if age < window && f.size > float64(f.participants) {
			sum += (f.size - float64(f.participants)) * (1 - float64(age)/float64(window))
		}
	}
	return sum
}

func TestReservesMatchNaiveSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	window := 15 * time.Minute
	start := time.Now()
	var list []fresh
	for i := 0; i < 200; i++ {
		list = append(list, fresh{meetingID: fmt.Sprint("p", i), created: start.Add(-time.Duration(rng.IntN(20)) * time.Minute),
			size: float64(rng.IntN(40)), participants: rng.IntN(20)})
	}
	rs := newReserves(append([]fresh(nil), list...), window, start)
	now := start
	for step := 0; step < 100; step++ {
		now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
		switch rng.IntN(3) {
		case 0:
			f := fresh{meetingID: fmt.Sprint("n", step), created: now, size: 15}
			rs.push(f)
			list = append(list, f)
		case 1:
			rs.expire(now)
		case 2:
			id := fmt.Sprint("n", rng.IntN(step+1))
			rs.remove(id)
			for i, f := range list {
				if f.meetingID == id && f.participants == 0 {
					list = append(list[:i], list[i+1:]...)
					break
				}
			}
		}
		if got, want := rs.total(now), naive(list, window, now); math.Abs(got-want) > 1e-6 {
			t.Fatalf("step %d: total %v, naive %v", step, got, want)
		}
	}
}

// BenchmarkPlaceBusyPool places meetings on 100 servers that each run 50
// young meetings: placement cost must not grow with the meetings.
func BenchmarkPlaceBusyPool(b *testing.B) {
	p := NewPool(newMemStore())
	cfgs := servers(100)
	p.SetServers(cfgs)
	for _, c := range cfgs {
		var poll Poll
		poll.Started = time.Now()
		for m := 0; m < 50; m++ {
			poll.Meetings = append(poll.Meetings, xmls(bbbMeeting(fmt.Sprint(c.ID, "-", m), time.Now()))...)
		}
		p.Report(context.Background(), c.ID, poll, HealthRule{Passes: 1})
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if _, err := p.Place(b.Context(), Request{Key: fmt.Sprint("k", i), MeetingID: fmt.Sprint("k", i)}); err != nil {
			b.Fatal(err)
		}
	}
}
