package dialin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Meeting is where a PIN leads.
type Meeting struct {
	// MeetingID is the meeting's id, set on the gateway's channel as
	// meeting_id for its logs and CDRs.
	MeetingID string
	// Host is the host name (optionally :port) of the BBB server the
	// meeting runs on; the call is bridged to sofia/<profile>/<pin>@Host.
	Host string
}

// Lookup finds the running meeting whose voice bridge is voiceBridge. It
// is called once or twice per lookup request and should answer from
// memory.
type Lookup func(ctx context.Context, voiceBridge string) (Meeting, bool)

// Results passed to Handler.Observe, one per request.
const (
	// ResultFound: a PIN led to a meeting; the call is bridged.
	ResultFound = "found"
	// ResultNotFound: a PIN led nowhere; the caller is asked again or,
	// after Tries wrong PINs, hung up.
	ResultNotFound = "not_found"
	// ResultPrompt: a new call is asked for its PIN.
	ResultPrompt = "prompt"
	// ResultRefused: no document, an HTTP error: the endpoint is off, the
	// method or credentials are wrong, the body is unreadable or too big,
	// or the configuration is invalid.
	ResultRefused = "refused"
	// ResultNotDialplan: "not found" for a lookup this endpoint does not
	// serve: another section, another context, no usable destination.
	ResultNotDialplan = "not_dialplan"
)

// MaxBodyBytes bounds a lookup's body. mod_xml_curl sends every channel
// variable (the SDP among them): typically a few KiB, far less with
// enable-post-var.
const MaxBodyBytes = 64 << 10

// Handler answers mod_xml_curl's dialplan lookups. Its fields must not
// change while it serves.
type Handler struct {
	Config Config
	// Lookup finds meetings by voice bridge; nil finds none.
	Lookup Lookup
	// Observe, if set, is told the result of every request (Result*), for
	// metrics.
	Observe func(result string)
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.Config.WithDefaults()
	if cfg.Password == "" {
		h.observe(ResultRefused)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		h.observe(ResultRefused)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	// Checked per request, not once, because Config is a plain field; it
	// costs well under a microsecond.
	if err := cfg.Validate(); err != nil {
		h.observe(ResultRefused)
		http.Error(w, "dial-in is misconfigured", http.StatusInternalServerError)
		return
	}
	if !authorized(r, cfg.Password) {
		h.observe(ResultRefused)
		w.Header().Set("WWW-Authenticate", `Basic realm="`+cfg.Realm+`"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body := bufferPool.Get().(*bytes.Buffer)
	defer bufferPool.Put(body)
	body.Reset()
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		h.observe(ResultRefused)
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	// mod_xml_curl always sends a form; anything else is read as an empty
	// one, which is "not found", as net/http's ParseForm would have it.
	var c call
	if isForm(r.Header.Get("Content-Type")) {
		var err error
		if c, err = parseCall(body.String()); err != nil {
			h.observe(ResultRefused)
			http.Error(w, "unreadable form", http.StatusBadRequest)
			return
		}
	}

	result, doc := h.answer(r.Context(), cfg, c)
	h.observe(result)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if doc == nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(notFoundDocument)))
		_, _ = w.Write([]byte(notFoundDocument))
		return
	}
	buf := bufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	doc.writeTo(buf)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	bufferPool.Put(buf)
}

// answer decides the document for one lookup; nil is "not found".
func (h *Handler) answer(ctx context.Context, cfg Config, c call) (string, *dialplan) {
	if c.section != "dialplan" || (c.context != "" && c.context != cfg.Context) || !validDestination(c.destination) {
		return ResultNotDialplan, nil
	}
	if c.pin == "" {
		d := promptDocument(cfg, c.destination)
		return ResultPrompt, &d
	}
	if m, ok := h.find(ctx, cfg, c.pin); ok {
		d := bridgeDocument(cfg, c.destination, c.pin, m, c.caller)
		return ResultFound, &d
	}
	failed := c.failedPins + 1
	if failed >= cfg.Tries {
		d := hangupDocument(cfg, c.destination)
		return ResultNotFound, &d
	}
	d := repromptDocument(cfg, c.destination, failed)
	return ResultNotFound, &d
}

// find looks the PIN up, then, as scalelite does, the PIN minus its last
// digit: BBB numbers a breakout room's voice bridge as its parent's plus
// one digit and creates it on the parent's server itself, so the registry
// knows only the parent. The breakout's own entry wins when the registry
// has one. The call is bridged with the full PIN either way, which is the
// breakout's conference on that server.
func (h *Handler) find(ctx context.Context, cfg Config, pin string) (Meeting, bool) {
	if h.Lookup == nil || !validPin(pin, cfg) {
		return Meeting{}, false
	}
	m, ok := h.Lookup(ctx, pin)
	if !ok && len(pin) > cfg.MinDigits {
		m, ok = h.Lookup(ctx, pin[:len(pin)-1])
	}
	if !ok || !validHost(m.Host) {
		return Meeting{}, false
	}
	return m, true
}

// authorized checks Basic credentials in constant time; hashing first
// keeps the comparison's time independent of the lengths too.
func authorized(r *http.Request, password string) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	gotUser, wantUser := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(User))
	gotPass, wantPass := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(password))
	userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
	passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
	return userOK&passOK == 1
}

func isForm(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "application/x-www-form-urlencoded")
}

func (h *Handler) observe(result string) {
	if h.Observe != nil {
		h.Observe(result)
	}
}
