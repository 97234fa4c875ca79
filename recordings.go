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
	ev.e.ready.Imported(rec)
}

func (ev importEvents) Failed(string) { metrics.importFailures.Inc() }

// stopRecordings stops the importer. Called with e.mu held.
func (e *engine) stopRecordings() {
	if e.importerStop != nil {
		e.importerStop()
		<-e.importerDone
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
