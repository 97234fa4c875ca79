package bbbbalance

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bbb-balance/bbb_balance/recordings"
	"github.com/bbb-balance/bbb_balance/tenants"
)

// parseTenant reads a tenant block into a tenants.Config (syntax:
// Handler.UnmarshalCaddyfile).
func parseTenant(d *caddyfile.Dispenser) (tenants.Config, error) {
	var t tenants.Config
	if !d.Args(&t.Name) {
		return t, d.Errf("tenant: want `tenant <name> { secret <secret> }`")
	}
	if !tenants.ValidName(t.Name) {
		return t, d.Errf("tenant %q: a name is lower-case letters, digits and inner dashes (a DNS label)", t.Name)
	}
	if d.NextArg() {
		return t, d.ArgErr()
	}
	for d.NextBlock(1) {
		name := d.Val()
		switch name {
		case "secret", "host":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return t, d.ArgErr()
			}
			if name == "secret" {
				t.Secrets = append(t.Secrets, args...)
			} else {
				t.Hosts = append(t.Hosts, args...)
			}
		case "path_prefix", "tag":
			into := &t.PathPrefix
			if name == "tag" {
				into = &t.Tag
			}
			if !d.AllArgs(into) {
				return t, d.ArgErr()
			}
		case "max_meetings", "max_attendees":
			into := map[string]*int{"max_meetings": &t.MaxMeetings, "max_attendees": &t.MaxAttendees}[name]
			if err := parseCount(d, into); err != nil {
				return t, err
			}
		case "max_duration":
			if err := parseMinutes(d, &t.MaxDuration); err != nil {
				return t, err
			}
		case "create", "join":
			p, err := parseParams(d)
			if err != nil {
				return t, err
			}
			if name == "create" {
				t.Create = p
			} else {
				t.Join = p
			}
		case "retention":
			t.Retention = &recordings.Retention{}
			if err := parseRetention(d, t.Retention, nil); err != nil {
				return t, err
			}
		default:
			return t, d.Errf("tenant %s: unknown setting %q", t.Name, name)
		}
	}
	if len(t.Secrets) == 0 {
		return t, d.Errf("tenant %s: no secret", t.Name)
	}
	return t, nil
}

// parseParams reads the parameter rules of a create or join block
// (syntax: Handler.UnmarshalCaddyfile).
func parseParams(d *caddyfile.Dispenser) (*tenants.Params, error) {
	call := d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	p := &tenants.Params{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch rule := d.Val(); rule {
		case "default", "override":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return nil, d.Errf("%s: want `%s <param> <value>`", call, rule)
			}
			if rule == "default" {
				p.Defaults = append(p.Defaults, tenants.Param{Name: name, Value: value})
			} else {
				p.Overrides = append(p.Overrides, tenants.Param{Name: name, Value: value})
			}
		case "exclude":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			p.Exclude = append(p.Exclude, args...)
		default:
			return nil, d.Errf("%s: unknown rule %q (want default, override or exclude)", call, rule)
		}
	}
	return p, nil
}

// parseMinutes reads a whole number of minutes.
func parseMinutes(d *caddyfile.Dispenser, into *int) error {
	return parseWhole(d, into, "a whole number of minutes")
}
