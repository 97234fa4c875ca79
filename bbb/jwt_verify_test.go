package bbb

import (
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
