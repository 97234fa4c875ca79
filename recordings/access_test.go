package recordings

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	accessID    = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203311"
	accessOther = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715171203312"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAccess(c *clock) *Access {
	return &Access{Key: bytes.Repeat([]byte{7}, 32), LinkTTL: time.Hour, CookieTTL: 6 * time.Hour, Now: c.now}
}

func TestAccessTokens(t *testing.T) {
	c := &clock{time.Unix(1715171203, 0)}
	a := newAccess(c)
	tok := a.Token(accessID, "presentation")
	used, exp, err := a.CheckToken(accessID, "presentation", tok)
	if err != nil || !exp.Equal(c.t.Add(time.Hour)) || !strings.HasPrefix(used, "playback:") {
		t.Fatalf("CheckToken = %q, %v, %v", used, exp, err)
	}
	if strings.Contains(used, tok) {
		t.Fatal("the use record holds the token itself")
	}
	if tok2 := a.Token(accessID, "presentation"); tok2 == tok {
		t.Fatal("two tokens are the same")
	} else if used2, _, _ := a.CheckToken(accessID, "presentation", tok2); used2 == used {
		t.Fatal("two tokens share a use record")
	}

	for name, check := range map[string]func() error{
		"other recording": func() error { _, _, err := a.CheckToken(accessOther, "presentation", tok); return err },
		"other format":    func() error { _, _, err := a.CheckToken(accessID, "video", tok); return err },
		"other key": func() error {
			b := *a
			b.Key = bytes.Repeat([]byte{8}, 32)
			_, _, err := b.CheckToken(accessID, "presentation", tok)
			return err
		},
		"tampered": func() error {
			raw := []byte(tok)
			raw[3] ^= 1
			_, _, err := a.CheckToken(accessID, "presentation", string(raw))
			return err
		},
		"truncated": func() error { _, _, err := a.CheckToken(accessID, "presentation", tok[:20]); return err },
		"empty":     func() error { _, _, err := a.CheckToken(accessID, "presentation", ""); return err },
		"not base64": func() error {
			_, _, err := a.CheckToken(accessID, "presentation", "!!!"+tok[3:])
			return err
		},
	} {
		if err := check(); err != ErrBadLink {
			t.Errorf("%s: %v, want ErrBadLink", name, err)
		}
	}

	c.t = c.t.Add(time.Hour - time.Second)
	if _, _, err := a.CheckToken(accessID, "presentation", tok); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.t = c.t.Add(time.Second)
	if _, _, err := a.CheckToken(accessID, "presentation", tok); err != ErrBadLink {
		t.Fatalf("at expiry: %v", err)
	}
}

func TestAccessLinkPath(t *testing.T) {
	a := newAccess(&clock{time.Unix(1715171203, 0)})
	u, err := url.Parse(a.LinkPath(accessID, "video"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/recording/"+accessID+"/video" {
		t.Fatalf("path %q", u.Path)
	}
	if _, _, err := a.CheckToken(accessID, "video", u.Query().Get("token")); err != nil {
		t.Fatalf("the link's token: %v", err)
	}
}

func TestAccessCookie(t *testing.T) {
	c := &clock{time.Unix(1715171203, 0)}
	a := newAccess(c)
	ck := a.Cookie(accessID, "presentation", true)
	if ck.Name != "recording_presentation_"+accessID || ck.Path != "/presentation/"+accessID ||
		!ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 6*3600 {
		t.Fatalf("cookie %+v", ck)
	}
	if plain := a.Cookie(accessID, "presentation", false); plain.Secure {
		t.Fatal("Secure cookie without TLS")
	}
	with := func(cookies ...*http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/presentation/"+accessID+"/metadata.xml", nil)
		for _, ck := range cookies {
			r.AddCookie(ck)
		}
		return r
	}
	if !a.Allowed(with(ck), accessID, "presentation") {
		t.Fatal("the cookie is refused")
	}
	if a.Allowed(with(), accessID, "presentation") {
		t.Fatal("allowed without a cookie")
	}
	if a.Allowed(with(ck), accessID, "video") || a.Allowed(with(ck), accessOther, "presentation") {
		t.Fatal("a cookie opens another format or recording")
	}
	// A cookie of another recording renamed to this one's does not verify.
	other := a.Cookie(accessOther, "presentation", false)
	other.Name = ck.Name
	if a.Allowed(with(other), accessID, "presentation") {
		t.Fatal("a renamed cookie of another recording is accepted")
	}
	// Among several cookies of that name, a valid one is enough.
	junk := &http.Cookie{Name: ck.Name, Value: "junk"}
	if !a.Allowed(with(junk, ck), accessID, "presentation") {
		t.Fatal("a junk cookie beside a valid one hides it")
	}
	c.t = c.t.Add(6 * time.Hour)
	if a.Allowed(with(ck), accessID, "presentation") {
		t.Fatal("an expired cookie is accepted")
	}
}

func TestAccessProtect(t *testing.T) {
	a := newAccess(&clock{time.Unix(1715171203, 0)})
	rec := Recording{RecordID: accessID, Formats: []Format{
		{Type: "presentation", URL: "https://bbb1/playback/presentation/2.3/" + accessID, Path: "/playback/presentation/2.3/" + accessID,
			Extensions: `<preview><images><image>x</image></images></preview><other>kept</other>`,
			Thumbnails: []Thumbnail{{Path: "/presentation/" + accessID + "/thumb-1.png"}}},
		{Type: "video", Path: "/playback/video/" + accessID + "/"},
	}}
	p := a.Protect(rec)
	if rec.Formats[0].Path != "/playback/presentation/2.3/"+accessID || len(rec.Formats[0].Thumbnails) != 1 {
		t.Fatal("Protect changed its argument")
	}
	var b bytes.Buffer
	WriteRecordingXML(&b, p, "https://lb.example.com")
	out := b.String()
	for _, f := range []string{"presentation", "video"} {
		if !strings.Contains(out, "<url>https://lb.example.com/recording/"+accessID+"/"+f+"?token=") {
			t.Errorf("no one-time link for %s in %s", f, out)
		}
	}
	if strings.Contains(out, "thumb-1.png") || strings.Contains(out, "<preview>") || strings.Contains(out, "/playback/") {
		t.Errorf("thumbnails or the player URL listed: %s", out)
	}
	if !strings.Contains(out, "<other>kept</other>") {
		t.Errorf("other extensions lost: %s", out)
	}
}
