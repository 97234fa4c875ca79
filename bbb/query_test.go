package bbb

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestQuery(t *testing.T) {
	q := Query("name=Test%20Meeting&meetingID=abc+1&checksum=ff&meta_x=%27&meetingID=second")
	if got := q.Get("meetingID"); got != "abc 1" {
		t.Errorf("Get meetingID = %q", got)
	}
	if got := q.Get("name"); got != "Test Meeting" {
		t.Errorf("Get name = %q", got)
	}
	if _, ok := q.Lookup("nope"); ok {
		t.Error("Lookup of a missing key found it")
	}
	if got := q.Without("checksum"); got != "name=Test%20Meeting&meetingID=abc+1&meta_x=%27&meetingID=second" {
		t.Errorf("Without = %q", got)
	}
	if got := q.Without("meetingID", "checksum", "name"); got != "meta_x=%27" {
		t.Errorf("Without several = %q", got)
	}
	if got := Query("").With("a", "b c"); got != "a=b+c" {
		t.Errorf("With on empty = %q", got)
	}
	if got := q.With("meetingID", "z"); got != "name=Test%20Meeting&checksum=ff&meta_x=%27&meetingID=z" {
		t.Errorf("With = %q", got)
	}
	if got := Query("a=%zz").Get("a"); got != "%zz" {
		t.Errorf("undecodable value = %q", got)
	}
}

func TestSplitChecksumMiddle(t *testing.T) {
	rest, sum, ok := SplitChecksum("attendeePW=ap&checksum=Y&meetingID=abc")
	if !ok || sum != "Y" || rest != "attendeePW=ap&meetingID=abc" {
		t.Errorf("got %q %q %v", rest, sum, ok)
	}
}

func TestParseEnvelope(t *testing.T) {
	cases := map[string]Envelope{
		"<response><returncode>SUCCESS</returncode><running>false</running></response>":                                                    {ReturnCode: "SUCCESS"},
		"<response>\n<returncode>FAILED</returncode><messageKey>idNotUnique</messageKey><message>A &amp; B &lt;x&gt;</message></response>": {ReturnCode: "FAILED", MessageKey: "idNotUnique", Message: "A & B <x>"},
		"<response><returncode>FAILED</returncode><errors><error><key>k</key><message>m</message></error></errors></response>":             {ReturnCode: "FAILED", MessageKey: "k", Message: "m"},
	}
	for body, want := range cases {
		got, err := ParseEnvelope([]byte(body))
		if err != nil || got != want {
			t.Errorf("ParseEnvelope(%q) = %+v, %v; want %+v", body, got, err, want)
		}
	}
	for _, bad := range []string{"", "not xml at all", "<html><body>502</body></html>", "<response><returncode>"} {
		if _, err := ParseEnvelope([]byte(bad)); err == nil {
			t.Errorf("ParseEnvelope(%q) accepted", bad)
		}
	}
}

func TestCallErrorsCarryNoChecksum(t *testing.T) {
	c := &Client{HTTP: &http.Client{}}
	e := Endpoint{URL: "http://127.0.0.1:1/bigbluebutton/api", Secret: "s3cret"}
	_, err := c.Do(context.Background(), e, "getMeetings", "", nil, "")
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	sum := Checksum(SHA256, "getMeetings", "", "s3cret")
	if strings.Contains(err.Error(), sum) || strings.Contains(err.Error(), "checksum") {
		t.Errorf("error shows the checksum: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not say which server: %v", err)
	}
}
