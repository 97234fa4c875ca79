package recordings

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Protected recordings are played through one-time links (scalelite
// §6.10, done without a database write per listed link):
//
//   - getRecordings lists, instead of a format's playback URL, LinkPath:
//     /recording/<recordID>/<format>?token=<token>. The token is 128 random
//     bits, an expiry and a MAC over both, the record id and the format,
//     keyed with a key kept in the database. Minting one writes nothing,
//     so listing a million protected recordings costs no more than
//     listing public ones.
//   - Opening the link checks the MAC and the expiry, then consumes the
//     token: a hash of it is stored as used until it expires (the same
//     once-only store as upload nonces), atomically, so a second use of
//     the link fails even when both race.
//   - The answer sets a cookie scoped to that recording's format
//     directory (/<format>/<recordID>), itself a MAC and an expiry, and
//     redirects to the player. Every file of the recording then needs the
//     cookie.
//
// Listing a link is cheap and using it is once only; the database holds
// only hashes of used tokens, never a usable one.

// Default lifetimes (scalelite's PROTECTED_RECORDINGS_TOKEN_TIMEOUT and
// PROTECTED_RECORDINGS_TIMEOUT).
const (
	DefaultLinkTTL   = time.Hour
	DefaultCookieTTL = 6 * time.Hour
)

// LinkPrefix is the path of one-time links: LinkPrefix<recordID>/<format>.
const LinkPrefix = "/recording/"

// ErrBadLink is a link whose token does not verify, belongs to another
// recording or format, or has expired.
var ErrBadLink = errors.New("recordings: invalid or expired link")

// Access makes and checks the links and cookies of protected recordings.
type Access struct {
	Key       []byte        // MAC key, at least 32 bytes (store.DB.SigningKey)
	LinkTTL   time.Duration // how long a listed link can be opened; 0: DefaultLinkTTL
	CookieTTL time.Duration // how long the cookie lets its holder play; 0: DefaultCookieTTL
	Now       func() time.Time
}

const (
	nonceLen = 16 // 128 random bits
	macLen   = 16 // truncated HMAC-SHA256: 128 bits are beyond guessing
	linkLen  = nonceLen + 8 + macLen
)

func (a *Access) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Access) linkTTL() time.Duration {
	if a.LinkTTL > 0 {
		return a.LinkTTL
	}
	return DefaultLinkTTL
}

func (a *Access) cookieTTL() time.Duration {
	if a.CookieTTL > 0 {
		return a.CookieTTL
	}
	return DefaultCookieTTL
}

// mac binds data to one purpose, recording and format: a link token can
// never pass for a cookie, nor one recording's for another's.
func (a *Access) mac(purpose, id, format string, data []byte) []byte {
	m := hmac.New(sha256.New, a.Key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(format))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)[:macLen]
}

// Token returns a new one-time token for format of recording id.
func (a *Access) Token(id, format string) string {
	b := make([]byte, linkLen)
	rand.Read(b[:nonceLen]) // never fails (crypto/rand, Go 1.24+)
	binary.BigEndian.PutUint64(b[nonceLen:], uint64(a.now().Add(a.linkTTL()).Unix()))
	copy(b[nonceLen+8:], a.mac("link", id, format, b[:nonceLen+8]))
	return base64.RawURLEncoding.EncodeToString(b)
}

// LinkPath is the path and query of a new one-time link to format of
// recording id.
func (a *Access) LinkPath(id, format string) string {
	return LinkPrefix + id + "/" + url.PathEscape(format) + "?token=" + a.Token(id, format)
}

// CheckToken verifies a token for format of recording id. It returns the
// key under which its use is recorded (a hash of the token, so the
// database never holds a usable one) and until when that record must be
// kept; the caller consumes it (store.DB.UseNonce) before honouring it.
func (a *Access) CheckToken(id, format, token string) (used string, expires time.Time, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != linkLen {
		return "", time.Time{}, ErrBadLink
	}
	if !hmac.Equal(b[nonceLen+8:], a.mac("link", id, format, b[:nonceLen+8])) {
		return "", time.Time{}, ErrBadLink
	}
	expires = time.Unix(int64(binary.BigEndian.Uint64(b[nonceLen:])), 0)
	if !a.now().Before(expires) {
		return "", time.Time{}, ErrBadLink
	}
	sum := sha256.Sum256(b)
	return "playback:" + hex.EncodeToString(sum[:]), expires, nil
}

// CookieName is the cookie of format of recording id (scalelite's name).
func CookieName(id, format string) string { return "recording_" + format + "_" + id }

// CookiePath scopes the cookie to the files of one format of a recording.
func CookiePath(id, format string) string { return "/" + format + "/" + id }

// Cookie returns the cookie that lets its holder load the files of format
// of recording id. Secure when the link was opened over TLS. SameSite=Lax:
// the cookie is set by a top-level navigation (the link) and then sent
// with the player's same-site requests for the recording's files; a
// player embedded in another site's frame would need None, which browsers
// increasingly drop for third parties anyway, so it is not offered.
func (a *Access) Cookie(id, format string, secure bool) *http.Cookie {
	exp := a.now().Add(a.cookieTTL())
	b := make([]byte, 8+macLen)
	binary.BigEndian.PutUint64(b, uint64(exp.Unix()))
	copy(b[8:], a.mac("cookie", id, format, b[:8]))
	return &http.Cookie{
		Name:     CookieName(id, format),
		Value:    base64.RawURLEncoding.EncodeToString(b),
		Path:     CookiePath(id, format),
		Expires:  exp,
		MaxAge:   int(a.cookieTTL() / time.Second),
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Allowed reports whether r carries a valid, unexpired cookie for format
// of recording id.
func (a *Access) Allowed(r *http.Request, id, format string) bool {
	name := CookieName(id, format)
	// A browser may send several cookies of one name (other paths): any
	// valid one will do.
	for _, c := range r.CookiesNamed(name) {
		b, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil || len(b) != 8+macLen {
			continue
		}
		if !hmac.Equal(b[8:], a.mac("cookie", id, format, b[:8])) {
			continue
		}
		if a.now().Before(time.Unix(int64(binary.BigEndian.Uint64(b)), 0)) {
			return true
		}
	}
	return false
}

// Protect returns a copy of a protected recording as getRecordings shows
// it: each format's link is a new one-time link, and thumbnails are left
// out (as scalelite does): they are files of the recording, which a
// front-end's listing could not load without the cookie.
func (a *Access) Protect(rec Recording) Recording {
	formats := make([]Format, len(rec.Formats))
	for i, f := range rec.Formats {
		f.Path = a.LinkPath(rec.RecordID, f.Type)
		f.Thumbnails = nil
		formats[i] = f
	}
	rec.Formats = formats
	return rec
}
