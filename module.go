package bbbbalance

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/callbacks"
	"github.com/bbb-balance/bbb_balance/dialin"
	"github.com/bbb-balance/bbb_balance/health"
	"github.com/bbb-balance/bbb_balance/playback"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/scaleliteapi"
	"github.com/bbb-balance/bbb_balance/tenants"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(new(App))
}

// Handler is the bbb_balance HTTP handler, http.handlers.bbb_balance. Its
// exported fields are its JSON config (the types they hold: config.go).
// It answers these paths and passes every other request to the next
// handler:
//
//   - the BBB API, /bigbluebutton/api/<call>, and a tenant's,
//     <path_prefix>/bigbluebutton/api/<call> (package api);
//   - scalelite's management API, /scalelite/api/<call> (package
//     scaleliteapi);
//   - recording uploads from the pool's servers, POST
//     /bigbluebutton/recording/upload, when recordings { upload } is on;
//   - with recordings, the pool's servers' signed status call, GET
//     /bigbluebutton/recording/status: is a recording they sent imported
//     (examples/bbb: they delete their copy only then);
//   - the health check for monitors, /health_check;
//   - the servers' callbacks about meetings, /bigbluebutton/callback/...
//     (package callbacks);
//   - with recordings, their playback (package playback): the files,
//     /<format>/<recordID>/... (presentation, video, screenshare, podcast,
//     notes); protected recordings' one-time links,
//     /recording/<recordID>/<format>; and scalelite's legacy paths,
//     /playback/presentation/2.0/playback.html, /playback/video/... and
//     /recording/screenshare/....
type Handler struct {
	// Secrets the front-ends sign with; any of them is accepted, so a
	// secret can be rotated without downtime. At least one is required.
	// Placeholders such as {env.BBB_SECRET} are expanded.
	Secrets []string `json:"secrets,omitempty"`
	// ChecksumAlgorithms accepted from front-ends; default all of sha1,
	// sha256, sha384 and sha512.
	ChecksumAlgorithms []string `json:"checksum_algorithms,omitempty"`
	// Database is where the balancer keeps its state: a SQLite file (a
	// path, or sqlite://<path>), for one instance; or a PostgreSQL URL
	// (postgres://user:password@host:port/db?sslmode=..., also
	// postgresql://), which several instances with the same config share
	// and then act as one balancer (README: Several instances).
	// Placeholders such as {env.DATABASE_URL} are expanded. Default
	// bbb_balance/bbb.sqlite under Caddy's data directory.
	Database string `json:"database,omitempty"`
	// Servers of the pool. Default none: servers can also be added at run
	// time (admin API, `caddy bbb servers add`), kept in the database
	// across reloads.
	Servers []balancer.ServerConfig `json:"servers,omitempty"`
	// Timeout of a call forwarded to one server; default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// GetMeetingsTimeout bounds how long getMeetings waits for each
	// server; a slower server is left out of the answer. Default 3s.
	GetMeetingsTimeout caddy.Duration `json:"getmeetings_timeout,omitempty"`
	// GetMeetingsMaxAge is how old a server's last getMeetings answer (its
	// poll's, or an earlier getMeetings call's) may be to serve a
	// getMeetings instead of asking that server again; an answer older
	// than a create or end the balancer made on that server never serves.
	// Default twice the health interval (the polls' answers serve, unless a
	// poll was missed); negative: every getMeetings asks every server.
	GetMeetingsMaxAge caddy.Duration `json:"getmeetings_max_age,omitempty"`

	// HealthInterval is how often every server is polled (a signed
	// getMeetings), default 10s. The names and meanings of the four health
	// settings are those of reverse_proxy's active health checks.
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`
	// HealthTimeout bounds one poll, default 5s.
	HealthTimeout caddy.Duration `json:"health_timeout,omitempty"`
	// HealthPasses good polls in a row bring a server online, default 1.
	HealthPasses int `json:"health_passes,omitempty"`
	// HealthFails failed polls in a row take a server offline, default 2.
	HealthFails int `json:"health_fails,omitempty"`

	// FailDuration is how long a failed call to a server (a front-end's
	// call the balancer forwarded, or a getMeetings) is remembered: the
	// passive health checks of reverse_proxy, with its names. While
	// MaxFails such failures are remembered, the server takes no new
	// meetings (its meetings stay), and a create it refused or dropped
	// unanswered is tried on another server. Default 10s; negative: off.
	FailDuration caddy.Duration `json:"fail_duration,omitempty"`
	// MaxFails is how many failed calls within FailDuration take a server
	// out of placement; default 1.
	MaxFails int `json:"max_fails,omitempty"`
	// UnhealthyStatus are the HTTP statuses of a server's answer that
	// count as failed calls, or classes as reverse_proxy has them (5 for
	// every 5xx); a call without a usable answer (refused, reset, timed
	// out, not BBB's XML) always counts. Default none.
	UnhealthyStatus []int `json:"unhealthy_status,omitempty"`
	// UnhealthyLatency makes a call that took longer count as failed;
	// default none.
	UnhealthyLatency caddy.Duration `json:"unhealthy_latency,omitempty"`
	// Load weighs what servers report into their load (the load
	// formula); default LoadConfig's defaults.
	Load *LoadConfig `json:"load,omitempty"`
	// VoiceBridge is how each meeting's voice bridge (the number phone
	// callers dial, unique in the pool) is chosen; default
	// balancer.VoiceBridgePolicy's defaults (9 digits, the balancer's).
	VoiceBridge *balancer.VoiceBridgePolicy `json:"voice_bridge,omitempty"`
	// Dialin is the FreeSWITCH dial-in endpoint (mod_xml_curl): phone
	// callers reach any meeting by its voice bridge. Default off.
	Dialin *DialinConfig `json:"dialin,omitempty"`
	// Recordings: where they arrive and are kept. Default none: the
	// recording calls answer "no recordings" and nothing is played back.
	Recordings *RecordingsConfig `json:"recordings,omitempty"`

	// Create is the parameter rules for every create (scalelite's
	// DEFAULT_CREATE_PARAMS, OVERRIDE_CREATE_PARAMS and
	// CREATE_EXCLUDE_PARAMS); a tenant's own rules come on top. Default
	// none.
	Create *tenants.Params `json:"create,omitempty"`
	// Join is the parameter rules for every join, as Create is for
	// create (scalelite's ..._JOIN_PARAMS). Default none.
	Join *tenants.Params `json:"join,omitempty"`
	// MaxDuration caps every meeting's duration, in minutes (scalelite's
	// MAX_MEETING_DURATION): a create without a duration, or with 0 or a
	// longer one, gets it. Default 0: no cap.
	MaxDuration int `json:"max_duration,omitempty"`
	// Tenants share the pool, each with its own secrets, meetings,
	// recordings, rules and limits. Default none: the handler's secrets
	// are the only front-end.
	Tenants []tenants.Config `json:"tenants,omitempty"`

	engine          *engine
	front           *api.Front
	upload          http.Handler      // recordings uploaded by the servers; nil unless enabled
	recordingStatus http.Handler      // the servers' status calls about their recordings; nil without recordings
	dialin          *dialin.Handler   // FreeSWITCH's dial-in lookups; nil unless configured
	playback        *playback.Server  // the recordings' files; nil without recordings
	scalelite       *scaleliteapi.API // scalelite's management API, under /scalelite/api/
	logger          *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bbb_balance",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Defaults.
const (
	defaultTimeout            = 10 * time.Second
	defaultGetMeetingsTimeout = 3 * time.Second
	defaultFailDuration       = 10 * time.Second
)

// Provision expands placeholders, opens (or shares) the engine of the
// database and stages the server list, which goes live when the config does.
// It calls no BBB server: `caddy validate` provisions too.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for i, s := range h.Secrets {
		h.Secrets[i] = repl.ReplaceKnown(s, "")
	}
	h.expandTenantSecrets(repl)
	if h.Dialin != nil {
		h.Dialin.Password = repl.ReplaceKnown(h.Dialin.Password, "")
	}
	for i := range h.Servers {
		h.Servers[i].Secret = repl.ReplaceKnown(h.Servers[i].Secret, "")
		h.Servers[i].URL = repl.ReplaceKnown(h.Servers[i].URL, "")
	}
	h.Database = repl.ReplaceKnown(h.Database, "")
	if h.Database == "" {
		h.Database = filepath.Join(caddy.AppDataDir(), "bbb_balance", "bbb.sqlite")
	}
	if h.Timeout == 0 {
		h.Timeout = caddy.Duration(defaultTimeout)
	}
	if h.GetMeetingsTimeout == 0 {
		h.GetMeetingsTimeout = caddy.Duration(defaultGetMeetingsTimeout)
	}
	if err := h.validate(); err != nil {
		return err
	}

	eng, err := loadEngine(h.Database, h.logger)
	if err != nil {
		return err
	}
	h.engine = eng
	algs := make([]bbb.Algorithm, len(h.ChecksumAlgorithms))
	for i, a := range h.ChecksumAlgorithms {
		algs[i], _ = bbb.ParseAlgorithm(a) // checked by validate
	}
	base := h.tenantBase(algs)
	tenantSet, notes, err := eng.tenantSet(ctx, base)
	if err != nil {
		return err
	}
	verifier := tenantSet.Default.Verifier
	var lib *recordings.Library
	if h.Recordings != nil {
		if lib, err = eng.library(h.Recordings.libraryConfig()); err != nil {
			return err
		}
	}
	appIface, err := ctx.App("bbb")
	if err != nil {
		return err
	}
	if err := appIface.(*App).stage(eng, h.settings(), stagedTenants{base, tenantSet, notes}, ctx); err != nil {
		return err
	}

	servers := api.Servers{Pool: eng.pool, Client: eng.client, Logger: h.logger, Timeout: time.Duration(h.Timeout)}
	h.front = &api.Front{
		Tenants:  &eng.tenants,
		Logger:   h.logger,
		Observer: apiObserver{},
		Meetings: &api.Meetings{
			Servers:        servers,
			FanoutTimeout:  time.Duration(h.GetMeetingsTimeout),
			MeetingsMaxAge: h.meetingsMaxAge(),
			Observer:       apiObserver{},
		},
		Recordings: &api.Recordings{Servers: servers},
	}
	if r := h.Recordings; r != nil {
		publicURL := strings.TrimRight(r.PublicURL, "/")
		h.front.Recordings.Index, h.front.Recordings.Files, h.front.Recordings.PublicURL = eng.db, lib, publicURL
		h.front.Meetings.ReadyURLs, h.front.Meetings.PublicURL = eng.db, publicURL
		if r.Upload {
			h.upload = h.uploadHandler(lib)
		}
		h.recordingStatus = h.statusHandler(lib)
	}
	if err := h.provisionCallbacks(ctx); err != nil {
		return err
	}
	if err := h.provisionDialin(eng); err != nil {
		return err
	}
	if err := h.provisionPlayback(ctx, lib); err != nil {
		return err
	}
	h.scalelite = &scaleliteapi.API{Verifier: verifier, Manager: eng.manager, OnChecksumFailure: func(call string) {
		metrics.checksum.WithLabelValues("scalelite/" + call).Inc()
	}}
	return registerMetrics(ctx.GetMetricsRegistry())
}

// meetingsMaxAge is GetMeetingsMaxAge with its default; 0 when off (every
// call asks every server).
func (h *Handler) meetingsMaxAge() time.Duration {
	switch age := time.Duration(h.GetMeetingsMaxAge); {
	case age < 0:
		return 0
	case age == 0:
		return 2 * h.settings().health.Interval
	default:
		return age
	}
}

func (h *Handler) settings() engineSettings {
	st := engineSettings{
		servers: h.Servers,
		health: health.Config{
			Interval: time.Duration(h.HealthInterval),
			Timeout:  time.Duration(h.HealthTimeout),
			Rule:     balancer.HealthRule{Passes: h.HealthPasses, Fails: h.HealthFails},
		}.WithDefaults(),
		passive: balancer.PassiveHealth{
			FailDuration:     time.Duration(h.FailDuration),
			MaxFails:         max(h.MaxFails, 1),
			UnhealthyStatus:  h.UnhealthyStatus,
			UnhealthyLatency: time.Duration(h.UnhealthyLatency),
		},
	}
	switch {
	case h.FailDuration == 0:
		st.passive.FailDuration = defaultFailDuration
	case h.FailDuration < 0:
		st.passive.FailDuration = 0 // off
	}
	if l := h.Load; l != nil {
		st.load = balancer.LoadModel{Meeting: l.Meeting, Participant: l.Participant, Voice: l.Voice, Video: l.Video,
			NewMeetingSize: l.NewMeetingSize, NewMeetingWindow: time.Duration(l.NewMeetingWindow)}
	}
	st.load = st.load.WithDefaults()
	if h.VoiceBridge != nil {
		st.voice = *h.VoiceBridge
	}
	st.voice = st.voice.WithDefaults()
	if h.Recordings != nil {
		st.recordings = h.Recordings.settings()
	}
	return st
}

// validate checks the config and fills server defaults. It runs in
// Provision, before anything is opened, so a bad config changes nothing.
func (h *Handler) validate() error {
	if len(h.Secrets) == 0 {
		return fmt.Errorf("bbb_balance: no secret: front-ends need at least one secret to sign with")
	}
	for _, s := range h.Secrets {
		if s == "" {
			return fmt.Errorf("bbb_balance: a secret is empty (is its environment variable set?)")
		}
	}
	if h.Dialin != nil {
		if err := h.Dialin.validate(); err != nil {
			return err
		}
	}
	if v := h.VoiceBridge; v != nil && v.Length != 0 && (v.Length < balancer.MinVoiceBridgeLength || v.Length > balancer.MaxVoiceBridgeLength) {
		return fmt.Errorf("bbb_balance: voice_bridge length %d: want %d to %d digits", v.Length, balancer.MinVoiceBridgeLength, balancer.MaxVoiceBridgeLength)
	}
	for _, a := range h.ChecksumAlgorithms {
		if _, err := bbb.ParseAlgorithm(a); err != nil {
			return fmt.Errorf("bbb_balance: checksum_algorithms: %v", err)
		}
	}
	if h.MaxFails < 0 || h.UnhealthyLatency < 0 {
		return fmt.Errorf("max_fails and unhealthy_latency must not be negative")
	}
	for _, code := range h.UnhealthyStatus {
		if (code < 1 || code > 5) && (code < 100 || code > 599) {
			return fmt.Errorf("unhealthy_status: %d is not an HTTP status or class (1-5)", code)
		}
	}
	if h.HealthPasses < 0 || h.HealthFails < 0 || h.HealthInterval < 0 || h.HealthTimeout < 0 {
		return fmt.Errorf("bbb_balance: health settings must not be negative")
	}
	if l := h.Load; l != nil && (l.Meeting < 0 || l.Participant < 0 || l.Voice < 0 || l.Video < 0 || l.NewMeetingSize < 0 || l.NewMeetingWindow < 0) {
		return fmt.Errorf("bbb_balance: load weights must not be negative")
	}
	if h.Recordings != nil {
		if err := h.Recordings.validate(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i := range h.Servers {
		s := &h.Servers[i]
		if err := s.Normalize(); err != nil {
			return fmt.Errorf("bbb_balance: %v", err)
		}
		if seen[s.ID] {
			return fmt.Errorf("bbb_balance: server %s is declared twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// Cleanup releases this config's hold on the engine; the engine itself
// stops when the last config using its database goes.
func (h *Handler) Cleanup() error {
	if h.engine == nil {
		return nil
	}
	_, err := engines.Delete(h.engine.key)
	return err
}

// HealthCheckPath answers external monitors (the path scalelite uses).
const HealthCheckPath = "/health_check"

// ServeHTTP answers the BBB API, scalelite's management API and the health
// check, and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.front.Serve(w, r) {
		return nil
	}
	if strings.HasPrefix(r.URL.Path, scaleliteapi.Prefix) {
		h.scalelite.ServeHTTP(w, r)
		return nil
	}
	if r.URL.Path == UploadPath && h.upload != nil {
		h.upload.ServeHTTP(w, r)
		return nil
	}
	if r.URL.Path == StatusPath && h.recordingStatus != nil {
		h.recordingStatus.ServeHTTP(w, r)
		return nil
	}
	if r.URL.Path == HealthCheckPath {
		h.healthCheck(w, r)
		return nil
	}
	if h.dialin != nil && r.URL.Path == h.Dialin.Path {
		h.dialin.ServeHTTP(w, r)
		return nil
	}
	if callbacks.Handles(r) {
		h.front.Meetings.Callbacks.ServeHTTP(w, r)
		return nil
	}
	if h.playback != nil {
		if done, err := h.playback.Serve(w, r); done {
			return err
		}
	}
	return next.ServeHTTP(w, r)
}

// healthCheck answers 200 "success" when the database answers and at least
// one server is online, and 503 with the reason otherwise, so a monitor or
// a load balancer in front needs only the status code.
func (h *Handler) healthCheck(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	reason := ""
	if err := h.engine.db.Check(ctx); err != nil {
		reason = "database: " + err.Error()
	} else {
		online := 0
		for _, s := range h.engine.pool.Servers() {
			if s.Online && s.State != balancer.Disabled {
				online++
			}
		}
		if online == 0 {
			reason = "no BBB server is online"
		}
	}
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "Health Check Failure: %s\n", reason)
		return
	}
	fmt.Fprintln(w, "success")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
