// Package api is the BBB API as the pool presents it to front-ends: it
// checks checksums, routes each call to its handler, and answers in BBB's
// XML. It is plain net/http; the Caddy module mounts it.
package api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Prefix is the path under which BBB serves its API.
const Prefix = "/bigbluebutton/api"

// Front serves the BBB API for a pool: it chooses the tenant, checks the
// checksum, scopes the meetingID, and hands the call to the handler of
// its group, which share one request type.
type Front struct {
	Tenants  TenantSource // who may call, with which secrets and rules
	Logger   *zap.Logger
	Observer Observer // told about every call; may be nil

	Meetings   *Meetings   // the meeting calls (meetings.go)
	Recordings *Recordings // the recording calls (recordings.go)
}

// TenantSource gives the tenants in force; they change with the config
// and through the admin API (an atomic.Pointer[tenants.Set] is one).
type TenantSource interface{ Load() *tenants.Set }

// Observer is told the outcome of every API call, for metrics. result is
// "success", "redirect" (join), or the messageKey of a FAILED answer
// ("error" when there is none); call is "unsupported" for calls that do not
// exist, so a client cannot make up label values.
type Observer interface {
	Call(call, result string)
	Placement(server string)
	// LimitHit is told when a tenant's limit ("meetings", "attendees")
	// refused a create or a join.
	LimitHit(tenant, limit string)
}

// request is one API call after its parameters have been gathered.
type request struct {
	call      string
	params    bbb.Query // every parameter, checksum removed, as the client encoded it
	meetingID string    // decoded, as the front-end knows it
	key       string    // meetingID scoped by the tenant: the registry's key and the servers' id ("" without meetingID)
	body      io.Reader // an XML body to stream through (create, insertDocument), or nil
	secret    string    // the front-end secret that signed the call
	tenant    *tenants.Tenant
	tenants   *tenants.Set // all of them, as at the start of the call
	r         *http.Request
}

// CallName returns the API call of a path under Prefix ("" for index) and
// whether the path is under Prefix at all.
func CallName(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return strings.TrimPrefix(rest, "/"), true
}

// Serve answers r if it is an API call (under Prefix, after a tenant's
// path prefix) and reports whether it was one.
func (f *Front) Serve(w http.ResponseWriter, r *http.Request) bool {
	set := f.Tenants.Load()
	t, path := set.Resolve(r.Host, r.URL.Path)
	call, ok := CallName(path)
	if !ok {
		return false
	}
	if f.Observer == nil {
		f.serve(w, r, set, t, call)
		return true
	}
	rec := &resultRecorder{ResponseWriter: w}
	f.serve(rec, r, set, t, call)
	if _, known := handlers[call]; !known && call != "" {
		call = "unsupported"
	} else if call == "" {
		call = "index"
	}
	f.Observer.Call(call, rec.result())
	return true
}

// ServeHTTP answers one API call; other paths get unsupportedRequest.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.Serve(w, r) {
		bbb.WriteError(w, bbb.KeyUnsupportedRequest, bbb.MsgUnsupported)
	}
}

func (f *Front) serve(w http.ResponseWriter, r *http.Request, set *tenants.Set, t *tenants.Tenant, call string) {
	if call == "" {
		f.index(w)
		return
	}
	h, known := handlers[call]
	if !known || !h.allows(r.Method) {
		bbb.WriteError(w, bbb.KeyUnsupportedRequest, bbb.MsgUnsupported)
		return
	}
	req, errKey, errMsg := f.gather(call, h, r, set, t)
	if errKey != "" {
		if call == "join" {
			joinError(w, r.URL.Query(), errKey, errMsg)
			return
		}
		bbb.WriteError(w, errKey, errMsg)
		return
	}
	if req.meetingID != "" && req.key == "" {
		// Another tenant's id (tenants.Tenant.ServerID): unknown to this
		// front-end, whatever the call, and no server hears of it.
		h.foreign(w, req)
		return
	}
	h.serve(f, w, req)
}

// envelopeBytes is how much of an answer the Observer reads for its
// returncode and messageKey.
const envelopeBytes = 1024

// resultRecorder remembers what an answer said, for the Observer.
type resultRecorder struct {
	http.ResponseWriter
	status int
	env    bbb.Envelope
	seen   bool
}

func (r *resultRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *resultRecorder) Write(b []byte) (int, error) {
	if !r.seen {
		r.seen = true
		// returncode and messageKey open every BBB answer: a large one
		// (getMeetings, getRecordings) need not be searched to its end.
		r.env, _ = bbb.ParseEnvelope(b[:min(len(b), envelopeBytes)])
	}
	return r.ResponseWriter.Write(b)
}

func (r *resultRecorder) result() string {
	switch {
	case r.status == http.StatusFound:
		return "redirect"
	case r.env.OK():
		return "success"
	case r.env.MessageKey != "":
		return r.env.MessageKey
	}
	return "error"
}

// handler describes one call: which methods and bodies it takes.
type handler struct {
	serve func(f *Front, w http.ResponseWriter, req *request)
	// foreign answers a call whose meetingID is not the front-end's to
	// name, as the call answers an unknown meeting.
	foreign   func(w http.ResponseWriter, req *request)
	methods   string // space-separated
	xmlBody   bool   // takes an XML body (streamed to the server)
	legacyMsg bool   // checksum errors worded as bbb-web's recording calls
}

func (h handler) allows(method string) bool {
	for _, m := range strings.Fields(h.methods) {
		if m == method {
			return true
		}
	}
	return false
}

var handlers map[string]handler

// meetings and recordingCalls route a call to its group's handler.
func meetings(call func(*Meetings, http.ResponseWriter, *request)) func(*Front, http.ResponseWriter, *request) {
	return func(f *Front, w http.ResponseWriter, req *request) { call(f.Meetings, w, req) }
}

func recordingCalls(call func(*Recordings, http.ResponseWriter, *request)) func(*Front, http.ResponseWriter, *request) {
	return func(f *Front, w http.ResponseWriter, req *request) {
		r := f.Recordings
		if r == nil {
			r = &Recordings{} // no index: answered as a server without recordings
		}
		call(r, w, req)
	}
}

func init() {
	handlers = map[string]handler{
		"create":           {serve: meetings((*Meetings).create), foreign: refuseMeetingID, methods: "GET POST", xmlBody: true},
		"join":             {serve: meetings((*Meetings).join), foreign: unknownJoin, methods: "GET"},
		"end":              {serve: meetings((*Meetings).end), methods: "GET POST"},
		"isMeetingRunning": {serve: meetings((*Meetings).isMeetingRunning), foreign: notRunning, methods: "GET POST"},
		"getMeetingInfo":   {serve: meetings((*Meetings).getMeetingInfo), methods: "GET POST"},
		"getMeetings":      {serve: meetings((*Meetings).getMeetings), methods: "GET POST"},
		"insertDocument":   {serve: meetings((*Meetings).insertDocument), foreign: unknownInsert, methods: "POST", xmlBody: true},
		"sendChatMessage":  {serve: meetings((*Meetings).sendChatMessage), foreign: unknownChat, methods: "GET"},

		"getRecordings":          {serve: recordingCalls((*Recordings).getRecordings), foreign: noRecordings, methods: "GET POST", legacyMsg: true},
		"publishRecordings":      {serve: recordingCalls((*Recordings).publishRecordings), methods: "GET", legacyMsg: true},
		"deleteRecordings":       {serve: recordingCalls((*Recordings).deleteRecordings), methods: "GET", legacyMsg: true},
		"updateRecordings":       {serve: recordingCalls((*Recordings).updateRecordings), methods: "GET POST", legacyMsg: true},
		"getRecordingTextTracks": {serve: recordingCalls((*Recordings).getRecordingTextTracks), methods: "GET POST", legacyMsg: true},
		"putRecordingTextTrack":  {serve: recordingCalls((*Recordings).putRecordingTextTrack), methods: "POST", legacyMsg: true},
	}
	for call, h := range handlers {
		if h.foreign == nil {
			h.foreign = unknownMeeting // BBB's answer to an unknown meeting
			handlers[call] = h
		}
	}
}

// maxForm bounds a form body; BBB parameters are small.
const maxForm = 1 << 20

// gather collects a call's parameters and checks its checksum. Parameters
// travel in the query string, except for a POST form, whose body holds them
// (signed as call + secret when the query is empty, BBB 3.0). An XML body
// is not part of the checksum and is streamed through untouched.
func (f *Front) gather(call string, h handler, r *http.Request, set *tenants.Set, t *tenants.Tenant) (*request, string, string) {
	req := &request{call: call, r: r, tenant: t, tenants: set}
	signed, sum, hasSum := bbb.SplitChecksum(r.URL.RawQuery)
	req.params = bbb.Query(signed)

	if r.Method == http.MethodPost && r.ContentLength != 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case ct == "application/x-www-form-urlencoded":
			form, err := io.ReadAll(io.LimitReader(r.Body, maxForm))
			if err != nil {
				return nil, bbb.KeyInternalError, "Could not read the request body."
			}
			formSigned, formSum, formHasSum := bbb.SplitChecksum(string(form))
			if !hasSum && r.URL.RawQuery == "" {
				// Everything is in the body: the checksum covers no parameters.
				signed, sum, hasSum = "", formSum, formHasSum
			}
			req.params = joinQuery(req.params, bbb.Query(formSigned))
		case h.xmlBody && (ct == "application/xml" || ct == "text/xml"):
			req.body = r.Body
		case ct == "multipart/form-data" && call == "putRecordingTextTrack":
			req.body = r.Body
		default:
			return nil, bbb.KeyUnsupportedContent, bbb.MsgUnsupportedCT
		}
	}

	var err error
	if hasSum {
		req.secret, err = t.Verifier.Signer(call, signed, sum)
	} else {
		err = bbb.ErrChecksumMissing
	}
	if err != nil {
		msg := bbb.MsgChecksumMismatch
		switch {
		case h.legacyMsg:
			msg = "You did not pass the checksum security check"
		case errors.Is(err, bbb.ErrChecksumMissing):
			msg = bbb.MsgChecksumMissing
		}
		return nil, bbb.KeyChecksumError, msg
	}
	req.meetingID = req.params.Get("meetingID")
	if req.meetingID != "" {
		// The one place ids are scoped: "" marks another tenant's id.
		if key, own := t.ServerID(req.meetingID); own {
			req.key = key
		}
	}
	return req, "", ""
}

func joinQuery(a, b bbb.Query) bbb.Query {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

func (f *Front) index(w http.ResponseWriter) {
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("version", "2.0"), bbb.E("apiVersion", "2.0"), bbb.E("bbbVersion", "")))
}

// unscope turns the server's id of the tenant's meeting back into the one
// the front-end knows, in an answer about that meeting.
func (req *request) unscope(body []byte, serverID string) []byte {
	if req.tenant == nil || req.tenant.Name == "" || serverID == "" {
		return body
	}
	return bytes.ReplaceAll(body, meetingIDElement(serverID), meetingIDElement(req.meetingID))
}

func meetingIDElement(id string) []byte {
	var b bytes.Buffer
	b.WriteString("<meetingID>")
	xml.EscapeText(&b, []byte(id))
	b.WriteString("</meetingID>")
	return b.Bytes()
}
