package dialin

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Form fields of mod_xml_curl's POST: its own (section, ...) and the
// channel's event headers, the caller profile's as Caller-*, channel
// variables as variable_*.
const (
	fieldSection         = "section"
	fieldDestination     = "Caller-Destination-Number"
	fieldHuntDestination = "Hunt-Destination-Number"
	fieldContext         = "Caller-Context"
	fieldHuntContext     = "Hunt-Context"
	fieldCallerName      = "Caller-Caller-ID-Name"
	fieldCallerNumber    = "Caller-Caller-ID-Number"
	fieldHideName        = "Caller-Privacy-Hide-Name"
	fieldHideNumber      = "Caller-Privacy-Hide-Number"
	fieldPrivacy         = "variable_privacy"
	fieldPin             = "variable_" + pinVariable
	fieldFailedPins      = "variable_" + failedPinsVariable
)

// Channel variables the documents set and later lookups read back.
const (
	pinVariable        = "pin"
	failedPinsVariable = "dialin_failed_pins"
)

// unavailable stands for a hidden or unknown caller, scalelite's word.
const unavailable = "Unavailable"

// call is what one lookup says about the call.
type call struct {
	section     string
	destination string
	context     string
	pin         string
	failedPins  int
	caller      callerID
}

type callerID struct {
	name, number         string
	hideName, hideNumber bool
}

// The fields parseCall reads, as indexes into its array.
const (
	iSection = iota
	iDestination
	iHuntDestination
	iContext
	iHuntContext
	iCallerName
	iCallerNumber
	iHideName
	iHideNumber
	iPrivacy
	iPin
	iFailedPins
	numFields
)

var fieldIndex = map[string]int{
	fieldSection:         iSection,
	fieldDestination:     iDestination,
	fieldHuntDestination: iHuntDestination,
	fieldContext:         iContext,
	fieldHuntContext:     iHuntContext,
	fieldCallerName:      iCallerName,
	fieldCallerNumber:    iCallerNumber,
	fieldHideName:        iHideName,
	fieldHideNumber:      iHideNumber,
	fieldPrivacy:         iPrivacy,
	fieldPin:             iPin,
	fieldFailedPins:      iFailedPins,
}

var errSemicolon = errors.New("invalid semicolon separator in form")

// parseCall reads a urlencoded mod_xml_curl body. It decodes only the
// dozen fields it needs (the first of each, as url.Values.Get) instead of
// building url.Values of every channel variable, which was most of a
// request's CPU time; like url.ParseQuery it refuses `;` separators and
// bad escapes, but only in the fields it reads.
func parseCall(body string) (call, error) {
	var f [numFields]string
	var seen [numFields]bool
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if strings.IndexByte(pair, ';') >= 0 {
			return call{}, errSemicolon
		}
		key, value, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			k, err := url.QueryUnescape(key)
			if err != nil {
				return call{}, err
			}
			key = k
		}
		i, ok := fieldIndex[key]
		if !ok || seen[i] {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return call{}, err
		}
		f[i], seen[i] = v, true
	}

	c := call{
		section:     f[iSection],
		destination: f[iDestination],
		context:     f[iContext],
		pin:         strings.TrimSpace(f[iPin]),
		caller: callerID{
			name:       f[iCallerName],
			number:     f[iCallerNumber],
			hideName:   fsTrue(f[iHideName]),
			hideNumber: fsTrue(f[iHideNumber]),
		},
	}
	if c.destination == "" {
		c.destination = f[iHuntDestination]
	}
	if c.context == "" {
		c.context = f[iHuntContext]
	}
	switch strings.ToLower(strings.TrimSpace(f[iPrivacy])) {
	case "yes", "true", "full", "id":
		c.caller.hideName, c.caller.hideNumber = true, true
	case "name":
		c.caller.hideName = true
	case "number":
		c.caller.hideNumber = true
	}
	// Only the documents set this variable; anything unreadable counts as
	// no failure rather than ending the call.
	if n, err := strconv.Atoi(f[iFailedPins]); err == nil && n > 0 {
		c.failedPins = min(n, 1000)
	}
	return c, nil
}

// fsTrue is FreeSWITCH's switch_true, which decides how it writes the
// privacy flags.
func fsTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "on", "true", "t", "enabled", "active", "allow":
		return true
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return err == nil && n != 0
}

// validDestination accepts what calls dial in practice (E.164 numbers,
// extensions, SIP user parts) and nothing that the condition's regular
// expression, FreeSWITCH's variable expansion or transfer's argument
// splitting would read differently.
func validDestination(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !isTokenByte(b) && b != '+' && b != '*' && b != '#' {
			return false
		}
	}
	return true
}

// destinationExpression matches exactly the destination: the condition
// FreeSWITCH checks before running the actions.
func destinationExpression(dest string) string {
	var b strings.Builder
	b.Grow(len(dest) + 8)
	b.WriteByte('^')
	for i := 0; i < len(dest); i++ {
		switch dest[i] {
		case '+', '*', '.':
			b.WriteByte('\\')
		}
		b.WriteByte(dest[i])
	}
	b.WriteByte('$')
	return b.String()
}

// validPin accepts PINs of the configured length, digits only: whatever
// else arrives as a PIN is simply not a meeting.
func validPin(pin string, cfg Config) bool {
	if len(pin) < cfg.MinDigits || len(pin) > cfg.MaxDigits {
		return false
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return false
		}
	}
	return true
}

// validHost accepts host names, IPv4 and bracketed IPv6 addresses with an
// optional port: what may follow the @ of a sofia dial string. The host
// comes from the pool's configuration, but a bad one must not become
// dialplan.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !isTokenByte(b) && b != ':' && b != '[' && b != ']' {
			return false
		}
	}
	return true
}

// Caller names longer than this are cut: SIP display names are short, and
// the document should not grow with what a caller sends.
const (
	maxCallerNameRunes = 64
	maxMeetingIDRunes  = 256
)

// displayName is what the meeting's participants see for this caller:
// the caller's name unless hidden, a number masked to its last digits
// (a name that is all digits is a number, as scalelite treats it), or
// "Unavailable".
func (c callerID) displayName(visible int) string {
	name := fsSafe(c.name, maxCallerNameRunes)
	if isPhoneNumber(name) {
		if !c.hideNumber {
			return maskPhoneNumber(name, visible)
		}
		name = ""
	} else if c.hideName {
		name = ""
	}
	if name != "" {
		return maskDigitRuns(name, visible)
	}
	if number := fsSafe(c.number, maxCallerNameRunes); !c.hideNumber && isPhoneNumber(number) {
		return maskPhoneNumber(number, visible)
	}
	return unavailable
}

// displayNumber is the masked caller number passed on to BBB, so the
// full number does not reach the BBB servers' logs and events either.
// It is compact (no separators): it becomes the user part of a SIP URI.
func (c callerID) displayNumber(visible int) string {
	number := fsSafe(c.number, maxCallerNameRunes)
	if c.hideNumber || !isPhoneNumber(number) {
		return unavailable
	}
	var b strings.Builder
	for _, r := range maskPhoneNumber(number, visible) {
		if r == '+' || r == 'X' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPhoneNumber reports whether s is a phone number as callers' names and
// numbers show them: digits, an optional leading +, common separators.
func isPhoneNumber(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= '0' && b <= '9':
			digits++
		case b == '+':
			if strings.TrimSpace(s[:i]) != "" {
				return false
			}
		case b == ' ' || b == '-' || b == '.' || b == '/' || b == '(' || b == ')':
		default:
			return false
		}
	}
	return digits > 0
}

// maskPhoneNumber replaces every digit of s by X but the last ones, at
// most visible and at most half of them; separators stay.
func maskPhoneNumber(s string, visible int) string {
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	show := shownDigits(digits, visible)
	out := []byte(s)
	seen := 0
	for i, b := range out {
		if b >= '0' && b <= '9' {
			if seen < digits-show {
				out[i] = 'X'
			}
			seen++
		}
	}
	return string(out)
}

// maskDigitRuns masks the long digit runs inside a name ("Anna 015112345678"):
// callers' names sometimes carry their number.
func maskDigitRuns(s string, visible int) string {
	const phoneLike = 5
	out := []byte(s)
	for i := 0; i < len(out); {
		if out[i] < '0' || out[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(out) && out[j] >= '0' && out[j] <= '9' {
			j++
		}
		if run := j - i; run >= phoneLike {
			for k := i; k < j-shownDigits(run, visible); k++ {
				out[k] = 'X'
			}
		}
		i = j
	}
	return string(out)
}

func shownDigits(digits, visible int) int {
	return max(0, min(visible, digits/2))
}

// fsSafe returns s without what FreeSWITCH or SIP would interpret: `$`,
// `{`, `}` (variable expansion, also after `set` expands its value once
// more, so backslash escaping as scalelite's fix does is not enough), `\`
// and `'` (argument escaping and quoting), `"`, `<`, `>` (SIP display
// names), control and format characters (invisible text, bidi tricks),
// invalid UTF-8 and what XML cannot carry. At most maxRunes runes are
// kept.
func fsSafe(s string, maxRunes int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || strings.IndexByte(`${}\'"<>`, b) >= 0 {
			clean = false
			break
		}
	}
	if clean && len(s) <= maxRunes {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	kept := 0
	for i := 0; i < len(s) && kept < maxRunes; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError,
			strings.ContainsRune(`${}\'"<>`, r),
			unicode.IsControl(r),
			unicode.Is(unicode.Cf, r),
			!isXMLChar(r):
			continue
		}
		b.WriteRune(r)
		kept++
	}
	return strings.TrimSpace(b.String())
}

// isXMLChar is XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
