package balancer

import (
	"slices"
	"time"
)

// reserves holds a server's fresh meetings and their fading reserves, and
// sums them in constant time: placement reads every candidate's load under
// the pool's lock, so the cost must not grow with the server's meetings.
//
// Each reserve fades linearly, r × (1 − (t − c)/W) for created time c,
// which is A − R×(t − base)/W with A = Σ r×(1 + (c − base)/W) and R = Σ r
// over the reserves still fading. Entries are kept by creation time, so the
// ones that have faded out are a prefix.
type reserves struct {
	list   []fresh // by created
	window time.Duration
	base   time.Time
	a, r   float64
}

func newReserves(list []fresh, window time.Duration, now time.Time) reserves {
	slices.SortFunc(list, func(x, y fresh) int { return x.created.Compare(y.created) })
	rs := reserves{window: window, base: now}
	for _, f := range list {
		rs.list = append(rs.list, f)
		rs.add(f, 1)
	}
	return rs
}

func (rs *reserves) weight(f fresh) float64 { return max(0, f.size-float64(f.participants)) }

func (rs *reserves) add(f fresh, sign float64) {
	w := rs.weight(f)
	rs.r += sign * w
	rs.a += sign * w * (1 + float64(f.created.Sub(rs.base))/float64(rs.window))
}

// push adds a placement made now (the newest entry).
func (rs *reserves) push(f fresh) {
	if rs.window <= 0 {
		return
	}
	if n := len(rs.list); n > 0 && f.created.Before(rs.list[n-1].created) {
		f.created = rs.list[n-1].created // keep the order if the clock stepped back
	}
	rs.list = append(rs.list, f)
	rs.add(f, 1)
}

// remove drops the placement of meetingID (a create that failed, or a
// meeting that ended before a poll saw it).
func (rs *reserves) remove(meetingID string) {
	i := slices.IndexFunc(rs.list, func(f fresh) bool { return f.meetingID == meetingID && f.participants == 0 })
	if i < 0 {
		return
	}
	rs.add(rs.list[i], -1)
	rs.list = slices.Delete(rs.list, i, i+1)
}

// expire forgets the reserves that have faded out by now.
func (rs *reserves) expire(now time.Time) {
	n := 0
	for n < len(rs.list) && !now.Before(rs.list[n].created.Add(rs.window)) {
		rs.add(rs.list[n], -1)
		n++
	}
	rs.list = rs.list[n:]
}

// total is the sum of the reserves at now. It does not change rs: faded
// entries not yet expired are taken out of the sum on the fly.
func (rs *reserves) total(now time.Time) float64 {
	if rs.window <= 0 {
		return 0
	}
	a, r := rs.a, rs.r
	for _, f := range rs.list {
		if now.Before(f.created.Add(rs.window)) {
			break
		}
		w := rs.weight(f)
		r -= w
		a -= w * (1 + float64(f.created.Sub(rs.base))/float64(rs.window))
	}
	t := a - r*float64(now.Sub(rs.base))/float64(rs.window)
	return max(0, t)
}
