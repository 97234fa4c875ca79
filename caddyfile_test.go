package bbbbalance

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/bbb-balance/bbb_balance/balancer"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`bbb_balance {
		secret one two
		secret three
		checksum_algorithms sha256 SHA512
		database /var/lib/bbb.sqlite
		timeout 7s
		getmeetings_timeout 2s
		getmeetings_max_age 3s
		fail_duration 30s
		max_fails 3
		unhealthy_status 5xx 429
		unhealthy_latency 2s
		server bbb1 https://bbb1.example.com/bigbluebutton/api {
			secret s1
			weight 2.5
			tag big
			state cordoned
			algorithm sha1
		}
		server bbb2 https://bbb2.example.com/bigbluebutton/api/ {
			secret {env.BBB2_SECRET}
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.Secrets, ","); got != "one,two,three" {
		t.Errorf("secrets = %s", got)
	}
	if got := strings.Join(h.ChecksumAlgorithms, ","); got != "sha256,SHA512" {
		t.Errorf("algorithms = %s", got)
	}
	if h.Database != "/var/lib/bbb.sqlite" || time.Duration(h.Timeout) != 7*time.Second || time.Duration(h.GetMeetingsTimeout) != 2*time.Second {
		t.Errorf("database %q timeout %v getmeetings_timeout %v", h.Database, h.Timeout, h.GetMeetingsTimeout)
	}
	if time.Duration(h.GetMeetingsMaxAge) != 3*time.Second {
		t.Errorf("getmeetings_max_age %v", h.GetMeetingsMaxAge)
	}
	if time.Duration(h.FailDuration) != 30*time.Second || h.MaxFails != 3 || fmt.Sprint(h.UnhealthyStatus) != "[5 429]" || time.Duration(h.UnhealthyLatency) != 2*time.Second {
		t.Errorf("passive health: %v %d %v %v", h.FailDuration, h.MaxFails, h.UnhealthyStatus, h.UnhealthyLatency)
	}
	for _, bad := range []string{"unhealthy_status 6xx", "unhealthy_status 99", "unhealthy_status", "max_fails -1", "fail_duration soon"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("bbb_balance {\n secret s\n " + bad + "\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for arg, want := range map[string]caddy.Duration{"off": -1, "0": -1, "250ms": caddy.Duration(250 * time.Millisecond)} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("bbb_balance {\n secret s\n getmeetings_max_age " + arg + "\n}")); err != nil || h.GetMeetingsMaxAge != want {
			t.Errorf("getmeetings_max_age %s: %v %v, want %v", arg, h.GetMeetingsMaxAge, err, want)
		}
	}
	for _, bad := range []string{"", "-1s", "soon", "1s 2s"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("bbb_balance {\n secret s\n getmeetings_max_age " + bad + "\n}")); err == nil {
			t.Errorf("getmeetings_max_age %q accepted", bad)
		}
	}
	want := []balancer.ServerConfig{
		{ID: "bbb1", URL: "https://bbb1.example.com/bigbluebutton/api", Secret: "s1", Weight: 2.5, Tag: "big", State: balancer.Cordoned, Algorithm: "sha1"},
		{ID: "bbb2", URL: "https://bbb2.example.com/bigbluebutton/api/", Secret: "{env.BBB2_SECRET}"},
	}
	if len(h.Servers) != 2 || h.Servers[0] != want[0] || h.Servers[1] != want[1] {
		t.Errorf("servers = %+v", h.Servers)
	}
}

// Every mistake names its problem and the line it is on.
func TestUnmarshalRetention(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`bbb_balance {
		secret s
		recordings /r {
			retention {
				max_age 365d
				unpublished_max_age 30d
				keep_meta bbb-retain=true meta_course=law-%
				keep_meta archive=yes
				at 02:30
				max_per_run 500
			}
		}
		tenant school-a {
			secret a
			retention {
				max_age off
			}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.Recordings.Retention)
	if want := `{"max_age":"365d","unpublished_max_age":"30d","keep_meta":["bbb-retain=true","meta_course=law-%","archive=yes"],"at":"02:30","max_per_run":500}`; string(got) != want {
		t.Errorf("recordings' retention\n%s\nwant\n%s", got, want)
	}
	got, _ = json.Marshal(h.Tenants[0].Retention)
	if want := `{"max_age":"off"}`; string(got) != want {
		t.Errorf("tenant's retention %s, want %s", got, want)
	}
	st := h.Recordings.settings().importer.retention
	if st.at != 2*time.Hour+30*time.Minute || st.maxPerRun != 500 {
		t.Errorf("settings %+v", st)
	}
}

func TestUnmarshalVoiceBridgeAndDialin(t *testing.T) {
	d := caddyfile.NewTestDispenser(`bbb_balance {
		secret s
		database postgres://bbb@db/bbb?sslmode=require
		voice_bridge {
			length 7
			external
		}
		dialin /phone {
			password {env.FSAPI_PASSWORD}
			realm bbb.example.com
			digits 5 8
			tries 2
			digit_timeout 5s
			max_duration 4h
			caller_id_visible -1
			context inbound
			profile trunk
			prompts hello.wav pin.wav bad.wav
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Database != "postgres://bbb@db/bbb?sslmode=require" {
		t.Errorf("database %q", h.Database)
	}
	if v := h.VoiceBridge; v == nil || v.Length != 7 || !v.External {
		t.Errorf("voice_bridge %+v", v)
	}
	want := DialinConfig{Path: "/phone", Password: "{env.FSAPI_PASSWORD}", Realm: "bbb.example.com", MinDigits: 5, MaxDigits: 8,
		Tries: 2, DigitTimeout: caddy.Duration(5 * time.Second), MaxDuration: caddy.Duration(4 * time.Hour), CallerIDVisible: -1,
		Context: "inbound", Profile: "trunk", WelcomePrompt: "hello.wav", PinPrompt: "pin.wav", InvalidPrompt: "bad.wav"}
	if h.Dialin == nil || *h.Dialin != want {
		t.Errorf("dialin %+v, want %+v", h.Dialin, want)
	}
	if err := h.Dialin.config().Validate(); err != nil {
		t.Errorf("the dialin settings do not validate: %v", err)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := map[string]struct{ input, want string }{
		"no secret":             {"bbb_balance {\n database x\n}", "at least one `secret`"},
		"empty secret line":     {"bbb_balance {\n secret\n}", "Testfile:2"},
		"unknown algorithm":     {"bbb_balance {\n secret s\n checksum_algorithms sha1 md5\n}", `checksum_algorithms: unknown checksum algorithm "md5" (want sha1, sha256, sha384 or sha512), at Testfile:3`},
		"server without url":    {"bbb_balance {\n secret s\n server bbb1 {\n  secret x\n }\n}", "server bbb1: no API URL"},
		"server without secret": {"bbb_balance {\n secret s\n server bbb1 https://bbb1/bigbluebutton/api {\n  weight 1\n }\n}", "server bbb1: no secret"},
		"bad url":               {"bbb_balance {\n secret s\n server bbb1 ftp://bbb1/api {\n  secret x\n }\n}", `is not an http(s) URL`},
		"duplicate id":          {"bbb_balance {\n secret s\n server a http://a/api {\n  secret x\n }\n server a http://b/api {\n  secret y\n }\n}", "server a is declared twice, at Testfile:6"},
		"bad weight":            {"bbb_balance {\n secret s\n server a http://a/api {\n  secret x\n  weight -1\n }\n}", `server a: weight "-1" is not a positive number, at Testfile:5`},
		"bad state":             {"bbb_balance {\n secret s\n server a http://a/api {\n  secret x\n  state gone\n }\n}", `unknown server state "gone"`},
		"server algorithm":      {"bbb_balance {\n secret s\n server a http://a/api {\n  secret x\n  algorithm sha3\n }\n}", `unknown checksum algorithm "sha3"`},
		"unknown setting":       {"bbb_balance {\n secret s\n colour blue\n}", `unknown subdirective "colour", at Testfile:3`},
		"bad duration":          {"bbb_balance {\n secret s\n timeout soon\n}", `timeout: "soon" is not a positive duration`},
		"recordings no dir":     {"bbb_balance {\n secret s\n recordings {\n  settle 1s\n }\n}", "recordings: give a directory"},
		"recordings bad size":   {"bbb_balance {\n secret s\n recordings /r {\n  max_size lots\n }\n}", `max_size: "lots" is not a size (like 20GiB), at Testfile:4`},
		"tenant no secret":      {"bbb_balance {\n secret s\n tenant a {\n  host a.example\n }\n}", "tenant a: no secret, at Testfile:5"},
		"tenant bad name":       {"bbb_balance {\n secret s\n tenant School_A {\n  secret x\n }\n}", `tenant "School_A": a name is lower-case`},
		"tenant twice":          {"bbb_balance {\n secret s\n tenant a {\n  secret x\n }\n tenant a {\n  secret y\n }\n}", "tenant a is declared twice, at Testfile:8"},
		"bad param rule":        {"bbb_balance {\n secret s\n create {\n  force record true\n }\n}", `create: unknown rule "force" (want default, override or exclude), at Testfile:4`},
		"default without value": {"bbb_balance {\n secret s\n join {\n  default x\n }\n}", "join: want `default <param> <value>`, at Testfile:4"},
		"bad max_duration":      {"bbb_balance {\n secret s\n max_duration 1h\n}", `max_duration: "1h" is not a whole number of minutes`},
		"nan weight":            {"bbb_balance {\n secret s\n server a http://a/api {\n  secret x\n  weight NaN\n }\n}", `weight "NaN" is not a positive number`},
		"inf load":              {"bbb_balance {\n secret s\n load {\n  participant +Inf\n }\n}", `participant "+Inf" is not a number of at least 0`},
		"recordings unknown":    {"bbb_balance {\n secret s\n recordings /r {\n  colour blue\n }\n}", `recordings: unknown setting "colour", at Testfile:4`},
		"short voice bridge":    {"bbb_balance {\n secret s\n voice_bridge {\n  length 4\n }\n}", `voice_bridge: length "4": want 5 to 18 digits, at Testfile:4`},
		"bad external":          {"bbb_balance {\n secret s\n voice_bridge {\n  external maybe\n }\n}", `voice_bridge: external "maybe": want true or false`},
		"dialin digits":         {"bbb_balance {\n secret s\n dialin {\n  digits 9 5\n }\n}", `dialin: digits 9 5: want <min> <max>`},
		"dialin prompts":        {"bbb_balance {\n secret s\n dialin {\n  prompts a.wav b.wav\n }\n}", `dialin: prompts <welcome> <pin> <wrong pin>`},
		"dialin unknown":        {"bbb_balance {\n secret s\n dialin {\n  pin 1234\n }\n}", `dialin: unknown setting "pin"`},
		"retention bad age":     {"bbb_balance {\n secret s\n recordings /r {\n  retention {\n   max_age 1y\n  }\n }\n}", `retention: max_age: age "1y": want a duration such as 365d, 36h or off, at Testfile:5`},
		"retention bad keep":    {"bbb_balance {\n secret s\n recordings /r {\n  retention {\n   keep_meta retain\n  }\n }\n}", `keep_meta "retain": want <key>=<value>`},
		"retention bad at":      {"bbb_balance {\n secret s\n recordings /r {\n  retention {\n   at 25:00\n  }\n }\n}", `retention: at "25:00": want a time of day such as 03:00`},
		"tenant retention at":   {"bbb_balance {\n secret s\n tenant a {\n  secret x\n  retention {\n   at 03:00\n  }\n }\n}", `retention: at is the pool's`},
	}
	for name, c := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

// The JSON form is checked too, since it does not go through the Caddyfile.
func TestValidateJSONConfig(t *testing.T) {
	cases := map[string]struct {
		h    Handler
		want string
	}{
		"no secret":        {Handler{}, "no secret"},
		"empty env":        {Handler{Secrets: []string{""}}, "a secret is empty"},
		"bad algorithm":    {Handler{Secrets: []string{"s"}, ChecksumAlgorithms: []string{"crc32"}}, "unknown checksum algorithm"},
		"server no url":    {Handler{Secrets: []string{"s"}, Servers: []balancer.ServerConfig{{ID: "a", Secret: "x"}}}, "server a: no API URL"},
		"server no secret": {Handler{Secrets: []string{"s"}, Servers: []balancer.ServerConfig{{ID: "a", URL: "http://a/api"}}}, "server a: no secret"},
		"duplicate": {Handler{Secrets: []string{"s"}, Servers: []balancer.ServerConfig{
			{ID: "a", URL: "http://a/api", Secret: "x"}, {ID: "a", URL: "http://b/api", Secret: "y"}}}, "server a is declared twice"},
		"recordings no dir":  {Handler{Secrets: []string{"s"}, Recordings: &RecordingsConfig{SpoolDir: "/s"}}, "recordings: give dir"},
		"recordings bad url": {Handler{Secrets: []string{"s"}, Recordings: &RecordingsConfig{Dir: "/r", PublicURL: "bbb.example.com"}}, "must start with https://"},
		"dialin no password": {Handler{Secrets: []string{"s"}, Dialin: &DialinConfig{}}, "dialin needs a password"},
		"dialin bad path":    {Handler{Secrets: []string{"s"}, Dialin: &DialinConfig{Password: "p", Path: "fsapi"}}, `dialin path "fsapi" must start with /`},
		"dialin bad digits":  {Handler{Secrets: []string{"s"}, Dialin: &DialinConfig{Password: "p", MinDigits: 9, MaxDigits: 5}}, "dialin: digits 9 5"},
		"voice bridge long":  {Handler{Secrets: []string{"s"}, VoiceBridge: &balancer.VoiceBridgePolicy{Length: 19}}, "voice_bridge length 19"},
	}
	for name, c := range cases {
		if err := c.h.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

var updateGolden = flag.Bool("update", false, "rewrite the JSON of the Caddyfile golden files")

func adaptForGolden(t *testing.T, caddyfileText string) string {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Golden files (regenerate with go test -run TestCaddyfileAdapt -update): a Caddyfile, a line of dashes, and the JSON it adapts to.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddytest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		caddyfileText, jsonText, ok := strings.Cut(string(data), "\n----------\n")
		if !ok {
			t.Fatalf("%s: no ---------- separator", f)
		}
		caddyfileText += "\n"
		if *updateGolden {
			jsonText = adaptForGolden(t, caddyfileText)
			if err := os.WriteFile(f, []byte(caddyfileText+"----------\n"+jsonText), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if !caddytest.CompareAdapt(t, f, caddyfileText, "caddyfile", jsonText) {
			t.Errorf("%s: adapted JSON differs", f)
		}
	}
}

// The example Caddyfiles are what users copy: each must adapt.
func TestExampleCaddyfilesAdapt(t *testing.T) {
	files, err := filepath.Glob("examples/Caddyfile*")
	if err != nil || len(files) < 3 {
		t.Fatalf("example Caddyfiles: %v %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": f}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
