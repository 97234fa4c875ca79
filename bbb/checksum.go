// Package bbb is the BigBlueButton API protocol: checksums, query strings,
// the XML answers and a client for one BBB server. It knows nothing about
// pools, placement or Caddy.
package bbb

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Algorithm is one of the hash functions BBB accepts for checksums.
type Algorithm string

const (
	SHA1   Algorithm = "sha1"
	SHA256 Algorithm = "sha256"
	SHA384 Algorithm = "sha384"
	SHA512 Algorithm = "sha512"
)

// AllAlgorithms lists every algorithm BBB 2.5+ accepts, weakest first.
var AllAlgorithms = []Algorithm{SHA1, SHA256, SHA384, SHA512}

// ParseAlgorithm accepts an algorithm name in any case ("SHA256", "sha256").
func ParseAlgorithm(name string) (Algorithm, error) {
	a := Algorithm(strings.ToLower(name))
	if a.hexLen() == 0 {
		return "", fmt.Errorf("unknown checksum algorithm %q (want sha1, sha256, sha384 or sha512)", name)
	}
	return a, nil
}

func (a Algorithm) newHash() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA384:
		return sha512.New384()
	case SHA512:
		return sha512.New()
	}
	return nil
}

func (a Algorithm) hexLen() int {
	switch a {
	case SHA1:
		return 40
	case SHA256:
		return 64
	case SHA384:
		return 96
	case SHA512:
		return 128
	}
	return 0
}

// algorithmForChecksum infers the algorithm from the hex length, as BBB does:
// the client never names it.
func algorithmForChecksum(checksum string) (Algorithm, bool) {
	for _, a := range AllAlgorithms {
		if a.hexLen() == len(checksum) {
			return a, true
		}
	}
	return "", false
}

// Checksum returns hex(H(call + query + secret)) in lower case.
func Checksum(alg Algorithm, call, query, secret string) string {
	h := alg.newHash()
	if h == nil {
		panic("bbb: checksum with unknown algorithm " + string(alg))
	}
	h.Write([]byte(call))
	h.Write([]byte(query))
	h.Write([]byte(secret))
	return hex.EncodeToString(h.Sum(nil))
}

// Sign appends a checksum for call to query, which must already be encoded
// exactly as it will be sent.
func Sign(alg Algorithm, call, query, secret string) string {
	sum := Checksum(alg, call, query, secret)
	if query == "" {
		return "checksum=" + sum
	}
	return query + "&checksum=" + sum
}

// SplitChecksum finds the checksum parameter in a raw query string and cuts
// it out by string surgery, in the order BBB's ValidationService does, so the
// rest is hashed byte for byte as the client sent it. ok is false when there
// is no checksum parameter or it is empty.
func SplitChecksum(rawQuery string) (rest, checksum string, ok bool) {
	checksum, ok = rawValue(rawQuery, "checksum")
	if !ok || checksum == "" {
		return rawQuery, "", false
	}
	rest = rawQuery
	for _, pat := range []string{"&checksum=" + checksum, "checksum=" + checksum + "&", "checksum=" + checksum} {
		if i := strings.Index(rest, pat); i >= 0 {
			rest = rest[:i] + rest[i+len(pat):]
			break
		}
	}
	return rest, checksum, true
}

// Errors returned by Verifier.Verify. Both map to BBB's checksumError.
var (
	ErrChecksumMissing  = errors.New("you must provide the checksum")
	ErrChecksumMismatch = errors.New("checksums do not match")
)

// Verifier checks incoming checksums against a set of secrets (several at
// once, for rotation) and a set of allowed algorithms.
type Verifier struct {
	secrets [][]byte
	allowed map[Algorithm]bool
}

// NewVerifier returns a Verifier; with no algorithms given, all four are allowed.
func NewVerifier(secrets []string, algorithms []Algorithm) *Verifier {
	v := &Verifier{allowed: map[Algorithm]bool{}}
	for _, s := range secrets {
		v.secrets = append(v.secrets, []byte(s))
	}
	if len(algorithms) == 0 {
		algorithms = AllAlgorithms
	}
	for _, a := range algorithms {
		v.allowed[a] = true
	}
	return v
}

// Verify checks the checksum of a call. rawQuery is the query string exactly
// as received (r.URL.RawQuery). A POST whose parameters are all in the body
// has an empty query and is signed as call + secret (BBB 3.0), which this
// covers: the empty query then holds just the checksum, or nothing.
func (v *Verifier) Verify(call, rawQuery string) error {
	rest, sum, ok := SplitChecksum(rawQuery)
	if !ok {
		return ErrChecksumMissing
	}
	return v.VerifySigned(call, rest, sum)
}

// VerifySigned checks checksum sum over call + signed + secret. It serves
// requests whose checksum does not travel in the query, such as a POST form
// with an empty query string (signed is then "").
func (v *Verifier) VerifySigned(call, signed, sum string) error {
	_, err := v.Signer(call, signed, sum)
	return err
}

// Signer is VerifySigned that also returns the secret that made the
// checksum: answers to the front-end (a recording-ready JWT) are signed
// with the secret it used.
func (v *Verifier) Signer(call, signed, sum string) (string, error) {
	if sum == "" {
		return "", ErrChecksumMissing
	}
	alg, ok := algorithmForChecksum(sum)
	if !ok || !v.allowed[alg] {
		return "", ErrChecksumMismatch
	}
	got, err := hex.DecodeString(sum) // either case of hex is fine
	if err != nil {
		return "", ErrChecksumMismatch
	}
	found := -1
	for i, secret := range v.secrets {
		h := alg.newHash()
		h.Write([]byte(call))
		h.Write([]byte(signed))
		h.Write(secret)
		// Every secret is tried, so timing does not tell which one matched.
		if subtle.ConstantTimeCompare(h.Sum(nil), got) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", ErrChecksumMismatch
	}
	return string(v.secrets[found]), nil
}

// SecretTag names a secret without revealing it (the start of its SHA-256),
// so a stored record can say which secret to sign with later.
func SecretTag(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// SecretFor returns the secret whose SecretTag is tag, or the first secret
// when none has it (it was rotated out since).
func (v *Verifier) SecretFor(tag string) string {
	for _, s := range v.secrets {
		if SecretTag(string(s)) == tag {
			return string(s)
		}
	}
	if len(v.secrets) == 0 {
		return ""
	}
	return string(v.secrets[0])
}

// Allows reports whether checksums made with alg are accepted.
func (v *Verifier) Allows(alg Algorithm) bool { return v.allowed[alg] }
