package bbbbalance

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// expireRecordings is POST /bbb/recordings/expire: an expiry run now, or
// with dry_run=true the list of what it would delete.
func expireRecordings(w http.ResponseWriter, r *http.Request, e *engine) error {
	qs := r.URL.Query()
	dry, _ := strconv.ParseBool(qs.Get("dry_run"))
	limit := 0
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return apiErr(http.StatusBadRequest, "limit %q: want a whole number", v)
		}
		limit = n
	}
	_, x, err := e.liveImporter()
	if err != nil {
		return opErr(err)
	}
	rep, err := x.Expire(r.Context(), dry, limit)
	if err != nil {
		return apiErr(http.StatusServiceUnavailable, "expiring recordings: %v (%d done)", err, len(rep.Recordings))
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (c *bbbCLI) recordingsExpire(cmd *cobra.Command, _ []string) error {
	q := url.Values{}
	dry, _ := cmd.Flags().GetBool("dry-run")
	if dry {
		q.Set("dry_run", "true")
	}
	if limit, _ := cmd.Flags().GetInt("limit"); limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var rep recordings.ExpiryReport
	if ok, err := c.answer(cmd, "POST", "/bbb/recordings/expire?"+q.Encode(), &rep); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	verb := "deleted"
	if rep.DryRun {
		verb = "would be deleted"
	}
	if len(rep.Recordings) == 0 {
		fmt.Fprintf(w, "no recording %s\n", verb)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORDING\tTENANT\tMEETING\tSTATE\tSTARTED\tSIZE\tRULE")
	for _, x := range rep.Recordings {
		tenant, size := x.Tenant, "?"
		if tenant == "" {
			tenant = "-"
		}
		if x.Bytes >= 0 {
			size = humanBytes(x.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.RecordID, tenant, x.MeetingID, x.State,
			time.UnixMilli(x.StartTime).UTC().Format("2006-01-02 15:04"), size, x.Rule)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d recording(s), %s, %s", len(rep.Recordings), humanBytes(rep.Bytes), verb)
	if rep.More {
		fmt.Fprint(w, "; more are due (see --limit)")
	}
	fmt.Fprintln(w)
	if rep.Failed > 0 {
		return fmt.Errorf("%d deletion(s) failed; the log says why", rep.Failed)
	}
	return nil
}
