package bbbbalance

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/bbb-balance/bbb_balance/dialin"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// The handler's JSON config is the Handler's exported fields (module.go)
// and the types below; servers are balancer.ServerConfig, tenants
// tenants.Config and parameter rules tenants.Params. Every field says what
// it does and its default; a zero (left out) field takes its default.
// Durations are Caddy's: "10s" or nanoseconds. The Caddyfile
// (caddyfile*.go, syntax in Handler.UnmarshalCaddyfile) fills the same
// fields under the same names.

// LoadConfig is the JSON and Caddyfile form of balancer.LoadModel, the
// load formula: a server's load is the sum over its meetings of
//
//	meeting + participant × participants + voice × voice users + video × webcams + reserve
//
// times the server's weight; new meetings go to the lowest. A weight left
// at zero takes its default.
type LoadConfig struct {
	// Meeting is the weight of a meeting itself; default 1.
	Meeting float64 `json:"meeting,omitempty"`
	// Participant is the weight of each participant (moderators
	// included); default 1.
	Participant float64 `json:"participant,omitempty"`
	// Voice is the weight of each voice user, on top of the participant
	// (a FreeSWITCH channel); default 0.5.
	Voice float64 `json:"voice,omitempty"`
	// Video is the weight of each webcam, on top of the participant (a
	// stream sent to every viewer); default 2.
	Video float64 `json:"video,omitempty"`
	// NewMeetingSize is how many participants a new meeting is expected
	// to get when its create gives no maxParticipants (which is capped at
	// 4 × NewMeetingSize): the reserve a new meeting starts with, less
	// those who have joined. Default 15.
	NewMeetingSize float64 `json:"new_meeting_size,omitempty"`
	// NewMeetingWindow is how long a new meeting's reserve takes to fade
	// linearly to nothing; default 15m.
	NewMeetingWindow caddy.Duration `json:"new_meeting_window,omitempty"`
}

// RecordingsConfig is where recordings arrive, are kept and how they are
// imported (the Caddyfile's recordings block). Either Dir, or SpoolDir,
// PublishedDir and UnpublishedDir, must be given.
type RecordingsConfig struct {
	// Dir is the root holding spool/, work/, failed/, published/ and
	// unpublished/ (like /var/bigbluebutton); each can be set on its own
	// below. Default none.
	Dir string `json:"dir,omitempty"`
	// SpoolDir is where the servers' tars arrive (scalelite's
	// RECORDING_SPOOL_DIR); default <dir>/spool.
	SpoolDir string `json:"spool_dir,omitempty"`
	// WorkDir is where tars are extracted, on the same filesystem as the
	// published and unpublished trees; default <dir>/work.
	WorkDir string `json:"work_dir,omitempty"`
	// FailedDir keeps refused tars with a <name>.error file saying why;
	// default <dir>/failed.
	FailedDir string `json:"failed_dir,omitempty"`
	// PublishedDir holds the files of published recordings,
	// <format>/<recordID>/, served as the playback paths (scalelite's
	// RECORDING_PUBLISH_DIR); default <dir>/published.
	PublishedDir string `json:"published_dir,omitempty"`
	// UnpublishedDir holds the files of unpublished recordings, never
	// served (scalelite's RECORDING_UNPUBLISH_DIR); default
	// <dir>/unpublished.
	UnpublishedDir string `json:"unpublished_dir,omitempty"`
	// PublicURL is the scheme and host (http:// or https://) of the
	// playback links in getRecordings and of the callback URLs given to
	// the servers; an https one makes the playback cookies Secure. Default:
	// those of the request.
	PublicURL string `json:"public_url,omitempty"`
	// ScanInterval is how often the spool directory is scanned, a safety
	// net beside file-system events; default 60s.
	ScanInterval caddy.Duration `json:"scan_interval,omitempty"`
	// Settle is how long a tar must stay unchanged before it is imported;
	// default 5s.
	Settle caddy.Duration `json:"settle,omitempty"`
	// MaxSize bounds the bytes of all files of one recording's tar;
	// default 20 GiB (21474836480).
	MaxSize int64 `json:"max_size,omitempty"`
	// MaxFiles bounds the entries (files and directories) of one
	// recording's tar; default 100000.
	MaxFiles int `json:"max_files,omitempty"`
	// ImportUnpublished imports new recordings unpublished (scalelite's
	// RECORDING_IMPORT_UNPUBLISHED); default false.
	ImportUnpublished bool `json:"import_unpublished,omitempty"`
	// Protected makes new recordings protected: getRecordings lists
	// one-time links to them, and their files need the cookie a link sets.
	// Default false (updateRecordings' protect=true protects one).
	Protected bool `json:"protected,omitempty"`
	// LinkTTL is how long a one-time link listed by getRecordings for a
	// protected recording can be opened; default 1h.
	LinkTTL caddy.Duration `json:"link_ttl,omitempty"`
	// CookieTTL is how long the cookie an opened link sets lets the
	// browser load the recording; default 6h.
	CookieTTL caddy.Duration `json:"cookie_ttl,omitempty"`
	// Upload accepts recordings uploaded by the pool's servers, signed
	// with their own secrets, at POST /bigbluebutton/recording/upload;
	// default false (tars arrive in the spool directory only).
	Upload bool `json:"upload,omitempty"`
	// UploadMaxSize bounds one upload's body in bytes; default 16 GiB
	// (17179869184).
	UploadMaxSize int64 `json:"upload_max_size,omitempty"`
	// Retention deletes recordings past an age, once a day; a tenant's
	// own retention (tenants.Config) lays its ages over these and adds its
	// keep rules. Default none: nothing is ever deleted unless configured.
	Retention *RetentionConfig `json:"retention,omitempty"`
}

// RetentionConfig is the pool's retention rule (recordings.Retention:
// max_age, unpublished_max_age, keep_meta) and when it runs.
type RetentionConfig struct {
	recordings.Retention
	// At is the local time of day of the daily run, "HH:MM"; default
	// "03:00".
	At string `json:"at,omitempty"`
	// MaxPerRun bounds the recordings one run deletes, so that a first
	// run over a large library does not keep the disk and the index busy:
	// the rest go the next days (or with `caddy bbb recordings expire`).
	// Default 1000.
	MaxPerRun int `json:"max_per_run,omitempty"`
}

// timeOfDay reads "HH:MM" as the time since midnight.
func (r *RetentionConfig) timeOfDay() (time.Duration, error) {
	if r.At == "" {
		return 0, nil
	}
	t, err := time.Parse("15:04", r.At)
	if err != nil {
		return 0, fmt.Errorf("retention: at %q: want a time of day such as 03:00", r.At)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func (r *RetentionConfig) validate() error {
	if err := r.Retention.Validate(); err != nil {
		return err
	}
	if _, err := r.timeOfDay(); err != nil {
		return err
	}
	if r.MaxPerRun < 0 {
		return fmt.Errorf("retention: max_per_run must not be negative")
	}
	return nil
}

// DialinConfig is the JSON and Caddyfile form of the FreeSWITCH dial-in
// endpoint (package dialin): phone callers reach any meeting of the pool
// by its voice bridge. Zero fields take dialin.Config's defaults.
type DialinConfig struct {
	// Path is where FreeSWITCH's mod_xml_curl posts; default /fsapi
	// (scalelite's).
	Path string `json:"path,omitempty"`
	// Password of the Basic-auth user "fsapi"; required (placeholders
	// such as {env.FSAPI_PASSWORD} are expanded).
	Password string `json:"password,omitempty"`
	// Realm of WWW-Authenticate; default fsapi.
	Realm string `json:"realm,omitempty"`
	// MinDigits and MaxDigits bound the PIN a caller enters; default 5
	// and 9. Breakout rooms have one digit more than their parent.
	MinDigits int `json:"min_digits,omitempty"`
	MaxDigits int `json:"max_digits,omitempty"`
	// Tries: prompts per collection, and wrong PINs per call; default 3.
	Tries int `json:"tries,omitempty"`
	// DigitTimeout waits for each digit; default 7s.
	DigitTimeout caddy.Duration `json:"digit_timeout,omitempty"`
	// MaxDuration hangs every call up after that long; default never.
	MaxDuration caddy.Duration `json:"max_duration,omitempty"`
	// CallerIDVisible: trailing digits of a caller's number left
	// readable; default 4, negative: none.
	CallerIDVisible int `json:"caller_id_visible,omitempty"`
	// Context is the gateway's dialplan context of incoming calls;
	// default public.
	Context string `json:"context,omitempty"`
	// Profile is the gateway's sofia profile towards the BBB servers;
	// default external.
	Profile string `json:"profile,omitempty"`
	// Sound files: the welcome, the PIN prompt and the wrong-PIN prompt;
	// defaults scalelite's.
	WelcomePrompt string `json:"welcome_prompt,omitempty"`
	PinPrompt     string `json:"pin_prompt,omitempty"`
	InvalidPrompt string `json:"invalid_prompt,omitempty"`
}

// DefaultDialinPath is scalelite's path of the dial-in endpoint.
const DefaultDialinPath = "/fsapi"

func (c *DialinConfig) config() dialin.Config {
	return dialin.Config{
		Password: c.Password, Realm: c.Realm, Context: c.Context, Profile: c.Profile,
		MinDigits: c.MinDigits, MaxDigits: c.MaxDigits, Tries: c.Tries,
		DigitTimeout: time.Duration(c.DigitTimeout), MaxDuration: time.Duration(c.MaxDuration),
		WelcomePrompt: c.WelcomePrompt, PinPrompt: c.PinPrompt, InvalidPrompt: c.InvalidPrompt,
		CallerIDVisible: c.CallerIDVisible,
	}
}
