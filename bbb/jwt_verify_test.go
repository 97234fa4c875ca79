package bbb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestVerifyJWT(t *testing.T) {
	now := time.Unix(1715171203, 0)
	sign := func(alg, secret string, claims any) string {
		tok, err := SignJWT(alg, secret, claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign("HS512", "s", map[string]int64{"exp": now.Unix() + 60})
	for name, c := range map[string]struct {
		token, secret string
		ok            bool
	}{
		"HS512":          {good, "s", true},
		"HS256 no exp":   {sign("HS256", "s", map[string]string{"a": "b"}), "s", true},
		"expired":        {sign("HS512", "s", map[string]int64{"exp": now.Unix()}), "s", false},
		"wrong secret":   {good, "t", false},
		"empty secret":   {good, "", false},
		"none alg":       {base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + ".e30.", "s", false},
		"two parts":      {"a.b", "s", false},
		"garbage":        {"!.!.!", "s", false},
		"tampered claim": {strings.Replace(good, ".", ".x", 1), "s", false},
	} {
		if err := VerifyJWT(c.token, c.secret, now.Unix()); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// VerifyJWT accepts only the HMAC algorithms, whatever the header says
// (no algorithm confusion), and holds the registered time claims to RFC
// 7519: numbers, nbf not in the future.
func TestVerifyJWTStrict(t *testing.T) {
	const secret, now = "s", 1715171203
	b64 := base64.RawURLEncoding
	hs256 := func(header, claims string) string {
		signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(mac.Sum(nil))
	}
	for name, c := range map[string]struct {
		token string
		ok    bool
	}{
		"HS256 with typ":     {hs256(`{"alg":"HS256","typ":"JWT"}`, `{"exp":1715171204}`), true},
		"RS256 header":       {hs256(`{"alg":"RS256"}`, `{}`), false},
		"ES256 header":       {hs256(`{"alg":"ES256"}`, `{}`), false},
		"nbf in the past":    {hs256(`{"alg":"HS256"}`, `{"nbf":1715171203}`), true},
		"nbf in the future":  {hs256(`{"alg":"HS256"}`, `{"nbf":1715171204}`), false},
		"exp a string":       {hs256(`{"alg":"HS256"}`, `{"exp":"1715171204"}`), false},
		"exp with fractions": {hs256(`{"alg":"HS256"}`, `{"exp":1715171203.9}`), false},
	} {
		if err := VerifyJWT(c.token, secret, now); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
