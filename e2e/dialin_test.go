package e2e

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fsDocument is what the tests read of a FreeSWITCH XML document.
type fsDocument struct {
	Section struct {
		Name    string `xml:"name,attr"`
		Actions []struct {
			Application string `xml:"application,attr"`
			Data        string `xml:"data,attr"`
		} `xml:"context>extension>condition>action"`
		Result struct {
			Status string `xml:"status,attr"`
		} `xml:"result"`
	} `xml:"section"`
}

// fsapi posts a lookup as FreeSWITCH's mod_xml_curl does.
func fsapi(t *testing.T, password string, form url.Values) (int, fsDocument) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/fsapi", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "freeswitch-xml/1.0")
	if password != "" {
		req.SetBasicAuth("fsapi", password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc fsDocument
	if resp.StatusCode == http.StatusOK {
		if err := xml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("unreadable document %q: %v", raw, err)
		}
	}
	return resp.StatusCode, doc
}

func dialplanLookup(pin string) url.Values {
	v := url.Values{
		"section":                   {"dialplan"},
		"tag_name":                  {""},
		"key_name":                  {""},
		"key_value":                 {""},
		"Hunt-Context":              {"public"},
		"Caller-Context":            {"public"},
		"Caller-Destination-Number": {"+4930123456"},
		"Caller-Caller-ID-Number":   {"+491701234567"},
		"Caller-Caller-ID-Name":     {"+491701234567"},
	}
	if pin != "" {
		v.Set("variable_pin", pin)
	}
	return v
}

// A phone call to the pool's number: FreeSWITCH asks /fsapi, is told to
// collect the PIN, then where to bridge the call: the server of the
// meeting with that voice bridge.
func TestDialin(t *testing.T) {
	p := startPool(t, 2, "\t\tdialin {\n\t\t\tpassword fsapi-test-password\n\t\t}")
	c := newClient()
	created := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=phone-room&name=Phone")))
	holder := p.fakes[p.holder("phone-room")]

	if status, _ := fsapi(t, "", dialplanLookup(created.VoiceBridge)); status != http.StatusUnauthorized {
		t.Fatalf("without credentials: HTTP %d", status)
	}
	if status, _ := fsapi(t, "wrong", dialplanLookup(created.VoiceBridge)); status != http.StatusUnauthorized {
		t.Fatalf("with a wrong password: HTTP %d", status)
	}

	_, doc := fsapi(t, "fsapi-test-password", dialplanLookup(""))
	apps := map[string]string{}
	for _, a := range doc.Section.Actions {
		apps[a.Application] = a.Data
	}
	if _, ok := apps["play_and_get_digits"]; !ok || doc.Section.Name != "dialplan" {
		t.Fatalf("no PIN yet: %+v", doc)
	}

	_, doc = fsapi(t, "fsapi-test-password", dialplanLookup(created.VoiceBridge))
	var bridge, meeting string
	for _, a := range doc.Section.Actions {
		switch {
		case a.Application == "bridge":
			bridge = a.Data
		case a.Application == "set" && strings.HasPrefix(a.Data, "meeting_id="):
			meeting = strings.TrimPrefix(a.Data, "meeting_id=")
		}
	}
	host := strings.Split(strings.TrimPrefix(holder.URL(), "http://"), ":")[0]
	if want := "sofia/external/" + created.VoiceBridge + "@" + host; bridge != want || meeting != "phone-room" {
		t.Fatalf("bridge %q meeting %q, want %q and phone-room", bridge, meeting, want)
	}

	// A PIN of no meeting: asked again, not bridged.
	_, doc = fsapi(t, "fsapi-test-password", dialplanLookup("123456789"))
	for _, a := range doc.Section.Actions {
		if a.Application == "bridge" {
			t.Fatalf("an unknown PIN was bridged: %+v", doc)
		}
	}
	// Other sections: FreeSWITCH's "not found".
	form := dialplanLookup(created.VoiceBridge)
	form.Set("section", "directory")
	if _, doc = fsapi(t, "fsapi-test-password", form); doc.Section.Result.Status != "not found" {
		t.Fatalf("directory lookup: %+v", doc)
	}
	// Ended, its number leads nowhere.
	mustOK(t, "end", c.get(t, "end", "meetingID=phone-room"))
	_, doc = fsapi(t, "fsapi-test-password", dialplanLookup(created.VoiceBridge))
	for _, a := range doc.Section.Actions {
		if a.Application == "bridge" {
			t.Fatalf("an ended meeting's PIN was bridged: %+v", doc)
		}
	}
}
