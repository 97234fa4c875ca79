// Package callbacks is where the callbacks a BBB server makes about a
// meeting live: the balancer's own URLs given to servers at create
// (Relay.Intercept), the front-ends' URLs kept for them (Store), and the
// endpoint the servers call (Relay.ServeHTTP), which forgets ended
// meetings at once and relays each callback to its front-end through the
// durable delivery queue (notify).
package callbacks

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
	"github.com/bbb-balance/bbb_balance/tenants"
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

// Prefix is the path under which servers call the balancer back.
const Prefix = "/bigbluebutton/callback/"

// The callbacks, by the last element of their path; also the delivery
// kinds of their relays.
const (
	MeetingEnded = "meeting-ended" // the balancer's meetingEndedURL
	End          = "end-callback"  // meta_endCallbackUrl
	Analytics    = "analytics"     // meta_analytics-callback-url
)

// Meeting is the callback URLs a front-end gave when it created a
// meeting.
type Meeting struct {
	Key          string // registry key, the id the server knows the meeting by
	ServerID     string
	MeetingID    string // the id the front-end knows
	EndedURL     string // meetingEndedURL, called as given
	EndURL       string // meta_endCallbackUrl, called with recordingmarks and meetingID appended
	AnalyticsURL string // meta_analytics-callback-url
	SecretTag    string // of the secret the front-end signed the create with
}

func (c Meeting) any() bool {
	return c.EndedURL != "" || c.EndURL != "" || c.AnalyticsURL != ""
}

// Store keeps the front-ends' callback URLs (store.DB implements it).
type Store interface {
	// SaveMeetingCallbacks keeps c for c.Key, replacing what a previous
	// create of the meeting left.
	SaveMeetingCallbacks(ctx context.Context, c Meeting) error
	MeetingCallbacks(ctx context.Context, key string) (Meeting, bool, error)
	// TakeMeetingCallback returns the callbacks kept for key on serverID
	// and clears the URL of kind (MeetingEnded or End) in the same step,
	// so each is relayed once; ok is false when that URL was not (or no
	// longer) there.
	TakeMeetingCallback(ctx context.Context, key, serverID, kind string) (c Meeting, ok bool, err error)
}

// Enqueuer stores a delivery for the queue (notify.Queue implements it).
type Enqueuer interface {
	Enqueue(ctx context.Context, d notify.Delivery) error
}

// TenantSource gives the tenants in force (an atomic.Pointer[tenants.Set]
// is one): a relayed analytics callback is signed with its tenant's secret.
type TenantSource interface{ Load() *tenants.Set }

// Observer is told about every callback a server makes: kind, and
// "relayed", "none" (nothing to relay), "stale" (about an earlier instance
// of a meeting created again), "refused" (bad URL or token) or "error".
type Observer interface {
	Callback(kind, result string)
}

// Relay intercepts the callbacks of creates and relays them.
type Relay struct {
	Key      []byte // MAC key of the URLs given to servers (store.DB.SigningKey)
	Store    Store
	Queue    Enqueuer
	Pool     *balancer.Pool // forgets ended meetings, knows the servers' secrets
	Tenants  TenantSource
	Logger   *zap.Logger
	Observer Observer         // may be nil
	Now      func() time.Time // nil: time.Now
}

func (c *Relay) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// token is the MAC of a callback URL: its kind, the meeting, its server
// and when it was placed (placed, ms), so a call about an earlier
// instance of the meeting cannot pass for one about the current one.
func (c *Relay) token(kind, key, serverID, placed string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(kind + "\x00" + key + "\x00" + serverID + "\x00" + placed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// url is the balancer's URL of callback kind for one meeting.
func (c *Relay) url(base, kind, key, serverID, placed string) string {
	return base + Prefix + kind + "?meeting=" + url.QueryEscape(key) + "&server=" + url.QueryEscape(serverID) +
		"&placed=" + placed + "&token=" + c.token(kind, key, serverID, placed)
}

// maxAnalytics bounds the analytics data relayed for one meeting (a
// summary of its events; megabytes for the largest meetings).
const maxAnalytics = 32 << 20

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

// Intercept gives a create's server the balancer's callback URLs in place
// of the front-end's, and keeps the front-end's for the relays: m names
// the meeting (Key, ServerID, MeetingID, SecretTag), placed is when it was
// placed, base the scheme and host the servers call back. If the URLs
// cannot be kept, the front-end's go to the server as they are (the
// server then calls the front-end itself, and the registry learns of the
// end at the next poll).
func (c *Relay) Intercept(ctx context.Context, params bbb.Query, base string, m Meeting, placedAt time.Time) bbb.Query {
	key, serverID := m.Key, m.ServerID
	placed := strconv.FormatInt(placedAt.UnixMilli(), 10)
	kept := Meeting{Key: key, ServerID: serverID, MeetingID: m.MeetingID, SecretTag: m.SecretTag}
	out := params
	if v, ok := params.Lookup("meetingEndedURL"); ok && acceptedURL(strings.TrimSpace(v)) {
		kept.EndedURL = strings.TrimSpace(v)
	}
	out = out.With("meetingEndedURL", c.url(base, MeetingEnded, key, serverID, placed))
	// Most creates carry neither meta parameter: a look at the raw query
	// spares them decoding it twice. (A name spelled with %-escapes is
	// missed, and reaches the server as given.)
	if strings.Contains(strings.ToLower(string(params)), "callback") {
		if names, v := metaLookup(params, "endcallbackurl"); acceptedURL(v) {
			kept.EndURL = v
			out = out.Without(names...).With("meta_endCallbackUrl", c.url(base, End, key, serverID, placed))
		}
		if names, v := metaLookup(params, "analytics-callback-url"); acceptedURL(v) {
			kept.AnalyticsURL = v
			out = out.Without(names...).With("meta_analytics-callback-url", c.url(base, Analytics, key, serverID, placed))
		}
	}
	if !kept.any() {
		return out
	}
	if err := c.Store.SaveMeetingCallbacks(context.WithoutCancel(ctx), kept); err != nil {
		c.Logger.Error("keeping the meeting's callback URLs failed; the server gets the front-end's", zap.String("meeting", key), zap.Error(err))
		if _, ok := params.Lookup("meetingEndedURL"); ok {
			return params
		}
		return params.With("meetingEndedURL", c.url(base, MeetingEnded, key, serverID, placed))
	}
	return out
}

// Handles reports whether r is a server's callback.
func Handles(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, Prefix) }

// ServeHTTP answers a server calling one of the URLs Intercept gave it. A
// call whose MAC does not verify gets 404 and changes nothing.
func (c *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := strings.TrimPrefix(r.URL.Path, Prefix)
	q := r.URL.Query()
	key, serverID, placed := q.Get("meeting"), q.Get("server"), q.Get("placed")
	known := kind == MeetingEnded || kind == End || kind == Analytics
	if !known || key == "" || !hmac.Equal([]byte(q.Get("token")), []byte(c.token(kind, key, serverID, placed))) {
		c.done(w, kind, "refused", http.StatusNotFound)
		return
	}
	// The relays are queued whether or not the server stays connected.
	ctx := context.WithoutCancel(r.Context())
	log := c.Logger.With(zap.String("meeting", key), zap.String("server", serverID))
	if at, ok := c.Pool.PlacedAt(key); ok && strconv.FormatInt(at.UnixMilli(), 10) != placed {
		// A late call about an earlier instance of a meeting created
		// again since: the registry entry and the kept URLs are the new
		// instance's, and stay.
		log.Info("callback about an earlier instance of the meeting ignored", zap.String("kind", kind))
		c.done(w, kind, "stale", http.StatusOK)
		return
	}
	switch kind {
	case MeetingEnded:
		if err := c.Pool.Forget(ctx, key, serverID); err != nil {
			log.Error("forgetting an ended meeting failed", zap.Error(err))
			c.done(w, kind, "error", http.StatusInternalServerError) // the server retries
			return
		}
		log.Info("meeting ended (its server called back); removed from the registry")
		c.relayEnd(ctx, w, log, kind, key, serverID, nil)
	case End:
		// What the server appended to the URL (recordingmarks, meetingID),
		// in its order, without the balancer's own parameters.
		appended := bbb.Query(r.URL.RawQuery).Without("meeting", "server", "placed", "token")
		c.relayEnd(ctx, w, log, kind, key, serverID, &appended)
	case Analytics:
		c.relayAnalytics(ctx, w, r, log, key, serverID)
	}
}

func (c *Relay) done(w http.ResponseWriter, kind, result string, status int) {
	if c.Observer != nil {
		c.Observer.Callback(kind, result)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if status != http.StatusOK {
		io.WriteString(w, http.StatusText(status)+"\n")
	}
}

// relayEnd queues the front-end's end callback of kind, once. appended is
// nil for meetingEndedURL (called as given), else what the server appended
// to meta_endCallbackUrl.
func (c *Relay) relayEnd(ctx context.Context, w http.ResponseWriter, log *zap.Logger, kind, key, serverID string, appended *bbb.Query) {
	kept, ok, err := c.Store.TakeMeetingCallback(ctx, key, serverID, kind)
	switch {
	case err != nil:
		log.Error("reading the meeting's callback URLs failed", zap.Error(err))
		c.done(w, kind, "error", http.StatusInternalServerError)
		return
	case !ok:
		c.done(w, kind, "none", http.StatusOK)
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
	if err := c.Queue.Enqueue(ctx, notify.Delivery{Kind: kind, Method: http.MethodGet, URL: target}); err != nil {
		log.Error("queueing the front-end's end callback failed; it is lost", zap.String("url", notify.Redact(target)), zap.Error(err))
		c.done(w, kind, "error", http.StatusInternalServerError)
		return
	}
	c.done(w, kind, "relayed", http.StatusOK)
}

// relayAnalytics checks the server's JWT and queues the data for the
// front-end, signed with the front-end's secret (bbb-api.md §4.4).
func (c *Relay) relayAnalytics(ctx context.Context, w http.ResponseWriter, r *http.Request, log *zap.Logger, key, serverID string) {
	const kind = Analytics
	if r.Method != http.MethodPost {
		c.done(w, kind, "refused", http.StatusMethodNotAllowed)
		return
	}
	route, ok := c.Pool.Route(serverID)
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bbb.VerifyJWT(bearer, route.Server.Secret, c.now().Unix()) != nil {
		log.Warn("analytics callback refused: its JWT does not verify with the server's secret")
		c.done(w, kind, "refused", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAnalytics+1))
	if err != nil || len(body) > maxAnalytics || !json.Valid(body) {
		log.Warn("analytics callback refused: unreadable, too large or not JSON", zap.Int("bytes", len(body)))
		c.done(w, kind, "refused", http.StatusBadRequest)
		return
	}
	kept, ok, err := c.Store.MeetingCallbacks(ctx, key)
	switch {
	case err != nil:
		log.Error("reading the meeting's callback URLs failed", zap.Error(err))
		c.done(w, kind, "error", http.StatusInternalServerError)
		return
	case !ok || kept.AnalyticsURL == "":
		c.done(w, kind, "none", http.StatusOK)
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
	owner, _, known := c.Tenants.Load().Owner(key)
	if !known {
		// Its tenant was removed: nobody's secret may sign for it.
		log.Warn("analytics callback of a removed tenant's meeting: not relayed")
		c.done(w, kind, "none", http.StatusOK)
		return
	}
	claims := struct {
		Exp int64 `json:"exp"`
	}{c.now().Add(24 * time.Hour).Unix()}
	token, err := bbb.SignJWT("HS512", owner.Verifier.SecretFor(kept.SecretTag), claims)
	if err == nil {
		err = c.Queue.Enqueue(ctx, notify.Delivery{Kind: kind, URL: kept.AnalyticsURL, ContentType: "application/json", Body: body,
			Header: http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {"BigBlueButton Analytics Callback"}}})
	}
	if err != nil {
		log.Error("queueing the analytics callback failed", zap.String("url", notify.Redact(kept.AnalyticsURL)), zap.Error(err))
		c.done(w, kind, "error", http.StatusInternalServerError)
		return
	}
	c.done(w, kind, "relayed", http.StatusOK)
}

// acceptedURL reports whether the delivery queue can call raw.
func acceptedURL(raw string) bool { return notify.CheckURL(raw) == nil }
