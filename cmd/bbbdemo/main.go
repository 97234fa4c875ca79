// Command bbbdemo walks through what a BigBlueButton front-end (Greenlight,
// Moodle, …) does against a bbb_balance pool and says in plain words, step by
// step, what it sent and what came back. examples/demo/run.sh starts a pool
// of fake BBB servers behind Caddy and runs it:
//
//	bbbdemo -url http://127.0.0.1:9100 -secret demo-secret
//
// With -pool (name=api-url pairs) the servers are named in the output, and
// with -bbb-secret as well each server is also asked directly which meetings
// it holds, to show the spread independently of the balancer.
//
// It exits 1 at the first answer that is not the expected one.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

const apiPath = "/bigbluebutton/api"

func main() {
	base := flag.String("url", "http://127.0.0.1:9100", "the balancer's base URL (without "+apiPath+")")
	secret := flag.String("secret", "demo-secret", "the balancer's shared secret, as a front-end is configured with")
	pool := flag.String("pool", "", "optional: the BBB servers behind the balancer as name=api-url pairs, comma-separated, to name them in the output")
	bbbSecret := flag.String("bbb-secret", "", "optional (with -pool): the BBB servers' own secret, to ask each server directly which meetings it holds")
	wait := flag.Duration("wait", 15*time.Second, "how long to wait for the balancer to see its first BBB server online")
	recs := flag.Bool("recordings", false, "also walk through a recording (needs -pool, -bbb-secret and the balancer's recordings block with upload)")
	flag.Parse()

	d := &demo{
		base:      strings.TrimSuffix(*base, "/"),
		secret:    *secret,
		bbbSecret: *bbbSecret,
		wait:      *wait,
		client: &http.Client{
			Timeout: 15 * time.Second,
			// A front-end never follows the join redirect itself: it hands
			// it to the user's browser. We follow it by hand, once.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if d.secret == "" {
		fatalf("-secret must not be empty")
	}
	if *pool != "" {
		for _, pair := range strings.Split(*pool, ",") {
			name, raw, ok := strings.Cut(strings.TrimSpace(pair), "=")
			u, err := url.Parse(raw)
			if !ok || name == "" || err != nil || u.Host == "" {
				fatalf("-pool: %q is not name=api-url", pair)
			}
			d.pool = append(d.pool, poolServer{name: name, api: strings.TrimSuffix(raw, "/"), host: u.Host})
		}
	}
	if d.bbbSecret != "" && len(d.pool) == 0 {
		fatalf("-bbb-secret needs -pool")
	}
	d.recordings = *recs
	if d.recordings && d.bbbSecret == "" {
		fatalf("-recordings needs -pool and -bbb-secret (the demo uploads as the first server)")
	}
	d.run()
}

type poolServer struct{ name, api, host string }

type demo struct {
	base, secret, bbbSecret string
	pool                    []poolServer
	wait                    time.Duration
	client                  *http.Client
	step                    int
	title                   string
	recordings              bool
}

// answer is what the demo reads of BBB's XML answers.
type answer struct {
	bbb.Envelope
	Version           string     `xml:"version"`
	MeetingID         string     `xml:"meetingID"`
	MeetingName       string     `xml:"meetingName"`
	InternalMeetingID string     `xml:"internalMeetingID"`
	CreateTime        int64      `xml:"createTime"`
	Running           bool       `xml:"running"`
	ParticipantCount  int        `xml:"participantCount"`
	ModeratorCount    int        `xml:"moderatorCount"`
	Attendees         []attendee `xml:"attendees>attendee"`
	Meetings          []meeting  `xml:"meetings>meeting"`
	Recordings        []struct {
		RecordID string `xml:"recordID"`
		State    string `xml:"state"`
		Formats  []struct {
			Type string `xml:"type"`
			URL  string `xml:"url"`
		} `xml:"playback>format"`
	} `xml:"recordings>recording"`
}

type attendee struct {
	FullName string `xml:"fullName"`
	Role     string `xml:"role"`
}

type meeting struct {
	MeetingID        string `xml:"meetingID"`
	MeetingName      string `xml:"meetingName"`
	ParticipantCount int    `xml:"participantCount"`
}

const (
	firstRoom = "demo-room-1"
	roomCount = 6
)

func roomID(i int) string   { return fmt.Sprintf("demo-room-%d", i) }
func roomName(i int) string { return fmt.Sprintf("Demo Room %d", i) }

func (d *demo) run() {
	fmt.Println("bbb_balance demo: the life of a meeting, as a front-end sees it")
	fmt.Println()
	fmt.Println("BigBlueButton (BBB) is a web conferencing server. Front-ends such as")
	fmt.Println("Greenlight or Moodle create meetings on it and send users into them through")
	fmt.Println("its HTTP API: plain GET requests, answered with a small XML document whose")
	fmt.Println("returncode is SUCCESS or FAILED.")
	fmt.Println()
	fmt.Printf("Here the front-end is given the balancer, %s%s,\n", d.base, apiPath)
	fmt.Println("and one shared secret, exactly as if it were a single BBB server. It cannot")
	fmt.Println("tell that several BBB servers stand behind it.")
	fmt.Println("Every call is signed: checksum = sha256(call name + query + secret), sent as")
	fmt.Println("&checksum=... (shortened to 10 characters below). \"xml:\" lines show the")
	fmt.Println("start of a raw answer.")

	d.index()
	d.createFirst()
	home := d.joinModerator()
	d.spread(home)
	d.meetingInfo(home)
	d.meetings()
	d.endAll()
	d.afterEnd()
	if d.recordings {
		id := d.recordingArrives()
		d.listRecordings(id)
		d.unpublish(id)
	}

	fmt.Println()
	fmt.Println("Done: every step gave the expected answer.")
}

// Step 1.
func (d *demo) index() {
	d.heading("Is the balancer there?")
	d.say("The API's root is the one call that needs no checksum.")
	resp, body := d.fetch(d.base + apiPath)
	d.sent("GET " + apiPath)
	a := d.parse(resp, body)
	if !a.OK() {
		d.fail("the API root answered %s", describe(a))
	}
	d.got("SUCCESS, API version %s", a.Version)
}

// Step 2. A new pool learns of its servers' health right after it starts, so
// the very first create may find no server online yet: that one is retried
// for a while.
func (d *demo) createFirst() {
	d.heading("Create a meeting")
	q := createQuery(1)
	d.sent("GET " + d.shortCall("create", q))
	deadline := time.Now().Add(d.wait)
	told := false
	for {
		a, body := d.call("create", q)
		if !a.OK() && a.MessageKey == bbb.KeyInternalError && time.Now().Before(deadline) {
			if !told {
				d.got("%s", describe(a))
				d.say("The balancer may not have seen any BBB server online yet (it checks them")
				d.say("right after it starts). Retrying for up to %s.", d.wait)
				told = true
			}
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if !a.OK() && a.MessageKey == bbb.KeyInternalError {
			d.fail("create %s still answered %s after %s; are the BBB servers up, and reachable from the balancer?", firstRoom, describe(a), d.wait)
		}
		d.checkCreate(a, 1)
		d.got("SUCCESS: meeting %q exists (created at %s)", a.MeetingID, time.UnixMilli(a.CreateTime).Format("15:04:05"))
		d.xml(body)
		break
	}
	d.say("(attendeePW and moderatorPW are the meeting's passwords for viewers and")
	d.say("moderators; older front-ends join with them.)")
	d.say("The balancer picked one of its BBB servers for the meeting, wrote the choice")
	d.say("into its database, sent the create there and passed the answer back as is.")
}

func createQuery(i int) string {
	return "name=" + url.QueryEscape(roomName(i)) + "&meetingID=" + roomID(i) + "&attendeePW=ap&moderatorPW=mp"
}

func (d *demo) checkCreate(a answer, i int) {
	switch {
	case !a.OK():
		d.fail("create %s answered %s", roomID(i), describe(a))
	case a.MessageKey == "duplicateWarning":
		d.fail("meeting %s already existed (left over from an earlier run?); end it or start a fresh pool", roomID(i))
	case a.MeetingID != roomID(i):
		d.fail("create %s answered meetingID %q", roomID(i), a.MeetingID)
	}
}

// Step 3. Returns the host:port of the server the meeting is on.
func (d *demo) joinModerator() string {
	d.heading("Join it as moderator (Alice)")
	d.say("A front-end does not send the user itself: it builds a signed join link and")
	d.say("sends the user's browser there.")
	q := "fullName=Alice&meetingID=" + firstRoom + "&role=MODERATOR"
	d.sent("GET " + d.shortCall("join", q))
	resp, body := d.fetch(d.signed("join", q))
	loc := d.redirect(resp, body, "join")
	u := d.serverJoinURL(loc)
	d.got("HTTP 302 redirect (the browser follows it) to")
	d.say("  %s", shortSum(loc))
	ours := bbb.Checksum(bbb.SHA256, "join", q, d.secret)
	theirs := u.Query().Get("checksum")
	d.say("So the meeting is on %s.", d.server(u.Host))
	if !strings.EqualFold(ours, theirs) {
		d.say("The balancer signed the join again with that server's own secret")
		d.say("(checksum %s… instead of our %s…), so the front-end never", theirs[:min(10, len(theirs))], ours[:10])
		d.say("needs the BBB servers' secrets.")
	} else {
		d.say("The balancer signed the join with that server's own secret (here the same")
		d.say("as ours), so the front-end never needs the BBB servers' secrets.")
	}

	fmt.Println()
	d.say("Following that redirect once, as Alice's browser would:")
	d.sent("GET %s", shortSum(loc))
	resp, body = d.fetch(loc)
	next := d.redirect(resp, body, "the server's join")
	if strings.Contains(next, "errors=") {
		msg := next
		if nu, err := url.Parse(next); err == nil && nu.Query().Get("errors") != "" {
			msg = nu.Query().Get("errors")
		}
		d.fail("%s refused the join: %s", d.server(u.Host), msg)
	}
	d.got("HTTP 302 to %s", shortSum(next))
	d.say("%s accepted the checksum and sends Alice's browser on to its", d.server(u.Host))
	d.say("meeting page. From here on her browser talks to that server; the balancer")
	d.say("is out of the way.")
	return u.Host
}

// redirect checks for a 302 and returns its Location. A BBB error comes
// back as XML with HTTP 200 instead.
func (d *demo) redirect(resp *http.Response, body []byte, what string) string {
	if resp.StatusCode != http.StatusFound {
		if a, err := bbb.ParseEnvelope(body); err == nil {
			d.fail("%s answered HTTP %d %s instead of a redirect", what, resp.StatusCode, describe(answer{Envelope: a}))
		}
		d.fail("%s answered HTTP %d instead of a redirect: %s", what, resp.StatusCode, oneLine(body, 100))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		d.fail("%s answered a redirect without a Location", what)
	}
	return loc
}

// serverJoinURL checks that loc is a join on a BBB server (one of the pool,
// when the pool is known) and not on the balancer itself.
func (d *demo) serverJoinURL(loc string) *url.URL {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || !strings.HasSuffix(u.Path, apiPath+"/join") || u.Query().Get("checksum") == "" {
		d.fail("the join redirect %q is not a signed join on a BBB server", loc)
	}
	if b, err := url.Parse(d.base); err == nil && b.Host == u.Host {
		d.fail("the join redirect points back at the balancer: %s", loc)
	}
	if len(d.pool) > 0 && d.poolServer(u.Host) == nil {
		d.fail("the join redirect points at %s, which is not one of the pool's servers", u.Host)
	}
	return u
}

// Step 4.
func (d *demo) spread(home string) {
	d.heading(fmt.Sprintf("Create %d more meetings and see where they go", roomCount-1))
	d.say("For each one we also ask for a join link (not followed): where it points")
	d.say("tells which BBB server holds the meeting.")
	where := map[string][]string{home: {firstRoom}}
	for i := 2; i <= roomCount; i++ {
		a, _ := d.call("create", createQuery(i))
		d.checkCreate(a, i)
		resp, body := d.fetch(d.signed("join", "fullName=Bob&meetingID="+roomID(i)+"&role=VIEWER"))
		u := d.serverJoinURL(d.redirect(resp, body, "join "+roomID(i)))
		where[u.Host] = append(where[u.Host], roomID(i))
		d.say("  create %-12s SUCCESS, its join link points at %s", roomID(i), d.server(u.Host))
	}
	fmt.Println()
	d.say("Meetings per server:")
	for _, host := range d.hosts(where) {
		list := strings.Join(where[host], ", ")
		if list == "" {
			list = "none"
		}
		d.say("  %-26s %s", d.server(host)+":", list)
	}
	if len(where) == 1 && len(d.pool) != 1 {
		d.say("Note: every meeting landed on the same server. That is expected only if")
		d.say("the others are down, cordoned or disabled, or far heavier loaded.")
	} else {
		d.say("The balancer puts each new meeting on the least loaded server it has.")
	}
	if d.bbbSecret != "" {
		d.askServers(where)
	}
}

// askServers sends getMeetings straight to each server, signed with its own
// secret, and checks that the demo meetings are where the joins said.
func (d *demo) askServers(where map[string][]string) {
	fmt.Println()
	d.say("Cross-check: getMeetings sent straight to each BBB server, signed with the")
	d.say("servers' secret (normally only the balancer holds it):")
	for _, s := range d.pool {
		resp, body := d.fetch(s.api + "/getMeetings?" + bbb.Sign(bbb.SHA256, "getMeetings", "", d.bbbSecret))
		a := d.parse(resp, body)
		if !a.OK() {
			d.fail("%s answered getMeetings with %s", s.name, describe(a))
		}
		var mine []string
		for _, m := range a.Meetings {
			if strings.HasPrefix(m.MeetingID, "demo-room-") {
				mine = append(mine, m.MeetingID)
			}
		}
		want := slices.Clone(where[s.host])
		slices.Sort(mine)
		slices.Sort(want)
		if !slices.Equal(mine, want) {
			d.fail("%s says it holds %v, but the join links said %v", s.name, mine, want)
		}
		list := strings.Join(mine, ", ")
		if list == "" {
			list = "no demo meetings"
		}
		d.say("  %-5s holds %s: matches", s.name, list)
	}
}

// Step 5.
func (d *demo) meetingInfo(home string) {
	d.heading("Ask about the first meeting (getMeetingInfo)")
	q := "meetingID=" + firstRoom
	d.sent("GET " + d.shortCall("getMeetingInfo", q))
	a, body := d.call("getMeetingInfo", q)
	if !a.OK() {
		d.fail("getMeetingInfo answered %s", describe(a))
	}
	var who []string
	for _, at := range a.Attendees {
		who = append(who, at.FullName+" ("+strings.ToLower(at.Role)+")")
	}
	d.got("SUCCESS: %q, running=%v, participantCount=%d: %s",
		a.MeetingName, a.Running, a.ParticipantCount, strings.Join(who, ", "))
	d.xml(body)
	if a.ParticipantCount != 1 || a.ModeratorCount != 1 || !a.Running {
		d.fail("expected a running meeting with 1 participant, Alice as moderator; got participantCount=%d moderatorCount=%d running=%v",
			a.ParticipantCount, a.ModeratorCount, a.Running)
	}
	d.say("The balancer looked up where %s is and forwarded the call to", firstRoom)
	d.say("%s. Alice, who joined in step 3, is counted.", d.server(home))
}

// Step 6.
func (d *demo) meetings() {
	d.heading("List all meetings (getMeetings)")
	d.sent("GET " + d.shortCall("getMeetings", ""))
	a, _ := d.call("getMeetings", "")
	if !a.OK() {
		d.fail("getMeetings answered %s", describe(a))
	}
	d.got("SUCCESS, %d meeting(s):", len(a.Meetings))
	seen := map[string]bool{}
	for _, m := range a.Meetings {
		seen[m.MeetingID] = true
		d.say("  %-12s %-14q %d participant(s)", m.MeetingID, m.MeetingName, m.ParticipantCount)
	}
	for i := 1; i <= roomCount; i++ {
		if !seen[roomID(i)] {
			d.fail("getMeetings does not list %s", roomID(i))
		}
	}
	d.say("The balancer asked every server at once and merged their lists into one.")
}

// Step 7.
func (d *demo) endAll() {
	d.heading("End every meeting")
	d.sent("GET " + d.shortCall("end", "meetingID="+firstRoom) + ", and the same for the others")
	for i := 1; i <= roomCount; i++ {
		a, _ := d.call("end", "meetingID="+roomID(i))
		if !a.OK() {
			d.fail("end %s answered %s", roomID(i), describe(a))
		}
		d.say("  end %-12s got: SUCCESS (%s)", roomID(i), a.MessageKey)
	}
	d.say("Each end went to the server that holds the meeting.")
}

// Step 8.
func (d *demo) afterEnd() {
	d.heading("Ask about the first meeting again")
	q := "meetingID=" + firstRoom
	d.sent("GET " + d.shortCall("getMeetingInfo", q))
	a, body := d.call("getMeetingInfo", q)
	if a.OK() || a.MessageKey != bbb.KeyNotFound {
		d.fail("expected FAILED/notFound for an ended meeting, got %s", describe(a))
	}
	d.got("%s", describe(a))
	d.xml(body)
	d.say("That is the right answer for a meeting that is over.")
	fmt.Println()
	d.say("And the list of meetings:")

	d.sent("GET " + d.shortCall("getMeetings", ""))
	a, _ = d.call("getMeetings", "")
	if !a.OK() {
		d.fail("getMeetings answered %s", describe(a))
	}
	for _, m := range a.Meetings {
		if strings.HasPrefix(m.MeetingID, "demo-room-") {
			d.fail("getMeetings still lists %s after it was ended", m.MeetingID)
		}
	}
	if len(a.Meetings) == 0 {
		d.got("SUCCESS, no meetings (messageKey %s)", a.MessageKey)
	} else {
		d.got("SUCCESS, none of the demo meetings left (%d other meeting(s))", len(a.Meetings))
	}
}

// Step 9. The first meeting was recorded: its server publishes the
// recording and its post-publish script sends it to the balancer.
func (d *demo) recordingArrives() string {
	d.heading("A recording arrives")
	srv := d.pool[0]
	rec := rectest.Recording{MeetingID: firstRoom, Name: roomName(1), Host: srv.host, Published: true, StartTime: time.Now().UnixMilli()}.WithDefaults()
	tarball, err := rec.Tar("presentation", "video")
	if err != nil {
		d.fail("building the recording: %v", err)
	}
	d.say("After a recorded meeting, BBB processes and publishes the recording; a")
	d.say("post-publish script (examples/bbb/bbb-balance-send) then sends it to the balancer:")
	d.say("one tar of <format>/<recordID>/..., here %d bytes with a presentation and a video.", len(tarball))
	d.say("We play %s uploading it, signed with %s's own secret:", srv.name, srv.name)
	sum := sha256.Sum256(tarball)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	q := "server=" + url.QueryEscape(srv.name) + "&recordID=" + rec.ID + "&timestamp=" + fmt.Sprint(time.Now().Unix()) +
		"&nonce=" + hex.EncodeToString(nonce) + "&sha256=" + hex.EncodeToString(sum[:])
	u := d.base + "/bigbluebutton/recording/upload?" + bbb.Sign(bbb.SHA256, "uploadRecording", q, d.bbbSecret)
	d.sent("POST /bigbluebutton/recording/upload?server=%s&recordID=%s", srv.name, rec.ID)
	d.say("        &timestamp=…&nonce=…&sha256=<of the tar>&checksum=<sha256 of uploadRecording + query + %s's secret>", srv.name)
	resp, err := d.client.Post(u, "application/x-tar", bytes.NewReader(tarball))
	if err != nil {
		d.fail("could not reach %s: %v", hostOf(u), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		d.fail("the upload answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	d.got("HTTP 201 Created")
	d.say("The balancer put the tar in its spool; its importer checks it (paths, links,")
	d.say("sizes, every metadata.xml), moves the files into published/ and indexes them in")
	d.say("SQLite, one transaction per recording.")
	return rec.ID
}

// Step 10.
func (d *demo) listRecordings(id string) {
	d.heading("The front-end lists its recordings")
	q := "meetingID=" + firstRoom
	d.sent("GET " + d.shortCall("getRecordings", q))
	deadline := time.Now().Add(15 * time.Second)
	var a answer
	for {
		a, _ = d.call("getRecordings", q)
		if a.OK() && len(a.Recordings) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !a.OK() || len(a.Recordings) != 1 || a.Recordings[0].RecordID != id {
		d.fail("getRecordings did not list the recording %s: %s", id, describe(a))
	}
	r := a.Recordings[0]
	d.got("SUCCESS, 1 recording: %s, state %s, formats:", r.RecordID, r.State)
	for _, f := range r.Formats {
		d.say("        %-12s %s", f.Type, f.URL)
	}
	d.say("The links point at the balancer, which serves the recordings itself; asking")
	d.say("for one of the presentation's files:")
	d.asset(id, http.StatusOK)
}

// asset fetches a file of the recording's presentation and checks the status.
func (d *demo) asset(id string, want int) {
	u := d.base + "/presentation/" + id + "/shapes/1.svg"
	d.sent("GET %s", strings.TrimPrefix(u, d.base))
	resp, body := d.fetch(u)
	if resp.StatusCode != want {
		d.fail("HTTP %d, expected %d", resp.StatusCode, want)
	}
	d.got("HTTP %d %s (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
}

// Step 11.
func (d *demo) unpublish(id string) {
	d.heading("Unpublish it")
	q := "recordID=" + id + "&publish=false"
	d.sent("GET " + d.shortCall("publishRecordings", q))
	a, _ := d.call("publishRecordings", q)
	if !a.OK() {
		d.fail("publishRecordings answered %s", describe(a))
	}
	d.got("SUCCESS")
	d.say("Its files moved from published/ to unpublished/, and the player's files are")
	d.say("no longer served:")
	d.asset(id, http.StatusNotFound)
	q = "recordID=" + id + "&publish=true"
	d.sent("GET " + d.shortCall("publishRecordings", q))
	if a, _ = d.call("publishRecordings", q); !a.OK() {
		d.fail("publishRecordings answered %s", describe(a))
	}
	d.got("SUCCESS: published again")
	d.asset(id, http.StatusOK)
}

// ---- HTTP and output helpers ----

func (d *demo) signed(call, query string) string {
	return d.base + apiPath + "/" + call + "?" + bbb.Sign(bbb.SHA256, call, query, d.secret)
}

// shortCall is the signed call as a path, with the checksum shortened.
func (d *demo) shortCall(call, query string) string {
	return shortSum(apiPath + "/" + call + "?" + bbb.Sign(bbb.SHA256, call, query, d.secret))
}

// call sends a signed GET to the balancer and parses the XML answer.
func (d *demo) call(call, query string) (answer, []byte) {
	resp, body := d.fetch(d.signed(call, query))
	return d.parse(resp, body), body
}

func (d *demo) fetch(u string) (*http.Response, []byte) {
	resp, err := d.client.Get(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		d.fail("could not reach %s: %v", hostOf(u), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		d.fail("reading the answer of %s: %v", hostOf(u), err)
	}
	return resp, body
}

func (d *demo) parse(resp *http.Response, body []byte) answer {
	if resp.StatusCode != http.StatusOK {
		d.fail("HTTP %d from %s: %s", resp.StatusCode, resp.Request.URL.Host, oneLine(body, 100))
	}
	env, err := bbb.ParseEnvelope(body)
	if err != nil {
		d.fail("the answer is not BBB XML (%v): %s", err, oneLine(body, 100))
	}
	a := answer{Envelope: env}
	if err := xml.Unmarshal(body, &a); err != nil {
		d.fail("the answer is not BBB XML (%v): %s", err, oneLine(body, 100))
	}
	a.Envelope = env
	return a
}

func (d *demo) heading(title string) {
	d.step++
	d.title = title
	fmt.Printf("\nStep %d. %s\n", d.step, title)
}

func (d *demo) say(format string, args ...any) { fmt.Printf("  "+format+"\n", args...) }
func (d *demo) sent(format string, args ...any) {
	fmt.Printf("  sent: "+format+"\n", args...)
}
func (d *demo) got(format string, args ...any) { fmt.Printf("  got:  "+format+"\n", args...) }

// xml shows the start of a raw answer on one line.
func (d *demo) xml(body []byte) { fmt.Printf("        xml: %s\n", oneLine(body, 72)) }

func (d *demo) fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\nFAILED at step %d (%s): %s\n", d.step, d.title, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// server names a host:port, with its pool name when known.
func (d *demo) server(host string) string {
	if s := d.poolServer(host); s != nil {
		return s.name + " (" + host + ")"
	}
	return host
}

func (d *demo) poolServer(host string) *poolServer {
	for i := range d.pool {
		if d.pool[i].host == host {
			return &d.pool[i]
		}
	}
	return nil
}

// hosts lists the pool's servers in order, then any other host of where.
func (d *demo) hosts(where map[string][]string) []string {
	var out []string
	for _, s := range d.pool {
		out = append(out, s.host) // listed even with no meetings
	}
	var rest []string
	for h := range where {
		if !slices.Contains(out, h) {
			rest = append(rest, h)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func describe(a answer) string {
	s := a.ReturnCode
	if s == "" {
		s = "(no returncode)"
	}
	if a.MessageKey != "" {
		s += "/" + a.MessageKey
	}
	if a.Message != "" {
		s += fmt.Sprintf(" %q", a.Message)
	}
	return s
}

var checksumRE = regexp.MustCompile(`checksum=([0-9a-fA-F]{10})[0-9a-fA-F]+`)

func shortSum(s string) string { return checksumRE.ReplaceAllString(s, "checksum=$1…") }

var spaceRE = regexp.MustCompile(`>\s+<`)

func oneLine(body []byte, n int) string {
	s := strings.TrimSpace(spaceRE.ReplaceAllString(string(body), "><"))
	s = strings.Join(strings.Fields(s), " ")
	return short(s, n)
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bbbdemo: "+format+"\n", args...)
	os.Exit(2)
}
