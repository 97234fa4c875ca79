package bbb

import (
	"strings"
	"testing"
)

// Vectors from reference/bbb-api.md §8.1.
const docSecret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"

func TestChecksumVectors(t *testing.T) {
	cases := []struct {
		call, query string
		alg         Algorithm
		want        string
	}{
		{"create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA1, "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"},
		{"create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA256, "da9185f7f333cfdfcd6eeac32dca3777510c4c436020d8b887ba5515bd1d189e"},
		{"create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA384, "891ac633df39d0a1b4f8d597f3e190833216c4b29c4fb51ea3ca72757eeb958d6e7b49a845cf29f5c6019c7d29d029d1"},
		{"create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA512, "de73ad61d11a5c801b68d4bd6ec5248546085cefb0b25c85f3c46249ea93a3a4b120f92c0a8a58d7512cb77821884951a3b01245f3435dbbef49fff3cc3988b4"},
		{"create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA1, "f1ae295e2cb9a9225152334d12c9db97d2bfee5b"},
		{"create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", SHA256, "99ef8fb30893e29923a002b11e48b0be4fecfd3d72b69fa7201808775d4f7059"},
		{"getMeetings", "", SHA1, "2027baa7771026e9e93392f55031535d1444c41f"},
		{"getMeetings", "", SHA256, "a5370c5f3d97d56d53b435684cdbc429c2898a3bf9f435518b4279e1e0dbfc8c"},
		{"getMeetings", "", SHA384, "a2caf6ab7a9296f621a58d55f299b6dbd023afcf7ccf4ddfb4245a04eb87a0bc7797ea193baa41f81346330145bd3199"},
		{"getMeetings", "", SHA512, "456defa5035a4194b8590216805aa0f3b7a7508c2cb74a28bd750d4d2f43d851467acd9b8961cb7f6ffdab0c27e4e83655be9108d4a20ad8702958d6b01a48f4"},
		{"isMeetingRunning", "meetingID=room-alpha", SHA1, "00e2adc1cbd0539988f2a9da1e040dd5458c47d6"},
		{"getMeetingInfo", "meetingID=room-alpha", SHA256, "1b4bed0bab0d264aa68cc657614c26f700144bfb877539a3be783100de2ea315"},
		{"join", "fullName=Alice+Doe&meetingID=room-alpha&role=MODERATOR&redirect=false", SHA1, "aa6076f681e963d018bbdbb6fcd91fcd43acbd78"},
		{"getRecordings", "meetingID=room-alpha&state=published%2Cunpublished", SHA256, "94a14e78990f5cb899f335e02adad7021cbbe755ead6b7ef86f713d59d1083ec"},
		{"create", "meetingID=%C3%BCml%C3%A4ut&name=Gr%C3%BC%C3%9Fe+%26+Co", SHA1, "234bfddcfe650d16430f9fade1860e3f8e693303"},
		{"create", "", SHA256, "272c9555258496a3f19c5ad8f599af2a4ebec031381ff1e37b34842c42c12284"},
	}
	v := NewVerifier([]string{"other-secret", docSecret}, nil)
	for _, c := range cases {
		if got := Checksum(c.alg, c.call, c.query, docSecret); got != c.want {
			t.Errorf("Checksum(%s, %s, %q) = %s, want %s", c.alg, c.call, c.query, got, c.want)
		}
		for _, q := range placements(c.query, c.want) {
			if err := v.Verify(c.call, q); err != nil {
				t.Errorf("Verify(%s, %q): %v", c.call, q, err)
			}
		}
		if err := v.Verify(c.call, c.query+"&checksum="+strings.ToUpper(c.want)); err != nil {
			t.Errorf("upper-case hex rejected for %s: %v", c.call, err)
		}
	}
}

// placements puts the checksum first, last and in the middle of query.
func placements(query, sum string) []string {
	if query == "" {
		return []string{"checksum=" + sum}
	}
	out := []string{query + "&checksum=" + sum, "checksum=" + sum + "&" + query}
	if i := strings.IndexByte(query, '&'); i > 0 {
		out = append(out, query[:i]+"&checksum="+sum+query[i:])
	}
	return out
}

func TestVerifyRejects(t *testing.T) {
	v := NewVerifier([]string{docSecret}, []Algorithm{SHA1, SHA256})
	good := "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
	q := "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
	cases := map[string]struct {
		call, query string
		want        error
	}{
		"missing":           {"create", q, ErrChecksumMissing},
		"empty":             {"create", q + "&checksum=", ErrChecksumMissing},
		"41 chars":          {"create", q + "&checksum=" + good + "a", ErrChecksumMismatch},
		"63 chars":          {"create", q + "&checksum=" + good[:39] + strings.Repeat("0", 24), ErrChecksumMismatch},
		"100 chars":         {"create", q + "&checksum=" + strings.Repeat("a", 100), ErrChecksumMismatch},
		"not hex":           {"create", q + "&checksum=" + strings.Repeat("z", 40), ErrChecksumMismatch},
		"disallowed sha512": {"create", q + "&checksum=de73ad61d11a5c801b68d4bd6ec5248546085cefb0b25c85f3c46249ea93a3a4b120f92c0a8a58d7512cb77821884951a3b01245f3435dbbef49fff3cc3988b4", ErrChecksumMismatch},
		"space re-encoded":  {"create", strings.Replace(q, "+", "%20", 1) + "&checksum=" + good, ErrChecksumMismatch},
		"tampered":          {"create", strings.Replace(q, "abc123", "abc124", 1) + "&checksum=" + good, ErrChecksumMismatch},
		"other call":        {"join", q + "&checksum=" + good, ErrChecksumMismatch},
	}
	for name, c := range cases {
		if err := v.Verify(c.call, c.query); err != c.want {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
	if err := NewVerifier(nil, nil).Verify("create", q+"&checksum="+good); err != ErrChecksumMismatch {
		t.Errorf("no secrets: %v", err)
	}
}

func TestSignRoundTrip(t *testing.T) {
	v := NewVerifier([]string{"s3cret"}, nil)
	for _, alg := range AllAlgorithms {
		for _, q := range []string{"", "meetingID=a%20b&name=x+y"} {
			if err := v.Verify("create", Sign(alg, "create", q, "s3cret")); err != nil {
				t.Errorf("%s %q: %v", alg, q, err)
			}
		}
	}
}

func TestParseAlgorithm(t *testing.T) {
	if a, err := ParseAlgorithm("SHA384"); err != nil || a != SHA384 {
		t.Errorf("SHA384: %v %v", a, err)
	}
	if _, err := ParseAlgorithm("md5"); err == nil {
		t.Error("md5 accepted")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("create", "name=Test+Meeting&meetingID=abc123&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17")
	f.Add("join", "checksum=&&checksum=x&meetingID=%zz")
	v := NewVerifier([]string{docSecret}, nil)
	f.Fuzz(func(t *testing.T, call, query string) {
		rest, sum, ok := SplitChecksum(query)
		if ok && len(rest) >= len(query) {
			t.Fatalf("checksum found but not cut out of %q", query)
		}
		err := v.Verify(call, query)
		if err == nil && Checksum(mustAlg(t, sum), call, rest, docSecret) != strings.ToLower(sum) {
			t.Fatalf("accepted a wrong checksum for %q", query)
		}
		Query(query).Without("checksum")
		Query(query).Get("meetingID")
	})
}

func mustAlg(t *testing.T, sum string) Algorithm {
	a, ok := algorithmForChecksum(sum)
	if !ok {
		t.Fatalf("accepted checksum of length %d", len(sum))
	}
	return a
}

func TestSignerNamesTheSecret(t *testing.T) {
	v := NewVerifier([]string{"old-secret", "new-secret"}, nil)
	q := "meetingID=room-alpha"
	for _, secret := range []string{"old-secret", "new-secret"} {
		got, err := v.Signer("create", q, Checksum(SHA256, "create", q, secret))
		if err != nil || got != secret {
			t.Fatalf("signed with %s: got %q, %v", secret, got, err)
		}
		if v.SecretFor(SecretTag(secret)) != secret {
			t.Fatalf("SecretFor(tag of %s) is not it", secret)
		}
	}
	if _, err := v.Signer("create", q, Checksum(SHA256, "create", q, "other")); err != ErrChecksumMismatch {
		t.Fatalf("unknown secret: %v", err)
	}
	if v.SecretFor("unknown") != "old-secret" {
		t.Fatal("a rotated-out tag should fall back to the first secret")
	}
	if SecretTag("old-secret") == SecretTag("new-secret") || strings.Contains(SecretTag("old-secret"), "old") {
		t.Fatal("tags must differ and not show the secret")
	}
}
