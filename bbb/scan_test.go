package bbb

import (
	"bytes"
	"reflect"
	"testing"
)

// The getMeetings example of reference/bbb-api.md §7.3, with the traps a
// depth-blind scanner would fall into: a customdata and a metadata element
// named like meeting fields, and an empty server's shape.
const meetingsDoc = `<response>
<returncode>SUCCESS</returncode>
<meetings>
<meeting>
<meetingName>Alpha Room</meetingName>
<meetingID>room-alpha</meetingID>
<internalMeetingID>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123</internalMeetingID>
<createTime>1715261728123</createTime>
<createDate>Thu May 09 13:35:28 UTC 2024</createDate>
<voiceBridge>66052</voiceBridge>
<running>true</running>
<participantCount>2</participantCount>
<listenerCount>1</listenerCount>
<voiceParticipantCount>1</voiceParticipantCount>
<videoCount>1</videoCount>
<maxUsers>0</maxUsers>
<moderatorCount>1</moderatorCount>
<attendees>
<attendee>
<userID>u-1001</userID>
<fullName>Alice &amp; Co</fullName>
<customdata><isBreakout>true</isBreakout><participantCount>999</participantCount></customdata>
</attendee>
</attendees>
<metadata>
<bbb-origin>greenlight</bbb-origin>
<participantcount>5</participantcount>
</metadata>
<isBreakout>false</isBreakout>
</meeting>
<meeting>
<meetingName>Beta Room</meetingName>
<meetingID>room-beta &lt;2&gt;</meetingID>
<createTime>1715262001456</createTime>
<participantCount>0</participantCount>
<maxUsers>25</maxUsers>
<attendees>
</attendees>
<metadata/>
<isBreakout>true</isBreakout>
</meeting>
</meetings>
</response>`

func TestScanMatchesEncodingXML(t *testing.T) {
	docs := []string{
		meetingsDoc,
		"<response><returncode>SUCCESS</returncode><meetings/><messageKey>noMeetings</messageKey><message>no meetings were found on this server</message></response>",
		"<response><returncode>FAILED</returncode><messageKey>checksumError</messageKey><message>Checksums do not match</message></response>",
	}
	for _, doc := range docs {
		want, err := ParseMeetings(bytes.NewReader([]byte(doc)))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := scanMeetings([]byte(doc)); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("scan\n%+v (%v)\nencoding/xml\n%+v", got, err, want)
		}
	}
	got, _ := scanMeetings([]byte(meetingsDoc))
	if m := got.Meetings[0]; m.ParticipantCount != 2 || m.IsBreakout || m.VideoCount != 1 {
		t.Errorf("fields taken from customdata or metadata: %+v", m)
	}
}

func TestReadMeetingsFallsBack(t *testing.T) {
	for _, doc := range []string{
		`<?xml version="1.0"?>` + meetingsDoc,
		"<response><returncode>SUCCESS</returncode><!-- note --><meetings/></response>",
	} {
		l, err := ReadMeetings(bytes.NewReader([]byte(doc)))
		if err != nil || l.ReturnCode != Success {
			t.Errorf("%.40q: %+v %v", doc, l, err)
		}
	}
	for _, bad := range []string{"", "garbage", "<html><body>oops</body></html>", "<response><returncode>SUCCESS</returncode><meetings>"} {
		if _, err := ReadMeetings(bytes.NewReader([]byte(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzScanMeetingList(f *testing.F) {
	f.Add(meetingsDoc)
	f.Add("<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount>x</participantCount></meeting></meetings></response>")
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := scanMeetings([]byte(doc))
		if err != nil {
			return
		}
		// Whatever the scanner accepts, encoding/xml must read the same,
		// down to each meeting's raw XML.
		want, err := ParseMeetings(bytes.NewReader([]byte(doc)))
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("scan %+v\nxml  %+v", got, want)
		}
	})
}

func BenchmarkScanMeetings(b *testing.B) {
	doc := []byte(meetingsDoc)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		scanMeetings(doc)
	}
}

func BenchmarkParseMeetingsXML(b *testing.B) {
	doc := []byte(meetingsDoc)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		ParseMeetings(bytes.NewReader(doc))
	}
}
