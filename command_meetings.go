package bbbbalance

import (
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// addMeetingCommands adds `caddy bbb meetings list|end`.
func (c *bbbCLI) addMeetingCommands(root *cobra.Command) {
	meetings := &cobra.Command{Use: "meetings", Short: "Lists and ends meetings", RunE: c.group}
	mlist := c.leaf("list", "[--tenant NAME] [--json]", "Lists the meeting registry", 0, 0, c.meetingsList)
	mlist.Flags().Bool("json", false, "Print the admin API's JSON")
	mlist.Flags().String("tenant", "", `Only this tenant's meetings ("" with the flag given: the default front-end's)`)
	mend := c.leaf("end", "<meetingID> [--tenant NAME]", "Ends a meeting and forgets it", 1, 1, c.meetingsEnd)
	mend.Flags().String("tenant", "", "The tenant whose front-end knows the meeting by <meetingID>; without the flag, <meetingID> is the key as listed")
	meetings.AddCommand(mlist, mend)
	root.AddCommand(meetings)
}

// tenantQuery is the admin API's ?tenant= of a command's --tenant flag,
// when the flag was given (an empty name is the default front-end).
func tenantQuery(cmd *cobra.Command) string {
	if !cmd.Flags().Changed("tenant") {
		return ""
	}
	name, _ := cmd.Flags().GetString("tenant")
	return "?tenant=" + url.QueryEscape(name)
}

func (c *bbbCLI) meetingsList(cmd *cobra.Command, _ []string) error {
	var list []MeetingListing
	if ok, err := c.listing(cmd, "/bbb/meetings"+tenantQuery(cmd), &list); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	if len(list) == 0 {
		fmt.Fprintln(w, "no meetings")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tMEETING\tSERVER\tPARTICIPANTS\tRUNNING\tCREATED\tVOICE BRIDGE\tKEY")
	for _, m := range list {
		running := "no"
		if m.Running {
			running = "yes"
		}
		tenant := m.Tenant
		if tenant == "" {
			tenant = "-"
		}
		bridge := m.VoiceBridge
		if bridge == "" {
			bridge = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", tenant, m.MeetingID, m.ServerID, m.Participants, running, when(m.Created), bridge, m.Key)
	}
	return tw.Flush()
}

func (c *bbbCLI) meetingsEnd(cmd *cobra.Command, args []string) error {
	if err := c.call("DELETE", "/bbb/meetings/"+url.PathEscape(args[0])+tenantQuery(cmd), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "meeting %s ended\n", args[0])
	return nil
}
