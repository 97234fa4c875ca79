package recordings

import (
	"bytes"
	"strings"
	"testing"
)

// golden builds a <recording> from §2.8's element list, in its order.
func golden(parts ...string) string { return strings.Join(parts, "") }

func TestRecordingXMLSection6(t *testing.T) {
	pres := mustParse(t, section6Example)
	video := mustParse(t, videoExample)
	rec, err := Merge(pres, video)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size() != 48211033+125411545 {
		t.Errorf("Size = %d", rec.Size())
	}
	got := string(RecordingXML(rec, "https://bbb.example.com/"))
	want := golden(
		"<recording>",
		"<recordID>", exampleID, "</recordID>",
		"<meetingID>room-alpha</meetingID>",
		"<internalMeetingID>", exampleID, "</internalMeetingID>",
		"<name>Alpha Room</name>",
		"<isBreakout>false</isBreakout>",
		"<published>true</published>",
		"<state>published</state>",
		"<startTime>1715171203311</startTime>",
		"<endTime>1715175127802</endTime>",
		"<participants>3</participants>",
		"<rawSize>210334455</rawSize>",
		"<metadata>",
		"<isBreakout>false</isBreakout>",
		"<meetingId>room-alpha</meetingId>",
		"<meetingName>Alpha Room</meetingName>",
		"<bbb-origin>greenlight</bbb-origin>",
		"<bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>",
		"</metadata>",
		"<size>173622578</size>",
		"<playback>",
		"<format>",
		"<type>presentation</type>",
		"<url>https://bbb.example.com/playback/presentation/2.3/", exampleID, "</url>",
		"<processingTime>61234</processingTime>",
		"<length>65</length>",
		"<size>48211033</size>",
		"<preview><images>",
		`<image width="176" height="136" alt="Welcome">https://bbb.example.com/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>`,
		"</images></preview>",
		"</format>",
		"<format>",
		"<type>video</type>",
		"<url>https://bbb.example.com/playback/video/", exampleID, "/</url>",
		"<processingTime>402118</processingTime>",
		"<length>65</length>",
		"<size>125411545</size>",
		"</format>",
		"</playback>",
		"<data></data>",
		"</recording>",
	)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if err := wellFormed([]byte(got)); err != nil {
		t.Fatal(err)
	}
}

// section74First is the first <recording> of bbb-api.md §7.4, verbatim.
const section74First = `<recording>
<recordID>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</recordID>
<meetingID>room-alpha</meetingID>
<internalMeetingID>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</internalMeetingID>
<name>Alpha Room</name>
<isBreakout>false</isBreakout>
<published>true</published>
<state>published</state>
<startTime>1715171203311</startTime>
<endTime>1715175127802</endTime>
<participants>3</participants>
<rawSize>210334455</rawSize>
<metadata>
<isBreakout>false</isBreakout>
<meetingId>room-alpha</meetingId>
<meetingName>Alpha Room</meetingName>
<bbb-origin>greenlight</bbb-origin>
</metadata>
<size>173622578</size>
<playback>
<format>
<type>presentation</type>
<url>https://bbb1.example.com/playback/presentation/2.3/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</url>
<processingTime>61234</processingTime>
<length>65</length>
<size>48211033</size>
<preview>
<images>
<image width="176" height="136" alt="Welcome">https://bbb1.example.com/presentation/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>
<image width="176" height="136" alt="Agenda">https://bbb1.example.com/presentation/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-2.png</image>
</images>
</preview>
</format>
<format>
<type>video</type>
<url>https://bbb1.example.com/playback/video/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311/</url>
<processingTime>402118</processingTime>
<length>65</length>
<size>125411545</size>
</format>
</playback>
<data>
</data>
</recording>`

// TestRecordingXMLSection74 rebuilds §7.4's first recording from two
// metadata.xml files (the §6 example with a second thumbnail and without the
// recording-ready key, which §7.4 does not show, plus the video format) served
// on a balancer whose host happens to be the backend's.
func TestRecordingXMLSection74(t *testing.T) {
	thumb := "https://bbb1.example.com/presentation/" + exampleID + "/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-"
	pres := strings.Replace(section6Example,
		`<image width="176" height="136" alt="Welcome">https://bbb1.example.com/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>`,
		`<image width="176" height="136" alt="Welcome">`+thumb+`1.png</image><image width="176" height="136" alt="Agenda">`+thumb+`2.png</image>`, 1)
	pres = strings.Replace(pres, "<bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>", "", 1)
	video := strings.Replace(videoExample, "<bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>", "", 1)
	rec, err := Merge(mustParse(t, pres), mustParse(t, video))
	if err != nil {
		t.Fatal(err)
	}
	got := string(RecordingXML(rec, "https://bbb1.example.com"))
	want := strings.ReplaceAll(section74First, "\n", "")
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRecordingXMLBreakoutsAndEscaping(t *testing.T) {
	b := mustParse(t, breakoutExample)
	b.Meta = append(b.Meta,
		MetaEntry{"bad key", "x"}, MetaEntry{"a:b", "x"}, MetaEntry{"1abc", "x"}, MetaEntry{"xmlfoo", "x"},
		MetaEntry{"note", `<b>"R&D"</b>`})
	rec, err := Merge(b)
	if err != nil {
		t.Fatal(err)
	}
	got := string(RecordingXML(rec, "https://lb.example.com"))
	for _, s := range []string{
		"<isBreakout>true</isBreakout>",
		"<metadata><isBreakout>true</isBreakout><meetingId>1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</meetingId><meetingName>Alpha Room (Room 1)</meetingName><note>&lt;b&gt;&#34;R&amp;D&#34;&lt;/b&gt;</note></metadata>",
		"<breakout><parentId>" + exampleID + "</parentId><sequence>1</sequence><freeJoin>true</freeJoin></breakout><size>1234</size>",
		"<length>0</length>",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("missing %s in\n%s", s, got)
		}
	}
	if err := wellFormed([]byte(got)); err != nil {
		t.Fatal(err)
	}

	p, err := Merge(mustParse(t, parentExample))
	if err != nil {
		t.Fatal(err)
	}
	got = string(RecordingXML(p, "https://lb.example.com"))
	want := "</metadata><breakoutRooms><breakoutRoom>1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</breakoutRoom><breakoutRoom>2b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300001</breakoutRoom></breakoutRooms><size>48211033</size>"
	if !strings.Contains(got, want) || strings.Contains(got, "<breakout>") {
		t.Errorf("parent rendering:\n%s", got)
	}

	// No <meeting>: no internalMeetingID; query kept in the rebuilt URL.
	g, err := Merge(mustParse(t, noMeetingExample))
	if err != nil {
		t.Fatal(err)
	}
	got = string(RecordingXML(g, "https://lb.example.com"))
	if strings.Contains(got, "internalMeetingID") || !strings.Contains(got, "<name>Gamma &amp; Friends</name>") ||
		!strings.Contains(got, "<url>https://lb.example.com/playback/presentation/2.3/fc0a2c84384ad8e02f63df08ac9777874df72fb7-1715258012345?a=1&amp;b=2</url>") ||
		!strings.Contains(got, "<empty></empty>") {
		t.Errorf("no-meeting rendering:\n%s", got)
	}
}

func TestRecordingXMLOtherExtensions(t *testing.T) {
	doc := strings.Replace(section6Example, "<extensions>", `<extensions><custom a="1">x &amp; y<sub/></custom><bad><?pi x?></bad><x:ns xmlns:x="urn:x"/>`, 1)
	rec, err := Merge(mustParse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	got := string(RecordingXML(rec, "https://lb.example.com"))
	if !strings.Contains(got, `<size>48211033</size><custom a="1">x &amp; y<sub/></custom><preview><images><image width="176"`) {
		t.Errorf("extensions:\n%s", got)
	}
	// A URL with no usable path is emitted as stored.
	rec.Formats[0].Path = ""
	rec.Formats[0].URL = "weird"
	if got := string(RecordingXML(rec, "https://lb.example.com")); !strings.Contains(got, "<url>weird</url>") {
		t.Errorf("fallback URL:\n%s", got)
	}
}

func TestMergeErrors(t *testing.T) {
	if _, err := Merge(); err == nil {
		t.Error("empty merge accepted")
	}
	if _, err := Merge(nil); err == nil {
		t.Error("nil accepted")
	}
	a := mustParse(t, section6Example)
	if _, err := Merge(a, mustParse(t, breakoutExample)); err == nil {
		t.Error("different record ids accepted")
	}
	if _, err := Merge(a, mustParse(t, section6Example)); err == nil {
		t.Error("duplicate format accepted")
	}
	if _, err := Merge(&Metadata{RecordID: "x"}); err == nil {
		t.Error("invalid record id accepted")
	}
	// Metadata-level merge: meta keys unique, later value wins, order kept.
	b := mustParse(t, videoExample)
	b.Meta = append(b.Meta, MetaEntry{"bbb-origin", "other"}, MetaEntry{"extra", "1"})
	a.Published = false
	r, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Published || len(r.Meta) != 6 || r.Meta[3] != (MetaEntry{"bbb-origin", "other"}) || r.Meta[5].Key != "extra" {
		t.Errorf("merged: published=%v meta=%v", r.Published, r.Meta)
	}
	if r.RecordingReadyURL() != "https://app.example.com/recording_ready" {
		t.Errorf("RecordingReadyURL = %q", r.RecordingReadyURL())
	}
}

// RecordingXML is WriteRecordingXML into a new buffer.
func RecordingXML(rec Recording, host string) []byte {
	var b bytes.Buffer
	WriteRecordingXML(&b, rec, host)
	return b.Bytes()
}
