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

// The answers to a meetingID that names another tenant's meeting (see
// handler.foreign): each call's answer to a meeting that does not exist.
func unknownMeeting(_ *Front, w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgMeetingNotFound)
}

func refuseMeetingID(_ *Front, w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, bbb.KeyValidationError, "Invalid meeting ID")
}

func unknownJoin(f *Front, w http.ResponseWriter, req *request) {
	f.joinError(w, req.params.Values(), bbb.KeyInvalidMeetingID, bbb.MsgMeetingNotFound)
}

func notRunning(_ *Front, w http.ResponseWriter, _ *request) {
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("running", "false")))
}

func unknownInsert(_ *Front, w http.ResponseWriter, req *request) {
	bbb.WriteError(w, bbb.KeyNotFound, "Meeting with id ["+req.meetingID+"] not found.")
}

func unknownChat(_ *Front, w http.ResponseWriter, _ *request) {
	bbb.WriteError(w, "meetingNotFound", "Meeting not found")
}

func noRecordings(_ *Front, w http.ResponseWriter, _ *request) { writeNoRecordings(w) }

// paramsFor returns the parameters to send to the meeting's server.
func paramsFor(req *request, route balancer.Route) bbb.Query {
	if route.MeetingID == req.meetingID {
		return req.params
	}
	return req.params.With("meetingID", route.MeetingID)
}

func (f *Front) create(w http.ResponseWriter, req *request) {
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
		if _, err := f.Pool.Lookup(key); errors.Is(err, balancer.ErrUnknownMeeting) {
			if n, _ := f.Pool.Usage(t.Name); n >= t.MaxMeetings {
				f.limitHit(t, "meetings")
				bbb.WriteError(w, KeyMaxMeetings, MsgMaxMeetings)
				return
			}
		}
	}
	maxParticipants, _ := strconv.Atoi(req.params.Get("maxParticipants"))
	place := balancer.Request{Key: key, MeetingID: key, Tags: tags, MaxParticipants: maxParticipants}
	body, replayable := replayableBody(req.body)
	var failed balancer.Placement // the last server that failed this create
	var failure error
	for attempt := 1; ; attempt++ {
		req.body = body()
		pl, err := f.place(req, place)
		if err != nil {
			if failure != nil {
				// No other server to try: the client hears what went wrong.
				f.created(w, req, failed, nil, failure)
				return
			}
			f.placementFailed(w, key, err)
			return
		}
		res, err := f.sendCreate(req, pl)
		if err == nil || !pl.Fresh || !replayable || attempt == maxCreateTries || !bbb.Unanswered(err) {
			f.created(w, req, pl, res, err)
			return
		}
		// Refused, or closed without an answer: the server is failing
		// (ReportCall took it out of placement already), and another may
		// take the meeting. Should this one have created it after all,
		// the poll that sees the empty copy ends it (Change.Copies).
		f.Logger.Warn("create failed on its server; trying another", zap.String("meeting", key), zap.String("server", pl.ServerID), zap.Error(err))
		if err := f.Pool.ForgetUnconfirmed(context.WithoutCancel(req.r.Context()), key, pl.ServerID); err != nil {
			f.Logger.Error("undoing a failed placement failed", zap.String("meeting", key), zap.Error(err))
		}
		pl.Fresh = false // undone already
		failed, failure = pl, err
		place.Avoid = append(place.Avoid, pl.ServerID)
	}
}

// maxCreateTries bounds the servers one create is tried on.
const maxCreateTries = 3

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
func (f *Front) place(req *request, place balancer.Request) (balancer.Placement, error) {
	pl, err := f.Pool.Place(req.r.Context(), place)
	if err == nil && pl.Fresh {
		f.Logger.Info("meeting placed", zap.String("meeting", place.Key), zap.String("server", pl.ServerID))
		if f.Observer != nil {
			f.Observer.Placement(pl.ServerID)
		}
	}
	return pl, err
}

// placementFailed answers a create that found no server.
func (f *Front) placementFailed(w http.ResponseWriter, key string, err error) {
	var tagErr *balancer.TagError
	switch {
	case errors.As(err, &tagErr):
		bbb.WriteError(w, bbb.KeyServerTagUnavailable, tagErr.Error())
	case errors.Is(err, balancer.ErrNoServer):
		f.Logger.Error("no server for a new meeting", zap.String("meeting", key))
		bbb.WriteError(w, bbb.KeyInternalError, "Could not find any available servers.")
	default:
		f.Logger.Error("placing a meeting failed", zap.String("meeting", key), zap.Error(err))
		bbb.WriteError(w, bbb.KeyInternalError, msgCreateFailed)
	}
}

// sendCreate sends a placed create to its server, with the balancer's
// callback URLs and the server's tag.
func (f *Front) sendCreate(req *request, pl balancer.Placement) (*bbb.Result, error) {
	route := balancer.Route{MeetingID: pl.Key, ServerID: pl.ServerID, Server: pl.Server}
	params := paramsFor(req, route)
	if f.ReadyURLs != nil {
		// The server would sign the call with its own secret; the
		// balancer calls it after the import (package callbacks).
		params, _ = callbacks.TakeReadyURL(params)
	}
	if f.Callbacks != nil {
		params = f.Callbacks.Intercept(req.r.Context(), params, f.publicHost(req.r),
			callbacks.Meeting{Key: req.key, ServerID: pl.ServerID, MeetingID: req.meetingID, SecretTag: bbb.SecretTag(req.secret)}, pl.Placed)
	}
	// The server learns the tag it was chosen for, as with scalelite.
	if _, tagged := params.Lookup(serverTagParam); tagged || pl.Tag != "" {
		params = params.Without(serverTagParam)
		if pl.Tag != "" {
			params = params.With(serverTagParam, pl.Tag)
		}
	}
	return f.call(req, route, params)
}

// created answers a create with its server's answer and keeps the
// registry in step: the meeting is confirmed, or a fresh placement undone.
func (f *Front) created(w http.ResponseWriter, req *request, pl balancer.Placement, res *bbb.Result, err error) {
	key := req.key
	route := balancer.Route{MeetingID: key, ServerID: pl.ServerID, Server: pl.Server}
	f.answer(w, req, route, res, err, msgCreateFailed)
	// The answer is out; registry bookkeeping must not depend on the client
	// staying connected.
	ctx := context.WithoutCancel(req.r.Context())
	switch {
	case err == nil && res.OK():
		if err := f.Pool.Confirm(ctx, key, route.MeetingID, pl.ServerID); err != nil {
			f.Logger.Error("recording a meeting failed", zap.String("meeting", key), zap.Error(err))
		}
		if _, readyURL := callbacks.TakeReadyURL(req.params); readyURL != "" && f.ReadyURLs != nil {
			if err := f.ReadyURLs.SaveReadyURL(ctx, key, readyURL, bbb.SecretTag(req.secret)); err != nil {
				f.Logger.Error("keeping the recording-ready URL failed", zap.String("meeting", key), zap.Error(err))
			}
		}
	case pl.Fresh:
		if err := f.Pool.ForgetUnconfirmed(ctx, key, pl.ServerID); err != nil {
			f.Logger.Error("undoing a failed placement failed", zap.String("meeting", key), zap.Error(err))
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

func (f *Front) limitHit(t *tenants.Tenant, limit string) {
	f.Logger.Warn("tenant limit reached", zap.String("tenant", t.Name), zap.String("limit", limit))
	if f.Observer != nil {
		f.Observer.LimitHit(t.Name, limit)
	}
}

func (f *Front) join(w http.ResponseWriter, req *request) {
	key := req.key
	switch {
	case key == "":
		f.joinError(w, req.params.Values(), bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	case strings.TrimSpace(req.params.Get("fullName")) == "":
		f.joinError(w, req.params.Values(), bbb.KeyMissingFullName, bbb.MsgMissingFullName)
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
		f.joinError(w, req.params.Values(), key, msg)
	}
	t := req.tenant
	if t.MaxAttendees > 0 {
		if _, n := f.Pool.Usage(t.Name); n >= t.MaxAttendees {
			f.limitHit(t, "attendees")
			laterError(bbb.KeyMaxParticipants, MsgMaxAttendees)
			return
		}
	}
	route, err := f.Pool.Join(key)
	switch {
	case errors.Is(err, balancer.ErrUnavailable):
		laterError(bbb.KeyServerUnavailable, bbb.MsgServerUnavailable)
		return
	case err != nil:
		unknownJoin(f, w, req)
		return
	}
	params := t.Join.Apply(paramsFor(req, route))
	if asXML {
		// The server's own answer (session token, client URL), fetched
		// here: such clients do not follow a redirect.
		f.forward(w, req, route, params, msgAccessFailed)
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
func (f *Front) joinError(w http.ResponseWriter, params url.Values, key, msg string) {
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

func (f *Front) end(w http.ResponseWriter, req *request) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := f.Pool.Lookup(key)
	if errors.Is(err, balancer.ErrUnknownMeeting) {
		unknownMeeting(f, w, req)
		return
	}
	// Even a disabled server may still hold the meeting: try to end it.
	res, ok := f.forward(w, req, route, paramsFor(req, route), msgAccessFailed)
	if (ok && (res.OK() || res.MessageKey == bbb.KeyNotFound)) || errors.Is(err, balancer.ErrUnavailable) {
		if err := f.Pool.Forget(context.WithoutCancel(req.r.Context()), key, route.ServerID); err != nil {
			f.Logger.Error("forgetting an ended meeting failed", zap.String("meeting", key), zap.Error(err))
		}
	}
}

func (f *Front) isMeetingRunning(w http.ResponseWriter, req *request) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := f.Pool.Lookup(key)
	if err != nil {
		// Unknown here means not running anywhere: no server is asked.
		notRunning(f, w, req)
		return
	}
	f.forward(w, req, route, paramsFor(req, route), msgAccessFailed)
}

// meetingCall forwards a call about a known meeting; unknown answers for a
// meeting the registry does not have.
func (f *Front) meetingCall(w http.ResponseWriter, req *request, unknown func(*Front, http.ResponseWriter, *request), failMsg string) {
	key := req.key
	if key == "" {
		bbb.WriteError(w, bbb.KeyMissingMeetingID, bbb.MsgMissingMeetingID)
		return
	}
	route, err := f.Pool.Lookup(key)
	switch {
	case errors.Is(err, balancer.ErrUnavailable):
		bbb.WriteError(w, bbb.KeyServerUnavailable, bbb.MsgServerUnavailable)
		return
	case err != nil:
		unknown(f, w, req)
		return
	}
	f.forward(w, req, route, paramsFor(req, route), failMsg)
}

func (f *Front) getMeetingInfo(w http.ResponseWriter, req *request) {
	f.meetingCall(w, req, unknownMeeting, msgAccessFailed)
}

func (f *Front) insertDocument(w http.ResponseWriter, req *request) {
	f.meetingCall(w, req, unknownInsert, msgInsertFailed)
}

func (f *Front) sendChatMessage(w http.ResponseWriter, req *request) {
	f.meetingCall(w, req, unknownChat, msgAccessFailed)
}

// getMeetings merges every reachable server's meetings. A server's last
// answer (its poll's, or an earlier getMeetings') serves when it is no
// older than MeetingsMaxAge and nothing went through the balancer on that
// server since (balancer.Pool.MeetingsAnswer); the others are asked at
// once, each with a short timeout, and concurrent calls share one request
// per server: a dead server costs its meetings in the list, never the
// call, and a burst of calls costs the servers one request each.
func (f *Front) getMeetings(w http.ResponseWriter, req *request) {
	routes := f.Pool.Reachable()
	answers := make([][]bbb.MeetingXML, len(routes))
	var wg sync.WaitGroup
	for i, route := range routes {
		if ms, ok := f.Pool.MeetingsAnswer(route.ServerID, f.MeetingsMaxAge); ok {
			answers[i] = ms
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = f.serverMeetings(req.r.Context(), route)
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
func (f *Front) serverMeetings(ctx context.Context, route balancer.Route) []bbb.MeetingXML {
	ch := f.fetches.DoChan(route.ServerID, func() (any, error) {
		// A request that just finished may have brought what this call
		// wants: its caller looked before that answer was kept.
		if ms, ok := f.Pool.MeetingsAnswer(route.ServerID, f.MeetingsMaxAge); ok {
			return ms, nil
		}
		// Shared: one caller going away must not cut the others off.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.FanoutTimeout)
		defer cancel()
		started := time.Now()
		body, err := f.Client.Open(ctx, route.Server, "getMeetings", "")
		if err != nil {
			f.Pool.ReportCall(route.ServerID, time.Since(started), err)
			f.Logger.Warn("getMeetings: server left out", zap.String("server", route.ServerID), zap.Error(err))
			return nil, nil
		}
		defer body.Close()
		res, err := bbb.ReadMeetings(body)
		if err != nil {
			err = &bbb.CallError{Call: "getMeetings", Status: http.StatusOK, Err: err}
		}
		f.Pool.ReportCall(route.ServerID, time.Since(started), err)
		if err != nil || !res.OK() {
			f.Logger.Warn("getMeetings: server left out", zap.String("server", route.ServerID), zap.Error(err))
			return nil, nil
		}
		f.Pool.KeepMeetingsAnswer(route.ServerID, started, res.Meetings)
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
