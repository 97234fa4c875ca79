package bbb

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// SignJWT returns a compact JWS (RFC 7515) of claims, HMAC-signed with
// secret: the signed_parameters of BBB's recording-ready callback
// (bbb-api.md §4.3). alg is "HS256" or "HS512".
//
// Hand-written rather than a JWT library: it is twenty lines, and the
// header must be exactly ruby-jwt's {"alg":"HS256"} (no "typ"), as BBB sends
// it, so the output matches BBB's byte for byte (bbb-api.md §8.2).
func SignJWT(alg, secret string, claims any) (string, error) {
	newHash := jwtHash(alg)
	if newHash == nil || alg == "HS384" {
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

// jwtHash is the hash of an HMAC JWT algorithm, nil for others.
func jwtHash(alg string) func() hash.Hash {
	switch alg {
	case "HS256":
		return sha256.New
	case "HS384":
		return sha512.New384
	case "HS512":
		return sha512.New
	}
	return nil
}

// VerifyJWT checks an HMAC-signed JWT (HS256/384/512, as BBB's scripts
// sign them) with secret, and its exp claim, if any, against now (Unix
// seconds).
func VerifyJWT(token, secret string, now int64) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || secret == "" {
		return errors.New("jwt: malformed")
	}
	b64 := base64.RawURLEncoding
	rawHeader, err := b64.DecodeString(parts[0])
	if err != nil {
		return errors.New("jwt: malformed header")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return errors.New("jwt: malformed header")
	}
	newHash := jwtHash(header.Alg)
	if newHash == nil {
		return errors.New("jwt: unsupported algorithm")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return errors.New("jwt: malformed signature")
	}
	m := hmac.New(newHash, []byte(secret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return errors.New("jwt: bad signature")
	}
	rawClaims, err := b64.DecodeString(parts[1])
	if err != nil {
		return errors.New("jwt: malformed claims")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(rawClaims))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return errors.New("jwt: malformed claims")
	}
	if claims.Exp != nil {
		exp, err := claims.Exp.Float64()
		if err != nil || now >= int64(exp) {
			return errors.New("jwt: expired")
		}
	}
	return nil
}
