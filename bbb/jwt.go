package bbb

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
)

// SignJWT returns a compact JWS (RFC 7515) of claims, HMAC-signed with
// secret: the signed_parameters of BBB's recording-ready callback
// (bbb-api.md §4.3). alg is "HS256" or "HS512".
//
// Hand-written rather than a JWT library: it is twenty lines, and the
// header must be exactly ruby-jwt's {"alg":"HS256"} (no "typ"), as BBB sends
// it, so the output matches BBB's byte for byte (bbb-api.md §8.2).
func SignJWT(alg, secret string, claims any) (string, error) {
	var newHash func() hash.Hash
	switch alg {
	case "HS256":
		newHash = sha256.New
	case "HS512":
		newHash = sha512.New
	default:
		return "", fmt.Errorf("jwt: unsupported algorithm %q (want HS256 or HS512)", alg)
	}
	// Ruby's JSON does not escape <, > and &; encoding/json does unless told.
	var payload bytes.Buffer
	enc := json.NewEncoder(&payload)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return "", fmt.Errorf("jwt: claims: %w", err)
	}
	b64 := base64.RawURLEncoding
	signing := b64.EncodeToString([]byte(`{"alg":"`+alg+`"}`)) + "." +
		b64.EncodeToString(bytes.TrimSuffix(payload.Bytes(), []byte("\n")))
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil)), nil
}
