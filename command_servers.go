package bbbbalance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/manage"
)

// addServerCommands adds `caddy bbb servers list|add|update|remove|
// enable|cordon|disable|panic|import`.
func (c *bbbCLI) addServerCommands(root *cobra.Command) {
	servers := &cobra.Command{Use: "servers", Short: "Lists, adds, changes and removes BBB servers", RunE: c.group}
	list := c.leaf("list", "[--json]", "Lists the servers", 0, 0, c.serversList)
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	add := c.leaf("add", "<id> <api-url> --secret S", "Adds a server", 2, 2, c.serversAdd)
	add.Flags().String("secret", "", `The server's shared secret ("-": read it from standard input)`)
	add.Flags().Float64("weight", 1, "Load multiplier: a server with weight 2 counts its load double")
	add.Flags().String("tag", "", "Tag, for meetings created with meta_server-tag")
	add.Flags().String("state", "enabled", "enabled, cordoned or disabled")
	add.Flags().String("algorithm", "", "Checksum algorithm for calls to the server (default sha256)")
	update := c.leaf("update", "<id> [--url U] [--secret S] [--weight W] [--tag T]", "Changes a server; only the flags given change", 1, 1, c.serversUpdate)
	update.Flags().String("url", "", "New API URL")
	update.Flags().String("secret", "", `New shared secret ("-": read it from standard input)`)
	update.Flags().Float64("weight", 1, "New load multiplier")
	update.Flags().String("tag", "", `New tag; --tag "" removes it`)
	update.Flags().String("algorithm", "", "New checksum algorithm")
	remove := c.leaf("remove", "<id> [--force]", "Removes a server (refused while it has meetings, unless forced)", 1, 1, c.serversRemove)
	remove.Flags().Bool("force", false, "Remove it even with meetings; they are forgotten and placed anew by their next create")
	panicCmd := c.leaf("panic", "<id> [--keep-state]", "Ends and forgets every meeting of a server, then disables it", 1, 1, c.serversPanic)
	panicCmd.Flags().Bool("keep-state", false, "Do not disable the server")
	imp := c.leaf("import", "<file|-> [--mode keep|cordon] [--dry-run]", "Makes the pool match a scalelite servers:sync (or servers:addAll) YAML file", 1, 1, c.serversImport)
	imp.Flags().String("mode", "keep", "What to do with servers absent from the file: keep (leave them alone) or cordon")
	imp.Flags().Bool("dry-run", false, "Print what would be done, change nothing")
	servers.AddCommand(list, add, update, remove, panicCmd, imp)
	for _, s := range []struct{ verb, desc string }{
		{"enable", "Lets a server take new meetings"},
		{"cordon", "Keeps a server's meetings but gives it no new ones"},
		{"disable", "Takes a server out; its meetings are placed anew"},
	} {
		servers.AddCommand(c.leaf(s.verb, "<id>", s.desc, 1, 1, c.serversState))
	}
	root.AddCommand(servers)
}

func serverPath(id string) string { return "/bbb/servers/" + url.PathEscape(id) }

func (c *bbbCLI) listServers() ([]balancer.ServerStatus, error) {
	var list []balancer.ServerStatus
	err := c.call("GET", "/bbb/servers", nil, &list)
	return list, err
}

// onlineWord is a server's STATUS: "failing" is online but out of
// placement for its recent failed calls (passive health).
func onlineWord(s balancer.ServerStatus) string {
	switch {
	case s.Online && s.Failing:
		return "failing"
	case s.Online:
		return "online"
	}
	return "offline"
}

func (c *bbbCLI) serversList(cmd *cobra.Command, _ []string) error {
	w := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		var raw json.RawMessage
		if err := c.call("GET", "/bbb/servers", nil, &raw); err != nil {
			return err
		}
		return printJSON(w, raw)
	}
	list, err := c.listServers()
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "no servers")
		return nil
	}
	for _, s := range list {
		fmt.Fprintf(w, "id: %s\n", s.ID)
		fmt.Fprintf(w, "\turl: %s\n", s.URL)
		fmt.Fprintf(w, "\t%s, %s\n", s.State, onlineWord(s))
		fmt.Fprintf(w, "\tweight: %g\n", s.Weight)
		if s.Tag != "" {
			fmt.Fprintf(w, "\ttag: %s\n", s.Tag)
		}
		fmt.Fprintf(w, "\tload: %.1f\n", s.Load)
		fmt.Fprintf(w, "\tmeetings: %d (%d placed by the balancer), users: %d, largest meeting: %d, videos: %d\n",
			s.Meetings, s.Placed, s.Users, s.LargestMeeting, s.Videos)
		if s.Version != "" {
			fmt.Fprintf(w, "\tbbb version: %s\n", s.Version)
		}
		fmt.Fprintf(w, "\tlast poll: %s\n", when(s.LastPoll))
		if s.LastError != "" {
			fmt.Fprintf(w, "\tlast error: %s\n", s.LastError)
		}
	}
	return nil
}

// secretFlag returns --secret, read from standard input when it is "-".
func secretFlag(cmd *cobra.Command) (string, error) {
	s, _ := cmd.Flags().GetString("secret")
	return readSecret(cmd, s)
}

func weightFlag(cmd *cobra.Command) (float64, error) {
	w, _ := cmd.Flags().GetFloat64("weight")
	if w <= 0 {
		return 0, fmt.Errorf("--weight must be greater than 0, not %g", w)
	}
	return w, nil
}

// healthWord says how a server fares after an add or a change of its URL.
func healthWord(s balancer.ServerStatus) string {
	switch {
	case s.Online && s.Version != "":
		return "online, BBB " + s.Version
	case s.Online:
		return "online"
	case s.LastPoll.IsZero() && s.LastError == "":
		return "offline until its first poll"
	case s.LastError != "":
		return "offline: " + s.LastError
	}
	return "offline"
}

func (c *bbbCLI) serversAdd(cmd *cobra.Command, args []string) error {
	secret, err := secretFlag(cmd)
	if err != nil {
		return err
	}
	if secret == "" {
		return errors.New("--secret is required")
	}
	weight, err := weightFlag(cmd)
	if err != nil {
		return err
	}
	f := cmd.Flags()
	tag, _ := f.GetString("tag")
	state, _ := f.GetString("state")
	alg, _ := f.GetString("algorithm")
	conf := balancer.ServerConfig{ID: args[0], URL: args[1], Secret: secret, Algorithm: bbb.Algorithm(alg),
		Weight: weight, Tag: tag, State: balancer.State(state)}
	var st balancer.ServerStatus
	if err := c.call("POST", "/bbb/servers", conf, &st); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "server %s added (%s, %s)\n", st.ID, st.State, healthWord(st))
	return nil
}

func (c *bbbCLI) serversUpdate(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	var patch balancer.ServerPatch
	var changed []string
	if f.Changed("url") {
		u, _ := f.GetString("url")
		patch.URL = &u
		changed = append(changed, "url "+u)
	}
	if f.Changed("secret") {
		s, err := secretFlag(cmd)
		if err != nil {
			return err
		}
		if s == "" {
			return errors.New("--secret must not be empty")
		}
		patch.Secret = &s
		changed = append(changed, "secret")
	}
	if f.Changed("algorithm") {
		a, _ := f.GetString("algorithm")
		alg := bbb.Algorithm(a)
		patch.Algorithm = &alg
		changed = append(changed, "algorithm "+a)
	}
	if f.Changed("weight") {
		w, err := weightFlag(cmd)
		if err != nil {
			return err
		}
		patch.Weight = &w
		changed = append(changed, fmt.Sprintf("weight %g", w))
	}
	if f.Changed("tag") {
		t, _ := f.GetString("tag")
		patch.Tag = &t
		if t == "" {
			changed = append(changed, "tag removed")
		} else {
			changed = append(changed, "tag "+t)
		}
	}
	if len(changed) == 0 {
		return errors.New("nothing to change; give --url, --secret, --weight, --tag or --algorithm")
	}
	var st balancer.ServerStatus
	if err := c.call("PATCH", serverPath(args[0]), patch, &st); err != nil {
		return err
	}
	line := fmt.Sprintf("server %s updated: %s", st.ID, strings.Join(changed, ", "))
	if patch.URL != nil || patch.Secret != nil || patch.Algorithm != nil {
		line += " (" + healthWord(st) + ")"
	}
	fmt.Fprintln(cmd.OutOrStdout(), line)
	return nil
}

func (c *bbbCLI) serversRemove(cmd *cobra.Command, args []string) error {
	path := serverPath(args[0])
	if force, _ := cmd.Flags().GetBool("force"); force {
		path += "?force=true"
	}
	var res struct {
		Forgotten int `json:"forgotten_meetings"`
	}
	if err := c.call("DELETE", path, nil, &res); err != nil {
		return err
	}
	line := "server " + args[0] + " removed"
	if res.Forgotten > 0 {
		line += fmt.Sprintf("; %d meeting(s) forgotten, placed anew by their next create", res.Forgotten)
	}
	fmt.Fprintln(cmd.OutOrStdout(), line)
	return nil
}

var stateDone = map[string]string{"enable": "enabled", "cordon": "cordoned", "disable": "disabled"}

func (c *bbbCLI) serversState(cmd *cobra.Command, args []string) error {
	var st balancer.ServerStatus
	if err := c.call("POST", serverPath(args[0])+"/"+cmd.Name(), nil, &st); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "server %s %s (%s)\n", st.ID, stateDone[cmd.Name()], onlineWord(st))
	return nil
}

func (c *bbbCLI) serversPanic(cmd *cobra.Command, args []string) error {
	path := serverPath(args[0]) + "/panic"
	if keep, _ := cmd.Flags().GetBool("keep-state"); keep {
		path += "?keep_state=true"
	}
	var res struct {
		Server balancer.ServerStatus `json:"server"`
		Ended  int                   `json:"ended_meetings"`
	}
	if err := c.call("POST", path, nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "server %s: %d meeting(s) ended and forgotten; now %s\n", args[0], res.Ended, res.Server.State)
	return nil
}

func (c *bbbCLI) serversImport(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	mode, _ := f.GetString("mode")
	if mode != "keep" && mode != "cordon" {
		return fmt.Errorf("--mode %q: want keep or cordon", mode)
	}
	dry, _ := f.GetBool("dry-run")
	var data []byte
	var err error
	if args[0] == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return err
	}
	want, warnings, err := manage.ParseScaleliteServers(data)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "caddy bbb: warning: %s\n", w)
	}
	have, err := c.listServers()
	if err != nil {
		return err
	}
	plan := manage.PlanImport(want, have, mode == "cordon")

	out := cmd.OutOrStdout()
	counts := map[string]int{}
	for i, s := range plan.Steps {
		line := s.String()
		if !dry {
			if err := c.importStep(s); err != nil {
				return fmt.Errorf("%s %s (after %d of %d changes): %v", s.Verb, s.ID, i, len(plan.Steps), err)
			}
		} else {
			line = "would " + line
		}
		fmt.Fprintln(out, line)
		counts[s.Verb]++
	}
	summary := fmt.Sprintf("%d added, %d updated, %d enabled, %d cordoned",
		counts[manage.ImportAdd], counts[manage.ImportUpdate], counts[manage.ImportEnable], counts[manage.ImportCordon])
	if plan.Untouched > 0 {
		summary += fmt.Sprintf("; %d server(s) not in the file left alone", plan.Untouched)
	}
	if dry {
		fmt.Fprintf(out, "dry run, nothing changed: would have %s\n", summary)
	} else {
		fmt.Fprintf(out, "imported %d server(s): %s\n", len(want), summary)
	}
	return nil
}

// importStep carries out one step of an import through the admin API.
func (c *bbbCLI) importStep(s manage.ImportStep) error {
	switch s.Verb {
	case manage.ImportAdd:
		return c.call("POST", "/bbb/servers", s.Server, nil)
	case manage.ImportUpdate:
		return c.call("PATCH", serverPath(s.ID), s.Patch, nil)
	}
	return c.call("POST", serverPath(s.ID)+"/"+s.Verb, nil, nil) // enable, cordon: as serversState
}
