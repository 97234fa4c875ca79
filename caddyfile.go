package bbbbalance

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("bbb_balance", parseCaddyfile)
	// Before respond, so a site's `respond` fallback cannot swallow the API.
	httpcaddyfile.RegisterDirectiveOrder("bbb_balance", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var b Handler
	err := b.UnmarshalCaddyfile(h.Dispenser)
	return &b, err
}

// UnmarshalCaddyfile reads the bbb_balance directive, whose whole syntax
// is this (README's Caddyfile section repeats it with comments, and
// TestCaddyfileSyntaxDocumented keeps both in step with the parser):
//
//	bbb_balance {
//	    secret <secret> [<secret>...]
//	    checksum_algorithms sha1 sha256 sha384 sha512
//	    database <path>|sqlite://<path>|postgres://<url>
//	    timeout <duration>
//	    getmeetings_timeout <duration>
//	    getmeetings_max_age <duration>|off
//	    fail_duration <duration>|off
//	    max_fails <n>
//	    unhealthy_status <code|class>...
//	    unhealthy_latency <duration>
//	    health_interval <duration>
//	    health_timeout <duration>
//	    health_passes <n>
//	    health_fails <n>
//	    load {
//	        meeting <weight>
//	        participant <weight>
//	        voice <weight>
//	        video <weight>
//	        new_meeting_size <seats>
//	        new_meeting_window <duration>
//	    }
//	    voice_bridge {
//	        length <digits>
//	        external [true|false]
//	    }
//	    dialin [<path>] {
//	        path </path>
//	        password <password>
//	        realm <realm>
//	        digits <min> <max>
//	        tries <n>
//	        digit_timeout <duration>
//	        max_duration <duration>
//	        caller_id_visible <n>
//	        context <name>
//	        profile <name>
//	        prompts <welcome> <pin> <wrong pin>
//	    }
//	    recordings [<dir>] {
//	        dir <dir>
//	        spool_dir|work_dir|failed_dir|published_dir|unpublished_dir <dir>
//	        public_url <scheme://host>
//	        scan_interval <duration>
//	        settle <duration>
//	        max_size <size>
//	        max_files <n>
//	        import_unpublished
//	        protected
//	        link_ttl <duration>
//	        cookie_ttl <duration>
//	        upload [<max size>]
//	        retention {
//	            max_age <age>|off
//	            unpublished_max_age <age>|off
//	            keep_meta <key>=<value> [<key>=<value>...]
//	            at <HH:MM>
//	            max_per_run <n>
//	        }
//	    }
//	    create|join {
//	        default <param> <value>
//	        override <param> <value>
//	        exclude <param> [<param>...]
//	    }
//	    max_duration <minutes>
//	    tenant <name> {
//	        secret <secret> [<secret>...]
//	        host <host> [<host>...]
//	        path_prefix </prefix>
//	        tag <tag>
//	        max_meetings <n>
//	        max_attendees <n>
//	        max_duration <minutes>
//	        create { ... }
//	        join { ... }
//	        retention {
//	            max_age <age>|off
//	            unpublished_max_age <age>|off
//	            keep_meta <key>=<value> [<key>=<value>...]
//	        }
//	    }
//	    server <id> <api-url> {
//	        secret <secret>
//	        algorithm sha1|sha256|sha384|sha512
//	        weight <float>
//	        tag <tag>
//	        state enabled|cordoned|disabled
//	    }
//	}
//
// Each setting fills the JSON field of the same name (Handler, LoadConfig,
// RecordingsConfig, RetentionConfig, recordings.Retention,
// balancer.ServerConfig, tenants.Config, tenants.Params),
// whose doc says what it does and its default, except that a repeatable
// setting fills the plural (secret: secrets, but a server's one secret is
// secret; host: hosts; tenant: tenants; server: servers, its <id> and
// <api-url> id and url; default and override: defaults and overrides),
// recordings' <dir> is dir, upload's <max size> is upload_max_size,
// keep_meta fills keep_meta's list, and "off" is the JSON's -1 (an <age>
// is "off" in JSON too; otherwise a number of days such as 365d, or a
// duration such as 36h). Mistakes are reported with the file and line
// they are on.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		switch d.Val() {
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("secret: want at least one secret")
			}
			h.Secrets = append(h.Secrets, args...)
		case "checksum_algorithms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := bbb.ParseAlgorithm(a); err != nil {
					return d.Errf("checksum_algorithms: %v", err)
				}
			}
			h.ChecksumAlgorithms = append(h.ChecksumAlgorithms, args...)
		case "database":
			if !d.AllArgs(&h.Database) {
				return d.ArgErr()
			}
		case "timeout":
			if err := parseDuration(d, &h.Timeout); err != nil {
				return err
			}
		case "getmeetings_timeout":
			if err := parseDuration(d, &h.GetMeetingsTimeout); err != nil {
				return err
			}
		case "getmeetings_max_age":
			if err := parseDurationOrOff(d, &h.GetMeetingsMaxAge); err != nil {
				return err
			}
		case "health_interval":
			if err := parseDuration(d, &h.HealthInterval); err != nil {
				return err
			}
		case "health_timeout":
			if err := parseDuration(d, &h.HealthTimeout); err != nil {
				return err
			}
		case "health_passes":
			if err := parseCount(d, &h.HealthPasses); err != nil {
				return err
			}
		case "health_fails":
			if err := parseCount(d, &h.HealthFails); err != nil {
				return err
			}
		case "fail_duration":
			if err := parseDurationOrOff(d, &h.FailDuration); err != nil {
				return err
			}
		case "max_fails":
			if err := parseCount(d, &h.MaxFails); err != nil {
				return err
			}
		case "unhealthy_status":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				code, err := parseStatus(a)
				if err != nil {
					return d.Errf("unhealthy_status: %v", err)
				}
				h.UnhealthyStatus = append(h.UnhealthyStatus, code)
			}
		case "unhealthy_latency":
			if err := parseDuration(d, &h.UnhealthyLatency); err != nil {
				return err
			}
		case "load":
			if err := parseLoad(d, h); err != nil {
				return err
			}
		case "voice_bridge":
			if err := parseVoiceBridge(d, h); err != nil {
				return err
			}
		case "dialin":
			if err := parseDialin(d, h); err != nil {
				return err
			}
		case "recordings":
			if err := parseRecordings(d, h); err != nil {
				return err
			}
		case "create", "join":
			call := d.Val()
			p, err := parseParams(d)
			if err != nil {
				return err
			}
			if call == "create" {
				h.Create = p
			} else {
				h.Join = p
			}
		case "max_duration":
			if err := parseMinutes(d, &h.MaxDuration); err != nil {
				return err
			}
		case "tenant":
			t, err := parseTenant(d)
			if err != nil {
				return err
			}
			for _, other := range h.Tenants {
				if other.Name == t.Name {
					return d.Errf("tenant %s is declared twice", t.Name)
				}
			}
			h.Tenants = append(h.Tenants, t)
		case "server":
			s, err := parseServer(d, seen)
			if err != nil {
				return err
			}
			h.Servers = append(h.Servers, s)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	if len(h.Secrets) == 0 {
		return d.Err("bbb_balance needs at least one `secret` for the front-ends")
	}
	return nil
}

func parseServer(d *caddyfile.Dispenser, seen map[string]bool) (balancer.ServerConfig, error) {
	var s balancer.ServerConfig
	line := d.Line()
	if !d.Args(&s.ID) {
		return s, d.Errf("server: want `server <id> <api-url> { secret <secret> }`")
	}
	if seen[s.ID] {
		return s, d.Errf("server %s is declared twice", s.ID)
	}
	seen[s.ID] = true
	if !d.NextArg() || d.Val() == "{" {
		return s, d.Errf("server %s: no API URL (want `server %s https://bbb.example.com/bigbluebutton/api {...}`)", s.ID, s.ID)
	}
	s.URL = d.Val()
	if d.NextArg() {
		return s, d.Errf("server %s: unexpected %q after the URL", s.ID, d.Val())
	}
	for d.NextBlock(1) {
		switch d.Val() {
		case "secret":
			if !d.AllArgs(&s.Secret) {
				return s, d.ArgErr()
			}
		case "algorithm":
			var a string
			if !d.AllArgs(&a) {
				return s, d.ArgErr()
			}
			alg, err := bbb.ParseAlgorithm(a)
			if err != nil {
				return s, d.Errf("server %s: %v", s.ID, err)
			}
			s.Algorithm = alg
		case "weight":
			var w string
			if !d.AllArgs(&w) {
				return s, d.ArgErr()
			}
			f, err := strconv.ParseFloat(w, 64)
			if err != nil || !(f > 0) || math.IsInf(f, 0) {
				return s, d.Errf("server %s: weight %q is not a positive number", s.ID, w)
			}
			s.Weight = f
		case "tag":
			if !d.AllArgs(&s.Tag) {
				return s, d.ArgErr()
			}
		case "state":
			var st string
			if !d.AllArgs(&st) {
				return s, d.ArgErr()
			}
			state, err := balancer.ParseState(st)
			if err != nil {
				return s, d.Errf("server %s: %v", s.ID, err)
			}
			s.State = state
		default:
			return s, d.Errf("server %s: unknown setting %q", s.ID, d.Val())
		}
	}
	// Check the rest (URL form, secret present) against a copy, so the
	// adapted JSON keeps only what the user wrote.
	check := s
	if err := check.Normalize(); err != nil {
		return s, d.Errf("%v (server block at line %d)", err, line)
	}
	return s, nil
}

func parseCount(d *caddyfile.Dispenser, into *int) error {
	return parseWhole(d, into, "a whole number of at least 1")
}

// parseWhole reads a whole number of at least 1; what names it in the
// error ("a whole number of minutes").
func parseWhole(d *caddyfile.Dispenser, into *int, what string) error {
	name := d.Val()
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return d.Errf("%s: %q is not %s", name, v, what)
	}
	*into = n
	return nil
}

func parseVoiceBridge(d *caddyfile.Dispenser, h *Handler) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	v := &balancer.VoiceBridgePolicy{}
	for d.NextBlock(1) {
		switch name := d.Val(); name {
		case "length":
			var n string
			if !d.AllArgs(&n) {
				return d.ArgErr()
			}
			l, err := strconv.Atoi(n)
			if err != nil || l < balancer.MinVoiceBridgeLength || l > balancer.MaxVoiceBridgeLength {
				return d.Errf("voice_bridge: length %q: want %d to %d digits", n, balancer.MinVoiceBridgeLength, balancer.MaxVoiceBridgeLength)
			}
			v.Length = l
		case "external":
			v.External = true
			if d.NextArg() {
				b, err := strconv.ParseBool(d.Val())
				if err != nil {
					return d.Errf("voice_bridge: external %q: want true or false", d.Val())
				}
				v.External = b
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("voice_bridge: unknown setting %q (want length or external)", name)
		}
	}
	h.VoiceBridge = v
	return nil
}

func parseLoad(d *caddyfile.Dispenser, h *Handler) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	l := &LoadConfig{}
	for d.NextBlock(1) {
		name := d.Val()
		var into *float64
		switch name {
		case "new_meeting_window":
			if err := parseDuration(d, &l.NewMeetingWindow); err != nil {
				return err
			}
			continue
		case "meeting":
			into = &l.Meeting
		case "participant":
			into = &l.Participant
		case "voice":
			into = &l.Voice
		case "video":
			into = &l.Video
		case "new_meeting_size":
			into = &l.NewMeetingSize
		default:
			return d.Errf("load: unknown setting %q (want meeting, participant, voice, video, new_meeting_size or new_meeting_window)", name)
		}
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			return d.Errf("load: %s %q is not a number of at least 0", name, v)
		}
		*into = f
	}
	h.Load = l
	return nil
}

func parseDuration(d *caddyfile.Dispenser, into *caddy.Duration) error {
	name := d.Val()
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return d.Errf("%s: %q is not a positive duration", name, v)
	}
	*into = caddy.Duration(dur)
	return nil
}

// parseDurationOrOff reads a positive duration, or "off" (or 0), kept as
// -1: the JSON form's way to turn off a setting whose zero is its default.
func parseDurationOrOff(d *caddyfile.Dispenser, into *caddy.Duration) error {
	name := d.Val()
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	if v == "off" || v == "0" {
		*into = -1
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return d.Errf("%s: %q is not a positive duration or off", name, v)
	}
	*into = caddy.Duration(dur)
	return nil
}

// parseStatus reads an HTTP status, or a class such as 5xx, kept as 5 (as
// reverse_proxy's unhealthy_status does).
func parseStatus(v string) (int, error) {
	if len(v) == 3 && strings.HasSuffix(v, "xx") && v[0] >= '1' && v[0] <= '5' {
		return int(v[0] - '0'), nil
	}
	code, err := strconv.Atoi(v)
	if err != nil || code < 100 || code > 599 {
		return 0, fmt.Errorf("%q is not an HTTP status or class (such as 5xx)", v)
	}
	return code, nil
}

var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
