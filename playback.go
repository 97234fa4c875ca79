package bbbbalance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/gzip" // the encoders playback compresses with
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/zstd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/api"
	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/store"
)

// Playback: the handler serves the recordings' files itself, through
// Caddy's own file server (ranges, ETags, Last-Modified, conditional
// requests) behind Caddy's encode handler (zstd or gzip for the text files
// of a recording: shapes.svg, the XML and JSON of the presentation
// player). Each request looks the recording up in the index (a primary-key
// read) and is answered only if the recording is published and, when
// protected, the request carries its cookie. Scalelite needs nginx and a
// Rails request per file for the same.
//
// The player itself (/playback/presentation/2.3/...) is static and public:
// it is served by a file_server route of the site (examples/Caddyfile.playback).

// playbackFormats are the formats whose files are served, under
// /<format>/<recordID>/, from published/<format>/<recordID>/.
var playbackFormats = map[string]bool{"presentation": true, "video": true, "screenshare": true, "podcast": true, "notes": true}

// inlineFormats are played in the browser; the files of other formats
// (podcast audio, shared notes) are downloads, as with scalelite.
var inlineFormats = map[string]bool{"presentation": true, "video": true, "screenshare": true}

type playback struct {
	index  recordings.Store
	access *recordings.Access
	used   recordings.NonceStore // one-time links already opened
	files  caddyhttp.Handler     // encode around file_server, rooted at published/
	secure bool                  // the public URL is https: cookies are Secure even behind a TLS proxy
	logger *zap.Logger
	// tenants in force; nil: one front-end.
	tenants api.TenantSource
}

// provisionPlayback sets up what Provision adds for playback and
// callbacks: the callback relays always, playback with recordings.
func (h *Handler) provisionPlayback(ctx caddy.Context, lib *recordings.Library) error {
	eng := h.engine
	cbKey, err := eng.db.SigningKey(ctx, "callbacks")
	if err != nil {
		return fmt.Errorf("bbb_balance: callbacks: %w", err)
	}
	h.front.Callbacks = &api.Callbacks{Key: cbKey, Store: eng.db, Queue: eng.queue}
	if h.Recordings == nil {
		return nil
	}
	p, err := newPlayback(ctx, lib, eng.db, h.Recordings, h.logger.Named("playback"))
	if err != nil {
		return err
	}
	p.tenants = &eng.tenants
	h.playback = p
	h.front.Protected = p.access
	return nil
}

// newPlayback provisions Caddy's file server and encode handler for the
// published tree of lib.
func newPlayback(ctx caddy.Context, lib *recordings.Library, db *store.DB, r *RecordingsConfig, logger *zap.Logger) (*playback, error) {
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
	p := &playback{
		index:  db,
		access: &recordings.Access{Key: key, LinkTTL: time.Duration(r.LinkTTL), CookieTTL: time.Duration(r.CookieTTL)},
		used:   db,
		secure: strings.HasPrefix(r.PublicURL, "https://"),
		logger: logger,
	}
	missing := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p.notFound(w, "file")
		return nil
	})
	p.files = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return enc.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return fsrv.ServeHTTP(w, r, missing)
		}))
	})
	return p, nil
}

// servePlayback answers the servers' callbacks and the playback paths;
// false means r is none of them.
func (h *Handler) servePlayback(w http.ResponseWriter, r *http.Request) (bool, error) {
	if api.HandlesCallback(r) {
		h.front.ServeCallback(w, r)
		return true, nil
	}
	if h.playback == nil {
		return false, nil
	}
	return h.playback.serve(w, r)
}

// serve routes the playback paths.
func (p *playback) serve(w http.ResponseWriter, r *http.Request) (bool, error) {
	raw := r.URL.Path
	segs := strings.SplitN(strings.TrimPrefix(raw, "/"), "/", 3)
	switch {
	// Scalelite's legacy paths (old players, links in old metadata).
	case raw == "/playback/presentation/2.0/playback.html":
		id := r.URL.Query().Get("meetingId")
		if !recordings.ValidRecordID(id) {
			p.notFound(w, "unknown")
			return true, nil
		}
		redirect(w, "/playback/presentation/2.3/"+id, http.StatusMovedPermanently)
	case strings.HasPrefix(raw, "/playback/video/"):
		redirect(w, withQuery("/video/"+strings.TrimPrefix(raw, "/playback/video/"), r), http.StatusMovedPermanently)
	// /recording/screenshare/... is scalelite's old screenshare path; it
	// shares its prefix with the one-time links, /recording/<recordID>/<format>,
	// but "screenshare" is never a record id, so the two cannot clash
	// (scalelite#880).
	case strings.HasPrefix(raw, "/recording/screenshare/"):
		redirect(w, withQuery("/screenshare/"+strings.TrimPrefix(raw, "/recording/screenshare/"), r), http.StatusMovedPermanently)
	case strings.HasPrefix(raw, recordings.LinkPrefix):
		if len(segs) != 3 || strings.Contains(segs[2], "/") {
			p.notFound(w, "link")
			return true, nil
		}
		p.openLink(w, r, segs[1], segs[2])
	case len(segs) >= 2 && playbackFormats[segs[0]]:
		return true, p.serveFile(w, r, segs[1], segs[0])
	default:
		return false, nil
	}
	return true, nil
}

// visible is the one place that decides whether r may see recording e's
// format: published, not deleted, having that format, and its tenant's.
//
// Player and data paths carry no tenant prefix (the BBB player asks for
// /presentation/<id>/... whatever page it was opened from), so playback
// tells tenants apart by host: a tenant's recordings play on its own
// host only. A tenant chosen by path prefix alone has no host of its own;
// its recordings play on the hosts no tenant claims.
func (p *playback) visible(r *http.Request, e *recordings.Entry, format string) bool {
	if e.State != recordings.StatePublished || !e.Published {
		return false
	}
	if p.tenants != nil {
		set := p.tenants.Load()
		owner, ok := set.Lookup(e.Tenant)
		if !ok {
			return false // its tenant was removed
		}
		if host, _ := set.Resolve(r.Host, ""); host != owner &&
			!(host == set.Default && owner.PathPrefix != "" && len(owner.Hosts) == 0) {
			return false
		}
	}
	for _, f := range e.Formats {
		if f.Type == format {
			return true
		}
	}
	return false
}

// lookup reads recording id from the index; ok is false for an invalid
// id, an unknown recording or a failed read (logged).
func (p *playback) lookup(ctx context.Context, id string) (recordings.Entry, bool) {
	if !recordings.ValidRecordID(id) {
		return recordings.Entry{}, false
	}
	e, ok, err := p.index.Recording(ctx, id)
	if err != nil {
		p.logger.Error("reading a recording failed", zap.String("recording", id), zap.Error(err))
		return recordings.Entry{}, false
	}
	return e, ok
}

// serveFile serves one file of format of recording id.
func (p *playback) serveFile(w http.ResponseWriter, r *http.Request, id, format string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	// The path checked is the path served: no dot segments, so a request
	// can never name one recording and reach another's files.
	if clean := path.Clean(r.URL.Path); clean != strings.TrimSuffix(r.URL.Path, "/") && clean != r.URL.Path {
		p.notFound(w, "unknown")
		return nil
	}
	e, ok := p.lookup(r.Context(), id)
	switch {
	case !ok:
		p.notFound(w, "unknown")
		return nil
	case !p.visible(r, &e, format):
		p.notFound(w, "unpublished")
		return nil
	case e.Protected && !p.access.Allowed(r, id, format):
		// 404, not 403: a protected recording looks absent without its
		// cookie (scalelite does the same).
		p.notFound(w, "cookie")
		return nil
	}
	if e.Protected {
		w.Header().Set("Cache-Control", "private")
	}
	if !inlineFormats[format] {
		w.Header().Set("Content-Disposition", "attachment")
	}
	// The type BBB's nginx gives the file (.webm is video/webm, not Go's
	// audio/webm); Caddy's file server keeps a Content-Type already set.
	ct := recordings.ContentType(r.URL.Path)
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	err := p.files.ServeHTTP(w, r)
	if err != nil && ct != "" {
		w.Header().Del("Content-Type") // the error answer is not the file
	}
	return err
}

// openLink trades a one-time link for the recording's cookie and sends
// the browser on to the player.
func (p *playback) openLink(w http.ResponseWriter, r *http.Request, id, format string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	used, expires, err := p.access.CheckToken(id, format, r.URL.Query().Get("token"))
	if err != nil {
		p.notFound(w, "link")
		return
	}
	e, ok := p.lookup(r.Context(), id)
	if !ok || !p.visible(r, &e, format) {
		p.notFound(w, "unpublished")
		return
	}
	fresh, err := p.used.UseNonce(context.WithoutCancel(r.Context()), used, expires)
	if err != nil {
		p.logger.Error("recording a used playback link failed", zap.String("recording", id), zap.Error(err))
		http.Error(w, "The recording cannot be opened right now; try again.", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		p.notFound(w, "link")
		return
	}
	metrics.playbackLinks.Inc()
	http.SetCookie(w, p.access.Cookie(id, format, r.TLS != nil || p.secure))
	w.Header().Set("Cache-Control", "no-store")
	redirect(w, playerPath(&e, format), http.StatusTemporaryRedirect)
}

// playerPath is where a format is played: the path of its playback link
// as the server wrote it (the presentation player, say), else its
// directory.
func playerPath(e *recordings.Entry, format string) string {
	for _, f := range e.Formats {
		// Only a path on this host: never "//elsewhere".
		if f.Type == format && strings.HasPrefix(f.Path, "/") && !strings.HasPrefix(f.Path, "//") {
			return f.Path
		}
	}
	return "/" + format + "/" + e.RecordID + "/"
}

func withQuery(p string, r *http.Request) string {
	if r.URL.RawQuery == "" {
		return p
	}
	return p + "?" + r.URL.RawQuery
}

// redirect answers a redirect to a path on this host without
// http.Redirect's path cleaning and HTML body.
func redirect(w http.ResponseWriter, to string, status int) {
	w.Header().Set("Location", to)
	w.WriteHeader(status)
}

const notFoundPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Recording not found</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto;padding:0 1em">
<h1>Recording not found</h1>
<p>This recording does not exist or is not published, or this link has expired or was already used.
Go back to where you found the recording and open it again.</p>
</body></html>
`

// notFound answers the small HTML page of every refusal; reason goes to
// the metrics only (unknown, unpublished, cookie, link, file).
func (p *playback) notFound(w http.ResponseWriter, reason string) {
	metrics.playbackRefused.WithLabelValues(reason).Inc()
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(notFoundPage))
}
