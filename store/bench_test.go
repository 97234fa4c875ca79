package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// BenchmarkSaveMeeting measures concurrent registry writes, as a burst of
// creates makes them.
func BenchmarkSaveMeeting(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bbb.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rec := balancer.MeetingRecord{Key: fmt.Sprint("k", i), MeetingID: "m", ServerID: "bbb1", Created: time.Now()}
			if err := db.SaveMeeting(context.Background(), rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
