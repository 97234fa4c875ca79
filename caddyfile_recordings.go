package bbbbalance

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// parseRecordings reads the recordings block:
//
//	recordings [<dir>] {
//	    dir <dir>
//	    spool_dir | work_dir | failed_dir | published_dir | unpublished_dir <dir>
//	    public_url <scheme://host>
//	    scan_interval <duration>
//	    settle <duration>
//	    max_size <size>
//	    max_files <n>
//	    import_unpublished
//	    protected
//	    link_ttl <duration>
//	    cookie_ttl <duration>
//	    upload [<max size>]
//	}
//
// protected makes new recordings protected; link_ttl is how long a
// one-time link listed by getRecordings for a protected recording can be
// opened (default 1h), cookie_ttl how long the cookie it sets lets the
// browser load the recording (default 6h).
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

// RecordingsConfig is where recordings arrive, are kept and how they are
// imported. Dir is a root holding spool/, work/, failed/, published/ and
// unpublished/ (like /var/bigbluebutton); each can be set on its own.
type RecordingsConfig struct {
	Dir            string `json:"dir,omitempty"`
	SpoolDir       string `json:"spool_dir,omitempty"`
	WorkDir        string `json:"work_dir,omitempty"`
	FailedDir      string `json:"failed_dir,omitempty"`
	PublishedDir   string `json:"published_dir,omitempty"`
	UnpublishedDir string `json:"unpublished_dir,omitempty"`
	// PublicURL is the scheme and host of playback links in getRecordings
	// (default: those of the request).
	PublicURL string `json:"public_url,omitempty"`
	// ScanInterval of the spool directory, a safety net beside file-system
	// events; default 60s.
	ScanInterval caddy.Duration `json:"scan_interval,omitempty"`
	// Settle is how long a tar must stay unchanged before it is imported;
	// default 5s.
	Settle caddy.Duration `json:"settle,omitempty"`
	// MaxSize and MaxFiles bound one recording's tar.
	MaxSize  int64 `json:"max_size,omitempty"`
	MaxFiles int   `json:"max_files,omitempty"`
	// ImportUnpublished imports new recordings unpublished (scalelite's
	// RECORDING_IMPORT_UNPUBLISHED).
	ImportUnpublished bool `json:"import_unpublished,omitempty"`
	// Protected makes new recordings protected: getRecordings lists
	// one-time links to them, and their files need the cookie a link sets.
	Protected bool `json:"protected,omitempty"`
	// LinkTTL is how long a listed one-time link can be opened (default
	// 1h); CookieTTL how long the cookie it sets is valid (default 6h).
	LinkTTL   caddy.Duration `json:"link_ttl,omitempty"`
	CookieTTL caddy.Duration `json:"cookie_ttl,omitempty"`
	// Upload accepts recordings uploaded by the pool's servers, signed
	// with their own secrets, at POST /bigbluebutton/recording/upload.
	Upload        bool  `json:"upload,omitempty"`
	UploadMaxSize int64 `json:"upload_max_size,omitempty"`
}
