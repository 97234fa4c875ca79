package bbbbalance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
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
const bbbUsage = "status | servers <command> | meetings <command> | tenants <command> | recordings <command> | migrate"

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
                       [--max-age 365d|off] [--unpublished-max-age 30d|off] [--keep-meta K=V]
  caddy bbb tenants update <name> [the same flags; only those given change]
  caddy bbb tenants remove <name> [--force]
  caddy bbb recordings list [--meeting ID] [--state S] [--limit N] [--json]
  caddy bbb recordings import <dir> [--move]
  caddy bbb recordings stats [--json]
  caddy bbb recordings expire [--dry-run] [--limit N] [--json]
  caddy bbb recordings failed [--json]
  caddy bbb recordings retry <name>
  caddy bbb recordings check [--repair] [--older-than D] [--limit N] [--json]
  caddy bbb migrate --from FILE --to URL

migrate works on the databases, not through the admin API: it copies a
SQLite database (FILE) into PostgreSQL (URL).

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

	c.addStatusCommand(root)
	c.addServerCommands(root)
	c.addMeetingCommands(root)
	c.addRecordingCommands(root)
	c.addTenantCommands(root)
	c.addMigrateCommand(root)
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

// listing gets a listing from the admin API: with --json it prints the
// answer as it is and returns false; otherwise it decodes it into out.
func (c *bbbCLI) listing(cmd *cobra.Command, path string, out any) (decoded bool, err error) {
	return c.answer(cmd, "GET", path, out)
}

// answer is listing for any method (a POST that answers a report).
func (c *bbbCLI) answer(cmd *cobra.Command, method, path string, out any) (decoded bool, err error) {
	var raw json.RawMessage
	if err := c.call(method, path, nil, &raw); err != nil {
		return false, err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return false, printJSON(cmd.OutOrStdout(), raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("unreadable answer of the admin API: %v", err)
	}
	return true, nil
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

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
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
