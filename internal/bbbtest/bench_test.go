package bbbtest

import (
	"io"
	"net/http"
	"testing"
)

func BenchmarkGetMeetingInfo(b *testing.B) {
	s, err := New(Options{Secret: refSecret, MaxCalls: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	resp, err := c.Get(s.SignedURL("create", "name=Bench&meetingID=bench"))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if err := s.AddAttendee("bench", Attendee{FullName: "A"}); err != nil {
		b.Fatal(err)
	}
	u := s.SignedURL("getMeetingInfo", "meetingID=bench")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
