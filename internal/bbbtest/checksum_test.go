package bbbtest

import (
	"net/http"
	"strings"
	"testing"
)

// Vectors from the API reference §8.1 (secret refSecret).
var checksumVectors = []struct {
	name, alg, call, query, want string
}{
	{"create +", "sha1", "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"},
	{"create +", "sha256", "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "da9185f7f333cfdfcd6eeac32dca3777510c4c436020d8b887ba5515bd1d189e"},
	{"create +", "sha384", "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "891ac633df39d0a1b4f8d597f3e190833216c4b29c4fb51ea3ca72757eeb958d6e7b49a845cf29f5c6019c7d29d029d1"},
	{"create +", "sha512", "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "de73ad61d11a5c801b68d4bd6ec5248546085cefb0b25c85f3c46249ea93a3a4b120f92c0a8a58d7512cb77821884951a3b01245f3435dbbef49fff3cc3988b4"},
	{"create %20", "sha1", "create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "f1ae295e2cb9a9225152334d12c9db97d2bfee5b"},
	{"create %20", "sha256", "create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "99ef8fb30893e29923a002b11e48b0be4fecfd3d72b69fa7201808775d4f7059"},
	{"getMeetings", "sha1", "getMeetings", "", "2027baa7771026e9e93392f55031535d1444c41f"},
	{"getMeetings", "sha256", "getMeetings", "", "a5370c5f3d97d56d53b435684cdbc429c2898a3bf9f435518b4279e1e0dbfc8c"},
	{"getMeetings", "sha384", "getMeetings", "", "a2caf6ab7a9296f621a58d55f299b6dbd023afcf7ccf4ddfb4245a04eb87a0bc7797ea193baa41f81346330145bd3199"},
	{"getMeetings", "sha512", "getMeetings", "", "456defa5035a4194b8590216805aa0f3b7a7508c2cb74a28bd750d4d2f43d851467acd9b8961cb7f6ffdab0c27e4e83655be9108d4a20ad8702958d6b01a48f4"},
	{"isMeetingRunning", "sha1", "isMeetingRunning", "meetingID=room-alpha", "00e2adc1cbd0539988f2a9da1e040dd5458c47d6"},
	{"isMeetingRunning", "sha256", "isMeetingRunning", "meetingID=room-alpha", "0266011b0d8172b3e00c6626bbfa3e5a5da13e1c0c78623ceaaa9bf0c8150464"},
	{"getMeetingInfo", "sha1", "getMeetingInfo", "meetingID=room-alpha", "d2edf81c88e0ba9ff7398139264a2f1c65f78ef0"},
	{"getMeetingInfo", "sha256", "getMeetingInfo", "meetingID=room-alpha", "1b4bed0bab0d264aa68cc657614c26f700144bfb877539a3be783100de2ea315"},
	{"join", "sha1", "join", "fullName=Alice+Doe&meetingID=room-alpha&role=MODERATOR&redirect=false", "aa6076f681e963d018bbdbb6fcd91fcd43acbd78"},
	{"join", "sha256", "join", "fullName=Alice+Doe&meetingID=room-alpha&role=MODERATOR&redirect=false", "0a0f4dc1b6e9eb93be79d4d2248269c7f2a6888f32d14f1d4f678f36deaf2f75"},
	{"getRecordings", "sha1", "getRecordings", "meetingID=room-alpha&state=published%2Cunpublished", "53b88f15b35bfd42cdc6176057ad32dadf5b8f8b"},
	{"getRecordings", "sha256", "getRecordings", "meetingID=room-alpha&state=published%2Cunpublished", "94a14e78990f5cb899f335e02adad7021cbbe755ead6b7ef86f713d59d1083ec"},
	{"hooks/create", "sha1", "hooks/create", "callbackURL=https%3A%2F%2Fapp.example.com%2Fhooks", "cfad9cd641c515a0a025edfd38d5da17180c88ee"},
	{"hooks/create", "sha256", "hooks/create", "callbackURL=https%3A%2F%2Fapp.example.com%2Fhooks", "b905fd322e665d136c5543c71d72aff68287a37c080b4e6010bc3571b7a1ecf7"},
	{"create utf8", "sha1", "create", "meetingID=%C3%BCml%C3%A4ut&name=Gr%C3%BC%C3%9Fe+%26+Co", "234bfddcfe650d16430f9fade1860e3f8e693303"},
	{"create utf8", "sha256", "create", "meetingID=%C3%BCml%C3%A4ut&name=Gr%C3%BC%C3%9Fe+%26+Co", "93ff8b77ee85c46abdc69235ce2c5fe7e716824cabde379e9687f08b395bd281"},
	{"create POST form 3.0", "sha1", "create", "", "8a21c9b7e3b18541974c9e78c0d0bfa790c665eb"},
	{"create POST form 3.0", "sha256", "create", "", "272c9555258496a3f19c5ad8f599af2a4ebec031381ff1e37b34842c42c12284"},
	{"create POST form 2.x sorted", "sha1", "create", "attendeePW=111222&meetingID=abc123&moderatorPW=333444&name=Test+Meeting", "0b89c2ebcfefb76772cbcf19386c33561f66f6ae"},
}

func TestChecksumVectors(t *testing.T) {
	for _, v := range checksumVectors {
		got, err := Checksum(v.alg, v.call, v.query, refSecret)
		if err != nil {
			t.Fatal(err)
		}
		if got != v.want {
			t.Errorf("%s/%s: got %s, want %s", v.name, v.alg, got, v.want)
		}
		// The verifier accepts the vector with the checksum last, first,
		// and in upper case.
		for _, raw := range []string{
			joinQuery(v.query, "checksum="+v.want),
			joinQuery("checksum="+v.want, v.query),
			joinQuery(v.query, "checksum="+strings.ToUpper(v.want)),
		} {
			if v.query == "" {
				continue // empty query: the POST-form rule, tested below
			}
			q := mustParseQuery(t, raw)
			if !verifyChecksum(v.call, raw, q, nil, refSecret, []string{v.alg}) {
				t.Errorf("%s/%s: %q not accepted", v.name, v.alg, raw)
			}
		}
	}
	if _, err := Checksum("md5", "create", "", refSecret); err == nil {
		t.Error("md5 accepted")
	}
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

func TestStripChecksum(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"meetingID=room-alpha&checksum=X", "meetingID=room-alpha"},
		{"checksum=X&meetingID=room-alpha", "meetingID=room-alpha"},
		{"attendeePW=ap&checksum=X&meetingID=abc", "attendeePW=ap&meetingID=abc"},
		{"checksum=X", ""},
	} {
		if got := stripChecksum(tc.raw, "X"); got != tc.want {
			t.Errorf("stripChecksum(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestServerChecksumPlacementAndEncoding(t *testing.T) {
	s := newServer(t, Options{})
	const sum = "00e2adc1cbd0539988f2a9da1e040dd5458c47d6"
	// checksum last, first
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum="+sum), "SUCCESS", "")
	expectKey(t, rawGet(t, s, "isMeetingRunning", "checksum="+sum+"&meetingID=room-alpha"), "SUCCESS", "")
	// sha256 variant
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum=0266011b0d8172b3e00c6626bbfa3e5a5da13e1c0c78623ceaaa9bf0c8150464"), "SUCCESS", "")
	// upper-case hex accepted
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum="+strings.ToUpper(sum)), "SUCCESS", "")
	// checksum in the middle (Go url.Values.Encode style)
	mid, _ := Checksum("sha1", "isMeetingRunning", "attendeePW=ap&meetingID=abc", refSecret)
	expectKey(t, rawGet(t, s, "isMeetingRunning", "attendeePW=ap&checksum="+mid+"&meetingID=abc"), "SUCCESS", "")

	// + and %20 both verify, each with its own checksum
	expectKey(t, rawGet(t, s, "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"), "SUCCESS", "")
	expectKey(t, rawGet(t, s, "create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444&checksum=f1ae295e2cb9a9225152334d12c9db97d2bfee5b"), "SUCCESS", "duplicateWarning")
	// ... but not swapped after signing
	expectKey(t, rawGet(t, s, "create", "name=Test%20Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"), "FAILED", "checksumError")
	expectKey(t, rawGet(t, s, "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444&checksum=f1ae295e2cb9a9225152334d12c9db97d2bfee5b"), "FAILED", "checksumError")

	// UTF-8 row
	x := expectKey(t, rawGet(t, s, "create", "meetingID=%C3%BCml%C3%A4ut&name=Gr%C3%BC%C3%9Fe+%26+Co&checksum=234bfddcfe650d16430f9fade1860e3f8e693303"), "SUCCESS", "")
	if x.MeetingID != "ümläut" {
		t.Errorf("meetingID %q", x.MeetingID)
	}
	if info, ok := s.Meeting("ümläut"); !ok || info.Name != "Grüße & Co" {
		t.Errorf("meeting %+v %v", info, ok)
	}

	// getMeetings with an empty query and every algorithm
	for _, v := range checksumVectors {
		if v.call == "getMeetings" {
			expectKey(t, rawGet(t, s, "getMeetings", "checksum="+v.want), "SUCCESS", "")
		}
	}

	// create room-alpha, then the getMeetingInfo and join vectors verify
	signed(t, s, "create", "name=Alpha+Room&meetingID=room-alpha&attendeePW=ap&moderatorPW=mp")
	expectKey(t, rawGet(t, s, "getMeetingInfo", "meetingID=room-alpha&checksum=d2edf81c88e0ba9ff7398139264a2f1c65f78ef0"), "SUCCESS", "")
	expectKey(t, rawGet(t, s, "join", "fullName=Alice+Doe&meetingID=room-alpha&role=MODERATOR&redirect=false&checksum=aa6076f681e963d018bbdbb6fcd91fcd43acbd78"), "SUCCESS", "successfullyJoined")
}

func TestServerChecksumRejections(t *testing.T) {
	s := newServer(t, Options{})
	const sum = "00e2adc1cbd0539988f2a9da1e040dd5458c47d6"
	for _, cs := range []string{
		sum[:39],  // 39
		sum + "0", // 41
		strings.Repeat("a", 63),
		strings.Repeat("a", 100),
		"",
		strings.Replace(sum, "0", "1", 1), // right length, wrong value
	} {
		expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum="+cs), "FAILED", "checksumError")
	}
	// no checksum at all
	x := expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha"), "FAILED", "checksumError")
	if x.Message != "Checksums do not match" {
		t.Errorf("message %q", x.Message)
	}
	expectKey(t, rawGet(t, s, "getMeetings", ""), "FAILED", "checksumError")
	// wrong secret
	other, _ := Checksum("sha1", "isMeetingRunning", "meetingID=room-alpha", "other-secret")
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum="+other), "FAILED", "checksumError")
	// hashed under a different call name
	expectKey(t, rawGet(t, s, "getMeetingInfo", "meetingID=room-alpha&checksum="+sum), "FAILED", "checksumError")
}

func TestDisallowedAlgorithm(t *testing.T) {
	s := newServer(t, Options{Algorithms: []string{"sha256", "SHA512"}})
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum=00e2adc1cbd0539988f2a9da1e040dd5458c47d6"), "FAILED", "checksumError")
	expectKey(t, rawGet(t, s, "isMeetingRunning", "meetingID=room-alpha&checksum=0266011b0d8172b3e00c6626bbfa3e5a5da13e1c0c78623ceaaa9bf0c8150464"), "SUCCESS", "")
	expectKey(t, rawGet(t, s, "getMeetings", "checksum=a2caf6ab7a9296f621a58d55f299b6dbd023afcf7ccf4ddfb4245a04eb87a0bc7797ea193baa41f81346330145bd3199"), "FAILED", "checksumError")
	expectKey(t, rawGet(t, s, "getMeetings", "checksum=456defa5035a4194b8590216805aa0f3b7a7508c2cb74a28bd750d4d2f43d851467acd9b8961cb7f6ffdab0c27e4e83655be9108d4a20ad8702958d6b01a48f4"), "SUCCESS", "noMeetings")
	// SignedURL uses the first allowed algorithm.
	if u := s.SignedURL("getMeetings", ""); !strings.HasSuffix(u, "checksum=a5370c5f3d97d56d53b435684cdbc429c2898a3bf9f435518b4279e1e0dbfc8c") {
		t.Errorf("SignedURL = %s", u)
	}
	if _, err := New(Options{Secret: "x", Algorithms: []string{"md5"}}); err == nil {
		t.Error("New accepted md5")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted an empty secret")
	}
}

func TestPOSTFormEmptyQuery(t *testing.T) {
	s := newServer(t, Options{})
	const form = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
	post := func(body string) result {
		return do(t, http.MethodPost, s.URL()+"/create", "application/x-www-form-urlencoded", body)
	}
	// 3.0 rule: H("create" + secret), params from the body.
	x := expectKey(t, post(form+"&checksum=8a21c9b7e3b18541974c9e78c0d0bfa790c665eb"), "SUCCESS", "")
	if x.MeetingID != "abc123" || x.AttendeePW != "111222" || x.ModeratorPW != "333444" {
		t.Errorf("params not taken from the body: %+v", x)
	}
	expectKey(t, post("checksum=272c9555258496a3f19c5ad8f599af2a4ebec031381ff1e37b34842c42c12284&"+form), "SUCCESS", "duplicateWarning")
	// The 2.x sorted-body fallback is not accepted by a 3.0 server.
	expectKey(t, post(form+"&checksum=0b89c2ebcfefb76772cbcf19386c33561f66f6ae"), "FAILED", "checksumError")
	// multipart form, same rule
	body := "--XYZ\r\nContent-Disposition: form-data; name=\"meetingID\"\r\n\r\nabc123\r\n" +
		"--XYZ\r\nContent-Disposition: form-data; name=\"checksum\"\r\n\r\n8a21c9b7e3b18541974c9e78c0d0bfa790c665eb\r\n--XYZ--\r\n"
	r := do(t, http.MethodPost, s.URL()+"/create", "multipart/form-data; boundary=XYZ", body)
	expectKey(t, r, "FAILED", "nullError") // checksum fine, name missing
	// a GET with an empty query never verifies
	expectKey(t, rawGet(t, s, "create", ""), "FAILED", "checksumError")
	// POST with query params signed, form body params used but not hashed
	q := "meetingID=form-mix"
	cs, _ := Checksum("sha1", "create", q, refSecret)
	r = do(t, http.MethodPost, s.URL()+"/create?"+q+"&checksum="+cs, "application/x-www-form-urlencoded", "name=From+Body")
	expectKey(t, r, "SUCCESS", "")
	if info, _ := s.Meeting("form-mix"); info.Name != "From Body" {
		t.Errorf("name %q", info.Name)
	}
}

func TestChecksumRecordedForOtherCalls(t *testing.T) {
	s := newServer(t, Options{})
	for _, v := range checksumVectors {
		if v.call != "hooks/create" && v.call != "getRecordings" {
			continue
		}
		s.ResetCalls()
		x := expectKey(t, rawGet(t, s, v.call, v.query+"&checksum="+v.want), "FAILED", "unsupportedRequest")
		if x.Message != "This request is not supported." {
			t.Errorf("message %q", x.Message)
		}
		calls := s.Calls()
		if len(calls) != 1 || calls[0].Name != v.call || !calls[0].ChecksumOK {
			t.Errorf("%s: calls %+v", v.call, calls)
		}
	}
}
