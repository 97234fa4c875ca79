package bbbbalance

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/manage"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// addTenantCommands adds `caddy bbb tenants list|add|update|remove`.
func (c *bbbCLI) addTenantCommands(root *cobra.Command) {
	ts := &cobra.Command{Use: "tenants", Short: "Lists, adds, changes and removes tenants (front-ends sharing the pool)", RunE: c.group}
	list := c.leaf("list", "[--json]", "Lists the tenants with their meetings and attendees", 0, 0, c.tenantsList)
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	add := c.leaf("add", "<name> --secret S [--host H] [--path-prefix P] [...]", "Adds a tenant", 1, 1, c.tenantsAdd)
	update := c.leaf("update", "<name> [--secret S] [--host H] [...]", "Changes a tenant; only the flags given change", 1, 1, c.tenantsUpdate)
	for _, cmd := range []*cobra.Command{add, update} {
		f := cmd.Flags()
		f.StringSlice("secret", nil, `Secret(s) the tenant signs with; repeat for rotation ("-": read one from standard input)`)
		f.StringSlice("host", nil, "Host(s) that choose the tenant")
		f.String("path-prefix", "", "Path prefix that chooses the tenant, e.g. /school-a")
		f.String("tag", "", "Server tag its meetings need")
		f.Int("max-meetings", 0, "Most meetings at once (0: no limit)")
		f.Int("max-attendees", 0, "Most participants at once (0: no limit)")
		f.Int("max-duration", 0, "Longest meeting, in minutes (0: the pool's)")
		f.String("max-age", "", "Retention: its recordings expire after this, e.g. 365d (off: never; default the pool's)")
		f.String("unpublished-max-age", "", "Retention of its unpublished recordings, e.g. 30d (off: never)")
		f.StringSlice("keep-meta", nil, "Retention: recordings with this metadata never expire, e.g. bbb-retain=true")
	}
	remove := c.leaf("remove", "<name> [--force]", "Removes a tenant (refused while it has meetings, unless forced)", 1, 1, c.tenantsRemove)
	remove.Flags().Bool("force", false, "Remove it even with meetings")
	ts.AddCommand(list, add, update, remove)
	root.AddCommand(ts)
}

func (c *bbbCLI) tenantsList(cmd *cobra.Command, _ []string) error {
	var list []manage.TenantStatus
	if ok, err := c.listing(cmd, "/bbb/tenants", &list); !ok {
		return err
	}
	w := cmd.OutOrStdout()
	if len(list) == 0 {
		fmt.Fprintln(w, "no tenants (every front-end uses the pool's secrets)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCHOSEN BY\tSECRETS\tMEETINGS\tATTENDEES\tLIMITS\tSOURCE")
	for _, t := range list {
		by := t.PathPrefix
		if by == "" && len(t.Hosts) > 0 {
			by = strings.Join(t.Hosts, ",")
		}
		if by == "" {
			by = t.Name + ".<domain>"
		}
		limits := fmt.Sprintf("meetings %s, attendees %s", limit(t.MaxMeetings), limit(t.MaxAttendees))
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Name, by, len(t.Secrets), t.Meetings, t.Attendees, limits, t.Source)
	}
	return tw.Flush()
}

func limit(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// tenantFlags reads the flags given into a JSON object of tenants.Config's
// fields, so an update changes only those.
func tenantFlags(cmd *cobra.Command) (map[string]any, error) {
	out := map[string]any{}
	f := cmd.Flags()
	for flag, field := range map[string]string{"secret": "secrets", "host": "hosts"} {
		if f.Changed(flag) {
			v, _ := f.GetStringSlice(flag)
			if flag == "secret" && len(v) == 1 && v[0] == "-" {
				s, err := readSecret(cmd, "-")
				if err != nil {
					return nil, err
				}
				v = []string{s}
			}
			out[field] = v
		}
	}
	for flag, field := range map[string]string{"path-prefix": "path_prefix", "tag": "tag"} {
		if f.Changed(flag) {
			out[field], _ = f.GetString(flag)
		}
	}
	for flag, field := range map[string]string{"max-meetings": "max_meetings", "max-attendees": "max_attendees", "max-duration": "max_duration"} {
		if f.Changed(flag) {
			out[field], _ = f.GetInt(flag)
		}
	}
	retention := map[string]any{}
	for flag, field := range map[string]string{"max-age": "max_age", "unpublished-max-age": "unpublished_max_age"} {
		if f.Changed(flag) {
			v, _ := f.GetString(flag)
			if _, err := recordings.ParseAge(v); err != nil {
				return nil, fmt.Errorf("--%s: %v", flag, err)
			}
			retention[field] = v
		}
	}
	if f.Changed("keep-meta") {
		retention["keep_meta"], _ = f.GetStringSlice("keep-meta")
	}
	if len(retention) > 0 {
		out["retention"] = retention
	}
	return out, nil
}

func (c *bbbCLI) tenantsAdd(cmd *cobra.Command, args []string) error {
	body, err := tenantFlags(cmd)
	if err != nil {
		return err
	}
	body["name"] = args[0]
	if err := c.call("POST", "/bbb/tenants", body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "tenant %s added\n", args[0])
	return nil
}

func (c *bbbCLI) tenantsUpdate(cmd *cobra.Command, args []string) error {
	body, err := tenantFlags(cmd)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return fmt.Errorf("nothing to change; see --help")
	}
	if err := c.call("PATCH", "/bbb/tenants/"+url.PathEscape(args[0]), body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "tenant %s updated\n", args[0])
	return nil
}

func (c *bbbCLI) tenantsRemove(cmd *cobra.Command, args []string) error {
	path := "/bbb/tenants/" + url.PathEscape(args[0])
	if force, _ := cmd.Flags().GetBool("force"); force {
		path += "?force=true"
	}
	if err := c.call("DELETE", path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "tenant %s removed\n", args[0])
	return nil
}
