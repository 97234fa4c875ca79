package bbbbalance

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// addRecordingCommands adds `caddy bbb recordings list|import|stats|expire|check|failed|retry`.
func (c *bbbCLI) addRecordingCommands(root *cobra.Command) {
	recs := &cobra.Command{Use: "recordings", Short: "Lists the recordings index and imports existing recordings", RunE: c.group}
	list := c.leaf("list", "[--meeting ID] [--state S] [--limit N] [--json]", "Lists recordings, newest first", 0, 0, c.recordingsList)
	list.Flags().String("meeting", "", "Only this meeting's recordings")
	list.Flags().String("state", "", "published, unpublished, deleted, ... or any (default: published and unpublished)")
	list.Flags().Int("limit", 100, "At most this many")
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	imp := c.leaf("import", "<dir> [--move]", "Imports an existing BBB or scalelite published/ (or unpublished/) directory", 1, 1, c.recordingsImport)
	imp.Flags().Bool("move", false, "Move the files instead of copying them")
	stats := c.leaf("stats", "[--json]", "Shows how many recordings each tenant has in each state, and their size", 0, 0, c.recordingsStats)
	stats.Flags().Bool("json", false, "Print the admin API's JSON")
	expire := c.leaf("expire", "[--dry-run] [--limit N] [--json]", "Deletes the recordings retention expires now (--dry-run lists them)", 0, 0, c.recordingsExpire)
	expire.Flags().Bool("dry-run", false, "List what would be deleted, with sizes, and delete nothing")
	expire.Flags().Int("limit", 0, "At most this many (default: the retention's max_per_run)")
	expire.Flags().Bool("json", false, "Print the admin API's JSON")
	check := c.leaf("check", "[--repair] [--older-than D] [--limit N] [--json]", "Compares the index with the files; --repair repairs what it finds", 0, 0, c.recordingsCheck)
	check.Long = `Compares the recordings index with the library's files: formats whose files are missing,
directories the index does not list, formats in the wrong tree for their recording's state,
unfinished uploads, claimed tars and leftovers of work/. Each problem is listed with what
--repair does about it; --repair does exactly that, and leaves what needs a person.

Exit status: 1 when problems remain (a check: any found; --repair: any left or failed), else 0.`
	check.Flags().Bool("repair", false, "Repair what the check finds (re-import, mark removed, move, remove stale temporary files)")
	check.Flags().Duration("older-than", recordings.DefaultStaleAge, "Upload parts and entries of work/ unchanged this long are leftovers")
	check.Flags().Int("limit", 0, "List at most this many findings (default 1000; the others are counted)")
	check.Flags().Bool("json", false, "Print the admin API's JSON")
	failed := c.leaf("failed", "[--json]", "Lists the recording tars the importer refused, with why", 0, 0, c.recordingsFailed)
	failed.Flags().Bool("json", false, "Print the admin API's JSON")
	retry := c.leaf("retry", "<name>", "Puts a refused recording tar back into the spool, to import it again", 1, 1, c.recordingsRetry)
	recs.AddCommand(list, imp, stats, check, expire, failed, retry)
	root.AddCommand(recs)
}

func (c *bbbCLI) recordingsList(cmd *cobra.Command, _ []string) error {
	q := url.Values{}
	if m, _ := cmd.Flags().GetString("meeting"); m != "" {
		q.Set("meeting", m)
	}
	if s, _ := cmd.Flags().GetString("state"); s != "" {
		q.Set("state", s)
	}
	limit, _ := cmd.Flags().GetInt("limit")
	q.Set("limit", strconv.Itoa(limit))
	var res struct {
		Total      int             `json:"total"`
		Recordings []RecordingInfo `json:"recordings"`
	}
	if ok, err := c.listing(cmd, "/bbb/recordings?"+q.Encode(), &res); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	if len(res.Recordings) == 0 {
		fmt.Fprintln(w, "no recordings")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORDING\tMEETING\tSTATE\tFORMATS\tSTARTED\tSERVER")
	for _, r := range res.Recordings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", r.RecordID, r.MeetingID, r.State, r.Formats,
			time.UnixMilli(r.StartTime).UTC().Format("2006-01-02 15:04"), r.Server)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Total > len(res.Recordings) {
		fmt.Fprintf(w, "(%d of %d; see --limit)\n", len(res.Recordings), res.Total)
	}
	return nil
}

func (c *bbbCLI) recordingsImport(cmd *cobra.Command, args []string) error {
	dir, err := filepath.Abs(args[0]) // the running Caddy may have another working directory
	if err != nil {
		return err
	}
	move, _ := cmd.Flags().GetBool("move")
	var rep ImportReport
	if err := c.call("POST", "/bbb/recordings/import", map[string]any{"dir": dir, "move": move}, &rep); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%d recording(s) imported from %s\n", rep.Imported, dir)
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Path, s.Reason)
	}
	return nil
}

func (c *bbbCLI) recordingsStats(cmd *cobra.Command, _ []string) error {
	var stats []recordings.Stats
	if ok, err := c.listing(cmd, "/bbb/recordings/stats", &stats); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	if len(stats) == 0 {
		fmt.Fprintln(w, "no recordings")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSTATE\tRECORDINGS\tSIZE")
	var n, bytes int64
	for _, st := range stats {
		tenant := st.Tenant
		if tenant == "" {
			tenant = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", tenant, st.State, st.Recordings, humanBytes(st.Bytes))
		n, bytes = n+st.Recordings, bytes+st.Bytes
	}
	fmt.Fprintf(tw, "all\t\t%d\t%s\n", n, humanBytes(bytes))
	return tw.Flush()
}

// humanBytes writes a size as a person reads it: 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
