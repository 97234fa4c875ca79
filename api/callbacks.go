package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/notify"
)

// The callbacks a BBB server makes about a meeting go to the balancer, not
// to the front-end (bbb-api.md §4.1, §4.2, §4.4):
//
//   - meetingEndedURL is always the balancer's own: when the server calls
//     it, the meeting leaves the registry at once instead of at the next
//     poll. A front-end's meetingEndedURL is kept and called as given.
//   - meta_endCallbackUrl becomes a balancer URL; the server appends
//     recordingmarks and meetingID to it, and the balancer calls the
//     front-end's URL with them, its own meeting id in meetingID.
//   - meta_analytics-callback-url becomes a balancer URL; the balancer
//     checks the server's JWT and posts the data to the front-end with a
//     JWT signed with the secret the front-end created the meeting with
//     (scalelite §3.9).
//
// The URLs given to servers carry the meeting's registry key, its server
// and a MAC of both (keyed with a key kept in the database), so only the
// server that got them can make a call the balancer acts on. Relays go
// through the durable delivery queue: retried with backoff, bounded, and
// an API call never waits on them.

// CallbackPrefix is the path under which servers call the balancer back.
const CallbackPrefix = "/bigbluebutton/callback/"

// The callbacks, by the last element of their path; also the delivery
// kinds of their relays.
const (
	CallbackMeetingEnded = "meeting-ended" // the balancer's meetingEndedURL
	CallbackEnd          = "end-callback"  // meta_endCallbackUrl
	CallbackAnalytics    = "analytics"     // meta_analytics-callback-url
)

// MeetingCallbacks are the callback URLs a front-end gave when it created
// a meeting.
type MeetingCallbacks struct {
	Key          string // registry key, the id the server knows the meeting by
	ServerID     string
	MeetingID    string // the id the front-end knows
	EndedURL     string // meetingEndedURL, called as given
	EndURL       string // meta_endCallbackUrl, called with recordingmarks and meetingID appended
	AnalyticsURL string // meta_analytics-callback-url
	SecretTag    string // of the secret the front-end signed the create with
}

func (c MeetingCallbacks) any() bool {
	return c.EndedURL != "" || c.EndURL != "" || c.AnalyticsURL != ""
}

// CallbackStore keeps the front-ends' callback URLs (store.DB implements it).
type CallbackStore interface {
	// SaveMeetingCallbacks keeps c for c.Key, replacing what a previous
	// create of the meeting left.
	SaveMeetingCallbacks(ctx context.Context, c MeetingCallbacks) error
	MeetingCallbacks(ctx context.Context, key string) (MeetingCallbacks, bool, error)
	// TakeMeetingCallback returns the callbacks kept for key on serverID
	// and clears the URL of kind (CallbackMeetingEnded or CallbackEnd) in
	// the same step, so each is relayed once; ok is false when that URL
	// was not (or no longer) there.
	TakeMeetingCallback(ctx context.Context, key, serverID, kind string) (c MeetingCallbacks, ok bool, err error)
}

// Enqueuer stores a delivery for the queue (notify.Queue implements it).
type Enqueuer interface {
	Enqueue(ctx context.Context, d notify.Delivery) error
}

// Callbacks is what the API needs to intercept and relay callbacks.
type Callbacks struct {
	Key   []byte // MAC key of the URLs given to servers (store.DB.SigningKey)
	Store CallbackStore
	Queue Enqueuer
	Now   func() time.Time // nil: time.Now
}

func (c *Callbacks) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// token is the MAC of a callback URL: its kind, the meeting, its server
// and when it was placed (placed, ms), so a call about an earlier
// instance of the meeting cannot pass for one about the current one.
func (c *Callbacks) token(kind, key, serverID, placed string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(kind + "\x00" + key + "\x00" + serverID + "\x00" + placed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// url is the balancer's URL of callback kind for one meeting.
func (c *Callbacks) url(base, kind, key, serverID, placed string) string {
	return base + CallbackPrefix + kind + "?meeting=" + url.QueryEscape(key) + "&server=" + url.QueryEscape(serverID) +
		"&placed=" + placed + "&token=" + c.token(kind, key, serverID, placed)
}

// maxAnalytics bounds the analytics data relayed for one meeting (a
// summary of its events; megabytes for the largest meetings).
const maxAnalytics = 32 << 20

// absoluteURL accepts what the delivery queue can call.
func absoluteURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// metaLookup finds a meta_ parameter the way BBB does, whatever the case
// of its name: it returns every spelling present (to remove them all) and
// the value of the first.
func metaLookup(params bbb.Query, key string) (names []string, value string) {
	seen := false
	for name, vs := range params.Values() {
		if len(name) > len("meta_") && strings.EqualFold(name[:len("meta_")], "meta_") && strings.EqualFold(name[len("meta_"):], key) {
			names = append(names, name)
			if !seen && len(vs) > 0 {
				seen = true
				value = params.Get(name)
			}
		}
	}
	return names, strings.TrimSpace(value)
}

// interceptCallbacks gives the meeting's server the balancer's callback
// URLs in place of the front-end's, and keeps the front-end's for the
// relays. If they cannot be kept, the front-end's URLs go to the server
// as they are (the server then calls the front-end itself, and the
// registry learns of the end at the next poll).
func (f *Front) interceptCallbacks(req *request, route balancer.Route, placedAt time.Time, params bbb.Query) bbb.Query {
	cb := f.Callbacks
	if cb == nil {
		return params
	}
	key := req.key
	placed := strconv.FormatInt(placedAt.UnixMilli(), 10)
	base := f.publicHost(req.r)
	kept := MeetingCallbacks{Key: key, ServerID: route.ServerID, MeetingID: req.meetingID, SecretTag: bbb.SecretTag(req.secret)}
	out := params
	if v, ok := params.Lookup("meetingEndedURL"); ok && absoluteURL(strings.TrimSpace(v)) {
		kept.EndedURL = strings.TrimSpace(v)
	}
	out = out.With("meetingEndedURL", cb.url(base, CallbackMeetingEnded, key, route.ServerID, placed))
	// Most creates carry neither meta parameter: a look at the raw query
	// spares them decoding it twice. (A name spelled with %-escapes is
	// missed, and reaches the server as given.)
	if strings.Contains(strings.ToLower(string(params)), "callback") {
		if names, v := metaLookup(params, "endcallbackurl"); absoluteURL(v) {
			kept.EndURL = v
			out = out.Without(names...).With("meta_endCallbackUrl", cb.url(base, CallbackEnd, key, route.ServerID, placed))
		}
		if names, v := metaLookup(params, "analytics-callback-url"); absoluteURL(v) {
			kept.AnalyticsURL = v
			out = out.Without(names...).With("meta_analytics-callback-url", cb.url(base, CallbackAnalytics, key, route.ServerID, placed))
		}
	}
	if !kept.any() {
		return out
	}
	if err := cb.Store.SaveMeetingCallbacks(context.WithoutCancel(req.r.Context()), kept); err != nil {
		f.Logger.Error("keeping the meeting's callback URLs failed; the server gets the front-end's", zap.String("meeting", key), zap.Error(err))
		if _, ok := params.Lookup("meetingEndedURL"); ok {
			return params
		}
		return params.With("meetingEndedURL", cb.url(base, CallbackMeetingEnded, key, route.ServerID, placed))
	}
	return out
}

// HandlesCallback reports whether r is a server's callback.
func HandlesCallback(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, CallbackPrefix) }

// ServeCallback answers a server calling one of the URLs interceptCallbacks
// gave it. A call whose MAC does not verify gets 404 and changes nothing.
func (f *Front) ServeCallback(w http.ResponseWriter, r *http.Request) {
	kind := strings.TrimPrefix(r.URL.Path, CallbackPrefix)
	q := r.URL.Query()
	key, serverID, placed := q.Get("meeting"), q.Get("server"), q.Get("placed")
	cb := f.Callbacks
	known := kind == CallbackMeetingEnded || kind == CallbackEnd || kind == CallbackAnalytics
	if cb == nil || !known || key == "" || !hmac.Equal([]byte(q.Get("token")), []byte(cb.token(kind, key, serverID, placed))) {
		f.callbackDone(w, kind, "refused", http.StatusNotFound)
		return
	}
	// The relays are queued whether or not the server stays connected.
	ctx := context.WithoutCancel(r.Context())
	log := f.Logger.With(zap.String("meeting", key), zap.String("server", serverID))
	if at, ok := f.Pool.PlacedAt(key); ok && strconv.FormatInt(at.UnixMilli(), 10) != placed {
		// A late call about an earlier instance of a meeting created
		// again since: the registry entry and the kept URLs are the new
		// instance's, and stay.
		log.Info("callback about an earlier instance of the meeting ignored", zap.String("kind", kind))
		f.callbackDone(w, kind, "stale", http.StatusOK)
		return
	}
	switch kind {
	case CallbackMeetingEnded:
		if err := f.Pool.Forget(ctx, key, serverID); err != nil {
			log.Error("forgetting an ended meeting failed", zap.Error(err))
			f.callbackDone(w, kind, "error", http.StatusInternalServerError) // the server retries
			return
		}
		log.Info("meeting ended (its server called back); removed from the registry")
		f.relayEnd(ctx, w, log, kind, key, serverID, nil)
	case CallbackEnd:
		// What the server appended to the URL (recordingmarks, meetingID),
		// in its order, without the balancer's own parameters.
		appended := bbb.Query(r.URL.RawQuery).Without("meeting", "server", "placed", "token")
		f.relayEnd(ctx, w, log, kind, key, serverID, &appended)
	case CallbackAnalytics:
		f.relayAnalytics(ctx, w, r, log, key, serverID)
	}
}

func (f *Front) callbackDone(w http.ResponseWriter, kind, result string, status int) {
	if f.Observer != nil {
		if co, ok := f.Observer.(CallbackObserver); ok {
			co.Callback(kind, result)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if status != http.StatusOK {
		io.WriteString(w, http.StatusText(status)+"\n")
	}
}

// CallbackObserver, if the Front's Observer implements it, is told about
// every callback a server makes: kind, and "relayed", "none" (nothing to
// relay), "stale" (about an earlier instance of a meeting created again),
// "refused" (bad URL or token) or "error".
type CallbackObserver interface {
	Callback(kind, result string)
}

// relayEnd queues the front-end's end callback of kind, once. appended is
// nil for meetingEndedURL (called as given), else what the server appended
// to meta_endCallbackUrl.
func (f *Front) relayEnd(ctx context.Context, w http.ResponseWriter, log *zap.Logger, kind, key, serverID string, appended *bbb.Query) {
	kept, ok, err := f.Callbacks.Store.TakeMeetingCallback(ctx, key, serverID, kind)
	switch {
	case err != nil:
		log.Error("reading the meeting's callback URLs failed", zap.Error(err))
		f.callbackDone(w, kind, "error", http.StatusInternalServerError)
		return
	case !ok:
		f.callbackDone(w, kind, "none", http.StatusOK)
		return
	}
	target := kept.EndedURL
	if appended != nil {
		target = kept.EndURL
		extra := *appended
		if _, has := extra.Lookup("meetingID"); has {
			extra = extra.With("meetingID", kept.MeetingID)
		}
		if extra != "" {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + string(extra)
		}
	}
	if err := f.Callbacks.Queue.Enqueue(ctx, notify.Delivery{Kind: kind, Method: http.MethodGet, URL: target}); err != nil {
		log.Error("queueing the front-end's end callback failed; it is lost", zap.String("url", notify.Redact(target)), zap.Error(err))
		f.callbackDone(w, kind, "error", http.StatusInternalServerError)
		return
	}
	f.callbackDone(w, kind, "relayed", http.StatusOK)
}

// relayAnalytics checks the server's JWT and queues the data for the
// front-end, signed with the front-end's secret (bbb-api.md §4.4).
func (f *Front) relayAnalytics(ctx context.Context, w http.ResponseWriter, r *http.Request, log *zap.Logger, key, serverID string) {
	const kind = CallbackAnalytics
	if r.Method != http.MethodPost {
		f.callbackDone(w, kind, "refused", http.StatusMethodNotAllowed)
		return
	}
	route, ok := f.Pool.Route(serverID)
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bbb.VerifyJWT(bearer, route.Server.Secret, f.Callbacks.now().Unix()) != nil {
		log.Warn("analytics callback refused: its JWT does not verify with the server's secret")
		f.callbackDone(w, kind, "refused", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAnalytics+1))
	if err != nil || len(body) > maxAnalytics || !json.Valid(body) {
		log.Warn("analytics callback refused: unreadable, too large or not JSON", zap.Int("bytes", len(body)))
		f.callbackDone(w, kind, "refused", http.StatusBadRequest)
		return
	}
	kept, ok, err := f.Callbacks.Store.MeetingCallbacks(ctx, key)
	switch {
	case err != nil:
		log.Error("reading the meeting's callback URLs failed", zap.Error(err))
		f.callbackDone(w, kind, "error", http.StatusInternalServerError)
		return
	case !ok || kept.AnalyticsURL == "":
		f.callbackDone(w, kind, "none", http.StatusOK)
		return
	}
	if kept.MeetingID != key {
		// The front-end knows the meeting by its own id.
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) == nil && doc != nil {
			doc["meeting_id"], _ = json.Marshal(kept.MeetingID)
			if b, err := json.Marshal(doc); err == nil {
				body = b
			}
		}
	}
	owner, _, known := f.Tenants.Load().Owner(key)
	if !known {
		// Its tenant was removed: nobody's secret may sign for it.
		log.Warn("analytics callback of a removed tenant's meeting: not relayed")
		f.callbackDone(w, kind, "none", http.StatusOK)
		return
	}
	claims := struct {
		Exp int64 `json:"exp"`
	}{f.Callbacks.now().Add(24 * time.Hour).Unix()}
	token, err := bbb.SignJWT("HS512", owner.Verifier.SecretFor(kept.SecretTag), claims)
	if err == nil {
		err = f.Callbacks.Queue.Enqueue(ctx, notify.Delivery{Kind: kind, URL: kept.AnalyticsURL, ContentType: "application/json", Body: body,
			Header: http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {"BigBlueButton Analytics Callback"}}})
	}
	if err != nil {
		log.Error("queueing the analytics callback failed", zap.String("url", notify.Redact(kept.AnalyticsURL)), zap.Error(err))
		f.callbackDone(w, kind, "error", http.StatusInternalServerError)
		return
	}
	f.callbackDone(w, kind, "relayed", http.StatusOK)
}
