package bbbtest

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const alphaCreate = "name=Alpha+Room&meetingID=room-alpha&attendeePW=ap&moderatorPW=mp&record=true&meta_bbb-origin=greenlight"

func TestCreateGolden(t *testing.T) {
	clock := newClock(1715261728123)
	s := newServer(t, Options{Now: clock.Now})
	r := signed(t, s, "create", alphaCreate+"&voiceBridge=66052")
	want := `<response>
<returncode>SUCCESS</returncode>
<meetingID>room-alpha</meetingID>
<internalMeetingID>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123</internalMeetingID>
<parentMeetingID>bbb-none</parentMeetingID>
<attendeePW>ap</attendeePW>
<moderatorPW>mp</moderatorPW>
<createTime>1715261728123</createTime>
<voiceBridge>66052</voiceBridge>
<dialNumber>613-555-1234</dialNumber>
<createDate>Thu May 09 13:35:28 UTC 2024</createDate>
<hasUserJoined>false</hasUserJoined>
<duration>0</duration>
<hasBeenForciblyEnded>false</hasBeenForciblyEnded>
<messageKey></messageKey>
<message></message>
</response>`
	if r.body != want {
		t.Fatalf("create body:\n%s\nwant:\n%s", r.body, want)
	}
	if r.header.Get("Content-Type") != "text/xml;charset=utf-8" || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", r.header)
	}
	// Repeat: same body except the duplicate warning.
	clock.Set(1715261799999)
	r = signed(t, s, "create", alphaCreate+"&voiceBridge=66052")
	dup := strings.Replace(want, "<messageKey></messageKey>\n<message></message>",
		"<messageKey>duplicateWarning</messageKey>\n<message>This conference was already in existence and may currently be in progress.</message>", 1)
	if r.body != dup {
		t.Fatalf("duplicate body:\n%s\nwant:\n%s", r.body, dup)
	}
}

func TestGetMeetingInfoGolden(t *testing.T) {
	clock := newClock(1715261728123)
	s := newServer(t, Options{Now: clock.Now})
	expectKey(t, signed(t, s, "create", alphaCreate+"&voiceBridge=66052&meta_endCallbackUrl="+
		url.QueryEscape("https://app.example.com/meeting_ended?room=alpha")+"&meta_bad_name=x"), "SUCCESS", "")
	expectKey(t, signed(t, s, "join", "fullName=Alice+Doe&meetingID=room-alpha&role=MODERATOR&userID=u-1001&userdata-bbb_auto_share_webcam=false&redirect=false"),
		"SUCCESS", "successfullyJoined")
	if err := s.AddAttendee("room-alpha", Attendee{FullName: "Bob & Co", ListenOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCounts("room-alpha", -1, -1, 1, 1, -1); err != nil {
		t.Fatal(err)
	}
	clock.Set(1715262001456)
	parent := "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123"
	br := expectKey(t, signed(t, s, "create", "name=Breakout+1&meetingID=room-alpha-br1&isBreakout=true&sequence=1&parentMeetingID="+parent), "SUCCESS", "")

	info, _ := s.Meeting("room-alpha")
	bob := info.Attendees[1].UserID
	if !regexp.MustCompile(`^w_[a-z0-9]{12}$`).MatchString(bob) {
		t.Fatalf("generated user id %q", bob)
	}
	want := `<response>
<returncode>SUCCESS</returncode>
<meetingName>Alpha Room</meetingName>
<meetingID>room-alpha</meetingID>
<internalMeetingID>9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123</internalMeetingID>
<createTime>1715261728123</createTime>
<createDate>Thu May 09 13:35:28 UTC 2024</createDate>
<voiceBridge>66052</voiceBridge>
<dialNumber>613-555-1234</dialNumber>
<attendeePW>ap</attendeePW>
<moderatorPW>mp</moderatorPW>
<running>true</running>
<duration>0</duration>
<hasUserJoined>true</hasUserJoined>
<recording>true</recording>
<hasBeenForciblyEnded>false</hasBeenForciblyEnded>
<startTime>1715261728123</startTime>
<endTime>0</endTime>
<participantCount>2</participantCount>
<listenerCount>1</listenerCount>
<voiceParticipantCount>1</voiceParticipantCount>
<videoCount>1</videoCount>
<maxUsers>0</maxUsers>
<moderatorCount>1</moderatorCount>
<attendees>
<attendee>
<userID>u-1001</userID>
<fullName>Alice Doe</fullName>
<role>MODERATOR</role>
<isPresenter>true</isPresenter>
<isListeningOnly>false</isListeningOnly>
<hasJoinedVoice>false</hasJoinedVoice>
<hasVideo>false</hasVideo>
<clientType>HTML5</clientType>
<customdata>
<bbb_auto_share_webcam>false</bbb_auto_share_webcam>
</customdata>
</attendee>
<attendee>
<userID>` + bob + `</userID>
<fullName>Bob &amp; Co</fullName>
<role>VIEWER</role>
<isPresenter>false</isPresenter>
<isListeningOnly>true</isListeningOnly>
<hasJoinedVoice>false</hasJoinedVoice>
<hasVideo>false</hasVideo>
<clientType>HTML5</clientType>
<customdata></customdata>
</attendee>
</attendees>
<metadata>
<bbb-origin>greenlight</bbb-origin>
<endcallbackurl>https://app.example.com/meeting_ended?room=alpha</endcallbackurl>
</metadata>
<isBreakout>false</isBreakout>
<breakoutRooms>
<breakout>` + br.InternalMeetingID + `</breakout>
</breakoutRooms>
</response>`
	r := signed(t, s, "getMeetingInfo", "meetingID=room-alpha")
	if r.body != want {
		t.Fatalf("getMeetingInfo:\n%s\nwant:\n%s", r.body, want)
	}

	// The breakout room itself: flat breakout fields.
	if br.InternalMeetingID != internalIDFor("room-alpha-br1", 1715262001456) {
		t.Errorf("breakout internal id %s", br.InternalMeetingID)
	}
	r = signed(t, s, "getMeetingInfo", "meetingID=room-alpha-br1")
	tail := "<isBreakout>true</isBreakout>\n<parentMeetingID>" + parent + "</parentMeetingID>\n<sequence>1</sequence>\n<freeJoin>false</freeJoin>\n</response>"
	if !strings.HasSuffix(r.body, tail) {
		t.Errorf("breakout info:\n%s", r.body)
	}
	// getMeetings lists both, each with the same children.
	x := expectKey(t, signed(t, s, "getMeetings", ""), "SUCCESS", "")
	if len(x.Meetings) != 2 || x.Meetings[0].MeetingID != "room-alpha" || x.Meetings[1].MeetingID != "room-alpha-br1" {
		t.Fatalf("meetings %+v", x.Meetings)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(want, "<response>\n<returncode>SUCCESS</returncode>\n"), "</response>")
	if !strings.Contains(signed(t, s, "getMeetings", "").body, "<meetings>\n<meeting>\n"+inner+"</meeting>\n<meeting>\n") {
		t.Errorf("getMeetings does not embed the getMeetingInfo children")
	}
	// Ending the parent ends its breakout rooms.
	expectKey(t, signed(t, s, "end", "meetingID=room-alpha"), "SUCCESS", "sentEndMeetingRequest")
	if got := s.Meetings(); len(got) != 0 {
		t.Errorf("meetings after end: %v", got)
	}
}

func TestLifecycle(t *testing.T) {
	s := newServer(t, Options{})
	x := expectKey(t, signed(t, s, "create", "name=Room+One&meetingID=room-1&moderatorPW=mp&attendeePW=ap&duration=60&maxParticipants=25&meta_Origin=test"), "SUCCESS", "")
	internal := x.InternalMeetingID
	if !regexp.MustCompile(`^[0-9a-f]{40}-[0-9]{13}$`).MatchString(internal) || internal != internalIDFor("room-1", x.CreateTime) {
		t.Fatalf("internal id %q", internal)
	}
	if !regexp.MustCompile(`^[1-9][0-9]{4}$`).MatchString(x.VoiceBridge) {
		t.Errorf("voiceBridge %q", x.VoiceBridge)
	}
	if x.HasUserJoined || x.Duration != 60 {
		t.Errorf("create %+v", x)
	}
	if got := parse(t, signed(t, s, "isMeetingRunning", "meetingID=room-1")); got.ReturnCode != "SUCCESS" || got.Running {
		t.Errorf("fresh meeting running: %+v", got)
	}
	info := expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=room-1"), "SUCCESS", "")
	if info.Running || info.ParticipantCount != 0 || info.MaxUsers != 25 || info.Duration != 60 ||
		len(info.Metadata.Items) != 1 || info.Metadata.Items[0].XMLName.Local != "origin" || info.Metadata.Items[0].Value != "test" {
		t.Errorf("info %+v", info)
	}

	// join with redirect (default)
	r := signed(t, s, "join", "meetingID=room-1&fullName=Alice&role=moderator&createTime="+strconv.FormatInt(x.CreateTime, 10))
	if r.status != http.StatusFound {
		t.Fatalf("join status %d body %q", r.status, r.body)
	}
	loc := r.header.Get("Location")
	if !regexp.MustCompile(`^http://` + regexp.QuoteMeta(s.Addr()) + `/html5client\?sessionToken=[a-z0-9]{16}$`).MatchString(loc) {
		t.Fatalf("join Location %q", loc)
	}
	// a client following the redirect ends on a 200 page
	resp, err := http.Get(s.SignedURL("join", "meetingID=room-1&fullName=Carol&role=VIEWER"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "sessionToken") {
		t.Fatalf("client page %d %q", resp.StatusCode, page)
	}

	// join with redirect=false, password-based
	j := expectKey(t, signed(t, s, "join", "meetingID=room-1&fullName=Bob&password=ap&redirect=false&userID=ext-bob"), "SUCCESS", "successfullyJoined")
	if j.Message != "You have joined successfully." || j.JoinMeetingID != internal || j.GuestStatus != "ALLOW" ||
		!regexp.MustCompile(`^w_[a-z0-9]{12}$`).MatchString(j.UserID) || len(j.SessionToken) != 16 || len(j.AuthToken) != 12 ||
		j.URL != "http://"+s.Addr()+"/html5client?sessionToken="+j.SessionToken {
		t.Errorf("join response %+v", j)
	}

	info = expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=room-1"), "SUCCESS", "")
	if !info.Running || !info.HasUserJoined || info.ParticipantCount != 3 || info.ModeratorCount != 1 || len(info.Attendees) != 3 {
		t.Fatalf("info after joins %+v", info)
	}
	a, b := info.Attendees[0], info.Attendees[2]
	if a.FullName != "Alice" || a.Role != "MODERATOR" || !a.Presenter || b.UserID != "ext-bob" || b.Role != "VIEWER" || b.Presenter {
		t.Errorf("attendees %+v", info.Attendees)
	}
	if !parse(t, signed(t, s, "isMeetingRunning", "meetingID=room-1")).Running {
		t.Error("not running after join")
	}
	ms := expectKey(t, signed(t, s, "getMeetings", ""), "SUCCESS", "")
	if len(ms.Meetings) != 1 || ms.Meetings[0].MeetingID != "room-1" || ms.Meetings[0].ParticipantCount != 3 {
		t.Errorf("getMeetings %+v", ms.Meetings)
	}

	e := expectKey(t, signed(t, s, "end", "meetingID=room-1&password=mp"), "SUCCESS", "sentEndMeetingRequest")
	if e.Message != "A request to end the meeting was sent.  Please wait a few seconds, and then use the getMeetingInfo or isMeetingRunning API calls to verify that it was ended." {
		t.Errorf("end message %q", e.Message)
	}
	nf := expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=room-1"), "FAILED", "notFound")
	if nf.Message != "A meeting with that ID does not exist" {
		t.Errorf("notFound message %q", nf.Message)
	}
	expectKey(t, signed(t, s, "end", "meetingID=room-1"), "FAILED", "notFound")
	if parse(t, signed(t, s, "isMeetingRunning", "meetingID=room-1")).Running {
		t.Error("running after end")
	}
	empty := signed(t, s, "getMeetings", "")
	if empty.body != "<response>\n<returncode>SUCCESS</returncode>\n<meetings/>\n<messageKey>noMeetings</messageKey>\n<message>no meetings were found on this server</message>\n</response>" {
		t.Errorf("empty getMeetings %q", empty.body)
	}

	// re-create after end: new createTime/internal id allowed, voice bridge reusable
	x2 := expectKey(t, signed(t, s, "create", "name=Room+One&meetingID=room-1&voiceBridge="+x.VoiceBridge), "SUCCESS", "")
	if x2.MessageKey != "" || x2.VoiceBridge != x.VoiceBridge {
		t.Errorf("re-create %+v", x2)
	}
}

func TestDuplicateCreate(t *testing.T) {
	clock := newClock(1000000000000)
	s := newServer(t, Options{Now: clock.Now})
	first := expectKey(t, signed(t, s, "create", "name=Dup&meetingID=dup&attendeePW=ap&moderatorPW=mp&duration=5"), "SUCCESS", "")
	clock.Set(1000000005000)
	// same passwords, other params differ: existing meeting returned
	d := expectKey(t, signed(t, s, "create", "name=Other&meetingID=dup&attendeePW=ap&moderatorPW=mp&duration=9&voiceBridge=12345"), "SUCCESS", "duplicateWarning")
	if d.Message != "This conference was already in existence and may currently be in progress." ||
		d.CreateTime != first.CreateTime || d.InternalMeetingID != first.InternalMeetingID || d.VoiceBridge != first.VoiceBridge || d.Duration != 5 {
		t.Errorf("duplicate %+v vs %+v", d, first)
	}
	// no passwords at all: duplicate too (3.0)
	expectKey(t, signed(t, s, "create", "name=Dup&meetingID=dup"), "SUCCESS", "duplicateWarning")
	// different passwords / only one password: idNotUnique
	for _, q := range []string{
		"name=Dup&meetingID=dup&attendeePW=ap&moderatorPW=other",
		"name=Dup&meetingID=dup&attendeePW=ap",
		"name=Dup&meetingID=dup&moderatorPW=mp",
	} {
		x := expectKey(t, signed(t, s, "create", q), "FAILED", "idNotUnique")
		if x.Message != "A meeting already exists with that meeting ID.  Please use a different meeting ID." {
			t.Errorf("idNotUnique message %q", x.Message)
		}
	}
	// generated passwords: random 8 alphanumerics; password-less repeat is a duplicate
	g := expectKey(t, signed(t, s, "create", "name=Gen&meetingID=gen"), "SUCCESS", "")
	re := regexp.MustCompile(`^[A-Za-z0-9]{8}$`)
	if !re.MatchString(g.AttendeePW) || !re.MatchString(g.ModeratorPW) {
		t.Errorf("generated passwords %q %q", g.AttendeePW, g.ModeratorPW)
	}
	g2 := expectKey(t, signed(t, s, "create", "name=Gen&meetingID=gen"), "SUCCESS", "duplicateWarning")
	if g2.AttendeePW != g.AttendeePW || g2.ModeratorPW != g.ModeratorPW {
		t.Errorf("duplicate changed passwords")
	}
	// hasUserJoined reflects reality on a duplicate
	if err := s.AddAttendee("dup", Attendee{FullName: "X"}); err != nil {
		t.Fatal(err)
	}
	if d := parse(t, signed(t, s, "create", "name=Dup&meetingID=dup")); !d.HasUserJoined {
		t.Errorf("duplicate hasUserJoined false")
	}
	// after end a new instance is created
	expectKey(t, signed(t, s, "end", "meetingID=dup"), "SUCCESS", "sentEndMeetingRequest")
	n := expectKey(t, signed(t, s, "create", "name=Dup&meetingID=dup&attendeePW=x1&moderatorPW=x2"), "SUCCESS", "")
	if n.CreateTime != 1000000005000 || n.InternalMeetingID == first.InternalMeetingID {
		t.Errorf("new instance %+v", n)
	}
}

func TestCreateValidation(t *testing.T) {
	s := newServer(t, Options{})
	expectKey(t, signed(t, s, "create", "name=Parent&meetingID=parent"), "SUCCESS", "")
	for _, tc := range []struct{ q, key, msg string }{
		{"name=A+Room", "missingParamMeetingID", "You must provide a meeting ID"},
		{"name=A+Room&meetingID=", "missingParamMeetingID", "You must provide a meeting ID"},
		{"name=A+Room&meetingID=x", "sizeError", "Meeting ID must be between 2 and 256 characters"},
		{"name=A+Room&meetingID=" + strings.Repeat("x", 257), "sizeError", "Meeting ID must be between 2 and 256 characters"},
		{"name=A+Room&meetingID=a%2Cb", "validationError", "Meeting ID cannot contain ','"},
		{"name=A+Room&meetingID=+ab", "validationError", "Invalid meeting ID"},
		{"meetingID=ab", "nullError", "You must provide a meeting name"},
		{"meetingID=ab&name=", "emptyError", "You must provide a meeting name"},
		{"meetingID=ab&name=x", "sizeError", "Meeting name must be between 2 and 256 characters"},
		{"meetingID=ab&name=ok&attendeePW=x", "invalidPassword", "Invalid password"},
		{"meetingID=ab&name=ok&moderatorPW=" + strings.Repeat("p", 65), "invalidPassword", "Invalid password"},
		{"meetingID=ab&name=ok&voiceBridge=12a", "validationError", "Voice bridge must be an integral value"},
		{"meetingID=ab&name=ok&record=maybe", "validationError", "Record must be a boolean value (true or false)"},
		{"meetingID=ab&name=ok&isBreakout=true", "parentMeetingIDMissing", "No parent meeting ID was provided for the breakout room"},
		{"meetingID=ab&name=ok&isBreakout=true&parentMeetingID=nope", "parentMeetingDoesNotExist", "No parent meeting exists for the breakout room"},
	} {
		x := expectKey(t, signed(t, s, "create", tc.q), "FAILED", tc.key)
		if x.Message != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.q, x.Message, tc.msg)
		}
	}
	// the meeting id limits are in characters, and 256 is allowed
	expectKey(t, signed(t, s, "create", "name=ok&meetingID="+strings.Repeat("x", 256)), "SUCCESS", "")
	expectKey(t, signed(t, s, "create", "name=ok&meetingID=%C3%BC%C3%BC&record=TRUE"), "SUCCESS", "")
	if got := s.Meetings(); len(got) != 3 {
		t.Errorf("meetings %v", got)
	}
}

func TestVoiceBridgeUniqueness(t *testing.T) {
	s := newServer(t, Options{})
	expectKey(t, signed(t, s, "create", "name=One&meetingID=vb-1&voiceBridge=70000"), "SUCCESS", "")
	r := signed(t, s, "create", "name=Two&meetingID=vb-2&voiceBridge=70000")
	want := "<response>\n<returncode>FAILED</returncode>\n<errors>\n<error><key>nonUniqueVoiceBridge</key><message>The selected voice bridge is already in use.</message></error>\n</errors>\n</response>"
	if r.body != want {
		t.Fatalf("body %q", r.body)
	}
	x := parse(t, r)
	if x.MessageKey != "" || len(x.Errors) != 1 || x.Errors[0].Key != "nonUniqueVoiceBridge" {
		t.Errorf("parsed %+v", x)
	}
	if s.EndMeeting("vb-1") != true || s.EndMeeting("vb-1") != false {
		t.Fatal("EndMeeting")
	}
	expectKey(t, signed(t, s, "create", "name=Two&meetingID=vb-2&voiceBridge=70000"), "SUCCESS", "")
	// random bridges are unique
	seen := map[string]bool{"70000": true}
	for i := range 50 {
		x := expectKey(t, signed(t, s, "create", fmt.Sprintf("name=RR&meetingID=r-%d", i)), "SUCCESS", "")
		if seen[x.VoiceBridge] {
			t.Fatalf("voice bridge %s reused", x.VoiceBridge)
		}
		seen[x.VoiceBridge] = true
	}
}

func TestCreatePOSTBodies(t *testing.T) {
	s := newServer(t, Options{})
	const modules = `<modules><module name="presentation"><document url="https://files.example.com/deck.pdf" filename="deck.pdf"/></module></modules>`
	q := "name=Slides&meetingID=slides"
	u := s.SignedURL("create", q)
	for i, ct := range []string{"application/xml", "text/xml", "text/xml; charset=utf-8"} {
		key := "duplicateWarning"
		if i == 0 {
			key = ""
		}
		expectKey(t, do(t, http.MethodPost, u, ct, modules), "SUCCESS", key)
	}
	info, _ := s.Meeting("slides")
	if string(info.Body) != modules || info.Params.Get("name") != "Slides" {
		t.Errorf("create body/params not kept: %q %v", info.Body, info.Params)
	}
	calls := s.Calls()
	if c := calls[0]; c.Method != http.MethodPost || string(c.Body) != modules || c.ContentType != "application/xml" || !c.ChecksumOK {
		t.Errorf("recorded %+v", c)
	}
	x := expectKey(t, do(t, http.MethodPost, u, "text/plain", modules), "FAILED", "unsupportedContentType")
	if x.Message != "POST request Content-Type is missing or unsupported" {
		t.Errorf("message %q", x.Message)
	}
	expectKey(t, do(t, http.MethodPost, u, "", modules), "FAILED", "unsupportedContentType")
	// XML is not accepted for other calls
	expectKey(t, do(t, http.MethodPost, s.SignedURL("getMeetings", ""), "application/xml", "<x/>"), "FAILED", "unsupportedContentType")
	// POST without a body is fine
	expectKey(t, do(t, http.MethodPost, s.SignedURL("getMeetings", ""), "", ""), "SUCCESS", "")
}

func TestJoinErrors(t *testing.T) {
	clock := newClock(1715261728123)
	s := newServer(t, Options{Now: clock.Now})
	expectKey(t, signed(t, s, "create", "name=JJ&meetingID=j-room&attendeePW=ap&moderatorPW=mp&maxParticipants=2"), "SUCCESS", "")
	base := "http://" + s.Addr()
	errs := func(key, msg string) string {
		return "errors=" + strings.NewReplacer(`"`, "%22", "{", "%7B", "}", "%7D", " ", "%20").
			Replace(`[{"key":"`+key+`","message":"`+msg+`"}]`)
	}
	redirectTo := func(r result, want string) {
		t.Helper()
		if r.status != http.StatusFound || r.header.Get("Location") != want {
			t.Errorf("got %d Location %q, want %q (body %q)", r.status, r.header.Get("Location"), want, r.body)
		}
	}
	// checksum error: always redirects, even with redirect=false
	redirectTo(rawGet(t, s, "join", "meetingID=j-room&fullName=A&role=VIEWER&redirect=false&checksum=0000000000000000000000000000000000000000"),
		base+"?"+errs("checksumError", "Checksums do not match"))
	redirectTo(signed(t, s, "join", "meetingID=nope&fullName=A&role=VIEWER"),
		base+"?"+errs("invalidMeetingIdentifier", "A meeting with that ID does not exist"))
	redirectTo(signed(t, s, "join", "fullName=A&role=VIEWER"),
		base+"?"+errs("missingParamMeetingID", "You must provide a meeting ID"))
	redirectTo(signed(t, s, "join", "meetingID=j-room&role=VIEWER&redirect=false&logoutURL="+url.QueryEscape("https://lms.example.com/bye")),
		"https://lms.example.com/bye?"+errs("missingParamFullName", "You must provide your name"))
	redirectTo(signed(t, s, "join", "meetingID=nope&fullName=A&role=VIEWER&logoutURL=https%3A%2F%2Fx.example&errorRedirectUrl="+url.QueryEscape("https://app.example.com/err?a=1#frag")),
		"https://app.example.com/err?a=1&"+errs("invalidMeetingIdentifier", "A meeting with that ID does not exist")+"#frag")

	// role/password errors are XML
	x := expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=A"), "FAILED", "Params required")
	if x.Message != "You must either send the valid role of the user, or the password, sould the meeting has one." {
		t.Errorf("message %q", x.Message)
	}
	x = expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=A&password=wrong&role=boss"), "FAILED", "Params required")
	if x.Message != "You must enter a valid password" {
		t.Errorf("message %q", x.Message)
	}
	// createTime mismatch: XML with redirect=false, redirect otherwise
	expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=A&role=VIEWER&redirect=false&createTime=1"), "FAILED", "mismatchCreateTimeParam")
	redirectTo(signed(t, s, "join", "meetingID=j-room&fullName=A&role=VIEWER&createTime=1"),
		base+"?"+errs("mismatchCreateTimeParam", "The createTime parameter submitted mismatches with the current meeting."))

	// role wins over password; moderator password gives MODERATOR
	expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=A&role=VIEWER&password=mp&redirect=false&createTime=1715261728123"), "SUCCESS", "successfullyJoined")
	expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=B&password=mp&redirect=FALSE"), "SUCCESS", "successfullyJoined")
	info, _ := s.Meeting("j-room")
	if info.Attendees[0].Role != "VIEWER" || info.Attendees[1].Role != "MODERATOR" {
		t.Errorf("roles %+v", info.Attendees)
	}
	// maxParticipants=2 reached
	expectKey(t, signed(t, s, "join", "meetingID=j-room&fullName=C&role=VIEWER&redirect=false"), "FAILED", "maxParticipantsReached")
	redirectTo(signed(t, s, "join", "meetingID=j-room&fullName=C&role=VIEWER"),
		base+"?"+errs("maxParticipantsReached", "The number of participants allowed for this meeting has been reached."))
	// join is GET only in 3.0
	if r := do(t, http.MethodPost, s.SignedURL("join", "meetingID=j-room&fullName=C&role=VIEWER"), "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST join status %d", r.status)
	}
	// enforceLayout
	r := signed(t, s, "join", "meetingID=j-room&fullName=Z&role=MODERATOR&enforceLayout=SMART_LAYOUT")
	if loc := r.header.Get("Location"); !strings.Contains(loc, "maxParticipantsReached") {
		t.Errorf("join beyond maxParticipants: Location %q", loc)
	}
	if err := s.SetCounts("j-room", 0, -1, -1, -1, -1); err != nil {
		t.Fatal(err)
	}
	r = signed(t, s, "join", "meetingID=j-room&fullName=Z&role=MODERATOR&enforceLayout=SMART_LAYOUT")
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, base+"/html5client?waitLayout=1&sessionToken=") {
		t.Errorf("enforceLayout Location %q", loc)
	}
}

func TestLookupByInternalID(t *testing.T) {
	s := newServer(t, Options{})
	x := expectKey(t, signed(t, s, "create", "name=Int&meetingID=int-room"), "SUCCESS", "")
	id := url.QueryEscape(x.InternalMeetingID)
	if i := expectKey(t, signed(t, s, "getMeetingInfo", "meetingID="+id), "SUCCESS", ""); i.MeetingID != "int-room" {
		t.Errorf("lookup by internal id: %+v", i)
	}
	expectKey(t, signed(t, s, "join", "meetingID="+id+"&fullName=A&role=VIEWER&redirect=false"), "SUCCESS", "successfullyJoined")
	if !parse(t, signed(t, s, "isMeetingRunning", "meetingID="+id)).Running {
		t.Error("not running")
	}
	if _, ok := s.Meeting(x.InternalMeetingID); !ok {
		t.Error("Meeting(internal) failed")
	}
	expectKey(t, signed(t, s, "end", "meetingID="+id), "SUCCESS", "sentEndMeetingRequest")
	if len(s.Meetings()) != 0 {
		t.Error("not ended")
	}
}

func TestInsertDocument(t *testing.T) {
	s := newServer(t, Options{})
	expectKey(t, signed(t, s, "create", "name=Doc&meetingID=doc-room"), "SUCCESS", "")
	const modules = `<modules><module name="presentation"><document url="https://files.example.com/a.pdf" filename="a.pdf"/></module></modules>`
	r := do(t, http.MethodPost, s.SignedURL("insertDocument", "meetingID=doc-room"), "application/xml", modules)
	if r.body != "<response>\n<returncode>SUCCESS</returncode>\n<message>Presentation is being uploaded</message>\n</response>" {
		t.Errorf("insertDocument %q", r.body)
	}
	r = do(t, http.MethodPost, s.SignedURL("insertDocument", "meetingID=nope"), "application/xml", modules)
	if x := parse(t, r); x.ReturnCode != "FAILED" || x.Message != "Meeting with id [nope] not found." || x.MessageKey != "" {
		t.Errorf("unknown meeting %q", r.body)
	}
	if x := parse(t, do(t, http.MethodPost, s.SignedURL("insertDocument", "meetingID=doc-room"), "", "")); x.ReturnCode != "FAILED" {
		t.Errorf("no body accepted: %+v", x)
	}
	expectKey(t, do(t, http.MethodPost, s.URL()+"/insertDocument?meetingID=doc-room&checksum=00", "application/xml", modules), "FAILED", "checksumError")
	if r := signed(t, s, "insertDocument", "meetingID=doc-room"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET insertDocument: %d %v", r.status, r.header)
	}
	if c := s.Calls(); string(c[1].Body) != modules || c[1].Name != "insertDocument" {
		t.Errorf("recorded %+v", c[1])
	}
}

func TestSendChatMessage(t *testing.T) {
	s := newServer(t, Options{})
	expectKey(t, signed(t, s, "create", "name=Chat&meetingID=chat-room"), "SUCCESS", "")
	r := signed(t, s, "sendChatMessage", "meetingID=chat-room&message=Hello+%3Cb%3Eall%3C%2Fb%3E&userName=Bot")
	if r.body != "<response>\n<returncode>SUCCESS</returncode>\n<messageKey></messageKey>\n<message></message>\n</response>" {
		t.Errorf("sendChatMessage %q", r.body)
	}
	for _, tc := range []struct{ q, key, msg string }{
		{"meetingID=chat-room", "nullError", "You must provide the param message"},
		{"meetingID=chat-room&message=", "sizeError", "Param message must be between 1 and 500 characters"},
		{"meetingID=chat-room&message=" + strings.Repeat("m", 501), "sizeError", "Param message must be between 1 and 500 characters"},
		{"meetingID=nope&message=hi", "meetingNotFound", "Meeting not found"},
		{"message=hi", "missingParamMeetingID", "You must provide a meeting ID"},
	} {
		if x := expectKey(t, signed(t, s, "sendChatMessage", tc.q), "FAILED", tc.key); x.Message != tc.msg {
			t.Errorf("%s: %q", tc.q, x.Message)
		}
	}
	expectKey(t, signed(t, s, "sendChatMessage", "meetingID=chat-room&message="+strings.Repeat("m", 500)), "SUCCESS", "")
}

func TestIndexAndRouting(t *testing.T) {
	s := newServer(t, Options{Version: "3.0.19"})
	want := "<response>\n<returncode>SUCCESS</returncode>\n<version>2.0</version>\n<apiVersion>2.0</apiVersion>\n<bbbVersion>3.0.19</bbbVersion>\n" +
		"<graphqlWebsocketUrl>ws://" + s.Addr() + "/graphql</graphqlWebsocketUrl>\n<graphqlApiUrl>http://" + s.Addr() + "/api/rest</graphqlApiUrl>\n</response>"
	for _, u := range []string{s.URL(), s.URL() + "/", "http://" + s.Addr() + "/bigbluebutton/"} {
		r := do(t, http.MethodGet, u, "", "")
		if r.body != want {
			t.Errorf("%s: %q", u, r.body)
		}
		parse(t, r)
	}
	if s.URL() != "http://"+s.Addr()+"/bigbluebutton/api" || s.Secret() != refSecret {
		t.Errorf("URL %q Secret %q", s.URL(), s.Secret())
	}
	if s.CallCount("index") != 3 {
		t.Errorf("index calls %d", s.CallCount("index"))
	}
	for _, c := range s.Calls() {
		if !c.ChecksumOK || c.Name != "index" {
			t.Errorf("index call %+v", c)
		}
	}
	// unknown calls
	for _, call := range []string{"getJoinUrl", "getRecordings", "create/", "hooks/list"} {
		expectKey(t, signed(t, s, call, ""), "FAILED", "unsupportedRequest")
	}
	// other paths
	if r := do(t, http.MethodGet, "http://"+s.Addr()+"/nothing", "", ""); r.status != http.StatusNotFound {
		t.Errorf("/nothing: %d", r.status)
	}
	r := do(t, http.MethodGet, "http://"+s.Addr()+"/html5client?sessionToken=%3Cx%3E", "", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "&lt;x&gt;") {
		t.Errorf("html5client: %d %q", r.status, r.body)
	}
}

func TestXMLEscaping(t *testing.T) {
	s := newServer(t, Options{})
	name := `<Tom & "Jerry's"> ` + "\x01"
	q := "meetingID=esc&name=" + url.QueryEscape(name) + "&meta_note=" + url.QueryEscape("a<b&c")
	expectKey(t, signed(t, s, "create", q), "SUCCESS", "")
	r := signed(t, s, "getMeetingInfo", "meetingID=esc")
	if !strings.Contains(r.body, "<meetingName>&lt;Tom &amp; &quot;Jerry&apos;s&quot;&gt; \uFFFD</meetingName>") ||
		!strings.Contains(r.body, "<note>a&lt;b&amp;c</note>") {
		t.Errorf("escaping: %s", r.body)
	}
	var x xresp
	if err := xml.Unmarshal([]byte(r.body), &x); err != nil || x.MeetingName != `<Tom & "Jerry's"> `+"\uFFFD" {
		t.Errorf("round trip: %v %q", err, x.MeetingName)
	}
}

func TestStateHooks(t *testing.T) {
	s := newServer(t, Options{})
	if err := s.AddAttendee("none", Attendee{FullName: "X"}); err == nil {
		t.Error("AddAttendee on unknown meeting")
	}
	if err := s.SetCounts("none", 1, 1, 1, 1, 1); err == nil {
		t.Error("SetCounts on unknown meeting")
	}
	if s.EndMeeting("none") {
		t.Error("EndMeeting on unknown meeting")
	}
	expectKey(t, signed(t, s, "create", "name=Hooks&meetingID=hooks-1"), "SUCCESS", "")
	expectKey(t, signed(t, s, "create", "name=Hooks&meetingID=hooks-2"), "SUCCESS", "")
	if got := s.Meetings(); !slices.Equal(got, []string{"hooks-1", "hooks-2"}) {
		t.Errorf("Meetings %v", got)
	}
	if err := s.AddAttendee("hooks-1", Attendee{UserID: "u1", FullName: "M", Role: "moderator", Voice: true, Video: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAttendee("hooks-1", Attendee{FullName: "V", ListenOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAttendee("hooks-1", Attendee{FullName: "X", Role: "king"}); err == nil {
		t.Error("bad role accepted")
	}
	x := expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=hooks-1"), "SUCCESS", "")
	if !x.Running || x.ParticipantCount != 2 || x.ModeratorCount != 1 || x.ListenerCount != 1 || x.VoiceCount != 1 || x.VideoCount != 1 {
		t.Errorf("computed counts %+v", x.xmeeting)
	}
	if err := s.SetCounts("hooks-2", 40, 10, 20, 5, 2); err != nil {
		t.Fatal(err)
	}
	x = expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=hooks-2"), "SUCCESS", "")
	if !x.Running || x.ParticipantCount != 40 || x.ListenerCount != 10 || x.VoiceCount != 20 || x.VideoCount != 5 || x.ModeratorCount != 2 || len(x.Attendees) != 0 {
		t.Errorf("overridden counts %+v", x.xmeeting)
	}
	info, ok := s.Meeting("hooks-2")
	if !ok || info.Participants != 40 || !info.Running {
		t.Errorf("Meeting %+v", info)
	}
	if !s.RemoveAttendee("hooks-1", "u1") || s.RemoveAttendee("hooks-1", "u1") {
		t.Error("RemoveAttendee")
	}
	if info, _ := s.Meeting("hooks-1"); len(info.Attendees) != 1 || info.Participants != 1 || !info.Running {
		t.Errorf("after remove %+v", info)
	}
	if !s.EndMeeting("hooks-1") {
		t.Error("EndMeeting")
	}
	if got := s.Meetings(); !slices.Equal(got, []string{"hooks-2"}) {
		t.Errorf("Meetings %v", got)
	}
	expectKey(t, signed(t, s, "getMeetingInfo", "meetingID=hooks-1"), "FAILED", "notFound")
}

func TestCallRecording(t *testing.T) {
	clock := newClock(1715261728123)
	s := newServer(t, Options{Now: clock.Now})
	signed(t, s, "create", "name=Rec&meetingID=rec")
	rawGet(t, s, "getMeetingInfo", "meetingID=rec&checksum=bad")
	do(t, http.MethodPost, s.URL()+"/create?meetingID=rec", "application/xml", "<modules/>")
	signed(t, s, "getMeetings", "")
	calls := s.Calls()
	if len(calls) != 4 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[0]
	if c.Name != "create" || c.Method != "GET" || !strings.HasPrefix(c.RawQuery, "name=Rec&meetingID=rec&checksum=") || !c.ChecksumOK ||
		c.Body != nil || c.ContentType != "" || c.Time.UnixMilli() != 1715261728123 {
		t.Errorf("call 0 %+v", c)
	}
	if c := calls[1]; c.Name != "getMeetingInfo" || c.ChecksumOK || c.RawQuery != "meetingID=rec&checksum=bad" {
		t.Errorf("call 1 %+v", c)
	}
	if c := calls[2]; c.Method != "POST" || c.ContentType != "application/xml" || string(c.Body) != "<modules/>" || c.ChecksumOK {
		t.Errorf("call 2 %+v", c)
	}
	if s.CallCount("create") != 2 || s.CallCount("getMeetings") != 1 || s.CallCount("join") != 0 {
		t.Errorf("counts %d %d", s.CallCount("create"), s.CallCount("getMeetings"))
	}
	// Calls returns a copy
	calls[2].Body[0] = 'X'
	calls[0].Name = "changed"
	if c := s.Calls(); c[0].Name != "create" || string(c[2].Body) != "<modules/>" {
		t.Error("Calls is not a copy")
	}
	s.ResetCalls()
	if len(s.Calls()) != 0 || s.CallCount("create") != 0 {
		t.Error("ResetCalls")
	}

	// bounded log
	b := newServer(t, Options{MaxCalls: 3})
	for i := range 10 {
		signed(t, b, "isMeetingRunning", fmt.Sprintf("meetingID=m%d", i))
	}
	got := b.Calls()
	if len(got) != 3 || got[0].RawQuery[:13] != "meetingID=m7&" || got[2].RawQuery[:13] != "meetingID=m9&" || b.CallCount("isMeetingRunning") != 10 {
		t.Errorf("bounded log %+v", got)
	}
	n := newServer(t, Options{MaxCalls: -1})
	signed(t, n, "getMeetings", "")
	if len(n.Calls()) != 0 || n.CallCount("getMeetings") != 1 {
		t.Error("MaxCalls -1")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newServer(t, Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				id := fmt.Sprintf("c-%d-%d", g, i)
				urls := []string{
					s.SignedURL("create", "name=Conc&meetingID="+id),
					s.SignedURL("join", "meetingID="+id+"&fullName=U&role=VIEWER&redirect=false"),
					s.SignedURL("getMeetingInfo", "meetingID="+id),
					s.SignedURL("isMeetingRunning", "meetingID="+id),
				}
				if i%5 == 0 {
					urls = append(urls, s.SignedURL("getMeetings", ""))
				}
				for _, u := range urls {
					resp, err := client.Get(u)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !strings.Contains(string(b), "<returncode>SUCCESS</returncode>") {
						t.Errorf("%s: %s", u, b)
						return
					}
				}
				_ = s.AddAttendee(id, Attendee{FullName: "Hook"})
				_ = s.SetCounts(id, 3, -1, -1, -1, -1)
				if i%2 == 0 {
					resp, err := client.Get(s.SignedURL("end", "meetingID="+id))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if got := len(s.Meetings()); got != 16*5 {
		t.Errorf("%d meetings left", got)
	}
	if s.CallCount("create") != 16*10 {
		t.Errorf("create count %d", s.CallCount("create"))
	}
}
