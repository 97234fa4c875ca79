package bbbbalance

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/store"
)

// addStatusCommand adds `caddy bbb status`, a table like scalelite's rake
// status.
func (c *bbbCLI) addStatusCommand(root *cobra.Command) {
	root.AddCommand(c.leaf("status", "", "Shows a table of the servers with their state, health and load", 0, 0, c.status))
}

func hostOf(apiURL string) string {
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		return u.Host
	}
	return apiURL
}

func (c *bbbCLI) status(cmd *cobra.Command, _ []string) error {
	list, err := c.listServers()
	if err != nil {
		return err
	}
	sort.SliceStable(list, func(i, j int) bool {
		hi, hj := hostOf(list[i].URL), hostOf(list[j].URL)
		if hi != hj {
			return hi < hj
		}
		return list[i].ID < list[j].ID
	})
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tID\tSTATE\tSTATUS\tMEETINGS\tUSERS\tLARGEST MEETING\tVIDEOS\tLOAD\tBBB VERSION\tTAG")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\n", hostOf(s.URL), s.ID, s.State, onlineWord(s),
			s.Meetings, s.Users, s.LargestMeeting, s.Videos, s.Load, s.Version, s.Tag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Several instances sharing a database: which are there, which polls.
	var inst instancesAnswer
	if err := c.call(http.MethodGet, "/bbb/instances", nil, &inst); err != nil || inst.Engine != store.Postgres {
		return nil // an older balancer, or one on SQLite: nothing to add
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\n%d instance(s) share %s\n", len(inst.Instances), inst.Database)
	tw = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tHOST\tSTARTED\tLAST SEEN\tPOLLS")
	for _, i := range inst.Instances {
		id := i.ID
		if i.Self {
			id += " (this one)"
		}
		polls := ""
		if i.Polls() {
			polls = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\n", id, i.Host, i.Started.Format(time.RFC3339), i.SeenAgo.Round(time.Second), polls)
	}
	return tw.Flush()
}
