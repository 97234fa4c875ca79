package bbbbalance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// checkRecordings is GET /bbb/recordings/check, which compares the index
// with the library's files and changes nothing, and POST
// /bbb/recordings/check?repair=true, which repairs what it finds; both
// answer the report (recordings.CheckReport). older_than=<duration> is
// the age from which upload parts and entries of work/ are leftovers,
// limit=<n> bounds the findings listed.
func checkRecordings(w http.ResponseWriter, r *http.Request, e *engine) error {
	qs := r.URL.Query()
	opts := recordings.CheckOptions{By: string(who(r))}
	if r.Method == http.MethodPost {
		if qs.Get("repair") != "true" {
			return apiErr(http.StatusBadRequest, "POST repairs: say so with ?repair=true (GET only checks)")
		}
		opts.Repair = true
	}
	if v := qs.Get("older_than"); v != "" {
		d, err := caddy.ParseDuration(v)
		if err != nil || d <= 0 {
			return apiErr(http.StatusBadRequest, "older_than %q: want a duration such as 1h or 2d", v)
		}
		opts.StaleAge = d
	}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return apiErr(http.StatusBadRequest, "limit %q: want a positive number", v)
		}
		opts.MaxListed = n
	}
	im, _, err := e.liveImporter()
	if err != nil {
		return opErr(err)
	}
	rep, err := im.Check(r.Context(), opts)
	if err != nil {
		return apiErr(http.StatusServiceUnavailable, "checking the recordings: %v", err)
	}
	return writeJSON(w, http.StatusOK, rep)
}

// recordingsCheck is `caddy bbb recordings check`. Its exit status is
// for cron and monitoring: non-zero while problems remain (any found by a
// check; those a repair left or failed on).
func (c *bbbCLI) recordingsCheck(cmd *cobra.Command, _ []string) error {
	q := url.Values{}
	method := "GET"
	if repair, _ := cmd.Flags().GetBool("repair"); repair {
		method = "POST"
		q.Set("repair", "true")
	}
	if cmd.Flags().Changed("older-than") {
		d, _ := cmd.Flags().GetDuration("older-than")
		q.Set("older_than", d.String())
	}
	if n, _ := cmd.Flags().GetInt("limit"); n > 0 {
		q.Set("limit", strconv.Itoa(n))
	}
	var raw json.RawMessage
	if err := c.call(method, "/bbb/recordings/check?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	var rep recordings.CheckReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("unreadable answer of the admin API: %v", err)
	}
	w := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		if err := printJSON(w, raw); err != nil {
			return err
		}
	} else if err := printCheck(w, rep); err != nil {
		return err
	}
	switch {
	case rep.Remaining == 0:
		return nil
	case rep.Repair:
		return fmt.Errorf("%d problem(s) left; the table says why", rep.Remaining)
	}
	return errors.New(checkAdvice(rep))
}

func printCheck(w io.Writer, rep recordings.CheckReport) error {
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "KIND\tRECORDING\tFORMAT\tPROBLEM\tACTION"
		if rep.Repair {
			head += "\tRESULT"
		}
		fmt.Fprintln(tw, head)
		for _, f := range rep.Findings {
			what, format := f.RecordID, f.Format
			if what == "" {
				what = f.Path
			}
			if format == "" {
				format = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", f.Kind, what, format, f.Problem, f.Action)
			if rep.Repair {
				result := "repaired"
				switch {
				case f.Error != "":
					result = "failed: " + f.Error
				case !f.Repaired:
					result = "left"
				}
				fmt.Fprintf(tw, "\t%s", result)
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if rep.Unlisted > 0 {
		fmt.Fprintf(w, "(%d more not listed; see --limit)\n", rep.Unlisted)
	}
	summary := fmt.Sprintf("%d recording(s) in the index, %d directory(ies) on disk: ", rep.Recordings, rep.Directories)
	switch {
	case rep.Repaired+rep.Remaining == 0:
		summary += "no problems"
	case rep.Repair:
		summary += fmt.Sprintf("%d problem(s), %d repaired, %d left", rep.Repaired+rep.Remaining, rep.Repaired, rep.Remaining)
	default:
		summary += checkAdvice(rep)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

// checkAdvice sums up the findings of a check: how many --repair fixes.
func checkAdvice(rep recordings.CheckReport) string {
	s := fmt.Sprintf("%d problem(s)", rep.Remaining)
	if fixes := rep.Remaining - rep.Manual; fixes > 0 {
		s += fmt.Sprintf(", %d of which --repair fixes", fixes)
	}
	if rep.Manual > 0 {
		s += fmt.Sprintf(", %d for a person to decide", rep.Manual)
	}
	return s
}
