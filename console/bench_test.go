package console

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/manage"
)

// BenchmarkSnapshot is one tick of the console of a large pool: 1,000
// servers and 10,000 meetings read, the snapshot built and encoded once
// (every viewer gets the same bytes).
func BenchmarkSnapshot(b *testing.B) {
	f := newFakePool()
	now := time.Now()
	f.servers = f.servers[:0]
	for i := 0; i < 1000; i++ {
		f.servers = append(f.servers, balancer.ServerStatus{ID: fmt.Sprintf("bbb%04d", i),
			URL: fmt.Sprintf("https://bbb%04d.example.com/bigbluebutton/api", i), State: balancer.Enabled, Online: i%50 != 0,
			Weight: 1, Load: float64(i % 40), Stats: balancer.Stats{Meetings: 10, Users: 150, Voice: 20, Videos: 30, LastPoll: now,
				Version: "3.0.4"}})
	}
	f.meetings = f.meetings[:0]
	for i := 0; i < 10000; i++ {
		key := fmt.Sprintf("school-%d~room-%05d", i%20, i)
		f.meetings = append(f.meetings, manage.MeetingListing{
			MeetingStatus: balancer.MeetingStatus{MeetingRecord: balancer.MeetingRecord{Key: key, MeetingID: key,
				ServerID: f.servers[i%1000].ID, Created: now.Add(-time.Duration(i) * time.Second), VoiceBridge: fmt.Sprintf("%09d", i)},
				Name: fmt.Sprintf("Class %d", i), Participants: i % 97, Running: true},
			Tenant: fmt.Sprintf("school-%d", i%20), MeetingID: fmt.Sprintf("room-%05d", i)})
	}
	h := newHub(b, f, HubConfig{})
	b.ReportAllocs()
	b.ResetTimer()
	var last []byte
	for b.Loop() {
		last = h.build(time.Now()).json
	}
	b.ReportMetric(float64(len(last)), "bytes/snapshot")
	// What a viewer receives with Caddy's encode in front.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(last)
	w.Close()
	b.ReportMetric(float64(gz.Len()), "gzip-bytes/snapshot")
}
