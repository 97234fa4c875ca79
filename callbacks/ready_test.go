package callbacks_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/callbacks"
)

func TestRecordingReady(t *testing.T) {
	const secret = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"
	const rid = "9ed2ddf543995cf1fc73e98f558f8314ca4f7040-1715261728123"
	d, err := callbacks.RecordingReady("https://app.example.com/recording_ready", secret, "", "room-alpha", rid)
	if err != nil {
		t.Fatal(err)
	}
	// bbb-api.md §8.2
	want := "signed_parameters=eyJhbGciOiJIUzI1NiJ9.eyJtZWV0aW5nX2lkIjoicm9vbS1hbHBoYSIsInJlY29yZF9pZCI6IjllZDJkZGY1NDM5OTVjZjFmYzczZTk4ZjU1OGY4MzE0Y2E0ZjcwNDAtMTcxNTI2MTcyODEyMyJ9.DkFgQxM1bhXesFM0JbdRdrzQJUCpO2PF46gbQKrP47Y"
	if string(d.Body) != want {
		t.Fatalf("body\n %s\nwant\n %s", d.Body, want)
	}
	if d.Kind != callbacks.KindRecordingReady || d.ContentType != "application/x-www-form-urlencoded" || d.URL != "https://app.example.com/recording_ready" {
		t.Fatalf("delivery %+v", d)
	}
	d, err = callbacks.RecordingReady("https://app.example.com/r", secret, "HS512", "room-alpha", rid)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := url.ParseQuery(string(d.Body))
	if !strings.HasPrefix(v.Get("signed_parameters"), "eyJhbGciOiJIUzUxMiJ9.") { // {"alg":"HS512"}
		t.Fatalf("HS512 token %s", v.Get("signed_parameters"))
	}
	if _, err := callbacks.RecordingReady("not a url", secret, "", "m", rid); err == nil {
		t.Error("bad URL accepted")
	}
	if _, err := callbacks.RecordingReady("https://x/", secret, "RS256", "m", rid); err == nil {
		t.Error("RS256 accepted")
	}
}
