package bbbbalance

import (
	"fmt"
	"net/url"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
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
	return tw.Flush()
}
