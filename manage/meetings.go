package manage

import (
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// MeetingListing is a meeting as the operator's listings show it (the
// admin API's GET /bbb/meetings, the CLI, the console): the registry entry
// (its key is the id the servers know it by) with the tenant and the
// front-end's own meetingID apart, so nobody needs to know how ids are
// scoped (tenants.Split).
type MeetingListing struct {
	balancer.MeetingStatus
	Tenant    string `json:"tenant"`     // "" for the default front-end
	MeetingID string `json:"meeting_id"` // as its front-end knows it
}

// ListMeetings lists the registry's meetings; when filtered, only those
// of tenant ("" is the default front-end).
func ListMeetings(ms []balancer.MeetingStatus, tenant string, filtered bool) []MeetingListing {
	out := make([]MeetingListing, 0, len(ms))
	for _, m := range ms {
		name, id := tenants.Split(m.Key)
		if !filtered || name == tenant {
			out = append(out, MeetingListing{MeetingStatus: m, Tenant: name, MeetingID: id})
		}
	}
	return out
}
