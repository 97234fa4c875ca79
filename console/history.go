package console

import (
	"math"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// ring keeps the last len(buf) values pushed, oldest first on read.
type ring[T any] struct {
	buf  []T
	next int // where the next value goes
	n    int // values held
}

func newRing[T any](size int) *ring[T] { return &ring[T]{buf: make([]T, size)} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// values returns the values held, oldest first.
func (r *ring[T]) values() []T {
	out := make([]T, 0, r.n)
	for i := len(r.buf) - r.n; i < len(r.buf); i++ {
		out = append(out, r.buf[(r.next+i)%len(r.buf)])
	}
	return out
}

// History is each server's load over the last hour (size samples, one a
// step), kept in memory by the console for the servers' charts. A server
// missing from a sample (removed) is forgotten; a new one starts with the
// sample it first appears in.
type History struct {
	size   int
	series map[string]*ring[float32]
}

// NewHistory keeps size samples of each server.
func NewHistory(size int) *History {
	return &History{size: max(size, 1), series: map[string]*ring[float32]{}}
}

// Add takes one sample of every server's load.
func (h *History) Add(servers []balancer.ServerStatus) {
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		seen[s.ID] = true
		r := h.series[s.ID]
		if r == nil {
			r = newRing[float32](h.size)
			h.series[s.ID] = r
		}
		r.push(float32(s.Load))
	}
	for id := range h.series {
		if !seen[id] {
			delete(h.series, id)
		}
	}
}

// Series returns server id's loads, oldest first, rounded to a tenth
// (what a chart shows, and short in JSON).
func (h *History) Series(id string) []float64 {
	r := h.series[id]
	if r == nil {
		return nil
	}
	vals := r.values()
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = math.Round(float64(v)*10) / 10
	}
	return out
}

// All returns every server's series, by id.
func (h *History) All() map[string][]float64 {
	out := make(map[string][]float64, len(h.series))
	for id := range h.series {
		out[id] = h.Series(id)
	}
	return out
}
