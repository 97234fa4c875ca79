package recordings

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The status call (examples/bbb/README.md): a BBB server asks whether a
// recording it sent is imported before it deletes its own copy, with
//
//	GET ?server=<pool server id>&recordID=<id>&formats=<f>,<f>...
//	    &timestamp=<unix seconds>&checksum=<hex>
//
// signed like an upload (acceptServerCall) for a call named
// "recordingStatus". It takes no nonce: it changes nothing, and a captured
// one replayed within the timestamp's minutes tells no more than it did.

// StatusCall is the call name hashed into a status call's checksum.
const StatusCall = "recordingStatus"

// The states of a sent recording, as the status call answers them.
const (
	// ImportImported: indexed with every format asked; the server may
	// delete its copy.
	ImportImported = "imported"
	// ImportQueued: a tar of it waits in the spool or is being imported.
	ImportQueued = "queued"
	// ImportFailed: its tar was refused and moved to failed/.
	ImportFailed = "failed"
	// ImportDeleted: deleted through the API; its tars are dropped.
	ImportDeleted = "deleted"
	// ImportMissing: the balancer has no such recording from this server,
	// or not with every format asked.
	ImportMissing = "missing"
)

// maxStatusFormats bounds the formats one status call may ask about (BBB
// has five).
const maxStatusFormats = 32

// ImportStatus is what the balancer knows of a recording a server sent.
type ImportStatus struct {
	State string
	// Formats: when imported, the formats the index has; when missing,
	// those asked that it lacks.
	Formats []string
	// Reason: when failed, why (from failed/<tar>.error).
	Reason string
}

// String is the status call's answer: the state, then the formats or the
// reason, on one line.
func (s ImportStatus) String() string {
	line := s.State
	if len(s.Formats) > 0 {
		line += " " + strings.Join(s.Formats, ",")
	}
	if s.Reason != "" {
		line += " " + s.Reason
	}
	return line
}

// StatusHandler answers a pool server's signed status call about a
// recording it sent. The integrator mounts it at GET
// /bigbluebutton/recording/status.
type StatusHandler struct {
	Library *Library // its spool and failed directories
	Index   Store
	// Servers returns a pool server's BBB secret by id.
	Servers func(id string) (secret string, ok bool)
	// Now is the clock (tests); nil means time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

func (h *StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := acceptServerCall(w, r, "recording status call", http.MethodGet, StatusCall, h.Servers, h.Now, h.Logger)
	if req == nil {
		return
	}
	formats, ok := parseFormatList(req.query.Get("formats"))
	if !ok {
		req.fail(http.StatusBadRequest, "formats must be a comma list of format names", zap.String("formats", truncate(req.query.Get("formats"), 80)))
		return
	}
	st, err := h.Status(r.Context(), req.server, req.recordID, formats)
	if err != nil {
		req.fail(http.StatusInternalServerError, "cannot read the recordings index", zap.Error(err))
		return
	}
	req.log.Debug("recording status", zap.String("state", st.State))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, st.String()+"\n")
}

// parseFormatList reads "f1,f2,...": valid format names, at most
// maxStatusFormats, returned sorted without duplicates; "" is none.
func parseFormatList(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	formats := strings.Split(s, ",")
	if len(formats) > maxStatusFormats {
		return nil, false
	}
	for _, f := range formats {
		if !ValidFormat(f) {
			return nil, false
		}
	}
	slices.Sort(formats)
	return slices.Compact(formats), true
}

// Status tells what became of recording recordID that server serverID sent
// with these formats (none: any format will do). A recording the index
// credits to another server is missing: a server learns only about its own.
func (h *StatusHandler) Status(ctx context.Context, serverID, recordID string, formats []string) (ImportStatus, error) {
	// The spool first: the importer removes a tar only after its commit,
	// or moves it to failed/ with its .error written first, so once no tar
	// waits the index and failed/ hold the outcome.
	if h.waiting(recordID) {
		return ImportStatus{State: ImportQueued}, nil
	}
	e, found, err := h.Index.Recording(ctx, recordID)
	if err != nil {
		return ImportStatus{}, err
	}
	if found && e.ServerID != "" && e.ServerID != serverID {
		found = false
	}
	if found && e.State == StateDeleted {
		return ImportStatus{State: ImportDeleted}, nil
	}
	var have []string
	if found {
		for _, f := range e.Formats {
			have = append(have, f.Type)
		}
		slices.Sort(have)
	}
	var lacking []string
	for _, f := range formats {
		if !slices.Contains(have, f) {
			lacking = append(lacking, f)
		}
	}
	if len(have) > 0 && len(lacking) == 0 {
		return ImportStatus{State: ImportImported, Formats: have}, nil
	}
	if reason, ok := h.failure(recordID); ok {
		return ImportStatus{State: ImportFailed, Reason: reason}, nil
	}
	return ImportStatus{State: ImportMissing, Formats: lacking}, nil
}

// waiting reports whether a tar of recordID is in the spool, waiting or
// claimed by an import. Record ids have a fixed length, so "<id>." starts
// its tars' names only.
func (h *StatusHandler) waiting(recordID string) bool {
	spool := h.Library.SpoolDir
	names, _ := filepath.Glob(filepath.Join(spool, recordID+".*"))
	claims, _ := filepath.Glob(filepath.Join(spool, "."+recordID+".*.importing"))
	for _, p := range names {
		if IsTarName(filepath.Base(p)) {
			return true
		}
	}
	for _, p := range claims {
		if _, ok := claimedTar(filepath.Base(p)); ok {
			return true
		}
	}
	return false
}

// failure returns why the latest refused tar of recordID was refused, on
// one line, from the note Importer.reject leaves beside it in failed/.
func (h *StatusHandler) failure(recordID string) (reason string, ok bool) {
	notes, _ := filepath.Glob(filepath.Join(h.Library.FailedDir, recordID+".*"+errorSuffix))
	var latest time.Time
	for _, p := range notes {
		at, r, read := readFailureNote(p)
		if !read {
			continue
		}
		if fi, err := os.Stat(p); at.IsZero() && err == nil {
			at = fi.ModTime()
		}
		if !ok || at.After(latest) {
			latest, reason, ok = at, r, true
		}
	}
	if !ok {
		return "", false
	}
	if reason = strings.Join(strings.Fields(reason), " "); reason == "" {
		reason = "(no reason recorded)"
	}
	return truncate(reason, 300), true
}
