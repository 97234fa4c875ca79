// Package playback serves the recordings' files: the playback paths
// (/<format>/<recordID>/...), the one-time links of protected recordings
// and scalelite's legacy paths. It decides who may see what (published,
// its tenant's host, the protected recording's cookie) and leaves the
// files themselves to a file server it is given (Caddy's, with ranges,
// ETags and compression; see the root package).
//
// The player itself (/playback/presentation/2.3/...) is static and public:
// it is served by a file_server route of the site (examples/Caddyfile.playback).
package playback

import (
	"context"
	"net/http"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// Formats are the formats whose files are served, under
// /<format>/<recordID>/, from published/<format>/<recordID>/.
var Formats = map[string]bool{"presentation": true, "video": true, "screenshare": true, "podcast": true, "notes": true}

// inlineFormats are played in the browser; the files of other formats
// (podcast audio, shared notes) are downloads, as with scalelite.
var inlineFormats = map[string]bool{"presentation": true, "video": true, "screenshare": true}

// FileServer serves a file of the published tree for r (its path is the
// file's path under published/); it answers a missing file itself.
type FileServer func(w http.ResponseWriter, r *http.Request) error

// TenantSource gives the tenants in force (an atomic.Pointer[tenants.Set]
// is one).
type TenantSource interface{ Load() *tenants.Set }

// Observer is told about refusals (reason: unknown, unpublished, cookie,
// link, file) and opened one-time links, for metrics.
type Observer interface {
	Refused(reason string)
	LinkOpened()
}

// Server answers the playback paths.
type Server struct {
	Index  recordings.Store
	Access *recordings.Access
	Used   recordings.NonceStore // one-time links already opened
	Files  FileServer
	// Secure makes cookies Secure even on plain HTTP (the public URL is
	// https behind a TLS proxy).
	Secure   bool
	Logger   *zap.Logger
	Tenants  TenantSource // nil: one front-end
	Observer Observer     // may be nil
}

// Serve routes the playback paths; false means r is none of them.
func (p *Server) Serve(w http.ResponseWriter, r *http.Request) (bool, error) {
	raw := r.URL.Path
	segs := strings.SplitN(strings.TrimPrefix(raw, "/"), "/", 3)
	switch {
	// Scalelite's legacy paths (old players, links in old metadata).
	case raw == "/playback/presentation/2.0/playback.html":
		id := r.URL.Query().Get("meetingId")
		if !recordings.ValidRecordID(id) {
			p.NotFound(w, "unknown")
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
			p.NotFound(w, "link")
			return true, nil
		}
		p.openLink(w, r, segs[1], segs[2])
	case len(segs) >= 2 && Formats[segs[0]]:
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
func (p *Server) visible(r *http.Request, e *recordings.Entry, format string) bool {
	if e.State != recordings.StatePublished || !e.Published {
		return false
	}
	if p.Tenants != nil {
		set := p.Tenants.Load()
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
func (p *Server) lookup(ctx context.Context, id string) (recordings.Entry, bool) {
	if !recordings.ValidRecordID(id) {
		return recordings.Entry{}, false
	}
	e, ok, err := p.Index.Recording(ctx, id)
	if err != nil {
		p.Logger.Error("reading a recording failed", zap.String("recording", id), zap.Error(err))
		return recordings.Entry{}, false
	}
	return e, ok
}

// serveFile serves one file of format of recording id.
func (p *Server) serveFile(w http.ResponseWriter, r *http.Request, id, format string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	// The path checked is the path served: no dot segments, so a request
	// can never name one recording and reach another's files.
	if clean := path.Clean(r.URL.Path); clean != strings.TrimSuffix(r.URL.Path, "/") && clean != r.URL.Path {
		p.NotFound(w, "unknown")
		return nil
	}
	e, ok := p.lookup(r.Context(), id)
	switch {
	case !ok:
		p.NotFound(w, "unknown")
		return nil
	case !p.visible(r, &e, format):
		p.NotFound(w, "unpublished")
		return nil
	case e.Protected && !p.Access.Allowed(r, id, format):
		// 404, not 403: a protected recording looks absent without its
		// cookie (scalelite does the same).
		p.NotFound(w, "cookie")
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
	err := p.Files(w, r)
	if err != nil && ct != "" {
		w.Header().Del("Content-Type") // the error answer is not the file
	}
	return err
}

// openLink trades a one-time link for the recording's cookie and sends
// the browser on to the player.
func (p *Server) openLink(w http.ResponseWriter, r *http.Request, id, format string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	used, expires, err := p.Access.CheckToken(id, format, r.URL.Query().Get("token"))
	if err != nil {
		p.NotFound(w, "link")
		return
	}
	e, ok := p.lookup(r.Context(), id)
	if !ok || !p.visible(r, &e, format) {
		p.NotFound(w, "unpublished")
		return
	}
	fresh, err := p.Used.UseNonce(context.WithoutCancel(r.Context()), used, expires)
	if err != nil {
		p.Logger.Error("recording a used playback link failed", zap.String("recording", id), zap.Error(err))
		http.Error(w, "The recording cannot be opened right now; try again.", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		p.NotFound(w, "link")
		return
	}
	if p.Observer != nil {
		p.Observer.LinkOpened()
	}
	http.SetCookie(w, p.Access.Cookie(id, format, r.TLS != nil || p.Secure))
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

// NotFound answers the small HTML page of every refusal; reason goes to
// the Observer only (unknown, unpublished, cookie, link, file).
func (p *Server) NotFound(w http.ResponseWriter, reason string) {
	if p.Observer != nil {
		p.Observer.Refused(reason)
	}
	h := w.Header()
	h.Del("Content-Disposition")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(notFoundPage))
}
