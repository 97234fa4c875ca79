package bbbbalance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/balancer"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the pool's state on Caddy's admin endpoint, under /bbb/,
// so Caddy's own access rules for the admin endpoint protect it.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.bbb",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/bbb/servers", Handler: caddy.AdminHandlerFunc(a.servers)},
		{Pattern: "/bbb/servers/", Handler: caddy.AdminHandlerFunc(a.servers)},
		{Pattern: "/bbb/meetings", Handler: caddy.AdminHandlerFunc(a.meetings)},
	}
}

// liveEngines lists the engines of the running configs (one per database).
func liveEngines() []*engine {
	var out []*engine
	engines.Range(func(_, v any) bool {
		out = append(out, v.(*engine))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// servers answers GET /bbb/servers (every server) and GET /bbb/servers/<id>.
func (adminAPI) servers(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bbb/servers"), "/")
	list := []balancer.ServerStatus{}
	for _, e := range liveEngines() {
		list = append(list, e.pool.Servers()...)
	}
	if id == "" {
		return writeJSON(w, list)
	}
	for _, s := range list {
		if s.ID == id {
			return writeJSON(w, s)
		}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no server %q", id)}
}

// meetings answers GET /bbb/meetings: the registry.
func (adminAPI) meetings(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	list := []balancer.MeetingRecord{}
	for _, e := range liveEngines() {
		list = append(list, e.pool.Meetings()...)
	}
	return writeJSON(w, list)
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

var _ caddy.AdminRouter = adminAPI{}
