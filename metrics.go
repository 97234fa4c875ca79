package bbbbalance

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// The collectors are made once and registered into the registry of every
// config (Caddy gives each config generation a new one), so their values
// carry over reloads. Per-server gauges are read from the pools at scrape
// time: nothing to keep in step.
var metrics = struct {
	calls        *prometheus.CounterVec
	checksum     *prometheus.CounterVec
	placements   *prometheus.CounterVec
	pollDuration prometheus.Histogram
	pollFailures *prometheus.CounterVec
	servers      poolCollector

	limitHits      *prometheus.CounterVec
	imports        prometheus.Counter
	importFailures prometheus.Counter
	expired        *prometheus.CounterVec
	expiredBytes   *prometheus.CounterVec
	deliveries     *prometheus.CounterVec

	playbackRefused *prometheus.CounterVec
	playbackLinks   prometheus.Counter
	callbacks       *prometheus.CounterVec
	dialin          *prometheus.CounterVec
}{
	dialin: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "dialin_requests_total",
		Help: "FreeSWITCH dial-in lookups, by result (prompt, found, not_found, not_dialplan, refused).",
	}, []string{"result"}),
	playbackRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "playback_refused_total",
		Help: "Playback requests answered 404, by reason (unknown, unpublished, cookie, link, file).",
	}, []string{"reason"}),
	playbackLinks: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "playback_links_opened_total",
		Help: "One-time links of protected recordings opened (each sets a cookie).",
	}),
	callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "callbacks_received_total",
		Help: "Callbacks from servers (meeting-ended, end-callback, analytics), by result (relayed, none, refused, error).",
	}, []string{"kind", "result"}),
	limitHits: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "tenant_limit_hits_total",
		Help: "Creates and joins refused by a tenant's limit, by tenant and limit (meetings, attendees).",
	}, []string{"tenant", "limit"}),
	imports: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "recordings_imported_total",
		Help: "Recordings imported from the spool (a re-sent recording counts again).",
	}),
	importFailures: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "recording_import_failures_total",
		Help: "Recording tars moved to the failed directory (the log line says why).",
	}),
	expired: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "recordings_expired_total",
		Help: "Recordings deleted by retention, by tenant (each deletion is logged with its rule).",
	}, []string{"tenant"}),
	expiredBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "recordings_expired_bytes_total",
		Help: "Bytes on disk of the recordings deleted by retention, by tenant.",
	}, []string{"tenant"}),
	deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "callback_attempts_total",
		Help: "Callback delivery attempts, by kind and result (delivered, retry, gave_up, stopped).",
	}, []string{"kind", "result"}),
	calls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "api_calls_total",
		Help: "BBB API calls answered, by call and result (success, redirect, or the messageKey of a failure).",
	}, []string{"call", "result"}),
	checksum: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "checksum_failures_total",
		Help: "API calls refused for a missing or wrong checksum, by call.",
	}, []string{"call"}),
	placements: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "placements_total",
		Help: "New meetings placed, by server.",
	}, []string{"server"}),
	pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "poll_duration_seconds",
		Help:    "How long polls of BBB servers took.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}),
	pollFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "bbb", Name: "poll_failures_total",
		Help: "Failed polls, by server.",
	}, []string{"server"}),
}

// registerMetrics adds the collectors to a config's registry.
func registerMetrics(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{metrics.calls, metrics.checksum, metrics.placements, metrics.pollDuration, metrics.pollFailures, metrics.servers,
		metrics.imports, metrics.importFailures, metrics.expired, metrics.expiredBytes, metrics.deliveries, metrics.limitHits,
		metrics.playbackRefused, metrics.playbackLinks, metrics.callbacks, metrics.dialin} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// apiObserver counts API calls (api.Observer).
type apiObserver struct{}

func (apiObserver) Call(call, result string) {
	metrics.calls.WithLabelValues(call, result).Inc()
	if result == "checksumError" {
		metrics.checksum.WithLabelValues(call).Inc()
	}
}

func (apiObserver) Placement(server string) { metrics.placements.WithLabelValues(server).Inc() }

// Callback counts the servers' callbacks (callbacks.Observer).
func (apiObserver) Callback(kind, result string) {
	metrics.callbacks.WithLabelValues(kind, result).Inc()
}

func (apiObserver) LimitHit(tenant, limit string) {
	metrics.limitHits.WithLabelValues(tenant, limit).Inc()
}

func observePoll(server string, took time.Duration, err error) {
	metrics.pollDuration.Observe(took.Seconds())
	if err != nil {
		metrics.pollFailures.WithLabelValues(server).Inc()
	}
}

// poolCollector reports every server of every live pool.
type poolCollector struct{}

var (
	descLoad     = serverDesc("server_load", "The server's load, as placement weighs it.")
	descMeetings = serverDesc("server_meetings", "Meetings the server ran at its last poll.")
	descUsers    = serverDesc("server_users", "Participants on the server at its last poll.")
	descVideos   = serverDesc("server_videos", "Webcams on the server at its last poll.")
	descOnline   = serverDesc("server_online", "1 if the server is online (answering its polls).")
	descState    = prometheus.NewDesc("caddy_bbb_server_state", "1 for the server's admin state (enabled, cordoned, disabled).", []string{"server", "state"}, nil)

	descRecordings      = prometheus.NewDesc("caddy_bbb_recordings", "Recordings in the index, by tenant and state (at most a minute old).", []string{"tenant", "state"}, nil)
	descRecordingBytes  = prometheus.NewDesc("caddy_bbb_recordings_bytes", "Bytes of the recordings in the index (their formats' sizes), by tenant and state (at most a minute old).", []string{"tenant", "state"}, nil)
	descTenantMeetings  = prometheus.NewDesc("caddy_bbb_tenant_meetings", "Meetings of the tenant in the registry.", []string{"tenant"}, nil)
	descTenantAttendees = prometheus.NewDesc("caddy_bbb_tenant_attendees", "Participants in the tenant's meetings (last poll, plus joins since).", []string{"tenant"}, nil)
)

func serverDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("caddy_bbb_"+name, help, []string{"server"}, nil)
}

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLoad, descMeetings, descUsers, descVideos, descOnline, descState, descTenantMeetings, descTenantAttendees,
		descRecordings, descRecordingBytes} {
		ch <- d
	}
}

func (poolCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, e := range liveEngines() {
		for _, s := range e.pool.Servers() {
			gauge(descLoad, s.Load, s.ID)
			gauge(descMeetings, float64(s.Meetings), s.ID)
			gauge(descUsers, float64(s.Users), s.ID)
			gauge(descVideos, float64(s.Videos), s.ID)
			gauge(descOnline, boolFloat(s.Online), s.ID)
			for _, st := range []balancer.State{balancer.Enabled, balancer.Cordoned, balancer.Disabled} {
				gauge(descState, boolFloat(s.State == st), s.ID, string(st))
			}
		}
		if set := e.tenants.Load(); set != nil {
			for _, t := range set.Named() {
				m, u := e.pool.Usage(t.Name)
				gauge(descTenantMeetings, float64(m), t.Name)
				gauge(descTenantAttendees, float64(u), t.Name)
			}
		}
		// An index nobody fills is empty: no series, and a cheap query.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stats, err := e.recordingStats(ctx, false)
		cancel()
		if err == nil {
			for _, st := range stats {
				gauge(descRecordings, float64(st.Recordings), st.Tenant, st.State)
				gauge(descRecordingBytes, float64(st.Bytes), st.Tenant, st.State)
			}
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
