package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/manage"
)

//go:embed assets
var assets embed.FS

// The console's paths, under its prefix:
//
//	GET  /                  the page
//	GET  /assets/<file>     its script, style sheet and icon
//	GET  /state             the snapshot, JSON (with the load history)
//	GET  /events            the snapshots as server-sent events: "snapshot"
//	                        every tick, "history" when it gets a sample
//	GET  /meetings?q=<text> meetings whose id, name, tenant, server or voice
//	                        bridge holds the text
//	POST /actions/<action>  enable, cordon, disable, weight, panic, remove
//	                        (a server), end (a meeting), retry (a refused
//	                        recording); a JSON body names what it acts on
//
// An action needs the page's CSRF token in X-CSRF-Token and a same-origin
// request (Sec-Fetch-Site, else Origin); a read-only console refuses every
// one.

// CSRFHeader carries the page's token with each action.
const CSRFHeader = "X-CSRF-Token"

// csrfKeyName names the pool's signing key of the CSRF tokens.
const csrfKeyName = "console-csrf"

// token is the CSRF token of user under key: only a page served to that
// user has it.
func token(key []byte, user string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bbb_console csrf\x00" + user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// HandlerConfig configures a Handler. Hub is required.
type HandlerConfig struct {
	Hub *Hub
	// Prefix is the path the console is served under ("/console"), or ""
	// for a whole site.
	Prefix string
	// ReadOnly: the page shows no actions and every action is refused
	// (for helpdesk staff).
	ReadOnly bool
	// User names the user a request is authenticated as (Caddy's
	// basic_auth or forward_auth in front), "" if none: the CSRF token is
	// bound to it and actions are logged with it.
	User func(*http.Request) string
}

// Handler serves one console: its page, its data and its actions.
type Handler struct {
	c         HandlerConfig
	csrfKey   atomic.Pointer[[]byte] // the pool's, once read (it never changes)
	page      *template.Template
	files     map[string]asset
	version   string
	closed    chan struct{}
	closeOnce sync.Once
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// NewHandler makes the handler of a console.
func NewHandler(c HandlerConfig) (*Handler, error) {
	if c.Hub == nil {
		return nil, errors.New("console: no hub")
	}
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	if c.Prefix != "" && !strings.HasPrefix(c.Prefix, "/") {
		return nil, fmt.Errorf("console: prefix %q must start with /", c.Prefix)
	}
	h := &Handler{c: c, files: map[string]asset{}, closed: make(chan struct{})}
	ents, err := assets.ReadDir("assets")
	if err != nil {
		return nil, err
	}
	all := sha256.New()
	for _, ent := range ents {
		body, err := assets.ReadFile("assets/" + ent.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		all.Write(sum[:])
		if ent.Name() == "index.html" {
			continue // the page, a template
		}
		h.files[ent.Name()] = asset{body: body, contentType: mime.TypeByExtension(path.Ext(ent.Name())),
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	h.version = hex.EncodeToString(all.Sum(nil)[:6])
	h.page, err = template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Close ends the handler's event streams (its config was unloaded; the
// pages reconnect to the new one).
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// token is the CSRF token of user, or "" while the pool cannot be reached
// (no action could be carried out then either).
func (h *Handler) token(ctx context.Context, user string) string {
	key := h.csrfKey.Load()
	if key == nil {
		p, err := h.c.Hub.c.Find()
		if err != nil {
			return ""
		}
		k, err := p.SigningKey(ctx, csrfKeyName)
		if err != nil || len(k) == 0 {
			return ""
		}
		h.csrfKey.Store(&k)
		key = &k
	}
	return token(*key, user)
}

func (h *Handler) user(r *http.Request) string {
	if h.c.User == nil {
		return ""
	}
	return h.c.User(r)
}

// Serves reports whether path is the console's: its prefix or under it.
func (h *Handler) Serves(path string) bool {
	rest, ok := strings.CutPrefix(path, h.c.Prefix)
	return ok && (rest == "" || strings.HasPrefix(rest, "/"))
}

// ServeHTTP serves the console's paths (r's path under the prefix).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.Serves(r.URL.Path) {
		writeError(w, http.StatusNotFound, "not a console path")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, h.c.Prefix)
	switch {
	case rest == "":
		http.Redirect(w, r, h.c.Prefix+"/", http.StatusFound)
	case rest == "/":
		h.only(w, r, h.servePage, http.MethodGet, http.MethodHead)
	case strings.HasPrefix(rest, "/assets/"):
		h.only(w, r, func(w http.ResponseWriter, r *http.Request) { h.serveAsset(w, r, strings.TrimPrefix(rest, "/assets/")) },
			http.MethodGet, http.MethodHead)
	case rest == "/state":
		h.only(w, r, h.serveState, http.MethodGet)
	case rest == "/events":
		h.only(w, r, h.serveEvents, http.MethodGet)
	case rest == "/meetings":
		h.only(w, r, h.serveSearch, http.MethodGet)
	case strings.HasPrefix(rest, "/actions/"):
		h.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			h.serveAction(w, r, strings.TrimPrefix(rest, "/actions/"))
		},
			http.MethodPost)
	default:
		writeError(w, http.StatusNotFound, "no such page of the console")
	}
}

func (h *Handler) only(w http.ResponseWriter, r *http.Request, serve http.HandlerFunc, methods ...string) {
	for _, m := range methods {
		if r.Method == m {
			serve(w, r)
			return
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
}

// pageData fills assets/index.html.
type pageData struct {
	Token    string
	User     string
	ReadOnly bool
	Version  string
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	user := h.user(r)
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, pageData{Token: h.token(r.Context(), user), User: user, ReadOnly: h.c.ReadOnly, Version: h.version}); err != nil {
		writeError(w, http.StatusInternalServerError, "the page could not be made: "+err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes())
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.files[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// stateJSON is GET state: the snapshot and the history.
type stateJSON struct {
	*Snapshot
	History json.RawMessage `json:"history"`
}

func (h *Handler) serveState(w http.ResponseWriter, r *http.Request) {
	f := h.c.Hub.current(h.c.Hub.c.Tick)
	h.c.Hub.mu.Lock()
	hist := h.c.Hub.historyOut
	h.c.Hub.mu.Unlock()
	if hist == nil {
		hist = []byte("null")
	}
	writeJSON(w, http.StatusOK, stateJSON{Snapshot: f.snap, History: hist})
}

func (h *Handler) serveSearch(w http.ResponseWriter, r *http.Request) {
	pg, err := h.c.Hub.Search(r.URL.Query().Get("q"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, pg)
}

// keepAlive is how often an idle stream gets a comment, so proxies keep
// it open.
const keepAlive = 15 * time.Second

func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream is long; a server's write timeout would cut it
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The browser reconnects by itself after this long.
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	hub := h.c.Hub
	s := hub.subscribe()
	defer hub.unsubscribe(s)
	idle := time.NewTicker(keepAlive)
	defer idle.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-h.closed:
			return
		case <-hub.done:
			return
		case <-idle.C:
			_, err = io.WriteString(w, ": still here\n\n")
		case <-s.ready:
			snapshot, history := s.take()
			if history != nil {
				err = writeEvent(w, "history", history)
			}
			if err == nil && snapshot != nil {
				err = writeEvent(w, "snapshot", snapshot)
			}
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// writeEvent writes one server-sent event; data is JSON, one line.
func writeEvent(w io.Writer, name string, data []byte) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	return err
}

// actionRequest is the body of an action: what it acts on.
type actionRequest struct {
	Server  string   `json:"server,omitempty"`
	Weight  *float64 `json:"weight,omitempty"`
	Force   bool     `json:"force,omitempty"`   // remove: a server that has meetings, forgetting them
	Meeting string   `json:"meeting,omitempty"` // end: the registry key
	Name    string   `json:"name,omitempty"`    // retry: the refused tar's name
}

// refuse says why an action may not be carried out, or "".
func (h *Handler) refuse(r *http.Request) string {
	if h.c.ReadOnly {
		return "this console is read-only: it shows the pool and changes nothing"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		if site != "same-origin" {
			return fmt.Sprintf("refused: the request comes from another site (Sec-Fetch-Site: %s)", site)
		}
	} else if origin := r.Header.Get("Origin"); origin == "" {
		return "refused: a request without Origin; actions are sent from the console's page"
	} else if u, err := url.Parse(origin); err != nil || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Sprintf("refused: the request comes from another origin (%s)", origin)
	}
	got, want := r.Header.Get(CSRFHeader), h.token(r.Context(), h.user(r))
	if want == "" {
		return "refused: the pool is not running, or its database cannot be read"
	}
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return "refused: missing or wrong " + CSRFHeader + "; reload the console's page"
	}
	return ""
}

func (h *Handler) serveAction(w http.ResponseWriter, r *http.Request, action string) {
	if why := h.refuse(r); why != "" {
		writeError(w, http.StatusForbidden, why)
		return
	}
	var req actionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "unreadable JSON body: "+err.Error())
		return
	}
	p, err := h.c.Hub.c.Find()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	user := h.user(r)
	if user == "" {
		user = "(nobody signed in)"
	}
	who := manage.Who(fmt.Sprintf("console user %s from %s", user, r.RemoteAddr))
	msg, err := act(r.Context(), p, who, action, req)
	if err != nil {
		status := manage.HTTPStatus(err)
		if errors.As(err, new(badAction)) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err.Error())
		return
	}
	h.c.Hub.Refresh()
	writeJSON(w, http.StatusOK, map[string]string{"message": msg})
}

// badAction is an action the console does not know, or one that does not
// say what it acts on.
type badAction string

func (b badAction) Error() string { return string(b) }

// act carries out one action and says what it did.
func act(ctx context.Context, p Actions, who manage.Who, action string, req actionRequest) (string, error) {
	switch action {
	case "enable", "cordon", "disable", "weight", "panic", "remove":
		if req.Server == "" {
			return "", badAction(action + ": say which server: {\"server\": \"<id>\"}")
		}
	}
	switch action {
	case "enable", "cordon", "disable":
		state := map[string]balancer.State{"enable": balancer.Enabled, "cordon": balancer.Cordoned, "disable": balancer.Disabled}[action]
		st, err := p.SetState(ctx, who, req.Server, state)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is now %s.", st.ID, st.State), nil
	case "weight":
		if req.Weight == nil {
			return "", badAction("weight: say which: {\"server\": \"<id>\", \"weight\": 1.5}")
		}
		st, err := p.UpdateServer(ctx, who, req.Server, balancer.ServerPatch{Weight: req.Weight})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s now has weight %g.", st.ID, st.Weight), nil
	case "panic":
		n, err := p.Panic(ctx, who, req.Server, false)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is disabled; %d meeting(s) ended on it.", req.Server, n), nil
	case "remove":
		n, err := p.RemoveServer(ctx, who, req.Server, req.Force)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is removed; %d meeting(s) forgotten.", req.Server, n), nil
	case "end":
		if req.Meeting == "" {
			return "", badAction("end: say which meeting: {\"meeting\": \"<key>\"}")
		}
		if err := p.EndMeeting(ctx, who, req.Meeting); err != nil {
			return "", err
		}
		return fmt.Sprintf("Meeting %s is ended.", req.Meeting), nil
	case "retry":
		if req.Name == "" {
			return "", badAction("retry: say which recording tar: {\"name\": \"<file name>\"}")
		}
		spooled, err := p.RetryImport(ctx, who, req.Name)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is back in the spool as %s; the importer takes it again.", req.Name, spooled), nil
	}
	return "", badAction(fmt.Sprintf("no action %q (enable, cordon, disable, weight, panic, remove, end, retry)", action))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
