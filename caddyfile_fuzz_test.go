package bbbbalance

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile feeds arbitrary text to the directive: it must
// never panic, and whatever it accepts must survive the trip to JSON and
// back unchanged, because `caddy adapt` turns the Caddyfile into JSON and
// Caddy runs that JSON (a value JSON cannot carry makes the adapter drop
// the whole handler with nothing but a warning).
func FuzzUnmarshalCaddyfile(f *testing.F) {
	f.Add("bbb_balance {\n\tsecret s\n}")
	f.Add(`bbb_balance {
	secret one two
	checksum_algorithms sha1 sha256
	database /tmp/x.sqlite
	timeout 7s
	getmeetings_timeout 2s
	health_interval 10s
	health_timeout 5s
	health_passes 2
	health_fails 3
	load {
		meeting 1
		participant 1
		voice 1.5
		video 4
		new_meeting_size 15
		new_meeting_window 15m
	}
	server bbb1 https://bbb1.example.com/bigbluebutton/api {
		secret s1
		weight 2.5
		tag big
		state cordoned
		algorithm sha512
	}
	server bbb2 http://10.0.0.2/bigbluebutton/api/ {
		secret {env.BBB2_SECRET}
	}
}`)
	f.Add("bbb_balance {\n\tsecret s\n\tserver a {\n\t\tsecret x\n\t}\n}")
	f.Add("bbb_balance { server onlyurl }")
	f.Add("bbb_balance arg {\n}")
	f.Add("bbb_balance {\n\tsecret \"\"\n\tserver a http://a/api {\n\t\tsecret `x y`\n\t\tweight 1e308\n\t}\n}")
	f.Add("bbb_balance {\n\tsecret s\n\tload {\n\t\tparticipant 0\n\t}\n\tload\n}")
	f.Add("bbb_balance <<EOF\nx\nEOF\n")
	f.Fuzz(func(t *testing.T, text string) {
		// NewTestDispenser calls log.Fatal on text the lexer rejects, which
		// would end the fuzzing process; Tokenize reports it instead.
		tokens, err := caddyfile.Tokenize([]byte(text), "Testfile")
		if err != nil {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		raw, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("accepted a config that cannot be adapted to JSON: %v\n%s", err, text)
		}
		var back Handler
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("adapted JSON does not load: %v\n%s", err, raw)
		}
		if !reflect.DeepEqual(h, back) {
			t.Fatalf("JSON round trip changed the config:\n%+v\n%+v", h, back)
		}
		_ = back.validate() // may refuse (an empty secret), must not panic
	})
}
