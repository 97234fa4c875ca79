// Package scaleliteapi is scalelite's REST management API (/scalelite/api,
// scalelite ≥ 1.5.1) over the pool, so tools written for scalelite can
// list, add, change, remove and panic servers here too. It is plain
// net/http; the Caddy module mounts it. Every change goes through
// manage.Manager, so it is logged and kept across reloads and restarts like
// one made through the admin API.
//
//	GET  /scalelite/api/getServers
//	GET  /scalelite/api/getServerInfo?id=<id>
//	POST /scalelite/api/addServer     {"server": {"url", "secret", "load_multiplier"?, "tag"?}}
//	POST /scalelite/api/updateServer  {"id", "server": {"state"?: enable|cordon|disable, "load_multiplier"?, "secret"?, "tag"?}}
//	POST /scalelite/api/deleteServer  {"id"}
//	POST /scalelite/api/panicServer   {"id", "keep_state"?}
//
// As in scalelite, every call carries a checksum of the call name, the raw
// query string (checksum cut out) and one of the balancer's own secrets; a
// POST with a body must say Content-Type: application/json. Those two
// refusals, and calls that do not exist, are answered in BBB's XML with
// HTTP 200, as scalelite does; everything else is JSON.
package scaleliteapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/manage"
)

// Prefix is the path under which scalelite serves its management API.
const Prefix = "/scalelite/api/"

// API serves scalelite's management API for one pool.
type API struct {
	// Verifier checks checksums: the balancer's own secrets, the same as
	// the BBB API's (scalelite's LOADBALANCER_SECRET(S)).
	Verifier *bbb.Verifier
	// Manager carries out the changes.
	Manager *manage.Manager
	// OnChecksumFailure, if set, is told of every call refused for its
	// checksum: on a management API that is worth a metric and an alert.
	OnChecksumFailure func(call string)
}

// SecretMask stands for a server's secret in every answer. scalelite
// returns secrets in clear; here secrets never appear in an admin listing,
// so the field is kept (clients that read it still find a string) and
// always holds this mask.
const SecretMask = "********"

// Server is scalelite's JSON object for one server, field for field.
type Server struct {
	ID             string  `json:"id"`
	URL            string  `json:"url"`
	Secret         string  `json:"secret"` // always SecretMask
	Tag            string  `json:"tag"`
	BBBVersion     string  `json:"bbb_version"`
	State          string  `json:"state"`
	Load           any     `json:"load"` // a number, or "unavailable"
	LoadMultiplier float64 `json:"load_multiplier"`
	Online         string  `json:"online"` // "online" or "offline"
}

// Unavailable is the load of a server that takes no meetings.
const Unavailable = "unavailable"

// serverJSON renders a server as scalelite does. Like scalelite, whose
// load is kept only for servers in its load set, the load is "unavailable"
// when the server is offline or disabled.
func serverJSON(s balancer.ServerStatus) Server {
	out := Server{
		ID:             s.ID,
		URL:            s.URL,
		Secret:         SecretMask,
		Tag:            s.Tag,
		BBBVersion:     s.Version,
		State:          string(s.State),
		Load:           s.Load,
		LoadMultiplier: s.Weight,
		Online:         "offline",
	}
	if s.Online {
		out.Online = "online"
	}
	if !s.Online || s.State == balancer.Disabled {
		out.Load = Unavailable
	}
	return out
}

type call struct {
	method string
	serve  func(a *API, w http.ResponseWriter, r *http.Request, body *body)
}

var calls = map[string]call{
	"getServers":    {http.MethodGet, (*API).getServers},
	"getServerInfo": {http.MethodGet, (*API).getServerInfo},
	"addServer":     {http.MethodPost, (*API).addServer},
	"updateServer":  {http.MethodPost, (*API).updateServer},
	"deleteServer":  {http.MethodPost, (*API).deleteServer},
	"panicServer":   {http.MethodPost, (*API).panicServer},
}

// maxBody bounds a JSON body; these are a few fields.
const maxBody = 1 << 20

// ServeHTTP answers one call under Prefix.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, Prefix), "/")
	c, ok := calls[name]
	if !ok || !strings.HasPrefix(r.URL.Path, Prefix) || !(r.Method == c.method || (c.method == http.MethodGet && r.Method == http.MethodHead)) {
		// scalelite's catch-all route.
		writeXMLError(w, bbb.KeyUnsupportedRequest, bbb.MsgUnsupported)
		return
	}
	// scalelite checks the content type first, then the checksum.
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			writeXMLError(w, bbb.KeyUnsupportedContent, bbb.MsgUnsupportedCT)
			return
		}
	}
	if a.Verifier.Verify(name, r.URL.RawQuery) != nil {
		if a.OnChecksumFailure != nil {
			a.OnChecksumFailure(name)
		}
		// scalelite's wording, the same for a missing and a wrong checksum.
		writeXMLError(w, bbb.KeyChecksumError, "You did not pass the checksum security check")
		return
	}
	b := &body{}
	if r.Method == http.MethodPost {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		switch {
		case err != nil:
			writeJSON(w, http.StatusBadRequest, errorBody("Could not read the request body: "+err.Error()))
			return
		case len(data) > maxBody:
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody("The request body is too large"))
			return
		case len(bytes.TrimSpace(data)) > 0:
			if err := json.Unmarshal(data, b); err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody("Invalid JSON in the request body: "+err.Error()))
				return
			}
		}
	}
	c.serve(a, w, r, b)
}

// body is the JSON of a POST. Like Rails' parameter wrapping in scalelite,
// the server's fields are read from "server", or from the top level when
// there is no "server" object; keep_state is read from both (scalelite's
// code reads the top level, its docs put it in "server").
type body struct {
	ID     flexString    `json:"id"`
	Server *serverParams `json:"server"`
	serverParams
}

type serverParams struct {
	URL            *string    `json:"url"`
	Secret         *string    `json:"secret"`
	LoadMultiplier *flexFloat `json:"load_multiplier"`
	Tag            *string    `json:"tag"`
	State          *string    `json:"state"`
	KeepState      *flexBool  `json:"keep_state"`
}

// server returns the server's fields: "server", else the top level.
func (b *body) server() serverParams {
	if b.Server != nil {
		return *b.Server
	}
	return b.serverParams
}

// id is the server's id: the body's, else the query's (Rails merges both
// into its params).
func (b *body) id(r *http.Request) string {
	if b.ID != "" {
		return string(b.ID)
	}
	return r.URL.Query().Get("id")
}

func (b *body) keepState() bool {
	if b.KeepState != nil && *b.KeepState {
		return true
	}
	return b.Server != nil && b.Server.KeepState != nil && bool(*b.Server.KeepState)
}

// flexString is a JSON string, or a number or boolean taken as its text.
type flexString string

func (s *flexString) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*s = ""
	case string:
		*s = flexString(v)
	case float64, bool:
		*s = flexString(strings.TrimSpace(string(data)))
	default:
		return fmt.Errorf("want a string, got %s", data)
	}
	return nil
}

// flexFloat is a number, or a string holding one (Ruby's to_d: what does
// not read as a number is 0).
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*f = 0
	case float64:
		*f = flexFloat(v)
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			n = 0
		}
		*f = flexFloat(n)
	default:
		return fmt.Errorf("want a number, got %s", data)
	}
	return nil
}

// flexBool is true for true, "true", "1", 1 and the like.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexBool(v)
	case float64:
		*b = v != 0
	case string:
		t, _ := strconv.ParseBool(strings.TrimSpace(v))
		*b = flexBool(t)
	default:
		*b = false
	}
	return nil
}

// who names the one asking, for the log of changes.
func who(r *http.Request) manage.Who {
	return manage.Who("scalelite API from " + r.RemoteAddr)
}

func (a *API) getServers(w http.ResponseWriter, r *http.Request, _ *body) {
	all := a.Manager.Pool.Servers()
	if len(all) == 0 {
		writeJSON(w, http.StatusNotFound, errorBody("No servers are configured"))
		return
	}
	list := make([]Server, len(all))
	for i, s := range all {
		list[i] = serverJSON(s)
	}
	writeJSON(w, http.StatusOK, list)
}

// find answers 404 as scalelite does when there is no server id.
func (a *API) find(w http.ResponseWriter, id string) (balancer.ServerStatus, bool) {
	s, ok := a.Manager.Pool.Server(id)
	if !ok {
		notFound(w, id)
	}
	return s, ok
}

func notFound(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusNotFound, errorBody("Couldn't find server with id="+id))
}

func (a *API) getServerInfo(w http.ResponseWriter, r *http.Request, _ *body) {
	if s, ok := a.find(w, r.URL.Query().Get("id")); ok {
		writeJSON(w, http.StatusOK, serverJSON(s))
	}
}

// addServer adds a server disabled, as scalelite does: it is polled at
// once and takes meetings when enabled. Its id is the URL's host name
// (scalelite's SERVER_ID_IS_HOSTNAME), so adding the same host twice is
// refused.
func (a *API) addServer(w http.ResponseWriter, r *http.Request, b *body) {
	p := b.server()
	if p.URL == nil || strings.TrimSpace(*p.URL) == "" || p.Secret == nil || strings.TrimSpace(*p.Secret) == "" {
		writeJSON(w, http.StatusBadRequest, errorBody("Server needs a URL and a secret"))
		return
	}
	rawURL := strings.TrimSpace(*p.URL)
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("Server URL %q is not an http(s) URL", rawURL)))
		return
	}
	c := balancer.ServerConfig{
		ID:     strings.ToLower(u.Hostname()),
		URL:    rawURL,
		Secret: *p.Secret,
		Weight: 1, // scalelite: a missing, unreadable or zero multiplier is 1
		State:  balancer.Disabled,
	}
	if p.LoadMultiplier != nil && *p.LoadMultiplier != 0 {
		c.Weight = float64(*p.LoadMultiplier)
	}
	if p.Tag != nil {
		c.Tag = *p.Tag
	}
	st, err := a.Manager.AddServer(r.Context(), who(r), c)
	switch {
	case errors.Is(err, balancer.ErrServerExists):
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("Server already exists with id '%s'", c.ID)))
	case balancer.IsInvalid(err):
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, errorBody(err.Error()))
	default:
		writeJSON(w, http.StatusCreated, serverJSON(st))
	}
}

// states are the words of updateServer's state field.
var states = map[string]balancer.State{"enable": balancer.Enabled, "cordon": balancer.Cordoned, "disable": balancer.Disabled}

// updateServer changes state, multiplier, secret and tag at once, or
// nothing if one of them is refused. A blank secret is ignored, an empty
// tag removes the tag.
func (a *API) updateServer(w http.ResponseWriter, r *http.Request, b *body) {
	id := b.id(r)
	if _, ok := a.find(w, id); !ok {
		return
	}
	p := b.server()
	var patch balancer.ServerPatch
	if p.State != nil && *p.State != "" {
		st, ok := states[*p.State]
		if !ok {
			writeJSON(w, http.StatusBadRequest, errorBody("Invalid state parameter: "+*p.State))
			return
		}
		patch.State = &st
	}
	if p.LoadMultiplier != nil {
		m := float64(*p.LoadMultiplier)
		switch {
		case m == 0:
			writeJSON(w, http.StatusBadRequest, errorBody("Load-multiplier must be a non-zero number"))
			return
		case m < 0:
			// scalelite would take it; a negative weight makes no sense here.
			writeJSON(w, http.StatusBadRequest, errorBody("Load-multiplier must be a positive number"))
			return
		}
		patch.Weight = &m
	}
	if p.Secret != nil && strings.TrimSpace(*p.Secret) != "" {
		s := *p.Secret
		patch.Secret = &s
	}
	if p.Tag != nil {
		t := *p.Tag
		patch.Tag = &t
	}
	st, err := a.Manager.UpdateServer(r.Context(), who(r), id, patch)
	if err != nil {
		a.changeErr(w, id, err, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, serverJSON(st))
}

// deleteServer removes a server whatever it runs, as scalelite does: its
// meetings are forgotten (not ended) and placed anew by their next create.
func (a *API) deleteServer(w http.ResponseWriter, r *http.Request, b *body) {
	id := b.id(r)
	if _, ok := a.find(w, id); !ok {
		return
	}
	if _, err := a.Manager.RemoveServer(r.Context(), who(r), id, true); err != nil {
		a.changeErr(w, id, err, fmt.Sprintf("Couldn't destroy server id=%s: %v", id, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": fmt.Sprintf("Server id=%s was destroyed", id)})
}

// panicServer ends every meeting of a server on it, forgets them, and
// disables the server unless keep_state. The answer is scalelite's, which
// says "disabled" even when the state was kept.
func (a *API) panicServer(w http.ResponseWriter, r *http.Request, b *body) {
	id := b.id(r)
	if _, ok := a.find(w, id); !ok {
		return
	}
	// The meetings are ended even if the client goes away meanwhile.
	ctx := context.WithoutCancel(r.Context())
	if _, err := a.Manager.Panic(ctx, who(r), id, b.keepState()); err != nil {
		a.changeErr(w, id, err, fmt.Sprintf("Couldn't disable server id=%s", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": fmt.Sprintf("Server id=%s has been disabled and the meetings have been destroyed", id)})
}

// changeErr answers a refused change: 404 if the server went meanwhile,
// else 400 with msg, as scalelite does.
func (a *API) changeErr(w http.ResponseWriter, id string, err error, msg string) {
	if errors.Is(err, balancer.ErrNoSuchServer) {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusBadRequest, errorBody(msg))
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"could not render the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write(data)
}

// writeXMLError answers an error as scalelite renders it (Nokogiri, with an
// XML declaration, application/xml, HTTP 200), even on this JSON API.
func writeXMLError(w http.ResponseWriter, key, msg string) {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<response>\n  <returncode>FAILED</returncode>\n  <messageKey>")
	xml.EscapeText(&b, []byte(key))
	b.WriteString("</messageKey>\n  <message>")
	xml.EscapeText(&b, []byte(msg))
	b.WriteString("</message>\n</response>\n")
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}
