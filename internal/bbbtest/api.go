package bbbtest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// maxBody bounds request bodies (pre-uploaded slides may be inline base64).
const maxBody = 64 << 20

// apiRequest is a parsed API call.
type apiRequest struct {
	call       string
	method     string
	rawQuery   string
	mediaType  string // bare media type of the Content-Type header, lower case
	query      url.Values
	bodyForm   url.Values // form parameters from a POST body, nil otherwise
	params     url.Values // query + body form (a parameter in both gets two values)
	body       []byte
	files      map[string]int64 // multipart file parts: name → size
	checksumOK bool
}

// callSpec says which methods a call accepts and whether it takes an XML body.
type callSpec struct {
	get, post, xmlBody bool
}

var callSpecs = map[string]callSpec{
	"create":           {get: true, post: true, xmlBody: true},
	"join":             {get: true},
	"isMeetingRunning": {get: true, post: true},
	"end":              {get: true, post: true},
	"getMeetingInfo":   {get: true, post: true},
	"getMeetings":      {get: true, post: true},
	"insertDocument":   {post: true, xmlBody: true},
	"sendChatMessage":  {get: true},

	"getRecordingTextTracks": {get: true, post: true},
	"putRecordingTextTrack":  {post: true},
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, call string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	if len(body) == 0 {
		body = nil
	}
	f := s.effectiveFailure()
	if f == FailRefuse {
		resetConn(w)
		return
	}
	req := s.parseRequest(call, r, body)
	s.record(Call{
		Name:        call,
		Method:      r.Method,
		RawQuery:    r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
		ChecksumOK:  req.checksumOK,
		Time:        s.now(),
	})
	switch f {
	case FailReset:
		resetConn(w)
		return
	case FailHTTP500:
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html><head><title>500 Internal Server Error</title></head><body><h1>500 Internal Server Error</h1></body></html>\n")
		return
	case FailGarbage:
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(GarbageBody)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, GarbageBody)
		return
	case FailFailed:
		writeXML(w, []byte(FailedBody))
		return
	case FailDropAnswer:
		s.dispatch(discardWriter{http.Header{}}, req)
		resetConn(w)
		return
	case FailSlow:
		if !s.waitSlow(r) {
			// Closed or abandoned: drop the connection without answering.
			panic(http.ErrAbortHandler)
		}
	}
	s.dispatch(w, req)
}

func (s *Server) parseRequest(call string, r *http.Request, body []byte) *apiRequest {
	req := &apiRequest{
		call:     call,
		method:   r.Method,
		rawQuery: r.URL.RawQuery,
		body:     body,
	}
	req.query, _ = url.ParseQuery(r.URL.RawQuery)
	var ctParams map[string]string
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, p, err := mime.ParseMediaType(ct)
		if err != nil {
			req.mediaType = "invalid"
		} else {
			req.mediaType, ctParams = mt, p
		}
	}
	if r.Method == http.MethodPost && body != nil {
		switch req.mediaType {
		case "application/x-www-form-urlencoded":
			req.bodyForm, _ = url.ParseQuery(string(body))
		case "multipart/form-data":
			if b := ctParams["boundary"]; b != "" {
				form, err := multipart.NewReader(bytes.NewReader(body), b).ReadForm(32 << 20)
				if err == nil {
					req.bodyForm = url.Values(form.Value)
					req.files = map[string]int64{}
					for name, fhs := range form.File {
						for _, fh := range fhs {
							req.files[name] += fh.Size
						}
					}
					_ = form.RemoveAll()
				}
			}
		}
	}
	req.params = req.query
	if len(req.bodyForm) > 0 {
		req.params = cloneValues(req.query)
		for k, vs := range req.bodyForm {
			req.params[k] = append(req.params[k], vs...)
		}
	}
	if call == "index" {
		req.checksumOK = true
	} else {
		req.checksumOK = verifyChecksum(call, req.rawQuery, req.query, req.bodyForm, s.secret, s.algs)
	}
	return req
}

func (s *Server) dispatch(w http.ResponseWriter, req *apiRequest) {
	if req.call == "index" {
		s.apiIndex(w)
		return
	}
	spec, known := callSpecs[req.call]
	if !known {
		replyFailed(w, "unsupportedRequest", "This request is not supported.")
		return
	}
	var allow []string
	if spec.get {
		allow = append(allow, http.MethodGet)
	}
	if spec.post {
		allow = append(allow, http.MethodPost)
	}
	if !slices.Contains(allow, req.method) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if req.method == http.MethodPost && req.body != nil && !contentTypeOK(req.mediaType, spec.xmlBody) {
		replyFailed(w, "unsupportedContentType", "POST request Content-Type is missing or unsupported")
		return
	}
	switch req.call {
	case "create":
		s.apiCreate(w, req)
	case "join":
		s.apiJoin(w, req)
	case "isMeetingRunning":
		s.apiIsMeetingRunning(w, req)
	case "end":
		s.apiEnd(w, req)
	case "getMeetingInfo":
		s.apiGetMeetingInfo(w, req)
	case "getMeetings":
		s.apiGetMeetings(w, req)
	case "insertDocument":
		s.apiInsertDocument(w, req)
	case "sendChatMessage":
		s.apiSendChatMessage(w, req)
	case "getRecordingTextTracks":
		s.apiGetRecordingTextTracks(w, req)
	case "putRecordingTextTrack":
		s.apiPutRecordingTextTrack(w, req)
	}
}

// contentTypeOK applies 3.0's POST Content-Type constraint (leniently: a
// charset parameter is accepted).
func contentTypeOK(mt string, xmlBody bool) bool {
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		return true
	case "application/xml", "text/xml":
		return xmlBody
	}
	return false
}

// meetingCall checks what every call about one meeting needs first, in
// BBB's order: the checksum, then a meetingID. It answers the error itself.
func meetingCall(w http.ResponseWriter, req *apiRequest) (string, bool) {
	if !req.checksumOK {
		checksumError(w)
		return "", false
	}
	id := req.params.Get("meetingID")
	if id == "" {
		missingMeetingID(w)
		return "", false
	}
	return id, true
}

func checksumError(w http.ResponseWriter) {
	replyFailed(w, "checksumError", "Checksums do not match")
}

func missingMeetingID(w http.ResponseWriter) {
	replyFailed(w, "missingParamMeetingID", "You must provide a meeting ID")
}

// javaLen is Java's String.length(): UTF-16 code units.
func javaLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// parseJavaBool is Boolean.parseBoolean.
func parseJavaBool(s string) bool { return strings.EqualFold(s, "true") }

func isBoolString(s string) bool {
	return strings.EqualFold(s, "true") || strings.EqualFold(s, "false")
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	return def
}

// javaDate renders time like Java's Date.toString() (in UTC).
func javaDate(t time.Time) string {
	return t.UTC().Format("Mon Jan 02 15:04:05 MST 2006")
}

// index

func (s *Server) apiIndex(w http.ResponseWriter) {
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("version", "2.0")
		x.text("apiVersion", "2.0")
		x.text("bbbVersion", s.version)
		x.text("graphqlWebsocketUrl", "ws://"+s.pubHost+"/graphql")
		x.text("graphqlApiUrl", "http://"+s.pubHost+"/api/rest")
	})
}

// create

func validMetaName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func cleanMeetingID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, id)
	return strings.TrimFunc(id, func(r rune) bool { return r <= ' ' })
}

func (s *Server) apiCreate(w http.ResponseWriter, req *apiRequest) {
	if !req.checksumOK {
		checksumError(w)
		return
	}
	p := req.params
	meetingID := p.Get("meetingID")
	switch n := javaLen(meetingID); {
	case meetingID == "":
		missingMeetingID(w)
		return
	case n < 2 || n > 256:
		replyFailed(w, "sizeError", "Meeting ID must be between 2 and 256 characters")
		return
	case strings.Contains(meetingID, ","):
		replyFailed(w, "validationError", "Meeting ID cannot contain ','")
		return
	case cleanMeetingID(meetingID) != meetingID:
		replyFailed(w, "validationError", "Invalid meeting ID")
		return
	}
	name, hasName := p.Get("name"), p.Has("name")
	switch n := javaLen(name); {
	case !hasName:
		replyFailed(w, "nullError", "You must provide a meeting name")
		return
	case name == "":
		replyFailed(w, "emptyError", "You must provide a meeting name")
		return
	case n < 2 || n > 256:
		replyFailed(w, "sizeError", "Meeting name must be between 2 and 256 characters")
		return
	}
	attendeePW, moderatorPW := p.Get("attendeePW"), p.Get("moderatorPW")
	for _, pw := range []string{attendeePW, moderatorPW} {
		if n := javaLen(pw); pw != "" && (n < 2 || n > 64) {
			replyFailed(w, "invalidPassword", "Invalid password")
			return
		}
	}
	voiceBridge := p.Get("voiceBridge")
	if voiceBridge != "" {
		if _, err := strconv.ParseInt(voiceBridge, 10, 64); err != nil {
			replyFailed(w, "validationError", "Voice bridge must be an integral value")
			return
		}
	}
	if v := p.Get("record"); v != "" && !isBoolString(v) {
		replyFailed(w, "validationError", "Record must be a boolean value (true or false)")
		return
	}
	isBreakout := parseJavaBool(p.Get("isBreakout"))
	parentRef := p.Get("parentMeetingID")
	if isBreakout && parentRef == "" {
		replyFailed(w, "parentMeetingIDMissing", "No parent meeting ID was provided for the breakout room")
		return
	}

	var meta []kv
	for k := range p {
		if rest, ok := strings.CutPrefix(k, "meta_"); ok && validMetaName(rest) {
			meta = append(meta, kv{strings.ToLower(rest), p.Get(k)})
		}
	}
	slices.SortFunc(meta, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	meta = slices.CompactFunc(meta, func(a, b kv) bool { return a.k == b.k })

	now := s.now()
	createTime := now.UnixMilli()
	dial := p.Get("dialNumber")
	if dial == "" {
		dial = "613-555-1234"
	}
	m := &meeting{
		id:              meetingID,
		internalID:      internalIDFor(meetingID, createTime),
		name:            name,
		attendeePW:      attendeePW,
		moderatorPW:     moderatorPW,
		dialNumber:      dial,
		createDate:      javaDate(now),
		createTime:      createTime,
		duration:        atoiDefault(p.Get("duration"), 0),
		maxParticipants: atoiDefault(p.Get("maxParticipants"), 0),
		sequence:        atoiDefault(p.Get("sequence"), 0),
		record:          parseJavaBool(p.Get("record")),
		isBreakout:      isBreakout,
		freeJoin:        parseJavaBool(p.Get("freeJoin")),
		metadata:        meta,
		params:          cloneValues(p),
		body:            req.body,
	}
	if m.attendeePW == "" {
		m.attendeePW = s.randString(8, alnum)
	}
	if m.moderatorPW == "" {
		m.moderatorPW = s.randString(8, alnum)
	}

	s.mu.Lock()
	if existing := s.meetings[meetingID]; existing != nil {
		s.mu.Unlock()
		same := attendeePW == existing.attendeePW && moderatorPW == existing.moderatorPW
		if same || (attendeePW == "" && moderatorPW == "") {
			s.writeCreate(w, existing, true)
		} else {
			replyFailed(w, "idNotUnique", "A meeting already exists with that meeting ID.  Please use a different meeting ID.")
		}
		return
	}
	var parent *meeting
	if isBreakout {
		parent = s.lookupLocked(parentRef)
		if parent == nil {
			s.mu.Unlock()
			replyFailed(w, "parentMeetingDoesNotExist", "No parent meeting exists for the breakout room")
			return
		}
		m.parentID = parent.internalID
	}
	if voiceBridge != "" {
		if s.voiceBridges[voiceBridge] != nil {
			s.mu.Unlock()
			replyErrors(w, "nonUniqueVoiceBridge", "The selected voice bridge is already in use.")
			return
		}
	} else {
		voiceBridge = s.freeVoiceBridgeLocked()
	}
	m.voiceBridge = voiceBridge
	s.seq++
	m.seq = s.seq
	s.meetings[m.id] = m
	s.byInternal[m.internalID] = m
	s.voiceBridges[m.voiceBridge] = m
	if parent != nil {
		parent.mu.Lock()
		parent.breakouts = append(parent.breakouts, m.internalID)
		parent.mu.Unlock()
	}
	s.mu.Unlock()
	s.writeCreate(w, m, false)
}

// freeVoiceBridgeLocked picks a random unused 5-digit voice bridge.
func (s *Server) freeVoiceBridgeLocked() string {
	for range 100 {
		vb := strconv.Itoa(10000 + s.randIntN(90000))
		if s.voiceBridges[vb] == nil {
			return vb
		}
	}
	// The 5-digit bridges are (nearly) all taken, as after a long load
	// run: hand out longer numbers in order, in constant time.
	for {
		s.overflowBridge++
		if vb := strconv.Itoa(99999 + s.overflowBridge); s.voiceBridges[vb] == nil {
			return vb
		}
	}
}

func (s *Server) writeCreate(w http.ResponseWriter, m *meeting, duplicate bool) {
	m.mu.RLock()
	joined := m.running
	m.mu.RUnlock()
	parent := m.parentID
	if parent == "" {
		parent = "bbb-none"
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("meetingID", m.id)
		x.text("internalMeetingID", m.internalID)
		x.text("parentMeetingID", parent)
		x.text("attendeePW", m.attendeePW)
		x.text("moderatorPW", m.moderatorPW)
		x.integer("createTime", m.createTime)
		x.text("voiceBridge", m.voiceBridge)
		x.text("dialNumber", m.dialNumber)
		x.text("createDate", m.createDate)
		x.boolean("hasUserJoined", joined)
		x.integer("duration", int64(m.duration))
		x.boolean("hasBeenForciblyEnded", false)
		if duplicate {
			x.text("messageKey", "duplicateWarning")
			x.text("message", "This conference was already in existence and may currently be in progress.")
		} else {
			x.text("messageKey", "")
			x.text("message", "")
		}
	})
}

// join

// uriQuote percent-encodes what java.net.URI's multi-argument constructor
// quotes in a query component (plus non-ASCII, which we always encode).
func uriQuote(s string) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-_.!~*'();/?:@&=+$,[]", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// joinErrorRedirect sends the browser to errorRedirectUrl, else logoutURL,
// else the server's default logout URL, with errors=[{"key":…,"message":…}].
func (s *Server) joinErrorRedirect(w http.ResponseWriter, p url.Values, key, msg string) {
	target := p.Get("errorRedirectUrl")
	if target == "" {
		target = p.Get("logoutURL")
	}
	if target == "" {
		target = "http://" + s.pubHost
	}
	frag := ""
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target, frag = target[:i], target[i:]
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	errs := `[{"key":` + jsonString(key) + `,"message":` + jsonString(msg) + `}]`
	redirect(w, target+sep+"errors="+uriQuote(errs)+frag)
}

func redirect(w http.ResponseWriter, location string) {
	h := w.Header()
	h.Set("Location", location)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
}

func (s *Server) apiJoin(w http.ResponseWriter, req *apiRequest) {
	p := req.params
	if !req.checksumOK {
		s.joinErrorRedirect(w, p, "checksumError", "Checksums do not match")
		return
	}
	meetingID := p.Get("meetingID")
	if meetingID == "" {
		s.joinErrorRedirect(w, p, "missingParamMeetingID", "You must provide a meeting ID")
		return
	}
	m := s.lookup(meetingID)
	if m == nil {
		s.joinErrorRedirect(w, p, "invalidMeetingIdentifier", "A meeting with that ID does not exist")
		return
	}
	fullName := p.Get("fullName")
	if fullName == "" {
		s.joinErrorRedirect(w, p, "missingParamFullName", "You must provide your name")
		return
	}
	role, ok := normalizeRole(p.Get("role"))
	if !ok {
		switch pw := p.Get("password"); {
		case pw == "":
			replyFailed(w, "Params required", "You must either send the valid role of the user, or the password, sould the meeting has one.")
			return
		case pw == m.moderatorPW:
			role = "MODERATOR"
		case pw == m.attendeePW:
			role = "VIEWER"
		default:
			replyFailed(w, "Params required", "You must enter a valid password")
			return
		}
	}
	redirectClient := true
	if v := p.Get("redirect"); v != "" {
		redirectClient = parseJavaBool(v)
	}
	fail := func(key, msg string) {
		if redirectClient {
			s.joinErrorRedirect(w, p, key, msg)
		} else {
			replyFailed(w, key, msg)
		}
	}
	if ct := p.Get("createTime"); ct != "" && ct != strconv.FormatInt(m.createTime, 10) {
		fail("mismatchCreateTimeParam", "The createTime parameter submitted mismatches with the current meeting.")
		return
	}

	var custom []kv
	for k := range p {
		if key, ok := strings.CutPrefix(k, "userdata-"); ok && isXMLName(key) {
			custom = append(custom, kv{key, p.Get(k)})
		}
	}
	slices.SortFunc(custom, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	a := &attendee{
		Attendee:   Attendee{UserID: p.Get("userID"), FullName: fullName, Role: role},
		internalID: "w_" + s.randString(12, lowerAlnum),
		custom:     custom,
	}
	authToken := s.randString(12, lowerAlnum)
	session := s.randString(16, lowerAlnum)

	m.mu.Lock()
	if m.maxParticipants > 0 && m.countsLocked().participants >= m.maxParticipants {
		m.mu.Unlock()
		fail("maxParticipantsReached", "The number of participants allowed for this meeting has been reached.")
		return
	}
	m.addAttendeeLocked(a)
	m.mu.Unlock()

	clientURL := "http://" + s.pubHost + "/html5client?sessionToken=" + session
	if p.Get("enforceLayout") != "" {
		clientURL = "http://" + s.pubHost + "/html5client?waitLayout=1&sessionToken=" + session
	}
	if redirectClient {
		redirect(w, clientURL)
		return
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("messageKey", "successfullyJoined")
		x.text("message", "You have joined successfully.")
		x.text("meeting_id", m.internalID)
		x.text("user_id", a.internalID)
		x.text("auth_token", authToken)
		x.text("session_token", session)
		x.text("guestStatus", "ALLOW")
		x.text("url", clientURL)
	})
}

// isMeetingRunning

func (s *Server) apiIsMeetingRunning(w http.ResponseWriter, req *apiRequest) {
	id, ok := meetingCall(w, req)
	if !ok {
		return
	}
	running := false
	if m := s.lookup(id); m != nil {
		m.mu.RLock()
		running = m.running
		m.mu.RUnlock()
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.boolean("running", running)
	})
}

// end

func (s *Server) apiEnd(w http.ResponseWriter, req *apiRequest) {
	id, ok := meetingCall(w, req)
	if !ok {
		return
	}
	if pw := req.params.Get("password"); pw != "" && (javaLen(pw) < 2 || javaLen(pw) > 64) {
		replyFailed(w, "invalidPassword", "Invalid password")
		return
	}
	s.mu.Lock()
	m := s.lookupLocked(id)
	if m != nil {
		s.removeLocked(m)
	}
	s.mu.Unlock()
	if m == nil {
		replyFailed(w, "notFound", "A meeting with that ID does not exist")
		return
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("messageKey", "sentEndMeetingRequest")
		x.text("message", "A request to end the meeting was sent.  Please wait a few seconds, and then use the getMeetingInfo or isMeetingRunning API calls to verify that it was ended.")
	})
}

// getMeetingInfo / getMeetings

// writeMeeting renders the getMeetingInfo children of a meeting.
func writeMeeting(x xmlWriter, m *meeting) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := m.countsLocked()
	x.text("meetingName", m.name)
	x.text("meetingID", m.id)
	x.text("internalMeetingID", m.internalID)
	x.integer("createTime", m.createTime)
	x.text("createDate", m.createDate)
	x.text("voiceBridge", m.voiceBridge)
	x.text("dialNumber", m.dialNumber)
	x.text("attendeePW", m.attendeePW)
	x.text("moderatorPW", m.moderatorPW)
	x.boolean("running", m.running)
	x.integer("duration", int64(m.duration))
	x.boolean("hasUserJoined", m.running)
	x.boolean("recording", m.record)
	x.boolean("hasBeenForciblyEnded", false)
	x.integer("startTime", m.createTime)
	x.integer("endTime", 0)
	x.integer("participantCount", int64(c.participants))
	x.integer("listenerCount", int64(c.listeners))
	x.integer("voiceParticipantCount", int64(c.voice))
	x.integer("videoCount", int64(c.video))
	x.integer("maxUsers", int64(m.maxParticipants))
	x.integer("moderatorCount", int64(c.moderators))
	x.open("attendees")
	for _, a := range m.attendees {
		x.open("attendee")
		uid := a.UserID
		if uid == "" {
			uid = a.internalID
		}
		x.text("userID", uid)
		x.text("fullName", a.FullName)
		x.text("role", a.Role)
		x.boolean("isPresenter", a.presenter)
		x.boolean("isListeningOnly", a.ListenOnly)
		x.boolean("hasJoinedVoice", a.Voice)
		x.boolean("hasVideo", a.Video)
		x.text("clientType", "HTML5")
		if len(a.custom) == 0 {
			x.raw("<customdata></customdata>\n")
		} else {
			x.open("customdata")
			for _, e := range a.custom {
				x.text(e.k, e.v)
			}
			x.close("customdata")
		}
		x.close("attendee")
	}
	x.close("attendees")
	x.open("metadata")
	for _, e := range m.metadata {
		x.text(e.k, e.v)
	}
	x.close("metadata")
	x.boolean("isBreakout", m.isBreakout)
	if m.isBreakout {
		x.text("parentMeetingID", m.parentID)
		x.integer("sequence", int64(m.sequence))
		x.boolean("freeJoin", m.freeJoin)
	}
	if len(m.breakouts) > 0 {
		x.open("breakoutRooms")
		for _, id := range m.breakouts {
			x.text("breakout", id)
		}
		x.close("breakoutRooms")
	}
}

func (s *Server) apiGetMeetingInfo(w http.ResponseWriter, req *apiRequest) {
	id, ok := meetingCall(w, req)
	if !ok {
		return
	}
	m := s.lookup(id)
	if m == nil {
		replyFailed(w, "notFound", "A meeting with that ID does not exist")
		return
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		writeMeeting(x, m)
	})
}

func (s *Server) apiGetMeetings(w http.ResponseWriter, req *apiRequest) {
	if !req.checksumOK {
		checksumError(w)
		return
	}
	s.mu.RLock()
	ms := s.sortedMeetingsLocked()
	s.mu.RUnlock()
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		if len(ms) == 0 {
			x.raw("<meetings/>\n")
			x.text("messageKey", "noMeetings")
			x.text("message", "no meetings were found on this server")
			return
		}
		x.open("meetings")
		for _, m := range ms {
			x.open("meeting")
			writeMeeting(x, m)
			x.close("meeting")
		}
		x.close("meetings")
	})
}

// insertDocument

func replyFailedMessage(w http.ResponseWriter, msg string) {
	reply(w, func(x xmlWriter) {
		x.text("returncode", "FAILED")
		x.text("message", msg)
	})
}

func (s *Server) apiInsertDocument(w http.ResponseWriter, req *apiRequest) {
	id, ok := meetingCall(w, req)
	if !ok {
		return
	}
	if req.body == nil {
		replyFailedMessage(w, "No document was provided in the request body.")
		return
	}
	if s.lookup(id) == nil {
		replyFailedMessage(w, "Meeting with id ["+id+"] not found.")
		return
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("message", "Presentation is being uploaded")
	})
}

// sendChatMessage

func (s *Server) apiSendChatMessage(w http.ResponseWriter, req *apiRequest) {
	if !req.checksumOK {
		checksumError(w)
		return
	}
	p := req.params
	id := p.Get("meetingID")
	if id == "" {
		missingMeetingID(w)
		return
	}
	if !p.Has("message") {
		replyFailed(w, "nullError", "You must provide the param message")
		return
	}
	if n := javaLen(p.Get("message")); n < 1 || n > 500 {
		replyFailed(w, "sizeError", "Param message must be between 1 and 500 characters")
		return
	}
	if javaLen(p.Get("userName")) > 255 {
		replyFailed(w, "sizeError", "Param userName must be between 1 and 255 characters")
		return
	}
	if s.lookup(id) == nil {
		replyFailed(w, "meetingNotFound", "Meeting not found")
		return
	}
	reply(w, func(x xmlWriter) {
		x.text("returncode", "SUCCESS")
		x.text("messageKey", "")
		x.text("message", "")
	})
}

// discardWriter takes an answer nobody will read (FailDropAnswer).
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { return d.h }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
