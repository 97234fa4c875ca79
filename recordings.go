package bbbbalance

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// UploadPath is where the pool's servers upload recordings (examples/bbb).
const UploadPath = "/bigbluebutton/recording/upload"

// StatusPath is where the pool's servers ask whether a recording they sent
// is imported (examples/bbb).
const StatusPath = "/bigbluebutton/recording/status"

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
	retention         retentionSettings
}

// retentionSettings are the pool's retention rule and its run's schedule;
// the tenants' own rules are read at each run.
type retentionSettings struct {
	pool      recordings.Retention
	at        time.Duration
	maxPerRun int
}

func (r *RecordingsConfig) libraryConfig() recordings.LibraryConfig {
	return recordings.LibraryConfig{Root: r.Dir, Spool: r.SpoolDir, Work: r.WorkDir, Failed: r.FailedDir,
		Published: r.PublishedDir, Unpublished: r.UnpublishedDir}
}

func (r *RecordingsConfig) settings() *recordingSettings {
	var ret retentionSettings
	if r.Retention != nil {
		at, _ := r.Retention.timeOfDay() // validated
		ret = retentionSettings{pool: r.Retention.Retention, at: at, maxPerRun: r.Retention.MaxPerRun}
	}
	return &recordingSettings{
		library: r.libraryConfig(),
		importer: importerSettings{
			scanInterval:      time.Duration(r.ScanInterval),
			settle:            time.Duration(r.Settle),
			limits:            recordings.Limits{MaxFiles: r.MaxFiles, MaxTotalSize: r.MaxSize},
			importUnpublished: r.ImportUnpublished,
			protected:         r.Protected,
			retention:         ret,
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
	if r.Retention != nil {
		if err := r.Retention.validate(); err != nil {
			return fmt.Errorf("bbb_balance: recordings: %w", err)
		}
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
	if reflect.DeepEqual(st, e.importing) {
		return
	}
	if e.importerStop != nil {
		e.importerStop()
		<-e.importerDone
		// Stopped: nothing may use them, whether a new one starts or not.
		e.importerStop, e.importing, e.importer, e.expirer = nil, nil, nil, nil
	}
	if st == nil {
		return
	}
	lib := e.libraries[st.library] // made by Provision
	rs := st.importer.retention
	expirer, err := recordings.NewExpirer(recordings.ExpirerConfig{
		Store: e.db,
		Files: lib,
		Policy: func() recordings.Policy {
			p := recordings.Policy{Pool: rs.pool}
			if set := e.tenants.Load(); set != nil {
				p.Tenants = set.Retention()
			}
			return p
		},
		At:        rs.at,
		MaxPerRun: rs.maxPerRun,
		Logger:    logger.Named("recordings.retention"),
		Observer:  expiryEvents{},
	})
	if err != nil {
		logger.Error("recordings retention not started", zap.Error(err))
		return
	}
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
		Expirer:  expirer,
	})
	if err != nil {
		logger.Error("recordings importer not started", zap.Error(err))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.importerStop, e.importerDone, e.importing = cancel, make(chan struct{}), st
	e.importer, e.expirer = im, expirer
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
	ev.e.imports.imported.Add(1)
	ev.e.ready.Imported(rec)
}

func (ev importEvents) Failed(string) {
	metrics.importFailures.Inc()
	ev.e.imports.failed.Add(1)
}

// expiryEvents counts the recordings retention deleted.
type expiryEvents struct{}

func (expiryEvents) Expired(ex recordings.Expired) {
	metrics.expired.WithLabelValues(ex.Tenant).Inc()
	if ex.Bytes > 0 {
		metrics.expiredBytes.WithLabelValues(ex.Tenant).Add(float64(ex.Bytes))
	}
}

// stopRecordings stops the importer. Called with e.mu held.
func (e *engine) stopRecordings() {
	if e.importerStop != nil {
		e.importerStop()
		<-e.importerDone
	}
}

// serverSecret returns the BBB secret of the pool's server id: the
// servers sign their uploads and status calls with it.
func (h *Handler) serverSecret(id string) (string, bool) {
	r, ok := h.engine.pool.Route(id)
	return r.Server.Secret, ok
}

// uploadHandler accepts recordings uploaded by the pool's servers.
func (h *Handler) uploadHandler(lib *recordings.Library) http.Handler {
	return &recordings.UploadHandler{
		Spool:   lib.SpoolDir,
		MaxSize: h.Recordings.UploadMaxSize,
		Servers: h.serverSecret,
		Nonces:  h.engine.db,
		Logger:  h.logger.Named("upload"),
	}
}

// statusHandler answers the pool's servers whether a recording they sent
// is imported.
func (h *Handler) statusHandler(lib *recordings.Library) http.Handler {
	return &recordings.StatusHandler{
		Library: lib,
		Index:   h.engine.db,
		Servers: h.serverSecret,
		Logger:  h.logger.Named("recording_status"),
	}
}
