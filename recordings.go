package bbbbalance

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// UploadPath is where the pool's servers upload recordings (examples/bbb).
const UploadPath = "/bigbluebutton/recording/upload"

// recordingSettings are the parts of the recordings config the engine's
// importer runs with.
type recordingSettings struct {
	library  recordings.LibraryConfig
	importer importerSettings
}

type importerSettings struct {
	scanInterval      time.Duration
	settle            time.Duration
	limits            recordings.Limits
	importUnpublished bool
	protected         bool
}

func (r *RecordingsConfig) libraryConfig() recordings.LibraryConfig {
	return recordings.LibraryConfig{Root: r.Dir, Spool: r.SpoolDir, Work: r.WorkDir, Failed: r.FailedDir,
		Published: r.PublishedDir, Unpublished: r.UnpublishedDir}
}

func (r *RecordingsConfig) settings() *recordingSettings {
	return &recordingSettings{
		library: r.libraryConfig(),
		importer: importerSettings{
			scanInterval:      time.Duration(r.ScanInterval),
			settle:            time.Duration(r.Settle),
			limits:            recordings.Limits{MaxFiles: r.MaxFiles, MaxTotalSize: r.MaxSize},
			importUnpublished: r.ImportUnpublished,
			protected:         r.Protected,
		},
	}
}

func (r *RecordingsConfig) validate() error {
	if r.Dir == "" && (r.SpoolDir == "" || r.PublishedDir == "" || r.UnpublishedDir == "") {
		return fmt.Errorf("bbb_balance: recordings: give dir, or spool_dir, published_dir and unpublished_dir")
	}
	if r.PublicURL != "" && !strings.HasPrefix(r.PublicURL, "https://") && !strings.HasPrefix(r.PublicURL, "http://") {
		return fmt.Errorf("bbb_balance: recordings: public_url %q must start with https:// or http://", r.PublicURL)
	}
	if r.MaxSize < 0 || r.MaxFiles < 0 || r.UploadMaxSize < 0 || r.ScanInterval < 0 || r.Settle < 0 {
		return fmt.Errorf("bbb_balance: recordings: sizes and durations must not be negative")
	}
	return nil
}

// library returns the engine's library for these directories, creating
// them on first use. One Library per set of directories, shared by every
// config that names them, so its per-recording locks cover both the API
// and the importer.
func (e *engine) library(c recordings.LibraryConfig) (*recordings.Library, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if lib, ok := e.libraries[c]; ok {
		return lib, nil
	}
	lib, err := recordings.NewLibrary(c)
	if err != nil {
		return nil, fmt.Errorf("bbb_balance: recordings: %w", err)
	}
	if e.libraries == nil {
		e.libraries = map[recordings.LibraryConfig]*recordings.Library{}
	}
	e.libraries[c] = lib
	return lib, nil
}

// applyRecordings runs the importer of the live config: started with the
// first config that has recordings, restarted when its settings change,
// stopped when a config drops them. Called with e.mu held.
func (e *engine) applyRecordings(st *recordingSettings, logger *zap.Logger) {
	if e.queueStop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		e.queue.Logger = logger.Named("callbacks")
		e.queueStop, e.queueDone = cancel, make(chan struct{})
		go func() {
			defer close(e.queueDone)
			e.queue.Run(ctx)
		}()
	}
	if reflect.DeepEqual(st, e.importing) {
		return
	}
	if e.importerStop != nil {
		e.importerStop()
		<-e.importerDone
		e.importerStop, e.importing = nil, nil
	}
	if st == nil {
		return
	}
	lib := e.libraries[st.library] // made by Provision
	im, err := recordings.NewImporter(recordings.ImporterConfig{
		Library:           lib,
		Store:             e.db,
		Logger:            logger.Named("recordings"),
		ScanInterval:      st.importer.scanInterval,
		Settle:            st.importer.settle,
		Limits:            st.importer.limits,
		ImportUnpublished: st.importer.importUnpublished,
		ProtectByDefault:  st.importer.protected,
		ServerForHost: func(host string) string {
			id, _ := e.pool.ServerByHost(host)
			return id
		},
		// By the id's syntax, not the tenants in force: a recording of
		// a removed tenant's meeting stays that tenant's.
		TenantOf: tenants.Split,
		Observer: importEvents{e},
	})
	if err != nil {
		logger.Error("recordings importer not started", zap.Error(err))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.importerStop, e.importerDone, e.importing = cancel, make(chan struct{}), st
	e.importer = im
	go func() {
		defer close(e.importerDone)
		if err := im.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("recordings importer stopped", zap.Error(err))
		}
	}()
}

// importEvents counts imports and sends the recording-ready callback.
type importEvents struct{ e *engine }

func (ev importEvents) Imported(rec recordings.Entry) {
	metrics.imports.Inc()
	ev.e.recordingReady(rec)
}

func (ev importEvents) Failed(string) { metrics.importFailures.Inc() }

// recordingReady queues the recording-ready callback of a recording, if
// its front-end asked for one at create (or its metadata names one: a
// recording made before the balancer): a JWT signed with the secret the
// front-end created the meeting with (bbb-api.md §4.3, scalelite §6.9).
func (e *engine) recordingReady(rec recordings.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger := e.queue.Logger
	set := e.tenants.Load()
	t, known := set.Lookup(rec.Tenant)
	if !known {
		logger.Warn("recording of an unknown tenant: no recording-ready callback", zap.String("recording", rec.RecordID), zap.String("tenant", rec.Tenant))
		return
	}
	key, _ := t.ServerID(rec.MeetingID)
	url, tag, ok, err := e.db.ReadyURL(ctx, key)
	if err != nil {
		logger.Error("reading the recording-ready URL failed", zap.String("recording", rec.RecordID), zap.Error(err))
		return
	}
	if !ok {
		url = rec.RecordingReadyURL()
	}
	v := t.Verifier
	if url == "" {
		return
	}
	alg := "HS256"
	if !v.Allows(bbb.SHA256) && v.Allows(bbb.SHA512) {
		alg = "HS512" // as scalelite: a front-end that allows only sha512
	}
	d, err := notify.RecordingReady(url, v.SecretFor(tag), alg, rec.MeetingID, rec.RecordID)
	if err == nil {
		err = e.queue.Enqueue(ctx, d)
	}
	if err != nil {
		logger.Warn("recording-ready callback not queued", zap.String("recording", rec.RecordID), zap.String("url", notify.Redact(url)), zap.Error(err))
	}
}

// stopRecordings stops the importer and the delivery queue. Called with
// e.mu held.
func (e *engine) stopRecordings() {
	if e.importerStop != nil {
		e.importerStop()
		<-e.importerDone
	}
	if e.queueStop != nil {
		e.queueStop()
		<-e.queueDone
	}
}

// uploadHandler accepts recordings uploaded by the pool's servers.
func (h *Handler) uploadHandler(lib *recordings.Library) http.Handler {
	return &recordings.UploadHandler{
		Spool:   lib.SpoolDir,
		MaxSize: h.Recordings.UploadMaxSize,
		Servers: func(id string) (string, bool) {
			r, ok := h.engine.pool.Route(id)
			return r.Server.Secret, ok
		},
		Nonces: h.engine.db,
		Logger: h.logger.Named("upload"),
	}
}
