package recordings

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

const exampleID = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311"

// section6Example is bbb-api.md §6's metadata.xml, verbatim.
const section6Example = `<recording>
  <id>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</id>
  <state>published</state>
  <published>true</published>
  <start_time>1715171203311</start_time>
  <end_time>1715175127802</end_time>
  <participants>3</participants>
  <meeting id="9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311" externalId="room-alpha" name="Alpha Room" breakout="false"/>
  <meta>
    <isBreakout>false</isBreakout>
    <meetingId>room-alpha</meetingId>
    <meetingName>Alpha Room</meetingName>
    <bbb-origin>greenlight</bbb-origin>
    <bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>
  </meta>
  <!-- breakouts: <breakout parentMeetingId="…" sequence="1" meetingId="…"/> ; parents: <breakoutRooms><breakoutRoom>…</breakoutRoom></breakoutRooms> -->
  <playback>
    <format>presentation</format>
    <link>https://bbb1.example.com/playback/presentation/2.3/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</link>
    <processing_time>61234</processing_time>
    <duration>3903112</duration>
    <extensions>
      <preview>
        <images>
          <image width="176" height="136" alt="Welcome">https://bbb1.example.com/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>
        </images>
      </preview>
    </extensions>
    <size>48211033</size>
  </playback>
  <raw_size>210334455</raw_size>
</recording>
`

// videoExample is the video format of the same recording, with the video
// format's buggy state "available".
const videoExample = `<?xml version="1.0" encoding="UTF-8"?>
<recording>
  <id>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</id>
  <state>available</state>
  <published>true</published>
  <start_time>1715171203311</start_time>
  <end_time>1715175127802</end_time>
  <participants>3</participants>
  <meeting id="9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311" externalId="room-alpha" name="Alpha Room" breakout="false"/>
  <meta>
    <isBreakout>false</isBreakout>
    <meetingId>room-alpha</meetingId>
    <meetingName>Alpha Room</meetingName>
    <bbb-origin>greenlight</bbb-origin>
    <bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>
  </meta>
  <playback>
    <format>video</format>
    <link>https://bbb1.example.com/playback/video/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311/</link>
    <processing_time>402118</processing_time>
    <duration>3903112</duration>
    <size>125411545</size>
  </playback>
  <raw_size>210334455</raw_size>
</recording>
`

const breakoutExample = `<recording>
  <id>1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</id>
  <state>published</state>
  <published>true</published>
  <start_time>1715171300000</start_time>
  <end_time>1715172000000</end_time>
  <participants>2</participants>
  <meeting id="1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000" externalId="1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000" name="Alpha Room (Room 1)" breakout="true"/>
  <meta>
    <isBreakout>true</isBreakout>
    <meetingId>1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</meetingId>
    <meetingName>Alpha Room (Room 1)</meetingName>
  </meta>
  <breakout parentMeetingId="9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311" sequence="1" meetingId="1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000" freeJoin="true"/>
  <playback>
    <format>presentation</format>
    <link>https://bbb1.example.com/playback/presentation/2.3/1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</link>
    <processing_time>1000</processing_time>
    <duration>59999</duration>
    <size>1234</size>
  </playback>
  <raw_size>5678</raw_size>
</recording>`

const parentExample = `<recording>
  <id>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</id>
  <state>unpublished</state>
  <published>false</published>
  <start_time>1715171203311</start_time>
  <end_time>1715175127802</end_time>
  <participants>3</participants>
  <meeting id="9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311" externalId="room-alpha" name="Alpha Room" breakout="false"/>
  <meta><isBreakout>false</isBreakout><meetingId>room-alpha</meetingId><meetingName>Alpha Room</meetingName></meta>
  <breakoutRooms>
    <breakoutRoom>1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000</breakoutRoom>
    <breakoutRoom>2b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300001</breakoutRoom>
  </breakoutRooms>
  <playback>
    <format>presentation</format>
    <link>https://bbb1.example.com/playback/presentation/2.3/9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311</link>
    <processing_time>61234</processing_time>
    <duration>3903112</duration>
    <size>48211033</size>
  </playback>
  <raw_size>210334455</raw_size>
</recording>`

// noMeetingExample has no <meeting>: ids, name and isBreakout come from <meta>.
// Also: an entity-escaped name, CDATA, an unknown element, a namespaced key.
const noMeetingExample = `<recording xmlns:x="urn:x">
  <id> fc0a2c84384ad8e02f63df08ac9777874df72fb7-1715258012345 </id>
  <state>unpublished</state>
  <published>false</published>
  <start_time>1715258012345</start_time>
  <end_time>1715260500000</end_time>
  <participants>7</participants>
  <unknown><nested a="b">x</nested></unknown>
  <meta>
    <isBreakout>false</isBreakout>
    <meetingId>room-gamma</meetingId>
    <meetingName>Gamma &amp; Friends</meetingName>
    <gl-listed><![CDATA[false]]></gl-listed>
    <x:hidden>no</x:hidden>
    <empty/>
  </meta>
  <playback>
    <format>presentation</format>
    <link>https://bbb1.example.com/playback/presentation/2.3/fc0a2c84384ad8e02f63df08ac9777874df72fb7-1715258012345?a=1&amp;b=2#frag</link>
    <duration>2487655</duration>
    <size>21007766</size>
  </playback>
  <raw_size>98111222</raw_size>
</recording>`

func mustParse(t testing.TB, s string) *Metadata {
	t.Helper()
	m, err := ParseMetadata(strings.NewReader(s))
	if err != nil {
		t.Fatalf("ParseMetadata: %v", err)
	}
	return m
}

func TestParseSection6Example(t *testing.T) {
	got := mustParse(t, section6Example)
	want := &Metadata{
		RecordID:          exampleID,
		State:             "published",
		Published:         true,
		StartTime:         1715171203311,
		EndTime:           1715175127802,
		Participants:      3,
		RawSize:           210334455,
		MeetingID:         "room-alpha",
		InternalMeetingID: exampleID,
		Name:              "Alpha Room",
		IsBreakout:        false,
		Meta: []MetaEntry{
			{"isBreakout", "false"},
			{"meetingId", "room-alpha"},
			{"meetingName", "Alpha Room"},
			{"bbb-origin", "greenlight"},
			{"bbb-recording-ready-url", "https://app.example.com/recording_ready"},
		},
		Format: Format{
			Type:           "presentation",
			URL:            "https://bbb1.example.com/playback/presentation/2.3/" + exampleID,
			Path:           "/playback/presentation/2.3/" + exampleID,
			ProcessingTime: 61234,
			DurationMS:     3903112,
			Length:         65,
			Size:           48211033,
			Extensions: `
      <preview>
        <images>
          <image width="176" height="136" alt="Welcome">https://bbb1.example.com/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>
        </images>
      </preview>
    `,
			Thumbnails: []Thumbnail{{
				Width: "176", Height: "136", Alt: "Welcome",
				URL:  "https://bbb1.example.com/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png",
				Path: "/presentation/9ed2…-1715171203311/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png",
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%#v\nwant\n%#v", got, want)
	}
	if u := recordingReadyURL(got.Meta); u != "https://app.example.com/recording_ready" {
		t.Errorf("RecordingReadyURL = %q", u)
	}
}

func TestParseVideoAvailable(t *testing.T) {
	m := mustParse(t, videoExample)
	if m.State != "published" || !m.Published {
		t.Errorf("state=%q published=%v, want published/true", m.State, m.Published)
	}
	if m.Format.Type != "video" || m.Format.Path != "/playback/video/"+exampleID+"/" || m.Format.Length != 65 || m.Format.Extensions != "" || m.Format.Thumbnails != nil {
		t.Errorf("format = %#v", m.Format)
	}
	// Absent <published>: derived from state.
	m = mustParse(t, strings.Replace(videoExample, "<published>true</published>", "", 1))
	if !m.Published {
		t.Error("published not derived from state available→published")
	}
}

func TestParseBreakout(t *testing.T) {
	m := mustParse(t, breakoutExample)
	if !m.IsBreakout {
		t.Error("IsBreakout = false")
	}
	want := &Breakout{
		ParentMeetingID: exampleID,
		MeetingID:       "1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000",
		Sequence:        1,
		FreeJoin:        true,
	}
	if !reflect.DeepEqual(m.Breakout, want) {
		t.Errorf("Breakout = %#v", m.Breakout)
	}
	if m.BreakoutRooms != nil {
		t.Errorf("BreakoutRooms = %v", m.BreakoutRooms)
	}
	if m.Format.Length != 0 { // 59999 ms → 0 min (integer division)
		t.Errorf("Length = %d", m.Format.Length)
	}
	if m.Name != "Alpha Room (Room 1)" {
		t.Errorf("Name = %q", m.Name)
	}
}

func TestParseParentWithBreakoutRooms(t *testing.T) {
	m := mustParse(t, parentExample)
	want := []string{"1b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300000", "2b6c3f8e0d6a4f1e2c3b4a5968778695a4b3c2d1-1715171300001"}
	if !reflect.DeepEqual(m.BreakoutRooms, want) {
		t.Errorf("BreakoutRooms = %v", m.BreakoutRooms)
	}
	if m.Breakout != nil || m.IsBreakout || m.Published || m.State != "unpublished" {
		t.Errorf("unexpected %#v", m)
	}
}

func TestParseWithoutMeeting(t *testing.T) {
	m := mustParse(t, noMeetingExample)
	if m.RecordID != "fc0a2c84384ad8e02f63df08ac9777874df72fb7-1715258012345" {
		t.Errorf("RecordID = %q", m.RecordID)
	}
	if m.MeetingID != "room-gamma" || m.Name != "Gamma & Friends" || m.InternalMeetingID != "" || m.IsBreakout {
		t.Errorf("meeting fields: %q %q %q %v", m.MeetingID, m.Name, m.InternalMeetingID, m.IsBreakout)
	}
	wantMeta := []MetaEntry{
		{"isBreakout", "false"}, {"meetingId", "room-gamma"}, {"meetingName", "Gamma & Friends"},
		{"gl-listed", "false"}, {"empty", ""},
	}
	if !reflect.DeepEqual(m.Meta, wantMeta) {
		t.Errorf("Meta = %#v", m.Meta)
	}
	if m.Format.Path != "/playback/presentation/2.3/fc0a2c84384ad8e02f63df08ac9777874df72fb7-1715258012345?a=1&b=2" {
		t.Errorf("Path = %q", m.Format.Path)
	}
	if m.Format.ProcessingTime != 0 || m.Format.Length != 41 {
		t.Errorf("format = %#v", m.Format)
	}
	// meta isBreakout=true is used when <meeting> is absent.
	m = mustParse(t, strings.Replace(noMeetingExample, "<isBreakout>false", "<isBreakout>true", 1))
	if !m.IsBreakout {
		t.Error("IsBreakout from meta not used")
	}
}

func TestParseErrors(t *testing.T) {
	big := "<recording><id>" + exampleID + "</id><meta><k>" + strings.Repeat("a", MaxMetadataSize) + "</k></meta></recording>"
	cases := map[string]struct {
		in   string
		want error
	}{
		"empty":          {"", nil},
		"garbage":        {"\x00\x01not xml at all", nil},
		"json":           {`{"id":"x"}`, nil},
		"truncated":      {section6Example[:len(section6Example)/2], nil},
		"wrong root":     {"<response><id>" + exampleID + "</id></response>", ErrNotRecording},
		"missing id":     {strings.Replace(section6Example, "<id>"+exampleID+"</id>", "", 1), ErrMissingRecordID},
		"empty id":       {strings.Replace(section6Example, exampleID+"</id>", "  </id>", 1), ErrMissingRecordID},
		"uppercase id":   {strings.Replace(section6Example, exampleID+"</id>", strings.ToUpper(exampleID)+"</id>", 1), ErrInvalidRecordID},
		"suffixed id":    {strings.Replace(section6Example, exampleID+"</id>", exampleID+"-1</id>", 1), ErrInvalidRecordID},
		"short time":     {strings.Replace(section6Example, exampleID+"</id>", exampleID[:52]+"</id>", 1), ErrInvalidRecordID},
		"path id":        {strings.Replace(section6Example, exampleID+"</id>", "../../etc/passwd</id>", 1), ErrInvalidRecordID},
		"bad number":     {strings.Replace(section6Example, "<participants>3<", "<participants>three<", 1), nil},
		"bad size":       {strings.Replace(section6Example, "<size>48211033<", "<size>-x<", 1), nil},
		"bad bool":       {strings.Replace(section6Example, `breakout="false"`, `breakout="maybe"`, 1), nil},
		"two roots":      {section6Example + "<recording/>", nil},
		"trailing text":  {section6Example + "junk", nil},
		"entity":         {`<!DOCTYPE r [<!ENTITY e "x">]><recording><id>` + exampleID + `</id><state>&e;</state></recording>`, nil},
		"oversized":      {big, ErrTooLarge},
		"mismatched tag": {"<recording><id>" + exampleID + "</id></recordings>", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMetadata(strings.NewReader(c.in))
			if err == nil {
				t.Fatalf("no error, got %#v", m)
			}
			if m != nil {
				t.Errorf("non-nil result with error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseSizeLimitExact(t *testing.T) {
	doc := "<recording><id>" + exampleID + "</id></recording>"
	pad := strings.Repeat(" ", MaxMetadataSize-len(doc))
	if _, err := ParseMetadata(strings.NewReader(doc + pad)); err != nil {
		t.Fatalf("exactly 1 MiB refused: %v", err)
	}
	if _, err := ParseMetadata(strings.NewReader(doc + pad + " ")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 MiB + 1 accepted: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestParseReadError(t *testing.T) {
	if _, err := ParseMetadata(errReader{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestPathOnly(t *testing.T) {
	cases := map[string]string{
		"https://h.example.com/a/b?c=d#e": "/a/b?c=d",
		"HTTP://h:8080":                   "/",
		"https://h?x=1":                   "/?x=1",
		"/already/path":                   "/already/path",
		"https://h//evil.com/x":           "/evil.com/x",
		`https://h/\evil.com`:             "/evil.com",
		"//evil.com/x":                    "",
		"javascript:alert(1)":             "",
		"ftp://h/x":                       "",
		"relative/x":                      "",
		"https:///x":                      "",
		"https://h/a b":                   "",
		"":                                "",
	}
	for in, want := range cases {
		if got := PathOnly(in); got != want {
			t.Errorf("PathOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{section6Example, videoExample, breakoutExample, parentExample, noMeetingExample, "", "<recording/>", "<recording><id>" + exampleID + "</id></recording>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatal("result with error")
			}
			return
		}
		if !ValidRecordID(m.RecordID) {
			t.Fatalf("accepted invalid record id %q", m.RecordID)
		}
		if m.Format.Path != "" && (!strings.HasPrefix(m.Format.Path, "/") || strings.HasPrefix(m.Format.Path, "//")) {
			t.Fatalf("bad path %q", m.Format.Path)
		}
		rec, err := Merge(m)
		if err != nil {
			t.Fatalf("Merge of one accepted metadata: %v", err)
		}
		out := RecordingXML(rec, "https://lb.example.com")
		if err := wellFormed(out); err != nil {
			t.Fatalf("rendering not well-formed: %v\n%s", err, out)
		}
	})
}

// wellFormed checks that b is exactly one well-formed <recording> element.
func wellFormed(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if t.Name.Local != "recording" {
					return errors.New("root is not <recording>")
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root")
			}
		}
	}
	if depth != 0 || roots != 1 {
		return errors.New("not exactly one closed root element")
	}
	return nil
}
