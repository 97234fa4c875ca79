package bbbbalance

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// Recording routes of the admin API:
//
//	GET  /bbb/recordings[?meeting=<id>&tenant=<name>&state=<s,...|any>&limit=<n>&offset=<n>]
//	                                 the index, newest first (default limit 100)
//	GET  /bbb/recordings/stats       recordings and bytes per tenant and state
//	GET  /bbb/recordings/check[?older_than=<duration>&limit=<n>]
//	                                 compare the index with the files (recordings_check.go)
//	POST /bbb/recordings/check?repair=true[&older_than=&limit=]
//	                                 repair what the check finds, and report it
//	POST /bbb/recordings/expire[?dry_run=true&limit=<n>]
//	                                 delete (dry: list) what retention expires now
//	POST /bbb/recordings/import      import an existing BBB or scalelite tree:
//	                                 {"dir": "/var/bigbluebutton/published", "move": false}
//	GET  /bbb/recordings/failed      the refused tars, with why (recordings_failed.go)
//	POST /bbb/recordings/failed/<name>/retry   put one back into the spool

// RecordingInfo is one recording in the admin API's listing.
type RecordingInfo struct {
	RecordID  string   `json:"record_id"`
	MeetingID string   `json:"meeting_id"`
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Published bool     `json:"published"`
	Protected bool     `json:"protected"`
	StartTime int64    `json:"start_time"`
	EndTime   int64    `json:"end_time"`
	Server    string   `json:"server,omitempty"`
	Formats   []string `json:"formats"`
	Size      int64    `json:"size"`
	Tenant    string   `json:"tenant,omitempty"`
}

// ImportReport is the answer of POST /bbb/recordings/import.
type ImportReport struct {
	Imported int                  `json:"imported"`
	Skipped  []recordings.DirSkip `json:"skipped"`
}

func (adminAPI) recordings(w http.ResponseWriter, r *http.Request) error {
	action := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bbb/recordings"), "/")
	e, err := pick(r, "")
	if err != nil {
		return err
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
		return listRecordings(w, r, e)
	case action == "stats" && r.Method == http.MethodGet:
		st, err := e.recordingStats(r.Context(), true)
		if err != nil {
			return apiErr(http.StatusServiceUnavailable, "reading the recordings index: %v", err)
		}
		return writeJSON(w, http.StatusOK, st)
	case action == "expire" && r.Method == http.MethodPost:
		return expireRecordings(w, r, e)
	case action == "failed" && r.Method == http.MethodGet:
		return listFailedImports(w, e)
	case strings.HasPrefix(action, "failed/") && r.Method == http.MethodPost:
		return retryFailedImport(w, r, e, strings.TrimPrefix(action, "failed/"))
	case action == "check" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return checkRecordings(w, r, e)
	case action == "import" && r.Method == http.MethodPost:
		var in struct {
			Dir  string `json:"dir"`
			Move bool   `json:"move"`
		}
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		if in.Dir == "" {
			return apiErr(http.StatusBadRequest, "say which directory to import: {\"dir\": \"/var/bigbluebutton/published\"}")
		}
		im, _, err := e.liveImporter()
		if err != nil {
			return opErr(err)
		}
		rep, err := im.ImportDir(r.Context(), in.Dir, in.Move)
		if err != nil {
			return apiErr(http.StatusBadRequest, "importing %s: %v", in.Dir, err)
		}
		out := ImportReport{Imported: rep.Imported, Skipped: rep.Skipped}
		if out.Skipped == nil {
			out.Skipped = []recordings.DirSkip{}
		}
		return writeJSON(w, http.StatusOK, out)
	}
	return apiErr(http.StatusMethodNotAllowed, "%s %s is not a recordings call", r.Method, r.URL.Path)
}

func listRecordings(w http.ResponseWriter, r *http.Request, e *engine) error {
	qs := r.URL.Query()
	q := recordings.Query{Limit: 100, AllTenants: true}
	if t, ok := qs["tenant"]; ok {
		q.Tenant, q.AllTenants = t[0], false
	}
	if m := qs.Get("meeting"); m != "" {
		q.MeetingIDs = []string{m}
	}
	if s := qs.Get("state"); s != "" {
		q.States = strings.Split(s, ",")
	}
	for name, into := range map[string]*int{"limit": &q.Limit, "offset": &q.Offset} {
		if v := qs.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (name == "limit" && n == 0) {
				return apiErr(http.StatusBadRequest, "%s: %q is not a positive number", name, v)
			}
			*into = n
		}
	}
	list := []RecordingInfo{}
	total, err := e.db.Find(r.Context(), q, func(rec *recordings.Entry) error {
		info := RecordingInfo{RecordID: rec.RecordID, MeetingID: rec.MeetingID, Name: rec.Name, State: rec.State,
			Published: rec.Published, Protected: rec.Protected, StartTime: rec.StartTime, EndTime: rec.EndTime,
			Server: rec.ServerID, Formats: []string{}, Size: rec.Size(), Tenant: rec.Tenant}
		for _, f := range rec.Formats {
			info.Formats = append(info.Formats, f.Type)
		}
		list = append(list, info)
		return nil
	})
	if err != nil {
		return apiErr(http.StatusInternalServerError, "reading the recordings index: %v", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"total": total, "recordings": list})
}
