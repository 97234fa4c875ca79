package dialin

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Defaults are scalelite's (VOICE_BRIDGE_MIN/MAX, the prompt's 3 tries and
// 7 s, its sound files), so a gateway moved from scalelite sounds the same.
const (
	DefaultMinDigits       = 5
	DefaultMaxDigits       = 9
	DefaultTries           = 3
	DefaultDigitTimeout    = 7 * time.Second
	DefaultWelcomePrompt   = "ivr/ivr-welcome.wav"
	DefaultPinPrompt       = "conference/conf-enter_conf_pin.wav"
	DefaultInvalidPrompt   = "conference/conf-bad-pin.wav"
	DefaultCallerIDVisible = 4
	DefaultRealm           = "fsapi"
	DefaultContext         = "public"
	DefaultProfile         = "external"
)

// User is the Basic-auth user name FreeSWITCH must send, scalelite's, so a
// gateway's xml_curl.conf.xml works unchanged.
const User = "fsapi"

// maxBridgeDigits bounds PINs: voice bridges are at most 18 digits (they
// must fit BBB's int64) and a breakout room adds one.
const maxBridgeDigits = 19

// Config is the dial-in endpoint's configuration. The zero value of every
// field but Password means its default.
type Config struct {
	// Password is the Basic-auth password of user "fsapi". Empty means the
	// endpoint is off and answers 404 to everything: scalelite's empty
	// FSAPI_PASSWORD means "no authentication", which would let anyone who
	// finds the URL enumerate voice bridges and the pool's server names.
	Password string
	// Realm is sent in WWW-Authenticate.
	Realm string

	// Context is the FreeSWITCH dialplan context the gateway's calls arrive
	// in; lookups for other contexts get "not found" so the gateway's own
	// static dialplan keeps serving them.
	Context string
	// Profile is the gateway's sofia profile the bridge leaves through.
	Profile string

	// MinDigits and MaxDigits bound the PIN a caller enters. Breakout
	// rooms have one digit more than their parent's voice bridge, so
	// MaxDigits must exceed the pool's voice bridge length for callers to
	// reach them (at the price of pressing # after a parent's PIN).
	MinDigits int
	MaxDigits int
	// Tries is how often play_and_get_digits asks before it gives up, and
	// how many wrong PINs a call may enter before it is hung up.
	Tries int
	// DigitTimeout is how long to wait for the first digit after a prompt
	// and for each further digit.
	DigitTimeout time.Duration
	// MaxDuration, if positive, hangs every call up after that long
	// (sched_hangup), so a forgotten phone does not run up the trunk bill.
	MaxDuration time.Duration

	// Sound files, as FreeSWITCH's playback takes them (relative to its
	// sounds directory, absolute, or phrase:/say: URLs); no whitespace.
	WelcomePrompt string
	PinPrompt     string
	InvalidPrompt string

	// CallerIDVisible is how many trailing digits of a caller's number stay
	// readable for the meeting's participants; the others become X. Never
	// more than half of the digits are shown, so short numbers stay mostly
	// hidden. 0 means the default 4; a negative value masks every digit.
	// scalelite does the opposite (it shows the leading digits and masks the
	// last four), which gives away the area and most of the number.
	CallerIDVisible int
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.Context == "" {
		c.Context = DefaultContext
	}
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
	if c.MinDigits == 0 {
		c.MinDigits = DefaultMinDigits
	}
	if c.MaxDigits == 0 {
		c.MaxDigits = max(DefaultMaxDigits, c.MinDigits)
	}
	if c.Tries == 0 {
		c.Tries = DefaultTries
	}
	if c.DigitTimeout == 0 {
		c.DigitTimeout = DefaultDigitTimeout
	}
	if c.WelcomePrompt == "" {
		c.WelcomePrompt = DefaultWelcomePrompt
	}
	if c.PinPrompt == "" {
		c.PinPrompt = DefaultPinPrompt
	}
	if c.InvalidPrompt == "" {
		c.InvalidPrompt = DefaultInvalidPrompt
	}
	if c.CallerIDVisible == 0 {
		c.CallerIDVisible = DefaultCallerIDVisible
	}
	return c
}

// Validate reports settings that would make FreeSWITCH misread a document:
// every value checked here is written into documents unescaped for
// FreeSWITCH (only XML-escaped), since it comes from the operator.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.MinDigits < 1 || c.MaxDigits < c.MinDigits || c.MaxDigits > maxBridgeDigits {
		errs = append(errs, fmt.Errorf("digits %d %d: want 1 ≤ min ≤ max ≤ %d", c.MinDigits, c.MaxDigits, maxBridgeDigits))
	}
	if c.Tries < 1 {
		errs = append(errs, fmt.Errorf("tries %d: want at least 1", c.Tries))
	}
	if c.DigitTimeout < time.Second {
		errs = append(errs, fmt.Errorf("digit timeout %v: want at least 1s", c.DigitTimeout))
	}
	if c.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("max duration %v: want 0 (none) or more", c.MaxDuration))
	}
	for _, s := range []struct{ what, value string }{
		{"welcome prompt", c.WelcomePrompt},
		{"pin prompt", c.PinPrompt},
		{"invalid prompt", c.InvalidPrompt},
	} {
		if !validSoundName(s.value) {
			errs = append(errs, fmt.Errorf("%s %q: no whitespace, quotes, $ { } \\ < > & or control characters", s.what, s.value))
		}
	}
	if !validToken(c.Context) {
		errs = append(errs, fmt.Errorf("context %q: want letters, digits, _ . -", c.Context))
	}
	if !validToken(c.Profile) {
		errs = append(errs, fmt.Errorf("profile %q: want letters, digits, _ . -", c.Profile))
	}
	if strings.ContainsAny(c.Realm, "\"\\") || strings.ContainsFunc(c.Realm, unicode.IsControl) {
		errs = append(errs, fmt.Errorf("realm %q: no quotes, backslashes or control characters", c.Realm))
	}
	return errors.Join(errs...)
}

// validSoundName accepts what play_and_get_digits can take as one of its
// space-separated arguments without quoting, and nothing FreeSWITCH
// expands.
func validSoundName(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("'\"$\\{}<>&", r) || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// validToken accepts dialplan context and sofia profile names.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '-'
}
