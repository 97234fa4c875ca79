package bbb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signMethods are the algorithms SignJWT signs with: BBB's HS256 and the
// HS512 of a front-end that allows only sha512 (bbb-api.md §4.3, §4.4).
var signMethods = map[string]*jwt.SigningMethodHMAC{
	"HS256": jwt.SigningMethodHS256,
	"HS512": jwt.SigningMethodHS512,
}

// verifyMethods are the algorithms VerifyJWT accepts: the HMAC family that
// BBB's scripts sign with, never "none" nor a public-key algorithm.
var verifyMethods = []string{"HS256", "HS384", "HS512"}

// SignJWT returns a compact JWS (RFC 7515) of claims, HMAC-signed with
// secret: the signed_parameters of BBB's recording-ready callback
// (bbb-api.md §4.3) and the bearer token of the analytics relay (§4.4).
// alg is "HS256" or "HS512".
//
// golang-jwt computes the signature. The two segments it signs are encoded
// here because they must be exactly ruby-jwt's, as BBB sends them, so the
// output matches BBB's byte for byte (bbb-api.md §8.2): the header is
// {"alg":"HS256"} (golang-jwt adds "typ") and the claims keep <, > and &
// unescaped (golang-jwt encodes with json.Marshal, which escapes them).
func SignJWT(alg, secret string, claims any) (string, error) {
	method, ok := signMethods[alg]
	if !ok {
		return "", fmt.Errorf("jwt: unsupported algorithm %q (want HS256 or HS512)", alg)
	}
	var payload bytes.Buffer
	enc := json.NewEncoder(&payload)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return "", fmt.Errorf("jwt: claims: %w", err)
	}
	b64 := base64.RawURLEncoding
	signing := b64.EncodeToString([]byte(`{"alg":"`+alg+`"}`)) + "." +
		b64.EncodeToString(bytes.TrimSuffix(payload.Bytes(), []byte("\n")))
	sig, err := method.Sign(signing, []byte(secret))
	if err != nil {
		return "", fmt.Errorf("jwt: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

// VerifyJWT checks an HMAC-signed JWT (HS256/384/512, as BBB's scripts
// sign them) with secret, with golang-jwt: the algorithm must be one of
// the HMAC family, the signature must match, and the registered time
// claims, when present, must be numbers (RFC 7519 NumericDate) that hold
// at now (Unix seconds). exp is optional (BBB's recording-ready token has
// none) and the token is expired from that second on; nbf, which BBB never
// sets, must not be in the future.
func VerifyJWT(token, secret string, now int64) error {
	if secret == "" {
		return errors.New("jwt: no secret")
	}
	_, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods(verifyMethods),
		jwt.WithTimeFunc(func() time.Time { return time.Unix(now, 0) }))
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	return nil
}
