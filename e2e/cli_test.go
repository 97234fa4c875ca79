package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bbbbalance "github.com/bbb-balance/bbb_balance"
	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/internal/bbbtest"
)

// cliRun runs `caddy bbb <args>` in-process against the test Caddy, with
// stdin as standard input, and returns what it printed.
func cliRun(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := bbbbalance.BBBCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append(append([]string{}, args...), "--address", "localhost:2999"))
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// cli runs a command that must succeed and returns its output.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := cliRun(t, "", args...)
	if err != nil || errOut != "" {
		t.Fatalf("caddy bbb %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// cliFail runs a command that must fail with one line on stderr holding
// want, and nothing on stdout.
func cliFail(t *testing.T, want string, args ...string) {
	t.Helper()
	out, errOut, err := cliRun(t, "", args...)
	if err == nil {
		t.Fatalf("caddy bbb %s succeeded: %s", strings.Join(args, " "), out)
	}
	if out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "caddy bbb: ") || !strings.Contains(errOut, want) {
		t.Errorf("caddy bbb %s: want one error line with %q; stdout %q stderr %q", strings.Join(args, " "), want, out, errOut)
	}
}

// fixture copies testdata/name with the placeholders replaced into a
// temporary file and returns its path.
func fixture(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for k, v := range vars {
		text = strings.ReplaceAll(text, "{{"+k+"}}", v)
	}
	if strings.Contains(text, "{{") {
		t.Fatalf("%s: placeholder left: %s", name, text)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output shows secret %q:\n%s", s, out)
		}
	}
}

func TestCLIStatus(t *testing.T) {
	p := startPool(t, 2, fastPolls)
	c := newClient()
	for i := 0; i < 3; i++ {
		mustOK(t, "create", c.get(t, "create", createQuery(fmt.Sprint("st-", i))))
	}
	on := p.holder("st-0")
	if err := p.fakes[on].AddAttendee("st-0", bbbtest.Attendee{FullName: "Ann", Role: "VIEWER"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "polls see 3 meetings and 1 user", func() bool {
		s1, s2 := serverStatus(t, "bbb1"), serverStatus(t, "bbb2")
		return s1.Meetings+s2.Meetings == 3 && s1.Users+s2.Users == 1
	})

	out := cli(t, "status")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "HOSTNAME") ||
		strings.Join(strings.Fields(lines[0]), " ") != "HOSTNAME ID STATE STATUS MEETINGS USERS LARGEST MEETING VIDEOS LOAD BBB VERSION TAG" {
		t.Fatalf("status:\n%s", out)
	}
	var hosts []string
	meetings, users := 0, 0
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 10 {
			t.Fatalf("status row %q: %d columns", line, len(f))
		}
		hosts = append(hosts, f[0])
		id := f[1]
		u, _ := url.Parse(p.fakes[map[string]int{"bbb1": 0, "bbb2": 1}[id]].URL())
		if f[0] != u.Host || f[2] != "enabled" || f[3] != "online" || f[9] != "3.0.0" || !strings.Contains(f[8], ".") {
			t.Errorf("status row %q", line)
		}
		var m, us int
		fmt.Sscan(f[4], &m)
		fmt.Sscan(f[5], &us)
		meetings += m
		users += us
	}
	if !sort.StringsAreSorted(hosts) {
		t.Errorf("rows not sorted by hostname: %v", hosts)
	}
	if meetings != 3 || users != 1 {
		t.Errorf("status shows %d meetings and %d users, want 3 and 1:\n%s", meetings, users, out)
	}
	noSecrets(t, out, "fake-secret-1", "fake-secret-2")

	// Usage mistakes and an unreachable admin endpoint get one line too.
	cliFail(t, "want no arguments", "status", "extra")
	cliFail(t, `unknown command "frobnicate"`, "servers", "frobnicate")
	cliFail(t, "unknown flag", "status", "--bogus")
	cmd := bbbbalance.BBBCommand()
	var errOut bytes.Buffer
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"status", "--address", "localhost:1"})
	if err := cmd.Execute(); err == nil || !strings.HasPrefix(errOut.String(), "caddy bbb: status: cannot reach the admin API at localhost:1") ||
		strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("unreachable admin API: %v %q", err, errOut.String())
	}
}

func TestCLIServerLifecycle(t *testing.T) {
	startPool(t, 1, "")
	extra := newFake(t, "extra-secret")
	c := newClient()

	out := cli(t, "servers", "add", "bbb9", extra.URL(), "--secret", "extra-secret", "--weight", "2", "--tag", "big")
	if out != "server bbb9 added (enabled, online, BBB 3.0.0)\n" {
		t.Errorf("add: %q", out)
	}
	s := serverStatus(t, "bbb9")
	if !s.Online || s.State != "enabled" || s.Weight != 2 || s.Tag != "big" || s.URL != extra.URL() {
		t.Fatalf("added: %+v", s)
	}
	cliFail(t, "a server with that id exists", "servers", "add", "bbb9", extra.URL(), "--secret", "x")
	cliFail(t, "--secret is required", "servers", "add", "bbb8", extra.URL())
	cliFail(t, "--weight must be greater than 0", "servers", "add", "bbb8", extra.URL(), "--secret", "x", "--weight", "0")
	cliFail(t, "not an http(s) URL", "servers", "add", "bbb8", "ftp://x", "--secret", "x")
	cliFail(t, "want <id> <api-url>, got 1", "servers", "add", "bbb8")

	list := cli(t, "servers", "list")
	for _, want := range []string{"id: bbb1\n", "id: bbb9\n", "\turl: " + extra.URL() + "\n", "\tenabled, online\n", "\tweight: 2\n", "\ttag: big\n", "\tbbb version: 3.0.0\n"} {
		if !strings.Contains(list, want) {
			t.Errorf("servers list lacks %q:\n%s", want, list)
		}
	}
	raw := cli(t, "servers", "list", "--json")
	var asJSON []balancer.ServerStatus
	if err := json.Unmarshal([]byte(raw), &asJSON); err != nil || len(asJSON) != 2 {
		t.Errorf("servers list --json: %v\n%s", err, raw)
	}
	noSecrets(t, list+raw, "extra-secret", "fake-secret-1")

	// Only the flags given change; --tag "" removes the tag.
	if out := cli(t, "servers", "update", "bbb9", "--weight", "1.5", "--tag", ""); out != "server bbb9 updated: weight 1.5, tag removed\n" {
		t.Errorf("update: %q", out)
	}
	if s := serverStatus(t, "bbb9"); s.Weight != 1.5 || s.Tag != "" || s.URL != extra.URL() {
		t.Errorf("after update: %+v", s)
	}
	cli(t, "servers", "update", "bbb9", "--tag", "small")
	if s := serverStatus(t, "bbb9"); s.Weight != 1.5 || s.Tag != "small" {
		t.Errorf("after tag update: %+v", s)
	}
	cli(t, "servers", "update", "bbb9", "--tag", "") // untagged meetings go to untagged servers
	out, errOut, err := cliRun(t, "extra-secret\n", "servers", "update", "bbb9", "--secret", "-", "--url", extra.URL()+"/")
	if err != nil || errOut != "" || out != "server bbb9 updated: url "+extra.URL()+"/, secret (online, BBB 3.0.0)\n" {
		t.Errorf("update url and secret: %v %q %q", err, out, errOut)
	}
	// A wrong secret from stdin: the server goes offline at once.
	sout, serr, err := cliRun(t, "wrong-secret\n", "servers", "update", "bbb9", "--secret", "-")
	if err != nil || serr != "" || !strings.Contains(sout, "offline") {
		t.Errorf("update with a wrong secret: %v %q %q", err, sout, serr)
	}
	noSecrets(t, sout, "wrong-secret")
	cli(t, "servers", "update", "bbb9", "--secret", "extra-secret")
	eventually(t, "bbb9 online with its secret again", func() bool { return serverStatus(t, "bbb9").Online })
	cliFail(t, "nothing to change", "servers", "update", "bbb9")

	// States.
	for _, step := range []struct{ verb, state string }{{"cordon", "cordoned"}, {"disable", "disabled"}, {"enable", "enabled"}} {
		if out := cli(t, "servers", step.verb, "bbb9"); out != "server bbb9 "+step.state+" (online)\n" {
			t.Errorf("%s: %q", step.verb, out)
		}
		if s := serverStatus(t, "bbb9"); string(s.State) != step.state {
			t.Errorf("after %s: %s", step.verb, s.State)
		}
	}
	cliFail(t, `caddy bbb: servers cordon nope: no server "nope"`, "servers", "cordon", "nope")
	cliFail(t, `no server "nope"`, "servers", "update", "nope", "--weight", "2")
	cliFail(t, `no server "nope"`, "servers", "remove", "nope")
	cliFail(t, `no server "nope"`, "servers", "panic", "nope")

	// Remove: refused with a meeting, unless forced.
	cli(t, "servers", "disable", "bbb1")
	mustOK(t, "create", c.get(t, "create", createQuery("on-nine")))
	if got := registry(t)["on-nine"]; got != "bbb9" {
		t.Fatalf("meeting on %s", got)
	}
	cliFail(t, "caddy bbb: servers remove bbb9: the server has meetings; end them first, or force", "servers", "remove", "bbb9")
	if out := cli(t, "servers", "remove", "bbb9", "--force"); !strings.HasPrefix(out, "server bbb9 removed; 1 meeting(s) forgotten") {
		t.Errorf("remove --force: %q", out)
	}
	if _, ok := adminServers(t)["bbb9"]; ok {
		t.Error("bbb9 still listed")
	}
}

func TestCLIPanicAndMeetings(t *testing.T) {
	p := startPool(t, 2, "health_interval 50ms")
	c := newClient()
	ids := []string{"pm-0", "pm-1", "pm-2", "pm-3", "room/with space&more"}
	for _, id := range ids {
		mustOK(t, "create", c.get(t, "create", createQuery(id)))
	}
	on := p.holder("pm-0")
	if err := p.fakes[on].AddAttendee("pm-0", bbbtest.Attendee{FullName: "Ann", Role: "VIEWER"}); err != nil {
		t.Fatal(err)
	}
	var out string
	eventually(t, "a participant in the meeting list", func() bool {
		out = cli(t, "meetings", "list")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[0] == "-" && f[1] == "pm-0" && f[3] == "1" && f[4] == "yes" {
				return true
			}
		}
		return false
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "TENANT MEETING SERVER PARTICIPANTS RUNNING CREATED VOICE BRIDGE KEY" || len(lines) != 1+len(ids) {
		t.Fatalf("meetings list:\n%s", out)
	}
	reg := registry(t)
	for _, line := range lines[1:] {
		if strings.Contains(line, "room/with space&more") {
			continue
		}
		f := strings.Fields(line)
		if reg[f[1]] != f[2] {
			t.Errorf("meetings list row %q: registry says %s", line, reg[f[0]])
		}
	}
	var raw []balancer.MeetingStatus
	if err := json.Unmarshal([]byte(cli(t, "meetings", "list", "--json")), &raw); err != nil || len(raw) != len(ids) {
		t.Errorf("meetings list --json: %v %d", err, len(raw))
	}

	// End meetings by hand, also one whose id needs escaping.
	for _, id := range []string{"pm-1", "room/with space&more"} {
		if out := cli(t, "meetings", "end", id); out != "meeting "+id+" ended\n" {
			t.Errorf("end: %q", out)
		}
		if p.holder(id) >= 0 {
			t.Errorf("ended meeting %s still runs", id)
		}
		if _, ok := registry(t)[id]; ok {
			t.Errorf("ended meeting %s still registered", id)
		}
	}
	cliFail(t, `caddy bbb: meetings end pm-1: no meeting "pm-1"`, "meetings", "end", "pm-1")

	// Panic ends every meeting of the server and disables it.
	n := len(p.fakes[0].Meetings())
	out = cli(t, "servers", "panic", "bbb1")
	if out != fmt.Sprintf("server bbb1: %d meeting(s) ended and forgotten; now disabled\n", n) {
		t.Errorf("panic: %q", out)
	}
	if m := p.fakes[0].Meetings(); len(m) != 0 {
		t.Errorf("fake 1 still runs %v", m)
	}
	if s := serverStatus(t, "bbb1"); s.State != "disabled" {
		t.Errorf("after panic: %s", s.State)
	}
	out = cli(t, "servers", "panic", "bbb2", "--keep-state")
	if !strings.HasSuffix(out, "now enabled\n") || len(p.fakes[1].Meetings()) != 0 {
		t.Errorf("panic --keep-state: %q, fake 2 runs %v", out, p.fakes[1].Meetings())
	}
	if out := cli(t, "meetings", "list"); out != "no meetings\n" {
		t.Errorf("meetings after panics: %q", out)
	}
}

// brief is what an import test compares of a server.
func brief(s balancer.ServerStatus) string {
	return fmt.Sprintf("%s weight=%g tag=%q online=%v url=%s", s.State, s.Weight, s.Tag, s.Online, s.URL)
}

func TestCLIImport(t *testing.T) {
	p := startPool(t, 1, "")
	fb, fc, fold := newFake(t, "secret-b"), newFake(t, "secret-c"), newFake(t, "secret-old")
	sync := fixture(t, "servers-sync.yml", map[string]string{"URL_1": p.fakes[0].URL(), "URL_B": fb.URL(), "URL_C": fc.URL()})
	cli(t, "servers", "add", "old", fold.URL(), "--secret", "secret-old")
	cli(t, "servers", "cordon", "bbb1")

	// A dry run says what it would do and changes nothing.
	before := adminServers(t)
	out := cli(t, "servers", "import", sync, "--mode", "cordon", "--dry-run")
	for _, want := range []string{
		`would update bbb1: weight 1 → 2, tag "" → "big", secret re-sent`,
		"would enable bbb1: was cordoned",
		"would add bbb-b: " + fb.URL() + ", cordoned, weight 1.5",
		"would add bbb-c: " + fc.URL() + ", enabled, weight 1, tag small",
		"would cordon old: not in the file",
		"dry run, nothing changed: would have 2 added, 1 updated, 1 enabled, 1 cordoned",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	after := adminServers(t)
	if len(after) != len(before) {
		t.Errorf("dry run changed the pool: %v", after)
	}
	for id, s := range before {
		if brief(after[id]) != brief(s) {
			t.Errorf("dry run changed %s: %s → %s", id, brief(s), brief(after[id]))
		}
	}

	// The real import.
	out = cli(t, "servers", "import", sync, "--mode", "cordon")
	if !strings.Contains(out, "imported 3 server(s): 2 added, 1 updated, 1 enabled, 1 cordoned\n") || strings.Contains(out, "would") {
		t.Errorf("import:\n%s", out)
	}
	noSecrets(t, out, "fake-secret-1", "secret-b", "secret-c")
	got := adminServers(t)
	// bbb-b, added cordoned, drains to disabled at its first poll: it has
	// no meetings.
	if s := got["bbb-b"]; s.State == "disabled" {
		s.State = "cordoned"
		got["bbb-b"] = s
	}
	for id, want := range map[string]string{
		"bbb1":  `enabled weight=2 tag="big" online=true url=` + p.fakes[0].URL(),
		"bbb-b": `cordoned weight=1.5 tag="" online=true url=` + fb.URL(),
		"bbb-c": `enabled weight=1 tag="small" online=true url=` + fc.URL(),
		"old":   `cordoned weight=1 tag="" online=true url=` + fold.URL(),
	} {
		if brief(got[id]) != want {
			t.Errorf("%s: %s, want %s", id, brief(got[id]), want)
		}
	}

	// Again: nothing left to do but re-send the secrets; keep mode leaves
	// "old" alone.
	cli(t, "servers", "enable", "old")
	out = cli(t, "servers", "import", sync)
	if strings.Contains(out, "add ") || strings.Contains(out, "enable ") || strings.Contains(out, "cordon ") ||
		!strings.Contains(out, "imported 3 server(s): 0 added, 3 updated, 0 enabled, 0 cordoned; 1 server(s) not in the file left alone\n") {
		t.Errorf("second import:\n%s", out)
	}
	if s := adminServers(t)["old"]; s.State != "enabled" {
		t.Errorf("keep mode changed old: %s", s.State)
	}

	// enabled: false cordons an enabled server, enabled: true enables a
	// disabled one; a disabled server with enabled: false stays disabled.
	cli(t, "servers", "enable", "bbb-b")
	cli(t, "servers", "disable", "bbb1")
	out = cli(t, "servers", "import", sync)
	if !strings.Contains(out, "cordon bbb-b: enabled: false in the file\n") || !strings.Contains(out, "enable bbb1: was disabled\n") {
		t.Errorf("state import:\n%s", out)
	}
	if s := adminServers(t); s["bbb-b"].State != "cordoned" || s["bbb1"].State != "enabled" {
		t.Errorf("after the state import: bbb-b %s, bbb1 %s", s["bbb-b"].State, s["bbb1"].State)
	}
	cli(t, "servers", "disable", "bbb-b")
	if out = cli(t, "servers", "import", sync); strings.Contains(out, "cordon bbb-b") || adminServers(t)["bbb-b"].State != "disabled" {
		t.Errorf("import cordoned a disabled server:\n%s", out)
	}

	// The older servers:addAll format, from a file and from stdin.
	fd, fe := newFake(t, "secret-d"), newFake(t, "secret-e")
	port := func(f *bbbtest.Server) string { return f.Addr()[strings.LastIndex(f.Addr(), ":")+1:] }
	addAll := fixture(t, "servers-addall.yml", map[string]string{"PORT_D": port(fd), "PORT_E": port(fe)})
	out = cli(t, "servers", "import", addAll)
	if !strings.Contains(out, "add localhost: ") || !strings.Contains(out, "add 127.0.0.1: ") ||
		!strings.Contains(out, "imported 2 server(s): 2 added, 0 updated") {
		t.Errorf("addAll import:\n%s", out)
	}
	got = adminServers(t)
	if s := got["localhost"]; brief(s) != `enabled weight=1 tag="" online=true url=http://localhost:`+port(fd)+"/bigbluebutton/api" {
		t.Errorf("localhost: %s", brief(s))
	}
	if s := got["127.0.0.1"]; brief(s) != `enabled weight=1 tag="" online=true url=http://127.0.0.1:`+port(fe)+"/bigbluebutton/api" {
		t.Errorf("127.0.0.1: %s", brief(s))
	}
	data, _ := os.ReadFile(addAll)
	sout, serr, err := cliRun(t, string(data), "servers", "import", "-", "--dry-run")
	if err != nil || serr != "" || !strings.Contains(sout, "would have 0 added, 2 updated") {
		t.Errorf("import from stdin: %v\n%s%s", err, sout, serr)
	}

	// Unknown keys are ignored with a warning.
	sout, serr, err = cliRun(t, "servers:\n  bbb-c:\n    url: "+fc.URL()+"\n    secret: secret-c\n    tag: small\n    load_multipler: 3\n",
		"servers", "import", "-")
	if err != nil || !strings.Contains(serr, `caddy bbb: warning: line 6: server bbb-c: unknown key "load_multipler" ignored`) ||
		!strings.Contains(sout, "imported 1 server(s)") {
		t.Errorf("unknown key: %v\n%s%s", err, sout, serr)
	}

	// Bad files change nothing and give one line.
	before = adminServers(t)
	bad := fixture(t, "servers-bad.yml", nil)
	cliFail(t, "caddy bbb: servers import "+bad+": line 5: server bbb-y has no secret", "servers", "import", bad)
	cliFail(t, "no such file", "servers", "import", filepath.Join(t.TempDir(), "missing.yml"))
	for _, c := range []struct{ yaml, want string }{
		{"servers: [unclosed\n", "not YAML"},
		{"hosts: {}\n", `no "servers:" key`},
		{"servers: 3\n", `"servers:" must map server ids`},
		{"servers:\n  bad/id:\n    secret: s\n", `server id "bad/id"`},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: 0\n", "load_multiplier 0 must be greater than 0"},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: lots\n", `load_multiplier "lots" is not a number`},
		{"servers:\n  x:\n    secret: s\n    enabled: maybe\n", "line 4: server x: enabled:"},
		{"servers:\n  - url: http://h1/api\n    secret: s\n  - url: http://h1:8080/api\n    secret: t\n", "server h1 is already on line 2"},
		{"servers:\n  - url: not a url\n    secret: s\n", `url "not a url" is not an http(s) URL`},
		{"servers:\n  x:\n    secret: s\n    url: ftp://x\n", "not an http(s) URL"},
	} {
		_, serr, err := cliRun(t, c.yaml, "servers", "import", "-")
		if err == nil || strings.Count(serr, "\n") != 1 || !strings.HasPrefix(serr, "caddy bbb: servers import -: ") || !strings.Contains(serr, c.want) {
			t.Errorf("import %q: %v %q, want one line with %q", c.yaml, err, serr, c.want)
		}
	}
	cliFail(t, `--mode "delete": want keep or cordon`, "servers", "import", sync, "--mode", "delete")
	after = adminServers(t)
	for id, s := range before {
		if id != "x" && brief(after[id]) != brief(s) {
			t.Errorf("a failed import changed %s: %s → %s", id, brief(s), brief(after[id]))
		}
	}
}
