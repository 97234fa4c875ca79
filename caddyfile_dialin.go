package bbbbalance

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseDialin reads the dialin block (DialinConfig):
//
//	dialin [<path>] {
//	    path </path>
//	    password <password>
//	    ...
//	}
func parseDialin(d *caddyfile.Dispenser, h *Handler) error {
	c := &DialinConfig{}
	if d.NextArg() {
		c.Path = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(1) {
		switch name := d.Val(); name {
		case "path", "password", "realm", "context", "profile":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			*map[string]*string{"path": &c.Path, "password": &c.Password, "realm": &c.Realm, "context": &c.Context, "profile": &c.Profile}[name] = v
		case "digits":
			var lo, hi string
			if !d.AllArgs(&lo, &hi) {
				return d.ArgErr()
			}
			min, err1 := strconv.Atoi(lo)
			max, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || min < 1 || max < min {
				return d.Errf("dialin: digits %s %s: want <min> <max>, 1 ≤ min ≤ max", lo, hi)
			}
			c.MinDigits, c.MaxDigits = min, max
		case "tries":
			if err := parseCount(d, &c.Tries); err != nil {
				return err
			}
		case "digit_timeout":
			if err := parseDuration(d, &c.DigitTimeout); err != nil {
				return err
			}
		case "max_duration":
			if err := parseDuration(d, &c.MaxDuration); err != nil {
				return err
			}
		case "caller_id_visible":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return d.Errf("dialin: caller_id_visible %q is not a whole number (-1: none)", v)
			}
			c.CallerIDVisible = n
		case "prompts":
			if !d.AllArgs(&c.WelcomePrompt, &c.PinPrompt, &c.InvalidPrompt) {
				return d.Errf("dialin: prompts <welcome> <pin> <wrong pin>: three sound files")
			}
		default:
			return d.Errf("dialin: unknown setting %q (want path, password, realm, digits, tries, digit_timeout, max_duration, caller_id_visible, context, profile or prompts)", name)
		}
	}
	h.Dialin = c
	return nil
}
