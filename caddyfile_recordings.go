package bbbbalance

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// parseRecordings reads the recordings block into a RecordingsConfig
// (syntax: Handler.UnmarshalCaddyfile; meanings and defaults: the
// RecordingsConfig fields of the same names).
func parseRecordings(d *caddyfile.Dispenser, h *Handler) error {
	r := &RecordingsConfig{}
	if d.NextArg() {
		r.Dir = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(1) {
		name := d.Val()
		switch name {
		case "dir", "spool_dir", "work_dir", "failed_dir", "published_dir", "unpublished_dir", "public_url":
			into := map[string]*string{"dir": &r.Dir, "spool_dir": &r.SpoolDir, "work_dir": &r.WorkDir,
				"failed_dir": &r.FailedDir, "published_dir": &r.PublishedDir, "unpublished_dir": &r.UnpublishedDir,
				"public_url": &r.PublicURL}[name]
			if !d.AllArgs(into) {
				return d.ArgErr()
			}
		case "scan_interval":
			if err := parseDuration(d, &r.ScanInterval); err != nil {
				return err
			}
		case "settle":
			if err := parseDuration(d, &r.Settle); err != nil {
				return err
			}
		case "link_ttl":
			if err := parseDuration(d, &r.LinkTTL); err != nil {
				return err
			}
		case "cookie_ttl":
			if err := parseDuration(d, &r.CookieTTL); err != nil {
				return err
			}
		case "max_size":
			if err := parseSize(d, &r.MaxSize); err != nil {
				return err
			}
		case "max_files":
			if err := parseCount(d, &r.MaxFiles); err != nil {
				return err
			}
		case "import_unpublished":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.ImportUnpublished = true
		case "protected":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.Protected = true
		case "upload":
			r.Upload = true
			if d.CountRemainingArgs() > 0 {
				if err := parseSize(d, &r.UploadMaxSize); err != nil {
					return err
				}
			}
		case "retention":
			r.Retention = &RetentionConfig{}
			if err := parseRetention(d, &r.Retention.Retention, r.Retention); err != nil {
				return err
			}
		default:
			return d.Errf("recordings: unknown setting %q", name)
		}
	}
	if r.Dir == "" && (r.SpoolDir == "" || r.PublishedDir == "" || r.UnpublishedDir == "") {
		return d.Err("recordings: give a directory (`recordings /var/bigbluebutton`) or spool_dir, published_dir and unpublished_dir")
	}
	h.Recordings = r
	return nil
}

// parseRetention reads a retention block into rule; pool is the
// recordings block's (its run's time and bound), nil in a tenant's.
func parseRetention(d *caddyfile.Dispenser, rule *recordings.Retention, pool *RetentionConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		switch name {
		case "max_age", "unpublished_max_age":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			age, err := recordings.ParseAge(v)
			if err != nil {
				return d.Errf("retention: %s: %v", name, err)
			}
			*map[string]*recordings.Age{"max_age": &rule.MaxAge, "unpublished_max_age": &rule.UnpublishedMaxAge}[name] = age
		case "keep_meta":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			rule.KeepMeta = append(rule.KeepMeta, args...)
		case "at", "max_per_run":
			if pool == nil {
				return d.Errf("retention: %s is the pool's (the recordings block's retention), not a tenant's", name)
			}
			if name == "max_per_run" {
				if err := parseCount(d, &pool.MaxPerRun); err != nil {
					return err
				}
			} else if !d.AllArgs(&pool.At) {
				return d.ArgErr()
			}
		default:
			return d.Errf("retention: unknown setting %q", name)
		}
	}
	if err := rule.Validate(); err != nil {
		return d.Err(err.Error())
	}
	if pool != nil {
		if err := pool.validate(); err != nil {
			return d.Err(err.Error())
		}
	}
	return nil
}

// parseSize reads a byte size such as 20GiB or 500MB.
func parseSize(d *caddyfile.Dispenser, into *int64) error {
	name := d.Val()
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n == 0 || n > 1<<62 {
		return d.Errf("%s: %q is not a size (like 20GiB)", name, v)
	}
	*into = int64(n)
	return nil
}
