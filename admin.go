package bbbbalance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/cluster"
	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/store"
	"github.com/bbb-balance/bbb_balance/tenants"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI manages the pool on Caddy's admin endpoint, under /bbb/, so
// Caddy's own access rules for the admin endpoint protect it. JSON in,
// JSON out; errors are {"error": "..."} with a fitting status code.
//
//	GET    /bbb/servers                        every server
//	POST   /bbb/servers                        add one: {"id","url","secret","algorithm","weight","tag","state"}
//	GET    /bbb/servers/<id>                   one server
//	PATCH  /bbb/servers/<id>                   change url, secret, algorithm, weight, tag, state
//	DELETE /bbb/servers/<id>[?force=true]      remove (refused while it has meetings, unless forced)
//	POST   /bbb/servers/<id>/enable|cordon|disable
//	POST   /bbb/servers/<id>/panic[?keep_state=true]   end its meetings, forget them, disable it
//	GET    /bbb/meetings[?tenant=<name>]       the registry (tenant= alone: the default front-end's)
//	DELETE /bbb/meetings/<key>                 end a meeting and forget it, by its key
//	DELETE /bbb/meetings/<meetingID>?tenant=<name>   the same, by a front-end's own id
//	GET    /bbb/recordings                     the recordings index (see admin_recordings.go)
//	POST   /bbb/recordings/import              import an existing published/ tree
//	GET/POST /bbb/tenants, PATCH/DELETE /bbb/tenants/<name>   tenants (see admin_tenants.go)
//
// With several pools (handlers with different databases), ?database=<path>
// picks one; calls about a server id find its pool by themselves.
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
		{Pattern: "/bbb/meetings/", Handler: caddy.AdminHandlerFunc(a.meetings)},
		{Pattern: "/bbb/recordings", Handler: caddy.AdminHandlerFunc(a.recordings)},
		{Pattern: "/bbb/recordings/", Handler: caddy.AdminHandlerFunc(a.recordings)},
		{Pattern: "/bbb/tenants", Handler: caddy.AdminHandlerFunc(a.tenants)},
		{Pattern: "/bbb/tenants/", Handler: caddy.AdminHandlerFunc(a.tenants)},
		{Pattern: "/bbb/instances", Handler: caddy.AdminHandlerFunc(a.instances)},
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

func apiErr(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// pick finds the engine a request is about: the one holding server id if
// given, else the one named by ?database=, else the only one.
func pick(r *http.Request, id string) (*engine, error) {
	return pickEngine(r.URL.Query().Get("database"), id, "?database=<path>")
}

// pickEngine finds the engine using database db if given, else the one
// holding server id if given, else the only one; with several, the error
// says to choose with how.
func pickEngine(db, id, how string) (*engine, error) {
	all := liveEngines()
	if db != "" {
		for _, e := range all {
			if e.path == db {
				return e, nil
			}
		}
		return nil, apiErr(http.StatusNotFound, "no pool uses database %s", db)
	}
	if id != "" {
		for _, e := range all {
			if _, ok := e.pool.Server(id); ok {
				return e, nil
			}
		}
		return nil, apiErr(http.StatusNotFound, "no server %q", id)
	}
	switch len(all) {
	case 0:
		return nil, apiErr(http.StatusNotFound, "no bbb_balance handler is running")
	case 1:
		return all[0], nil
	}
	return nil, apiErr(http.StatusBadRequest, "%d pools are running; say which with %s", len(all), how)
}

// who names the one asking, for the log of changes.
func who(r *http.Request) manage.Who {
	return manage.Who("admin API from " + r.RemoteAddr)
}

// opErr maps the errors of the operator's actions to status codes
// (manage.HTTPStatus); an error that has one (a request's unreadable body)
// keeps it.
func opErr(err error) error {
	var hasStatus caddy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &hasStatus):
		return err
	case errors.Is(err, manage.ErrTenantHasMeetings):
		return apiErr(http.StatusConflict, "%v; end them first or remove it with ?force=true", err)
	}
	return apiErr(manage.HTTPStatus(err), "%v", err)
}

func decodeBody(r *http.Request, into any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return apiErr(http.StatusBadRequest, "unreadable JSON body: %v", err)
	}
	return nil
}

func (adminAPI) servers(w http.ResponseWriter, r *http.Request) error {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bbb/servers"), "/")
	id, action, _ := strings.Cut(rest, "/")
	ctx := r.Context()

	if id == "" {
		switch r.Method {
		case http.MethodGet:
			list := []balancer.ServerStatus{}
			for _, e := range liveEngines() {
				list = append(list, e.pool.Servers()...)
			}
			return writeJSON(w, http.StatusOK, list)
		case http.MethodPost:
			var c balancer.ServerConfig
			if err := decodeBody(r, &c); err != nil {
				return err
			}
			e, err := pick(r, "")
			if err != nil {
				return err
			}
			st, err := e.manager.AddServer(ctx, who(r), c)
			if err != nil {
				return opErr(err)
			}
			return writeJSON(w, http.StatusCreated, st)
		}
		return apiErr(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}

	e, err := pick(r, id)
	if err != nil {
		return err
	}
	m := e.manager
	var st balancer.ServerStatus
	switch {
	case action == "" && r.Method == http.MethodGet:
		st, _ = e.pool.Server(id)
	case action == "" && r.Method == http.MethodPatch:
		var patch balancer.ServerPatch
		if err := decodeBody(r, &patch); err != nil {
			return err
		}
		st, err = m.UpdateServer(ctx, who(r), id, patch)
	case action == "" && r.Method == http.MethodDelete:
		force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
		n, err := m.RemoveServer(ctx, who(r), id, force)
		if err != nil {
			return opErr(err)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"removed": id, "forgotten_meetings": n})
	case r.Method == http.MethodPost && (action == "enable" || action == "cordon" || action == "disable"):
		state := map[string]balancer.State{"enable": balancer.Enabled, "cordon": balancer.Cordoned, "disable": balancer.Disabled}[action]
		st, err = m.SetState(ctx, who(r), id, state)
	case r.Method == http.MethodPost && action == "panic":
		keep, _ := strconv.ParseBool(r.URL.Query().Get("keep_state"))
		n, err := m.Panic(ctx, who(r), id, keep)
		if err != nil {
			return opErr(err)
		}
		st, _ = e.pool.Server(id)
		return writeJSON(w, http.StatusOK, map[string]any{"server": st, "ended_meetings": n})
	default:
		return apiErr(http.StatusMethodNotAllowed, "%s %s is not an action on a server", r.Method, r.URL.Path)
	}
	if err != nil {
		return opErr(err)
	}
	return writeJSON(w, http.StatusOK, st)
}

// MeetingListing is a meeting as GET /bbb/meetings lists it.
type MeetingListing = manage.MeetingListing

func (adminAPI) meetings(w http.ResponseWriter, r *http.Request) error {
	// The escaped path, unescaped once: a meetingID may hold "/" or "%".
	rest := strings.Trim(strings.TrimPrefix(r.URL.EscapedPath(), "/bbb/meetings"), "/")
	tenant, byTenant := r.URL.Query()["tenant"]
	if byTenant && len(tenant) > 0 && tenant[0] != "" && !tenants.ValidName(tenant[0]) {
		return apiErr(http.StatusBadRequest, "tenant %q: a tenant name is a DNS label in lower case", tenant[0])
	}
	name := ""
	if byTenant && len(tenant) > 0 {
		name = tenant[0]
	}
	if rest == "" {
		if r.Method != http.MethodGet {
			return apiErr(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
		list := []MeetingListing{}
		for _, e := range liveEngines() {
			list = append(list, manage.ListMeetings(e.pool.Meetings(), name, byTenant)...)
		}
		return writeJSON(w, http.StatusOK, list)
	}
	if r.Method != http.MethodDelete {
		return apiErr(http.StatusMethodNotAllowed, "method %s not allowed; DELETE ends a meeting", r.Method)
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		return apiErr(http.StatusBadRequest, "bad meeting id: %v", err)
	}
	if byTenant {
		id, own := key, false
		if key, own = (&tenants.Tenant{Name: name}).ServerID(id); !own {
			return apiErr(http.StatusNotFound, "no meeting %q of the default front-end: that id is in the tenants' namespace", id)
		}
	}
	for _, e := range liveEngines() {
		if _, err := e.pool.Lookup(key); !errors.Is(err, balancer.ErrUnknownMeeting) {
			if err := e.manager.EndMeeting(r.Context(), who(r), key); err != nil {
				return opErr(err)
			}
			return writeJSON(w, http.StatusOK, map[string]string{"ended": key})
		}
	}
	return apiErr(http.StatusNotFound, "no meeting %q", key)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

var _ caddy.AdminRouter = adminAPI{}

// instancesAnswer is GET /bbb/instances: the database (its password
// hidden) and, when it is shared, the instances that use it.
type instancesAnswer struct {
	Database  string             `json:"database"`
	Engine    store.Engine       `json:"engine"`
	Instances []cluster.Instance `json:"instances"`
}

// instances lists the balancer instances sharing the pool's database
// (PostgreSQL), with the one that polls; on SQLite, just this one.
func (a adminAPI) instances(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return apiErr(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
	e, err := pick(r, "")
	if err != nil {
		return err
	}
	ans, err := e.instances(r.Context())
	if err != nil {
		return apiErr(http.StatusServiceUnavailable, "reading the instances from the database: %v", err)
	}
	return writeJSON(w, http.StatusOK, ans)
}

// instances lists the instances sharing the engine's database; on
// SQLite, this one alone, which polls.
func (e *engine) instances(ctx context.Context) (instancesAnswer, error) {
	ans := instancesAnswer{Database: store.Redact(e.path), Engine: e.db.Engine(), Instances: []cluster.Instance{}}
	if e.member == nil {
		host, _ := os.Hostname()
		ans.Instances = append(ans.Instances, cluster.Instance{ID: host, Host: host, Started: e.started, Leases: cluster.PollerLease, Self: true})
		return ans, nil
	}
	var err error
	ans.Instances, err = e.db.Instances(ctx)
	return ans, err
}
