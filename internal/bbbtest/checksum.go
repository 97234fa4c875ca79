package bbbtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// This file re-implements bbb-web's checksum rule on purpose instead of
// sharing code with the balancer: the fake is an independent check.

// hashLen returns the hex length of the algorithm's digest, 0 if unknown.
func hashLen(alg string) int {
	switch alg {
	case "sha1":
		return 40
	case "sha256":
		return 64
	case "sha384":
		return 96
	case "sha512":
		return 128
	}
	return 0
}

// algForLen infers the algorithm from the length of a hex checksum, as
// bbb-web does.
func algForLen(n int) string {
	switch n {
	case 40:
		return "sha1"
	case 64:
		return "sha256"
	case 96:
		return "sha384"
	case 128:
		return "sha512"
	}
	return ""
}

func digestHex(alg, data string) string {
	switch alg {
	case "sha1":
		h := sha1.Sum([]byte(data))
		return hex.EncodeToString(h[:])
	case "sha256":
		h := sha256.Sum256([]byte(data))
		return hex.EncodeToString(h[:])
	case "sha384":
		h := sha512.Sum384([]byte(data))
		return hex.EncodeToString(h[:])
	case "sha512":
		h := sha512.Sum512([]byte(data))
		return hex.EncodeToString(h[:])
	}
	return ""
}

// Checksum returns hex(H(call + query + secret)) for algorithm "sha1",
// "sha256", "sha384" or "sha512". query is the raw query string exactly as
// it is sent, without the checksum parameter.
func Checksum(algorithm, call, query, secret string) (string, error) {
	alg := strings.ToLower(algorithm)
	if hashLen(alg) == 0 {
		return "", fmt.Errorf("bbbtest: unknown checksum algorithm %q", algorithm)
	}
	return digestHex(alg, call+query+secret), nil
}

// SignedURL returns URL()/call?query&checksum=… signed with this server's
// secret, using the first allowed algorithm. query must already be encoded.
func (s *Server) SignedURL(call, query string) string {
	sum := digestHex(s.algs[0], call+query+s.secret)
	if query == "" {
		return s.apiURL + "/" + call + "?checksum=" + sum
	}
	return s.apiURL + "/" + call + "?" + query + "&checksum=" + sum
}

// stripChecksum removes the checksum pair from a raw query string the way
// bbb-web does: three plain string replacements, in this order.
func stripChecksum(rawQuery, checksum string) string {
	q := strings.ReplaceAll(rawQuery, "&checksum="+checksum, "")
	q = strings.ReplaceAll(q, "checksum="+checksum+"&", "")
	return strings.ReplaceAll(q, "checksum="+checksum, "")
}

// verifyChecksum checks a request's checksum.
//
//   - rawQuery is r.URL.RawQuery exactly as received;
//   - query is rawQuery parsed (the checksum value is taken from it);
//   - bodyForm holds form parameters from a POST body (nil otherwise); the
//     checksum is taken from there when the query has none.
//
// With an empty query string (3.0 POST-form rule) the hashed string is
// call + secret.
func verifyChecksum(call, rawQuery string, query, bodyForm url.Values, secret string, allowed []string) bool {
	cs := query.Get("checksum")
	if cs == "" && bodyForm != nil {
		cs = bodyForm.Get("checksum")
	}
	if cs == "" {
		return false
	}
	alg := algForLen(len(cs))
	if alg == "" {
		return false
	}
	ok := false
	for _, a := range allowed {
		if a == alg {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	data := call + secret
	if rawQuery != "" {
		data = call + stripChecksum(rawQuery, cs) + secret
	}
	want := digestHex(alg, data)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(cs)), []byte(want)) == 1
}
