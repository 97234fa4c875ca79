package bbbbalance

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bbb-balance/bbb_balance/tenants"
)

// Tenants are changed at run time through the admin API as servers are,
// by manage.Manager: the operator's changes are kept in the database and
// laid over the config, so a reload does not undo them.
//
//	GET    /bbb/tenants                 every tenant (secrets masked) with its meetings and attendees
//	POST   /bbb/tenants                 add one: a tenants.Config
//	PATCH  /bbb/tenants/<name>          change the fields given
//	DELETE /bbb/tenants/<name>[?force=true]   remove it (refused while it has meetings, unless forced)
func (adminAPI) tenants(w http.ResponseWriter, r *http.Request) error {
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bbb/tenants"), "/")
	e, err := pick(r, "")
	if err != nil {
		return err
	}
	m, ctx := e.manager, r.Context()
	switch {
	case name == "" && r.Method == http.MethodGet:
		list, err := m.ListTenants(ctx)
		if err != nil {
			return opErr(err)
		}
		return writeJSON(w, http.StatusOK, list)
	case name == "" && r.Method == http.MethodPost:
		var c tenants.Config
		if err := decodeBody(r, &c); err != nil {
			return err
		}
		st, err := m.AddTenant(ctx, who(r), c)
		if err != nil {
			return opErr(err)
		}
		return writeJSON(w, http.StatusCreated, st)
	case name != "" && r.Method == http.MethodPatch:
		// The body's fields replace the tenant's; the others stay.
		st, err := m.UpdateTenant(ctx, who(r), name, func(c *tenants.Config) error { return decodeBody(r, c) })
		if err != nil {
			return opErr(err)
		}
		return writeJSON(w, http.StatusOK, st)
	case name != "" && r.Method == http.MethodDelete:
		force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
		if err := m.RemoveTenant(ctx, who(r), name, force); err != nil {
			return opErr(err)
		}
		return writeJSON(w, http.StatusOK, map[string]string{"removed": name})
	}
	return apiErr(http.StatusMethodNotAllowed, "%s %s is not a tenants call", r.Method, r.URL.Path)
}
