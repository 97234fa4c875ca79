package manage

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/balancer"
)

func TestParseScaleliteSync(t *testing.T) {
	// What `rake servers:yaml[verbose]` prints, with scalelite's defaults
	// left out and nulls.
	got, warnings, err := ParseScaleliteServers([]byte(`servers:
  bbb1:
    url: https://bbb1.example.com/bigbluebutton/api/
    secret: s1
    load_multiplier: 2
    tag: big
    state: cordoned
    load: 3.5
    bbb_version: 2.7.3
    online: true
  bbb-b.example.com:
    secret: s2
    enabled: false
    load_multiplier: "1.5"
  bbb_c:
    secret: s3
    url: ~
    enabled: null
    tag:
    load_multiplier: null
    load_multipler: 3
`))
	want := []ScaleliteServer{
		{ID: "bbb1", URL: "https://bbb1.example.com/bigbluebutton/api/", Secret: "s1", Tag: "big", Enabled: true, Weight: 2},
		{ID: "bbb-b.example.com", URL: "https://bbb-b.example.com/bigbluebutton/api", Secret: "s2", Enabled: false, Weight: 1.5},
		{ID: "bbb_c", URL: "https://bbb_c/bigbluebutton/api", Secret: "s3", Enabled: true, Weight: 1},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v\nwant %+v", got, err, want)
	}
	if want := []string{`line 21: server bbb_c: unknown key "load_multipler" ignored`}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings %q, want %q", warnings, want)
	}
}

func TestParseScaleliteAddAll(t *testing.T) {
	got, warnings, err := ParseScaleliteServers([]byte(`servers:
  - url: http://localhost:8080/bigbluebutton/api
    secret: sd
  - url: https://bbb2.example.com/bigbluebutton/api/
    secret: se
`))
	want := []ScaleliteServer{
		{ID: "localhost", URL: "http://localhost:8080/bigbluebutton/api", Secret: "sd", Enabled: true, Weight: 1},
		{ID: "bbb2.example.com", URL: "https://bbb2.example.com/bigbluebutton/api/", Secret: "se", Enabled: true, Weight: 1},
	}
	if err != nil || len(warnings) != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %q %v\nwant %+v", got, warnings, err, want)
	}
	if got, _, err := ParseScaleliteServers([]byte("servers: []\n")); err != nil || len(got) != 0 {
		t.Errorf("an empty list: %+v %v", got, err)
	}
}

func TestParseScaleliteErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"servers: [unclosed\n", "not YAML: "},
		{"hosts: {}\n", `no "servers:" key; want scalelite's servers:sync (or servers:addAll) format`},
		{"servers: 3\n", `line 1: "servers:" must map server ids to servers (servers:sync) or list servers (servers:addAll)`},
		{"servers:\n  bad/id:\n    secret: s\n", `line 2: server id "bad/id" may only have letters, digits, '_', '.' and '-'`},
		{"servers:\n  x: s\n", "line 2: server x: want secret, url, enabled, load_multiplier and tag under it"},
		{"servers:\n  x:\n    url: https://x/api\n", "line 2: server x has no secret"},
		{"servers:\n  x:\n    secret: \"\"\n", "line 2: server x has no secret"},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: 0\n", "line 4: server x: load_multiplier: load_multiplier 0 must be greater than 0"},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: -1\n", "load_multiplier -1 must be greater than 0"},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: lots\n", `line 4: server x: load_multiplier: load_multiplier "lots" is not a number`},
		{"servers:\n  x:\n    secret: s\n    load_multiplier: [2]\n", `load_multiplier "" is not a number`},
		{"servers:\n  x:\n    secret: s\n    enabled: maybe\n", "line 4: server x: enabled:"},
		{"servers:\n  x:\n    secret: s\n    url: ftp://x\n", `line 2: server x: url "ftp://x" is not an http(s) URL`},
		{"servers:\n  x:\n    secret: s\n  x:\n    secret: t\n", "server x is already on line 2"},
		{"servers:\n  - url: http://h1/api\n    secret: s\n  - url: http://h1:8080/api\n    secret: t\n", "line 4: server h1 is already on line 2"},
		{"servers:\n  - url: not a url\n    secret: s\n", `line 2: url "not a url" is not an http(s) URL`},
		{"servers:\n  - url: http://h1/api\n", "line 2: server h1 has no secret"},
		{"servers:\n  - [1, 2]\n", "line 2: "},
	} {
		got, _, err := ParseScaleliteServers([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) || got != nil {
			t.Errorf("%q: %+v %v, want an error with %q", c.yaml, got, err, c.want)
		}
	}
}

func TestPlanImport(t *testing.T) {
	want := []ScaleliteServer{
		{ID: "bbb1", URL: "https://bbb1/api/", Secret: "s1", Tag: "big", Enabled: true, Weight: 2},
		{ID: "new", URL: "https://new/api", Secret: "s2", Tag: "small", Enabled: false, Weight: 1.5},
		{ID: "same", URL: "https://same/api", Secret: "s3", Enabled: true, Weight: 1},
		{ID: "drained", URL: "https://drained/api", Secret: "s4", Enabled: false, Weight: 1},
		{ID: "busy", URL: "https://busy/api", Secret: "s5", Enabled: false, Weight: 1},
	}
	have := []balancer.ServerStatus{
		{ID: "zz-old", URL: "https://zz/api", State: balancer.Enabled, Weight: 1},
		{ID: "bbb1", URL: "https://bbb1-old/api", State: balancer.Cordoned, Weight: 1},
		{ID: "same", URL: "https://same/api", State: balancer.Enabled, Weight: 1},
		{ID: "drained", URL: "https://drained/api", State: balancer.Disabled, Weight: 1},
		{ID: "busy", URL: "https://busy/api", State: balancer.Enabled, Weight: 1},
		{ID: "a-off", URL: "https://a/api", State: balancer.Disabled, Weight: 1},
	}
	ptr := func(s string) *string { return &s }
	two := 2.0
	steps := []ImportStep{
		{Verb: ImportUpdate, ID: "bbb1", Detail: `url https://bbb1-old/api → https://bbb1/api/, weight 1 → 2, tag "" → "big", secret re-sent`,
			Patch: balancer.ServerPatch{URL: ptr("https://bbb1/api/"), Secret: ptr("s1"), Weight: &two, Tag: ptr("big")}},
		{Verb: ImportEnable, ID: "bbb1", Detail: "was cordoned"},
		{Verb: ImportAdd, ID: "new", Detail: "https://new/api, cordoned, weight 1.5, tag small",
			Server: balancer.ServerConfig{ID: "new", URL: "https://new/api", Secret: "s2", Weight: 1.5, Tag: "small", State: balancer.Cordoned}},
		{Verb: ImportUpdate, ID: "same", Detail: "secret re-sent", Patch: balancer.ServerPatch{Secret: ptr("s3")}},
		// A disabled server the file does not enable stays disabled.
		{Verb: ImportUpdate, ID: "drained", Detail: "secret re-sent", Patch: balancer.ServerPatch{Secret: ptr("s4")}},
		{Verb: ImportUpdate, ID: "busy", Detail: "secret re-sent", Patch: balancer.ServerPatch{Secret: ptr("s5")}},
		{Verb: ImportCordon, ID: "busy", Detail: "enabled: false in the file"},
	}
	haveIDs := func() []string {
		var ids []string
		for _, s := range have {
			ids = append(ids, s.ID)
		}
		return ids
	}
	order := haveIDs()

	// keep: servers not in the file are left alone.
	plan := PlanImport(want, have, false)
	if !reflect.DeepEqual(plan, ImportPlan{Steps: steps, Untouched: 2}) {
		t.Errorf("keep: got\n%+v\nwant\n%+v", plan, ImportPlan{Steps: steps, Untouched: 2})
	}
	// cordon: the enabled ones are cordoned, by id; disabled ones stay.
	plan = PlanImport(want, have, true)
	cordon := append(append([]ImportStep(nil), steps...), ImportStep{Verb: ImportCordon, ID: "zz-old", Detail: "not in the file"})
	if !reflect.DeepEqual(plan, ImportPlan{Steps: cordon, Untouched: 1}) {
		t.Errorf("cordon: got\n%+v\nwant\n%+v", plan, ImportPlan{Steps: cordon, Untouched: 1})
	}
	if !reflect.DeepEqual(haveIDs(), order) {
		t.Errorf("planning reordered the caller's servers: %v", haveIDs())
	}

	// What a dry run prints of each step.
	var lines []string
	for _, s := range plan.Steps {
		lines = append(lines, s.String())
	}
	if lines[1] != "enable bbb1: was cordoned" || lines[2] != "add new: https://new/api, cordoned, weight 1.5, tag small" ||
		lines[len(lines)-1] != "cordon zz-old: not in the file" || (ImportStep{Verb: ImportAdd, ID: "x"}).String() != "add x" {
		t.Errorf("lines %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "s1") || strings.Contains(l, "s2") {
			t.Errorf("a line shows a secret: %q", l)
		}
	}

	// An empty pool: every server is added.
	plan = PlanImport(want[:2], nil, true)
	if len(plan.Steps) != 2 || plan.Steps[0].Verb != ImportAdd || plan.Steps[0].Server.State != balancer.Enabled || plan.Untouched != 0 {
		t.Errorf("into an empty pool: %+v", plan)
	}
}
