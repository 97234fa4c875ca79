package bbbbalance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// The refused recording tars of the failed directory, listed and retried
// by the admin API (GET /bbb/recordings/failed, POST
// /bbb/recordings/failed/<name>/retry), the CLI (caddy bbb recordings
// failed|retry) and the console.

// importCounts counts the importer's results since the engine started:
// what the console's "imports in the last hour" samples.
type importCounts struct {
	imported atomic.Int64
	failed   atomic.Int64
}

// liveLibrary is the library of the live config's importer; nil without
// recordings.
func (e *engine) liveLibrary() *recordings.Library {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.importing == nil {
		return nil
	}
	return e.libraries[e.importing.library]
}

// liveImporter is the live config's importer and its expirer;
// errNoRecordings without recordings.
func (e *engine) liveImporter() (*recordings.Importer, *recordings.Expirer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.importer == nil {
		return nil, nil, errNoRecordings
	}
	return e.importer, e.expirer, nil
}

// errNoRecordings answers a recordings call of a pool that has none: a
// conflict with the config, as manage.ErrNotLive is.
var errNoRecordings error = noRecordings{}

type noRecordings struct{}

func (noRecordings) Error() string {
	return "recordings are not configured (add a `recordings` block to bbb_balance)"
}
func (noRecordings) Is(err error) bool { return err == manage.ErrNotLive }

// failedImports lists the refused tars of the live config's library
// (recordings.Library.FailedImports).
func (e *engine) failedImports(limit int) ([]recordings.FailedImport, int, error) {
	lib := e.liveLibrary()
	if lib == nil {
		return nil, 0, errNoRecordings
	}
	return lib.FailedImports(limit)
}

// retryImport moves a refused tar back into the spool, and logs who did.
func (e *engine) retryImport(_ context.Context, who manage.Who, name string) (string, error) {
	lib := e.liveLibrary()
	if lib == nil {
		return "", errNoRecordings
	}
	spooled, err := lib.RetryFailed(name)
	if err != nil {
		return "", err
	}
	e.manager.Log(who, "refused recording tar put back into the spool", zap.String("file", name), zap.String("spool_name", spooled))
	return spooled, nil
}

func listFailedImports(w http.ResponseWriter, e *engine) error {
	list, _, err := e.failedImports(0)
	if err != nil {
		return opErr(err)
	}
	return writeJSON(w, http.StatusOK, list)
}

// retryFailedImport is POST /bbb/recordings/failed/<name>/retry (rest is
// what follows failed/).
func retryFailedImport(w http.ResponseWriter, r *http.Request, e *engine, rest string) error {
	name, ok := strings.CutSuffix(rest, "/retry")
	if !ok {
		return apiErr(http.StatusNotFound, "POST /bbb/recordings/failed/<name>/retry retries one")
	}
	spooled, err := e.retryImport(r.Context(), who(r), name)
	if err != nil {
		return opErr(err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"retried": name, "spool_name": spooled})
}

func (c *bbbCLI) recordingsFailed(cmd *cobra.Command, _ []string) error {
	var list []recordings.FailedImport
	if ok, err := c.listing(cmd, "/bbb/recordings/failed", &list); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	if len(list) == 0 {
		fmt.Fprintln(w, "no failed imports")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tREFUSED\tSIZE\tREASON")
	for _, f := range list {
		reason := strings.Join(strings.Fields(f.Reason), " ")
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Time.Local().Format(time.DateTime), humanBytes(f.Size), reason)
	}
	return tw.Flush()
}

func (c *bbbCLI) recordingsRetry(cmd *cobra.Command, args []string) error {
	var res struct {
		SpoolName string `json:"spool_name"`
	}
	if err := c.call("POST", "/bbb/recordings/failed/"+url.PathEscape(args[0])+"/retry", nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s is back in the spool as %s; the importer takes it again\n", args[0], res.SpoolName)
	return nil
}
