package bbb

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// The recording-ready vector of bbb-api.md §8.2.
func TestSignJWTReferenceVector(t *testing.T) {
	const secret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
	const want = "eyJhbGciOiJIUzI1NiJ9.eyJtZWV0aW5nX2lkIjoicm9vbS1hbHBoYSIsInJlY29yZF9pZCI6IjllZDJkZGY1NDM5OTVjZjFmYzczZTk4ZjU1OGY4MzE0Y2E0ZjcwNDAtMTcxNTI2MTcyODEyMyJ9.DkFgQxM1bhXesFM0JbdRdrzQJUCpO2PF46gbQKrP47Y"
	claims := map[string]string{"meeting_id": "room-alpha", "record_id": "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123"}
	got, err := SignJWT("HS256", secret, claims)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("SignJWT:\n got %s\nwant %s", got, want)
	}
}

func TestSignJWTHS512(t *testing.T) {
	tok, err := SignJWT("HS512", "s3cret", map[string]string{"meeting_id": "a<b>&c"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: want 3 parts", tok)
	}
	b64 := base64.RawURLEncoding
	header, _ := b64.DecodeString(parts[0])
	if string(header) != `{"alg":"HS512"}` {
		t.Errorf("header %s", header)
	}
	payload, _ := b64.DecodeString(parts[1])
	if string(payload) != `{"meeting_id":"a<b>&c"}` {
		t.Errorf("payload %s (want no HTML escaping, like ruby)", payload)
	}
	var claims map[string]string
	if err := json.Unmarshal(payload, &claims); err != nil || claims["meeting_id"] != "a<b>&c" {
		t.Errorf("claims %v, %v", claims, err)
	}
	mac := hmac.New(sha512.New, []byte("s3cret"))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, _ := b64.DecodeString(parts[2])
	if !hmac.Equal(sig, mac.Sum(nil)) {
		t.Error("HS512 signature does not verify")
	}
}

func TestSignJWTErrors(t *testing.T) {
	if _, err := SignJWT("none", "s", map[string]string{}); err == nil {
		t.Error("alg none accepted")
	}
	if _, err := SignJWT("HS256", "s", func() {}); err == nil {
		t.Error("unencodable claims accepted")
	}
}
