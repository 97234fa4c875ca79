package bbbbalance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/gzip" // the encoders playback compresses with
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/zstd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/playback"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

// Playback: the handler serves the recordings' files itself (package
// playback decides who may see what) through Caddy's own file server
// (ranges, ETags, Last-Modified, conditional requests) behind Caddy's
// encode handler (zstd or gzip for the text files of a recording:
// shapes.svg, the XML and JSON of the presentation player). Scalelite
// needs nginx and a Rails request per file for the same.

// provisionPlayback sets up playback, with recordings.
func (h *Handler) provisionPlayback(ctx caddy.Context, lib *recordings.Library) error {
	eng := h.engine
	if h.Recordings == nil {
		return nil
	}
	p, err := newPlayback(ctx, lib, eng.db, h.Recordings, h.logger.Named("playback"))
	if err != nil {
		return err
	}
	p.Tenants = &eng.tenants
	h.playback = p
	h.front.Recordings.Protected = p.Access
	return nil
}

// newPlayback provisions Caddy's file server and encode handler for the
// published tree of lib and the playback server in front of them.
func newPlayback(ctx caddy.Context, lib *recordings.Library, db *store.DB, r *RecordingsConfig, logger *zap.Logger) (*playback.Server, error) {
	if r.LinkTTL < 0 || r.CookieTTL < 0 {
		return nil, fmt.Errorf("bbb_balance: recordings: link_ttl and cookie_ttl must not be negative")
	}
	key, err := db.SigningKey(ctx, "playback")
	if err != nil {
		return nil, fmt.Errorf("bbb_balance: playback: %w", err)
	}
	fsrv := &fileserver.FileServer{Root: lib.PublishedDir, PassThru: true}
	if err := fsrv.Provision(ctx); err != nil {
		return nil, fmt.Errorf("bbb_balance: playback: %w", err)
	}
	enc := &encode.Encode{EncodingsRaw: caddy.ModuleMap{"zstd": json.RawMessage("{}"), "gzip": json.RawMessage("{}")}}
	if err := enc.Provision(ctx); err != nil {
		return nil, fmt.Errorf("bbb_balance: playback: %w", err)
	}
	p := &playback.Server{
		Index:    db,
		Access:   &recordings.Access{Key: key, LinkTTL: time.Duration(r.LinkTTL), CookieTTL: time.Duration(r.CookieTTL)},
		Used:     db,
		Secure:   strings.HasPrefix(r.PublicURL, "https://"),
		Logger:   logger,
		Observer: playbackObserver{},
	}
	missing := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p.NotFound(w, "file")
		return nil
	})
	p.Files = func(w http.ResponseWriter, r *http.Request) error {
		return enc.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return fsrv.ServeHTTP(w, r, missing)
		}))
	}
	return p, nil
}

// playbackObserver counts playback's refusals and opened links.
type playbackObserver struct{}

func (playbackObserver) Refused(reason string) { metrics.playbackRefused.WithLabelValues(reason).Inc() }
func (playbackObserver) LinkOpened()           { metrics.playbackLinks.Inc() }
