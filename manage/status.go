package manage

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// HTTPStatus is the HTTP status that answers an action's error, for every
// HTTP front of the actions (the admin API, the console): what is unknown
// is 404, what conflicts with the pool's state 409, what is malformed 400.
// The recordings' failed imports answer with io/fs's errors (a name that
// is not there, a name that is not one).
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, balancer.ErrNoSuchServer), errors.Is(err, balancer.ErrUnknownMeeting), errors.Is(err, ErrNoSuchTenant),
		errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, ErrTenantHasMeetings), errors.Is(err, balancer.ErrServerExists), errors.Is(err, balancer.ErrHasMeetings),
		errors.Is(err, ErrTenantExists), errors.Is(err, ErrNotLive), errors.Is(err, fs.ErrExist):
		return http.StatusConflict
	case balancer.IsInvalid(err), errors.Is(err, ErrInvalidTenant), errors.Is(err, fs.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
