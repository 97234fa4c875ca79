package bbbbalance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:      "bbb",
		Usage:     bbbUsage,
		Short:     "Manages the servers, meetings, tenants and recordings of a running bbb_balance",
		Long:      bbbLong,
		CobraFunc: setupBBBCommand,
	})
}

// bbbUsage and bbbLong are the help of 'caddy bbb'; bbbLong lists every
// subcommand (TestBBBHelpListsEveryCommand).
const bbbUsage = "status | servers <command> | meetings <command> | tenants <command> | recordings <command>"

const bbbLong = `
Manages the pool of BigBlueButton servers of a running Caddy, its
meetings, tenants and recordings, through its admin API (the /bbb/
routes), as 'caddy reload' talks to it: --address names the admin
endpoint; without it, the admin address of --config (with --adapter) is
used, else localhost:2019.

  caddy bbb status
  caddy bbb servers list [--json]
  caddy bbb servers add <id> <api-url> --secret S [--weight W] [--tag T] [--state enabled|cordoned|disabled] [--algorithm sha1|sha256|sha384|sha512]
  caddy bbb servers update <id> [--url U] [--secret S] [--weight W] [--tag T] [--algorithm A]
  caddy bbb servers remove <id> [--force]
  caddy bbb servers enable|cordon|disable <id>
  caddy bbb servers panic <id> [--keep-state]
  caddy bbb servers import <file|-> [--mode keep|cordon] [--dry-run]
  caddy bbb meetings list [--tenant NAME] [--json]
  caddy bbb meetings end <meetingID> [--tenant NAME]
  caddy bbb tenants list [--json]
  caddy bbb tenants add <name> --secret S [--secret S2] [--host H] [--path-prefix P] [--tag T] [--max-meetings N] [--max-attendees N] [--max-duration M]
  caddy bbb tenants update <name> [the same flags; only those given change]
  caddy bbb tenants remove <name> [--force]
  caddy bbb recordings list [--meeting ID] [--state S] [--limit N] [--json]
  caddy bbb recordings import <dir> [--move]

A secret given as "-" is read from the first line of standard input, so it
stays out of the shell history and the process list.
`

// BBBCommand returns a new, unattached "bbb" command tree, as 'caddy bbb'
// runs it. Tests execute it in-process with SetArgs, SetOut and SetErr.
func BBBCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bbb", Short: "Manages a running bbb_balance", Long: bbbLong}
	setupBBBCommand(cmd)
	return cmd
}

// bbbCLI is the state of one command tree: the admin endpoint flags and
// the address they resolve to.
type bbbCLI struct {
	address, config, adapter string
	resolved                 string
}

func setupBBBCommand(root *cobra.Command) {
	c := &bbbCLI{}
	pf := root.PersistentFlags()
	pf.StringVar(&c.address, "address", "", "The address of the admin API of the running Caddy (default: from --config, else localhost:2019)")
	pf.StringVarP(&c.config, "config", "c", "", "Configuration file whose admin address to use")
	pf.StringVarP(&c.adapter, "adapter", "a", "", "Name of config adapter to apply to --config")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return c.fail(cmd, nil, err)
	})
	root.RunE = c.group

	root.AddCommand(c.leaf("status", "", "Shows a table of the servers with their state, health and load", 0, 0, c.status))

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

	meetings := &cobra.Command{Use: "meetings", Short: "Lists and ends meetings", RunE: c.group}
	mlist := c.leaf("list", "[--tenant NAME] [--json]", "Lists the meeting registry", 0, 0, c.meetingsList)
	mlist.Flags().Bool("json", false, "Print the admin API's JSON")
	mlist.Flags().String("tenant", "", `Only this tenant's meetings ("" with the flag given: the default front-end's)`)
	mend := c.leaf("end", "<meetingID> [--tenant NAME]", "Ends a meeting and forgets it", 1, 1, c.meetingsEnd)
	mend.Flags().String("tenant", "", "The tenant whose front-end knows the meeting by <meetingID>; without the flag, <meetingID> is the key as listed")
	meetings.AddCommand(mlist, mend)

	root.AddCommand(servers, meetings)
	c.addRecordingCommands(root)
	c.addTenantCommands(root)
	silence(root)
}

// silence leaves error reporting to fail, which prints one line.
func silence(cmd *cobra.Command) {
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	for _, sub := range cmd.Commands() {
		silence(sub)
	}
}

// leaf builds a subcommand taking between min and max arguments whose
// errors fail reports.
func (c *bbbCLI) leaf(name, usage, short string, min, max int, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   strings.TrimSpace(name + " " + usage),
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < min || len(args) > max {
				want := strings.Join(regexp.MustCompile(`<[^>]+>`).FindAllString(usage, -1), " ")
				if want == "" {
					want = "no arguments"
				}
				return c.fail(cmd, nil, fmt.Errorf("want %s, got %d argument(s); see --help", want, len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return c.fail(cmd, args, err)
			}
			return nil
		},
	}
}

// group runs for "bbb", "servers" and "meetings" without a subcommand.
func (c *bbbCLI) group(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return c.fail(cmd, nil, fmt.Errorf("unknown command %q; see --help", args[0]))
	}
	return cmd.Help()
}

// fail prints the one line a failure gets and returns err for the exit
// status: "caddy bbb: servers add bbb4: <message>".
func (c *bbbCLI) fail(cmd *cobra.Command, args []string, err error) error {
	var what []string
	for p := cmd; p != nil && p.HasParent() && p.Name() != "bbb"; p = p.Parent() {
		what = append([]string{p.Name()}, what...)
	}
	if len(args) > 0 {
		what = append(what, args[0])
	}
	label := "caddy bbb"
	if len(what) > 0 {
		label += ": " + strings.Join(what, " ")
	}
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", label, msg)
	return err
}

// call is the one way to the admin API: it sends in (if not nil) as JSON
// and decodes the JSON answer into out (if not nil). An error answer
// becomes an error carrying the API's own message.
func (c *bbbCLI) call(method, path string, in, out any) error {
	if c.resolved == "" {
		addr, err := caddycmd.DetermineAdminAPIAddress(c.address, nil, c.config, c.adapter)
		if err != nil {
			return fmt.Errorf("finding the admin address: %v", err)
		}
		c.resolved = addr
	}
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	resp, err := caddycmd.AdminAPIRequest(c.resolved, method, path, nil, body)
	if err != nil {
		return apiMessage(c.resolved, err)
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("unreadable answer of the admin API at %s: %v", c.resolved, err)
	}
	return nil
}

// apiMessage digs the admin API's {"error": "..."} out of the error of
// AdminAPIRequest, which carries the answer's body as text.
func apiMessage(addr string, err error) error {
	msg := err.Error()
	const answered = "caddy responded with error: HTTP "
	i := strings.Index(msg, answered)
	if i < 0 {
		return fmt.Errorf("cannot reach the admin API at %s (is Caddy running? see --address): %s", addr, strings.TrimPrefix(msg, "performing request: "))
	}
	code, body, _ := strings.Cut(msg[i+len(answered):], ": ")
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	if strings.TrimSpace(body) == "" {
		return fmt.Errorf("HTTP %s from the admin API at %s", code, addr)
	}
	return fmt.Errorf("HTTP %s: %s", code, strings.TrimSpace(body))
}

func serverPath(id string) string { return "/bbb/servers/" + url.PathEscape(id) }

func (c *bbbCLI) listServers() ([]balancer.ServerStatus, error) {
	var list []balancer.ServerStatus
	err := c.call("GET", "/bbb/servers", nil, &list)
	return list, err
}

// printJSON prints an API answer as indented JSON.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func hostOf(apiURL string) string {
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		return u.Host
	}
	return apiURL
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

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
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

// readSecret returns s, or for "-" a line of standard input, so a secret
// can stay out of the shell history.
func readSecret(cmd *cobra.Command, s string) (string, error) {
	if s != "-" {
		return s, nil
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the secret from standard input: %v", err)
	}
	return strings.TrimSpace(line), nil
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
	w := cmd.OutOrStdout()
	var raw json.RawMessage
	if err := c.call("GET", "/bbb/meetings"+tenantQuery(cmd), nil, &raw); err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(w, raw)
	}
	var list []MeetingListing
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unreadable answer of the admin API: %v", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "no meetings")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tMEETING\tSERVER\tPARTICIPANTS\tRUNNING\tCREATED\tKEY")
	for _, m := range list {
		running := "no"
		if m.Running {
			running = "yes"
		}
		tenant := m.Tenant
		if tenant == "" {
			tenant = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", tenant, m.MeetingID, m.ServerID, m.Participants, running, when(m.Created), m.Key)
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

// importServer is one server of an import file, with defaults filled.
type importServer struct {
	ID, URL, Secret, Tag string
	Enabled              bool
	Weight               float64
}

var scaleliteID = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// parseServersFile reads scalelite's servers:sync YAML,
//
//	servers:
//	  <id>: {secret, url, enabled, load_multiplier, tag}
//
// or the older servers:addAll one, a list of {url, secret} whose ids are
// the URLs' host names. Warnings name keys that were ignored.
func parseServersFile(data []byte) (out []importServer, warnings []string, err error) {
	var doc struct {
		Servers yaml.Node `yaml:"servers"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not YAML: %v", err)
	}
	seen := map[string]int{}
	addServer := func(line int, s importServer) error {
		if prev, ok := seen[s.ID]; ok {
			return fmt.Errorf("line %d: server %s is already on line %d", line, s.ID, prev)
		}
		seen[s.ID] = line
		out = append(out, s)
		return nil
	}
	n := &doc.Servers
	switch n.Kind {
	case yaml.MappingNode: // servers:sync
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			s, warns, err := parseSyncEntry(k, v)
			if err != nil {
				return nil, nil, err
			}
			warnings = append(warnings, warns...)
			if err := addServer(k.Line, s); err != nil {
				return nil, nil, err
			}
		}
	case yaml.SequenceNode: // servers:addAll
		for _, v := range n.Content {
			var e struct {
				URL    string `yaml:"url"`
				Secret string `yaml:"secret"`
			}
			if err := v.Decode(&e); err != nil {
				return nil, nil, fmt.Errorf("line %d: %v", v.Line, err)
			}
			u, err := url.Parse(e.URL)
			if err != nil || !httpURL(e.URL) {
				return nil, nil, fmt.Errorf("line %d: url %q is not an http(s) URL", v.Line, e.URL)
			}
			if e.Secret == "" {
				return nil, nil, fmt.Errorf("line %d: server %s has no secret", v.Line, u.Hostname())
			}
			if err := addServer(v.Line, importServer{ID: u.Hostname(), URL: e.URL, Secret: e.Secret, Enabled: true, Weight: 1}); err != nil {
				return nil, nil, err
			}
		}
	case 0:
		return nil, nil, errors.New(`no "servers:" key; want scalelite's servers:sync (or servers:addAll) format`)
	default:
		return nil, nil, fmt.Errorf(`line %d: "servers:" must map server ids to servers (servers:sync) or list servers (servers:addAll)`, n.Line)
	}
	return out, warnings, nil
}

func parseSyncEntry(k, v *yaml.Node) (importServer, []string, error) {
	id := k.Value
	s := importServer{ID: id, Enabled: true, Weight: 1}
	if k.Kind != yaml.ScalarNode || !scaleliteID.MatchString(id) {
		return s, nil, fmt.Errorf("line %d: server id %q may only have letters, digits, '_', '.' and '-'", k.Line, id)
	}
	if v.Kind != yaml.MappingNode {
		return s, nil, fmt.Errorf("line %d: server %s: want secret, url, enabled, load_multiplier and tag under it", v.Line, id)
	}
	var warnings []string
	var hasSecret bool
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i].Value, v.Content[i+1]
		null := val.Tag == "!!null"
		var err error
		switch key {
		case "secret":
			err = val.Decode(&s.Secret)
			hasSecret = s.Secret != ""
		case "url":
			if !null {
				err = val.Decode(&s.URL)
			}
		case "enabled":
			if !null {
				err = val.Decode(&s.Enabled)
			}
		case "tag":
			if !null {
				err = val.Decode(&s.Tag)
			}
		case "load_multiplier":
			if !null {
				s.Weight, err = strconv.ParseFloat(strings.TrimSpace(val.Value), 64)
				if err != nil || val.Kind != yaml.ScalarNode {
					err = fmt.Errorf("load_multiplier %q is not a number", val.Value)
				} else if s.Weight <= 0 {
					err = fmt.Errorf("load_multiplier %v must be greater than 0", val.Value)
				}
			}
		case "state", "load", "bbb_version", "online": // servers:yaml[verbose] output
		default:
			warnings = append(warnings, fmt.Sprintf("line %d: server %s: unknown key %q ignored", v.Content[i].Line, id, key))
		}
		if err != nil {
			return s, nil, fmt.Errorf("line %d: server %s: %s: %v", val.Line, id, key, err)
		}
	}
	if !hasSecret {
		return s, nil, fmt.Errorf("line %d: server %s has no secret", k.Line, id)
	}
	if s.URL == "" {
		s.URL = "https://" + id + "/bigbluebutton/api"
	}
	if !httpURL(s.URL) {
		return s, nil, fmt.Errorf("line %d: server %s: url %q is not an http(s) URL", k.Line, id, s.URL)
	}
	return s, warnings, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// importAction is one change an import makes.
type importAction struct {
	verb, id, detail string
	method, path     string
	body             any
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
	want, warnings, err := parseServersFile(data)
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
	actions, untouched := planImport(want, have, mode)

	out := cmd.OutOrStdout()
	counts := map[string]int{}
	for i, a := range actions {
		line := a.verb + " " + a.id
		if a.detail != "" {
			line += ": " + a.detail
		}
		if !dry {
			if err := c.call(a.method, a.path, a.body, nil); err != nil {
				return fmt.Errorf("%s %s (after %d of %d changes): %v", a.verb, a.id, i, len(actions), err)
			}
		} else {
			line = "would " + line
		}
		fmt.Fprintln(out, line)
		counts[a.verb]++
	}
	summary := fmt.Sprintf("%d added, %d updated, %d enabled, %d cordoned", counts["add"], counts["update"], counts["enable"], counts["cordon"])
	if untouched > 0 {
		summary += fmt.Sprintf("; %d server(s) not in the file left alone", untouched)
	}
	if dry {
		fmt.Fprintf(out, "dry run, nothing changed: would have %s\n", summary)
	} else {
		fmt.Fprintf(out, "imported %d server(s): %s\n", len(want), summary)
	}
	return nil
}

// planImport lists the changes that make the pool match the file. The
// admin API never shows secrets, so every server already in the pool gets
// its secret from the file again.
func planImport(want []importServer, have []balancer.ServerStatus, mode string) (actions []importAction, untouched int) {
	current := map[string]balancer.ServerStatus{}
	for _, s := range have {
		current[s.ID] = s
	}
	inFile := map[string]bool{}
	for _, w := range want {
		inFile[w.ID] = true
		state := balancer.Enabled
		if !w.Enabled {
			state = balancer.Cordoned
		}
		cur, exists := current[w.ID]
		if !exists {
			detail := fmt.Sprintf("%s, %s, weight %g", w.URL, state, w.Weight)
			if w.Tag != "" {
				detail += ", tag " + w.Tag
			}
			actions = append(actions, importAction{verb: "add", id: w.ID, detail: detail, method: "POST", path: "/bbb/servers",
				body: balancer.ServerConfig{ID: w.ID, URL: w.URL, Secret: w.Secret, Weight: w.Weight, Tag: w.Tag, State: state}})
			continue
		}
		secret := w.Secret
		patch := balancer.ServerPatch{Secret: &secret}
		var changed []string
		if strings.TrimSuffix(w.URL, "/") != cur.URL {
			u := w.URL
			patch.URL = &u
			changed = append(changed, fmt.Sprintf("url %s → %s", cur.URL, w.URL))
		}
		if w.Weight != cur.Weight {
			weight := w.Weight
			patch.Weight = &weight
			changed = append(changed, fmt.Sprintf("weight %g → %g", cur.Weight, w.Weight))
		}
		if w.Tag != cur.Tag {
			tag := w.Tag
			patch.Tag = &tag
			changed = append(changed, fmt.Sprintf("tag %q → %q", cur.Tag, w.Tag))
		}
		changed = append(changed, "secret re-sent")
		actions = append(actions, importAction{verb: "update", id: w.ID, detail: strings.Join(changed, ", "),
			method: "PATCH", path: serverPath(w.ID), body: patch})
		switch {
		case w.Enabled && cur.State != balancer.Enabled:
			actions = append(actions, importAction{verb: "enable", id: w.ID, detail: "was " + string(cur.State),
				method: "POST", path: serverPath(w.ID) + "/enable"})
		case !w.Enabled && cur.State == balancer.Enabled:
			actions = append(actions, importAction{verb: "cordon", id: w.ID, detail: "enabled: false in the file",
				method: "POST", path: serverPath(w.ID) + "/cordon"})
		}
	}
	sort.Slice(have, func(i, j int) bool { return have[i].ID < have[j].ID })
	for _, s := range have {
		if inFile[s.ID] {
			continue
		}
		if mode == "cordon" && s.State == balancer.Enabled {
			actions = append(actions, importAction{verb: "cordon", id: s.ID, detail: "not in the file",
				method: "POST", path: serverPath(s.ID) + "/cordon"})
			continue
		}
		untouched++
	}
	return actions, untouched
}
