package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// Recordings answers the recording calls.
type Recordings struct {
	Servers
	Index     recordings.Store // the recordings index; nil: "no recordings"
	Files     recordings.Files // the recordings' files; nil: index only
	PublicURL string           // scheme://host of recording links; "": the request's
	// Protected gives protected recordings one-time links in
	// getRecordings (recordings.Access); nil: their links are listed as is.
	Protected ProtectedLinks
}

// The recording calls are answered from the balancer's own index
// (recordings.Store) and files (recordings.Files); only the text-track calls
// go to the server that made the recording. Without an index they answer
// as a BBB server with no recordings does.

// ProtectedLinks gives a protected recording, as getRecordings lists it,
// one-time links in place of its playback URLs (recordings.Access).
type ProtectedLinks interface {
	Protect(rec recordings.Recording) recordings.Recording
}

// Messages of the recording calls (bbb-api.md §2.9–2.13; scalelite's
// wording for failures BBB has no text for).
const (
	msgPublishFailed = "Unable to publish/unpublish recording."
	msgDeleteFailed  = "Unable to delete recording."
	msgIndexFailed   = "Unable to read the recordings index."
	msgTracksFailed  = "Unable to reach the server of the recording."
)

// maxRecordIDs bounds the ids of one call: each is a lookup.
const maxRecordIDs = 1000

// metaParam is BBB's rule for metadata parameter names (bbb-api.md §5.3).
var metaParam = regexp.MustCompile(`^meta_[a-zA-Z][a-zA-Z0-9-]*$`)

// splitList splits a comma list parameter, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// metaParams returns the meta_ parameters of a call, keys lowercased and
// without the prefix, sorted by key so a call's effect does not depend on
// parameter order.
func metaParams(q bbb.Query) []recordings.MetaEntry {
	var out []recordings.MetaEntry
	for k, vs := range q.Values() {
		if !metaParam.MatchString(k) || len(vs) == 0 {
			continue
		}
		out = append(out, recordings.MetaEntry{Key: strings.ToLower(k[len("meta_"):]), Value: vs[0]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// publicHost is the scheme and host links are built on: publicURL, else
// the request's.
func publicHost(publicURL string, r *http.Request) string {
	if publicURL != "" {
		return publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (rc *Recordings) getRecordings(w http.ResponseWriter, req *request) {
	if rc.Index == nil {
		writeNoRecordings(w)
		return
	}
	p := req.params
	q := recordings.Query{
		RecordIDs:  splitList(p.Get("recordID")),
		MeetingIDs: splitList(p.Get("meetingID")),
		States:     splitList(strings.ToLower(p.Get("state"))),
		Tenant:     req.tenant.Name,
	}
	for _, m := range metaParams(p) {
		q.Meta = append(q.Meta, recordings.MetaFilter{Key: m.Key, Value: m.Value})
	}
	// BBB 2.6: only a valid limit paginates; it is clamped to 1..100 and a
	// bad offset counts as 0.
	if limit, err := strconv.Atoi(p.Get("limit")); err == nil {
		q.Limit = min(max(limit, 1), 100)
		if off, err := strconv.Atoi(p.Get("offset")); err == nil && off > 0 {
			q.Offset = off
		}
	}
	if len(q.RecordIDs) > maxRecordIDs || len(q.MeetingIDs) > maxRecordIDs {
		bbb.WriteError(w, bbb.KeyInternalError, "Too many ids in one call.")
		return
	}

	// A fetch-all can be large: the answer is streamed, and only an error
	// before the first byte can still become an error answer.
	host := publicHost(rc.PublicURL, req.r)
	var buf bytes.Buffer
	started := false
	flush := func() {
		if !started {
			h := w.Header()
			h.Set("Content-Type", bbb.ContentTypeXML)
			h.Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		w.Write(buf.Bytes())
		buf.Reset()
	}
	buf.WriteString("<response><returncode>SUCCESS</returncode><recordings>")
	n := 0
	total, err := rc.Index.Find(req.r.Context(), q, func(e *recordings.Entry) error {
		n++
		rec := e.Recording
		if e.Protected && rc.Protected != nil {
			rec = rc.Protected.Protect(rec)
		}
		recordings.WriteRecordingXML(&buf, rec, host)
		if buf.Len() > 64<<10 {
			flush()
		}
		return req.r.Context().Err()
	})
	if err != nil {
		rc.Logger.Error("getRecordings failed", zap.Error(err))
		if !started {
			bbb.WriteError(w, bbb.KeyInternalError, msgIndexFailed)
		}
		return
	}
	if n == 0 && !started {
		writeNoRecordings(w)
		return
	}
	buf.WriteString("</recordings>")
	if q.Limit > 0 {
		buf.WriteString("<pagination><pageable><offset>")
		buf.WriteString(strconv.Itoa(q.Offset))
		buf.WriteString("</offset><limit>")
		buf.WriteString(strconv.Itoa(q.Limit))
		buf.WriteString("</limit><paged>true</paged><unpaged>false</unpaged></pageable><totalElements>")
		buf.WriteString(strconv.Itoa(total))
		buf.WriteString("</totalElements><empty>false</empty></pagination>")
	}
	buf.WriteString("</response>")
	flush()
}

func writeNoRecordings(w http.ResponseWriter) {
	bbb.WriteXML(w, bbb.SuccessXML(bbb.Element{Name: "recordings"}, bbb.E("messageKey", bbb.KeyNoRecordings), bbb.E("message", bbb.MsgNoRecordings)))
}

// listedRecordings returns the recordings named by the recordID parameter
// that are in the index, or writes BBB's error and returns false.
func (rc *Recordings) listedRecordings(w http.ResponseWriter, req *request, keep func(*recordings.Entry) bool) ([]recordings.Entry, bool) {
	ids := splitList(req.params.Get("recordID"))
	if len(ids) == 0 {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return nil, false
	}
	if len(ids) > maxRecordIDs {
		bbb.WriteError(w, bbb.KeyInternalError, "Too many ids in one call.")
		return nil, false
	}
	if rc.Index == nil {
		bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgRecordingsMissing)
		return nil, false
	}
	found, err := rc.Index.Recordings(req.r.Context(), ids)
	if err != nil {
		rc.Logger.Error("reading recordings failed", zap.String("call", req.call), zap.Error(err))
		bbb.WriteError(w, bbb.KeyInternalError, msgIndexFailed)
		return nil, false
	}
	out := found[:0]
	for i := range found {
		// Another tenant's recordings look absent.
		if found[i].Tenant == req.tenant.Name && (keep == nil || keep(&found[i])) {
			out = append(out, found[i])
		}
	}
	if len(out) == 0 {
		bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgRecordingsMissing)
		return nil, false
	}
	return out, true
}

func formatTypes(e *recordings.Entry) []string {
	out := make([]string, len(e.Formats))
	for i, fm := range e.Formats {
		out[i] = fm.Type
	}
	return out
}

// publishRecordings moves each recording's files between the published
// and unpublished trees, then records the new state; a recording whose
// files cannot be moved keeps its state and the call fails.
func (rc *Recordings) publishRecordings(w http.ResponseWriter, req *request) {
	if req.params.Get("recordID") == "" {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return
	}
	publishParam := req.params.Get("publish")
	if publishParam == "" {
		bbb.WriteError(w, bbb.KeyMissingPublish, bbb.MsgMissingPublish)
		return
	}
	publish := strings.EqualFold(publishParam, "true")
	list, ok := rc.listedRecordings(w, req, func(e *recordings.Entry) bool {
		return e.State == recordings.StatePublished || e.State == recordings.StateUnpublished
	})
	if !ok {
		return
	}
	ctx := context.WithoutCancel(req.r.Context()) // files and rows move together or not at all
	for i := range list {
		if err := rc.setPublished(ctx, &list[i], publish); err != nil {
			rc.Logger.Error("publishing a recording failed", zap.String("recording", list[i].RecordID), zap.Bool("publish", publish), zap.Error(err))
			bbb.WriteError(w, bbb.KeyInternalError, msgPublishFailed)
			return
		}
	}
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("published", strconv.FormatBool(publish))))
}

func (rc *Recordings) setPublished(ctx context.Context, e *recordings.Entry, publish bool) error {
	if rc.Files != nil {
		defer rc.Files.Lock(e.RecordID)()
		// Read again under the lock: an import may have just changed it.
		cur, ok, err := rc.Index.Recording(ctx, e.RecordID)
		if err != nil {
			return err
		}
		if !ok {
			return recordings.ErrNotFound
		}
		*e = cur
		if e.Published != publish {
			if err := rc.Files.SetPublished(e.RecordID, formatTypes(e), publish); err != nil {
				return err
			}
		}
	}
	if err := rc.Index.SetPublished(ctx, e.RecordID, publish); err != nil {
		if rc.Files != nil && e.Published != publish {
			// Put the files back where the index says they are.
			if rerr := rc.Files.SetPublished(e.RecordID, formatTypes(e), e.Published); rerr != nil {
				rc.Logger.Error("moving recording files back failed", zap.String("recording", e.RecordID), zap.Error(rerr))
			}
		}
		return err
	}
	rc.Logger.Info("recording published", zap.String("recording", e.RecordID), zap.Bool("published", publish))
	return nil
}

// deleteRecordings removes every file of each recording, published or not,
// and keeps it in the index with the state "deleted" (BBB lists it with
// state=deleted).
func (rc *Recordings) deleteRecordings(w http.ResponseWriter, req *request) {
	format := req.params.Get("format")
	if format == "all" {
		format = ""
	}
	list, ok := rc.listedRecordings(w, req, nil)
	if !ok {
		return
	}
	ctx := context.WithoutCancel(req.r.Context())
	for _, e := range list {
		if err := recordings.Delete(ctx, rc.Index, rc.Files, e.RecordID, format); err != nil {
			rc.Logger.Error("deleting a recording failed", zap.String("recording", e.RecordID), zap.Error(err))
			bbb.WriteError(w, bbb.KeyInternalError, msgDeleteFailed)
			return
		}
	}
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("deleted", "true")))
}

// updateRecordings sets and removes metadata of every listed recording
// (meta_<key>=value, meta_<key>= removes) and its protection (protect=).
func (rc *Recordings) updateRecordings(w http.ResponseWriter, req *request) {
	list, ok := rc.listedRecordings(w, req, nil)
	if !ok {
		return
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.RecordID
	}
	ctx := context.WithoutCancel(req.r.Context())
	if changes := metaParams(req.params); len(changes) > 0 {
		if err := rc.Index.UpdateMeta(ctx, ids, changes); err != nil {
			rc.Logger.Error("updating recordings failed", zap.Strings("recordings", ids), zap.Error(err))
			bbb.WriteError(w, bbb.KeyInternalError, msgIndexFailed)
			return
		}
	}
	if p, set := req.params.Lookup("protect"); set && p != "" {
		if err := rc.Index.SetProtected(ctx, ids, strings.EqualFold(p, "true")); err != nil {
			rc.Logger.Error("protecting recordings failed", zap.Strings("recordings", ids), zap.Error(err))
			bbb.WriteError(w, bbb.KeyInternalError, msgIndexFailed)
			return
		}
	}
	bbb.WriteXML(w, bbb.SuccessXML(bbb.E("updated", "true")))
}

// The text-track calls answer JSON and go to the server that made the
// recording: the tracks live there (bbb-api.md §2.12–2.13).

func (rc *Recordings) getRecordingTextTracks(w http.ResponseWriter, req *request) {
	id := req.params.Get("recordID")
	if id == "" {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return
	}
	route, ok := rc.recordingServer(w, req, id, "No recording found for "+id)
	if ok {
		rc.forwardJSON(w, req, route)
	}
}

func (rc *Recordings) putRecordingTextTrack(w http.ResponseWriter, req *request) {
	id := req.params.Get("recordID")
	if id == "" {
		writeJSONFailure(w, "paramError", "Missing param recordID.")
		return
	}
	route, ok := rc.recordingServer(w, req, id, "No recording was found for "+id)
	if ok {
		rc.forwardJSON(w, req, route)
	}
}

// recordingServer finds the server that made recording id.
func (rc *Recordings) recordingServer(w http.ResponseWriter, req *request, id, notFoundMsg string) (balancer.Route, bool) {
	if rc.Index == nil {
		writeJSONFailure(w, bbb.KeyNoRecordings, notFoundMsg)
		return balancer.Route{}, false
	}
	e, found, err := rc.Index.Recording(req.r.Context(), id)
	if err != nil {
		rc.Logger.Error("reading a recording failed", zap.String("recording", id), zap.Error(err))
		writeJSONFailure(w, bbb.KeyInternalError, msgIndexFailed)
		return balancer.Route{}, false
	}
	if !found || e.State == recordings.StateDeleted || e.Tenant != req.tenant.Name {
		writeJSONFailure(w, bbb.KeyNoRecordings, notFoundMsg)
		return balancer.Route{}, false
	}
	route, ok := rc.Pool.Route(e.ServerID)
	if e.ServerID == "" || !ok {
		writeJSONFailure(w, "noCaptionsFound", "No captions found for "+id)
		return balancer.Route{}, false
	}
	return route, true
}

// forwardJSON sends a text-track call to route's server, re-signed, and
// hands its JSON answer to the client.
func (rc *Recordings) forwardJSON(w http.ResponseWriter, req *request, route balancer.Route) {
	ctx, cancel := context.WithTimeout(req.r.Context(), rc.Timeout)
	defer cancel()
	var ct string
	if req.body != nil {
		ct = req.r.Header.Get("Content-Type")
	}
	start := time.Now()
	body, err := rc.Client.DoRaw(ctx, route.Server, req.call, req.params, req.body, ct)
	if err == nil && !json.Valid(body) {
		err = &bbb.CallError{Call: req.call, Status: http.StatusOK, Err: errors.New("the answer is not JSON")}
	}
	if req.r.Context().Err() == nil {
		rc.Pool.ReportCall(route.ServerID, time.Since(start), err)
	}
	if err != nil {
		rc.Logger.Warn("call to BBB server failed", zap.String("call", req.call), zap.String("server", route.ServerID), zap.Error(err))
		writeJSONFailure(w, bbb.KeyInternalError, msgTracksFailed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// writeJSONFailure is the JSON error shape of the text-track calls.
func writeJSONFailure(w http.ResponseWriter, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"response": map[string]string{"returncode": bbb.Failed, "messageKey": key, "message": msg}})
}
