package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Failure texts for calls whose server gave no usable answer (scalelite's
// wording, which front-ends already log and match).
const (
	msgCreateFailed = "Unable to create meeting on server."
	msgAccessFailed = "Unable to access meeting on server."
	msgInsertFailed = "Unable to insert document on server."
)

// Meetings answers the meeting calls: create, join, end and the calls
// about a running meeting, getMeetings.
type Meetings struct {
	Servers
	FanoutTimeout time.Duration // for each server asked by getMeetings
	// MeetingsMaxAge is how old a server's kept getMeetings answer may be
	// to serve a getMeetings (0: every call asks every server).
	MeetingsMaxAge time.Duration
	// Callbacks intercepts the end-of-meeting and analytics callbacks of
	// creates (package callbacks relays them); nil: passed to the server.
	Callbacks *callbacks.Relay
	ReadyURLs callbacks.ReadyURLs // keeps recording-ready URLs; nil: passed to the server
	PublicURL string              // scheme://host the servers call back; "": the request's
	Observer  Observer            // told about placements and limits; may be nil

	fetches singleflight.Group // getMeetings requests in flight, by server
}

// The answers to a meetingID that names another tenant's meeting (see
// handler.foreign): each call's answer to a meeting that does not exist.
func unknownMeeting(w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgMeetingNotFound)
}

func refuseMeetingID(w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, bbb.KeyValidationError, "Invalid meeting ID")
}

func unknownJoin(w http.ResponseWriter, req *request) {
	joinError(w, req.params.Values(), bbb.KeyInvalidMeetingID, bbb.MsgMeetingNotFound)
}

func notRunning(w http.ResponseWriter, _ *request) {
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("running", "false")))
}

func unknownInsert(w http.ResponseWriter, req *request) {
	bbb.WriteError(w, bbb.KeyNotFound, "Meeting with id ["+req.meetingID+"] not found.")
}

func unknownChat(w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, "meetingNotFound", "Meeting not found")
}

func noRecordings(w http.ResponseWriter, _ *request) { writeNoRecordings(w) }

// paramsFor returns the parameters to send to the meeting's server.
func paramsFor(req *request, route balancer.Route) bbb.Query {
	if route.MeetingID == req.meetingID {
		return req.params
	}
	return req.params.With("meetingID", route.MeetingID)
}

func (m *Meetings) create(w http.ResponseWriter, req *request) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	t := req.tenant
	req.params = t.Create.Apply(req.params)
	if t.MaxDuration > 0 {
		if d, err := strconv.Atoi(req.params.Get("duration")); err != nil || d <= 0 || d > t.MaxDuration {
			req.params = req.params.With("duration", strconv.Itoa(t.MaxDuration))
		}
	}
	tags := req.params.Get(serverTagParam)
	if t.Tag != "" {
		tags = t.Tag
	}
	if t.MaxMeetings > 0 {
		if _, err := m.Pool.Lookup(key); errors.Is(err, balancer.ErrUnknownMeeting) {
			if n, _ := m.Pool.Usage(t.Name); n >= t.MaxMeetings {
				m.limitHit(t, "meetings")
				bbb.WriteError(w, KeyMaxMeetings, MsgMaxMeetings)
				return
			}
		}
	}
	maxParticipants, _ := strconv.Atoi(req.params.Get("maxParticipants"))
	var readyURL string
	if m.ReadyURLs != nil {
		// The server would sign the recording-ready call with its own
		// secret; the balancer calls it after the import (package callbacks).
		req.params, readyURL = callbacks.TakeReadyURL(req.params)
	}
	place := balancer.Request{Key: key, MeetingID: key, Tags: tags, MaxParticipants: maxParticipants,
		VoiceBridge: req.params.Get("voiceBridge")}
	body, replayable := replayableBody(req.body)
	var failed balancer.Placement // the last server that failed this create
	var failure error
	for attempt := 1; ; attempt++ {
		req.body = body()
		pl, err := m.place(req, place)
		if err != nil {
			if failure != nil {
				// No other server to try: the client hears what went wrong.
				m.created(w, req, failed, nil, failure, readyURL)
				return
			}
			m.placementFailed(w, key, err)
			return
		}
		res, err := m.sendCreate(req, pl)
		if err == nil && res.MessageKey == bbb.KeyNonUniqueVoiceBridge && pl.Fresh && replayable &&
			pl.VoiceBridge != place.VoiceBridge && len(place.AvoidBridges) < maxBridgeRetries {
			// The server runs a meeting the registry does not know (created
			// on it directly, or before this balancer) with the number the
			// balancer chose: the create takes another.
			if err := m.Pool.ForgetUnconfirmed(context.WithoutCancel(req.r.Context()), key, pl.ServerID); err != nil {
				m.Logger.Error("undoing a failed placement failed", zap.String("meeting", key), zap.Error(err))
			}
			m.Logger.Warn("the server has the voice bridge of a meeting the pool does not know; trying another",
				zap.String("meeting", key), zap.String("server", pl.ServerID), zap.String("voice_bridge", pl.VoiceBridge))
			place.AvoidBridges = append(place.AvoidBridges, pl.VoiceBridge)
			attempt--
			continue
		}
		if err == nil || !pl.Fresh || !replayable || attempt == maxCreateTries || !bbb.Unanswered(err) {
			m.created(w, req, pl, res, err, readyURL)
			return
		}
		// Refused, or closed without an answer: the server is failing
		// (ReportCall took it out of placement already), and another may
		// take the meeting. Should this one have created it after all,
		// the poll that sees the empty copy ends it (Change.Copies).
		m.Logger.Warn("create failed on its server; trying another", zap.String("meeting", key), zap.String("server", pl.ServerID), zap.Error(err))
		if err := m.Pool.ForgetUnconfirmed(context.WithoutCancel(req.r.Context()), key, pl.ServerID); err != nil {
			m.Logger.Error("undoing a failed placement failed", zap.String("meeting", key), zap.Error(err))
		}
		pl.Fresh = false // undone already
		failed, failure = pl, err
		place.Avoid = append(place.Avoid, pl.ServerID)
	}
}

// maxCreateTries bounds the servers one create is tried on.
const maxCreateTries = 3

// maxBridgeRetries bounds the voice bridges one create tries when servers
// refuse the balancer's number (nonUniqueVoiceBridge).
const maxBridgeRetries = 3

// maxReplayBody bounds the XML body of a create kept in memory so the
// create can be sent again to another server; a larger one is streamed
// once.
const maxReplayBody = 1 << 20

// replayableBody returns a function giving body afresh for each attempt,
// and whether it can: no body, or one of at most maxReplayBody bytes.
func replayableBody(body io.Reader) (func() io.Reader, bool) {
	if body == nil {
		return func() io.Reader { return nil }, true
	}
	b, err := io.ReadAll(io.LimitReader(body, maxReplayBody+1))
	if err != nil || len(b) > maxReplayBody {
		rest := io.MultiReader(bytes.NewReader(b), body)
		return func() io.Reader { return rest }, false
	}
	return func() io.Reader { return bytes.NewReader(b) }, true
}

// place places a create.
func (m *Meetings) place(req *request, place balancer.Request) (balancer.Placement, error) {
	pl, err := m.Pool.Place(req.r.Context(), place)
	if err == nil && pl.Fresh {
		// Debug: at thousands of creates a second an info line each is a
		// write to the log per create; caddy_bbb_placements_total and the
		// admin API's registry say the same.
		m.Logger.Debug("meeting placed", zap.String("meeting", place.Key), zap.String("server", pl.ServerID))
		if m.Observer != nil {
			m.Observer.Placement(pl.ServerID)
		}
	}
	return pl, err
}

// placementFailed answers a create that found no server.
func (m *Meetings) placementFailed(w http.ResponseWriter, key string, err error) {
	var tagErr *balancer.TagError
	switch {
	case errors.As(err, &tagErr):
		bbb.WriteError(w, bbb.KeyServerTagUnavailable, tagErr.Error())
	case errors.Is(err, balancer.ErrVoiceBridgeTaken):
		bbb.WriteXML(w, bbb.ErrorsXML(bbb.KeyNonUniqueVoiceBridge, balancer.ErrVoiceBridgeTaken.Error()))
	case errors.Is(err, balancer.ErrNoServer):
		m.Logger.Error("no server for a new meeting", zap.String("meeting", key))
		bbb.WriteError(w, bbb.KeyInternalError, "Could not find any available servers.")
	default:
		m.Logger.Error("placing a meeting failed", zap.String("meeting", key), zap.Error(err))
		bbb.WriteError(w, bbb.KeyInternalError, msgCreateFailed)
	}
}

// sendCreate sends a placed create to its server, with the balancer's
// callback URLs and the server's tag.
func (m *Meetings) sendCreate(req *request, pl balancer.Placement) (*bbb.Result, error) {
	route := balancer.Route{MeetingID: pl.Key, ServerID: pl.ServerID, Server: pl.Server}
	params := paramsFor(req, route)
	if pl.VoiceBridge != "" {
		// The pool's number, unique among its meetings (the server would
		// keep one unique among its own only).
		params = params.Without("voiceBridge").With("voiceBridge", pl.VoiceBridge)
	}
	if m.Callbacks != nil {
		params = m.Callbacks.Intercept(req.r.Context(), params, publicHost(m.PublicURL, req.r),
			callbacks.Meeting{Key: req.key, ServerID: pl.ServerID, MeetingID: req.meetingID, SecretTag: bbb.SecretTag(req.secret)}, pl.Placed)
	}
	// The server learns the tag it was chosen for, as with scalelite.
	if _, tagged := params.Lookup(serverTagParam); tagged || pl.Tag != "" {
		params = params.Without(serverTagParam)
		if pl.Tag != "" {
			params = params.With(serverTagParam, pl.Tag)
		}
	}
	return m.call(req, route, params)
}

// created answers a create with its server's answer and keeps the
// registry in step: the meeting is confirmed (with the front-end's
// recording-ready URL, if any), or a fresh placement undone.
func (m *Meetings) created(w http.ResponseWriter, req *request, pl balancer.Placement, res *bbb.Result, err error, readyURL string) {
	key := req.key
	route := balancer.Route{MeetingID: key, ServerID: pl.ServerID, Server: pl.Server}
	m.answer(w, req, route, res, err, msgCreateFailed)
	// The answer is out; registry bookkeeping must not depend on the client
	// staying connected.
	ctx := context.WithoutCancel(req.r.Context())
	switch {
	case err == nil && res.OK():
		if err := m.Pool.Confirm(ctx, key, route.MeetingID, pl.ServerID, pl.VoiceBridge); err != nil {
			m.Logger.Error("recording a meeting failed", zap.String("meeting", key), zap.Error(err))
		}
		if readyURL != "" {
			if err := m.ReadyURLs.SaveReadyURL(ctx, key, readyURL, bbb.SecretTag(req.secret)); err != nil {
				m.Logger.Error("keeping the recording-ready URL failed", zap.String("meeting", key), zap.Error(err))
			}
		}
	case pl.Fresh:
		if err := m.Pool.ForgetUnconfirmed(ctx, key, pl.ServerID); err != nil {
			m.Logger.Error("undoing a failed placement failed", zap.String("meeting", key), zap.Error(err))
		}
	}
}

// serverTagParam chooses servers by tag (scalelite's meta_server-tag).
const serverTagParam = "meta_server-tag"

// The answers to calls beyond a tenant's limits. BBB has no limit of
// meetings per front-end; its own key for a full meeting serves joins.
const (
	KeyMaxMeetings  = "maxMeetingsReached"
	MsgMaxMeetings  = "The number of meetings allowed for this front-end has been reached."
	MsgMaxAttendees = "The number of participants allowed for this front-end has been reached."
)

func (m *Meetings) limitHit(t *tenants.Tenant, limit string) {
	m.Logger.Warn("tenant limit reached", zap.String("tenant", t.Name), zap.String("limit", limit))
	if m.Observer != nil {
		m.Observer.LimitHit(t.Name, limit)
	}
}

func (m *Meetings) join(w http.ResponseWriter, req *request) {
	key := req.key
	switch {
	case key == "":
		joinError(w, req.params.Values(), bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	case strings.TrimSpace(req.params.Get("fullName")) == "":
		joinError(w, req.params.Values(), bbb.KeyMissingFullName, bbb.MsgMissingFullName)
		return
	}
	// BBB: redirect is true unless given as anything but "true"; without
	// it the answer is XML, for clients that fetch the session themselves.
	v, given := req.params.Lookup("redirect")
	asXML := given && v != "" && !strings.EqualFold(v, "true")
	// Errors after validation are XML too when the client asked for XML.
	laterError := func(key, msg string) {
		if asXML {
			bbb.WriteError(w, key, msg)
			return
		}
		joinError(w, req.params.Values(), key, msg)
	}
	t := req.tenant
	if t.MaxAttendees > 0 {
		if _, n := m.Pool.Usage(t.Name); n >= t.MaxAttendees {
			m.limitHit(t, "attendees")
			laterError(bbb.KeyMaxParticipants, MsgMaxAttendees)
			return
		}
	}
	route, err := m.Pool.Join(key)
	switch {
	case errors.Is(err, balancer.ErrUnavailable):
		laterError(bbb.KeyServerUnavailable, bbb.MsgServerUnavailable)
		return
	case err != nil:
		unknownJoin(w, req)
		return
	}
	params := t.Join.Apply(paramsFor(req, route))
	if asXML {
		// The server's own answer (session token, client URL), fetched
		// here: such clients do not follow a redirect.
		m.forward(w, req, route, params, msgAccessFailed)
		return
	}
	// The browser goes straight to the server; the balancer is out of the
	// way for the rest of the session. (No http.Redirect: its HTML body and
	// URL cleaning cost a tenth of a join.)
	w.Header().Set("Location", route.Server.CallURL("join", params))
	w.WriteHeader(http.StatusFound)
}

// joinError does what BBB does with a failed join: send the browser to the
// front-end's errorRedirectUrl or logoutURL with the errors as JSON, or,
// without either, answer the XML error.
func joinError(w http.ResponseWriter, params url.Values, key, msg string) {
	target := params.Get("errorRedirectUrl")
	if target == "" {
		target = params.Get("logoutURL")
	}
	u, err := url.Parse(target)
	if target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		bbb.WriteError(w, key, msg)
		return
	}
	list, _ := json.Marshal([]map[string]string{{"key": key, "message": msg}})
	pair := "errors=" + joinErrorEscaper.Replace(url.QueryEscape(string(list)))
	if u.RawQuery == "" {
		u.RawQuery = pair
	} else {
		u.RawQuery += "&" + pair
	}
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

// joinErrorEscaper turns url.QueryEscape's output into what bbb-web's
// java.net.URI produces: brackets, colons and commas raw, spaces as %20.
var joinErrorEscaper = strings.NewReplacer("%5B", "[", "%5D", "]", "%3A", ":", "%2C", ",", "+", "%20")

func (m *Meetings) end(w http.ResponseWriter, req *request) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := m.Pool.Lookup(key)
	if errors.Is(err, balancer.ErrUnknownMeeting) {
		unknownMeeting(w, req)
		return
	}
	// Even a disabled server may still hold the meeting: try to end it.
	res, ok := m.forward(w, req, route, paramsFor(req, route), msgAccessFailed)
	if (ok && (res.OK() || res.MessageKey == bbb.KeyNotFound)) || errors.Is(err, balancer.ErrUnavailable) {
		if err := m.Pool.Forget(context.WithoutCancel(req.r.Context()), key, route.ServerID); err != nil {
			m.Logger.Error("forgetting an ended meeting failed", zap.String("meeting", key), zap.Error(err))
		}
	}
}

func (m *Meetings) isMeetingRunning(w http.ResponseWriter, req *request) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := m.Pool.Lookup(key)
	if err != nil {
		// Unknown here means not running anywhere: no server is asked.
		notRunning(w, req)
		return
	}
	m.forward(w, req, route, paramsFor(req, route), msgAccessFailed)
}

// meetingCall forwards a call about a known meeting; unknown answers for a
// meeting the registry does not have.
func (m *Meetings) meetingCall(w http.ResponseWriter, req *request, unknown func(http.ResponseWriter, *request), failMsg string) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := m.Pool.Lookup(key)
	switch {
	case errors.Is(err, balancer.ErrUnavailable):
		bbb.WriteError(w, bbb.KeyServerUnavailable, bbb.MsgServerUnavailable)
		return
	case err != nil:
		unknown(w, req)
		return
	}
	m.forward(w, req, route, paramsFor(req, route), failMsg)
}

func (m *Meetings) getMeetingInfo(w http.ResponseWriter, req *request) {
	m.meetingCall(w, req, unknownMeeting, msgAccessFailed)
}

func (m *Meetings) insertDocument(w http.ResponseWriter, req *request) {
	m.meetingCall(w, req, unknownInsert, msgInsertFailed)
}

func (m *Meetings) sendChatMessage(w http.ResponseWriter, req *request) {
	m.meetingCall(w, req, unknownChat, msgAccessFailed)
}

// getMeetings merges every reachable server's meetings. A server's last
// answer (its poll's, or an earlier getMeetings') serves when it is no
// older than MeetingsMaxAge and nothing went through the balancer on that
// server since (balancer.Pool.MeetingsAnswer); the others are asked at
// once, each with a short timeout, and concurrent calls share one request
// per server: a dead server costs its meetings in the list, never the
// call, and a burst of calls costs the servers one request each.
func (m *Meetings) getMeetings(w http.ResponseWriter, req *request) {
	routes := m.Pool.Reachable()
	answers := make([][]bbb.MeetingXML, len(routes))
	var wg sync.WaitGroup
	for i, route := range routes {
		if ms, ok := m.Pool.MeetingsAnswer(route.ServerID, m.MeetingsMaxAge); ok {
			answers[i] = ms
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = m.serverMeetings(req.r.Context(), route)
		}()
	}
	wg.Wait()
	n := 0
	for _, a := range answers {
		n += len(a)
	}
	all := make([]bbb.MeetingXML, 0, n)
	for _, a := range answers {
		for _, m := range a {
			// Each tenant sees its own meetings, by the ids it knows.
			owner, id := tenants.Split(m.MeetingID)
			if owner != req.tenant.Name {
				continue
			}
			if id != m.MeetingID {
				m.Inner = bytes.Replace(m.Inner, meetingIDElement(m.MeetingID), meetingIDElement(id), 1)
				m.MeetingID = id
			}
			all = append(all, m)
		}
	}
	bbb.WriteMeetings(w, all)
}

// serverMeetings asks one server for its meetings, sharing the request
// with the calls that want the same at the same time, and keeps the
// answer for later calls.
func (m *Meetings) serverMeetings(ctx context.Context, route balancer.Route) []bbb.MeetingXML {
	ch := m.fetches.DoChan(route.ServerID, func() (any, error) {
		// A request that just finished may have brought what this call
		// wants: its caller looked before that answer was kept.
		if ms, ok := m.Pool.MeetingsAnswer(route.ServerID, m.MeetingsMaxAge); ok {
			return ms, nil
		}
		// Shared: one caller going away must not cut the others off.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.FanoutTimeout)
		defer cancel()
		started := time.Now()
		body, err := m.Client.Open(ctx, route.Server, "getMeetings", "")
		if err != nil {
			m.Pool.ReportCall(route.ServerID, time.Since(started), err)
			m.Logger.Warn("getMeetings: server left out", zap.String("server", route.ServerID), zap.Error(err))
			return nil, nil
		}
		defer body.Close()
		res, err := bbb.ReadMeetings(body)
		if err != nil {
			err = &bbb.CallError{Call: "getMeetings", Status: http.StatusOK, Err: err}
		}
		m.Pool.ReportCall(route.ServerID, time.Since(started), err)
		if err != nil || !res.OK() {
			m.Logger.Warn("getMeetings: server left out", zap.String("server", route.ServerID), zap.Error(err))
			return nil, nil
		}
		m.Pool.KeepMeetingsAnswer(route.ServerID, started, res.Meetings)
		return res.Meetings, nil
	})
	select {
	case r := <-ch:
		ms, _ := r.Val.([]bbb.MeetingXML)
		return ms
	case <-ctx.Done():
		return nil
	}
}
