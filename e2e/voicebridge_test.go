package e2e

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/bbb"
)

type bridgeAnswer struct {
	ReturnCode  string `xml:"returncode"`
	VoiceBridge string `xml:"voiceBridge"`
	Errors      []struct {
		Key     string `xml:"key"`
		Message string `xml:"message"`
	} `xml:"errors>error"`
}

func voiceBridgeOf(t *testing.T, a answer) bridgeAnswer {
	t.Helper()
	var b bridgeAnswer
	if err := xml.Unmarshal([]byte(a.Raw), &b); err != nil {
		t.Fatalf("%v: %s", err, a.Raw)
	}
	return b
}

// Every meeting gets the pool's number: in the create's answer, in
// getMeetingInfo and getMeetings, as the server runs it; a create again
// keeps it. With external, the front-end's own number is kept while free
// and another meeting's gets BBB's nonUniqueVoiceBridge (its errors
// shape).
func TestVoiceBridges(t *testing.T) {
	p := startPool(t, 2, "\t\tvoice_bridge {\n\t\t\tlength 7\n\t\t\texternal\n\t\t}")
	c := newClient()
	created := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=vb-room&name=VB")))
	if len(created.VoiceBridge) != 7 {
		t.Fatalf("create answered voiceBridge %q, want the pool's 7 digits", created.VoiceBridge)
	}
	info, ok := p.fakes[p.holder("vb-room")].Meeting("vb-room")
	if !ok || info.VoiceBridge != created.VoiceBridge {
		t.Fatalf("the server runs it with %q, the answer said %q", info.VoiceBridge, created.VoiceBridge)
	}
	if got := voiceBridgeOf(t, c.get(t, "getMeetingInfo", "meetingID=vb-room")); got.VoiceBridge != created.VoiceBridge {
		t.Fatalf("getMeetingInfo: %q", got.VoiceBridge)
	}
	if !strings.Contains(c.get(t, "getMeetings", "").Raw, "<voiceBridge>"+created.VoiceBridge+"</voiceBridge>") {
		t.Fatal("getMeetings does not show the pool's number")
	}
	if again := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=vb-room&name=VB"))); again.VoiceBridge != created.VoiceBridge {
		t.Fatalf("create again: %q, first %q", again.VoiceBridge, created.VoiceBridge)
	}

	own := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=vb-own&name=Own&voiceBridge=7654321")))
	if own.VoiceBridge != "7654321" {
		t.Fatalf("external: %q", own.VoiceBridge)
	}
	clash := c.get(t, "create", "meetingID=vb-clash&name=Clash&voiceBridge=7654321")
	if b := voiceBridgeOf(t, clash); b.ReturnCode != bbb.Failed || len(b.Errors) != 1 || b.Errors[0].Key != "nonUniqueVoiceBridge" {
		t.Fatalf("a taken number: %s", clash.Raw)
	}
	if _, ok := registry(t)["vb-clash"]; ok {
		t.Fatal("the refused create stayed in the registry")
	}
	// Ended, the number is free again.
	mustOK(t, "end", c.get(t, "end", "meetingID=vb-own"))
	if b := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=vb-clash&name=Clash&voiceBridge=7654321"))); b.VoiceBridge != "7654321" {
		t.Fatalf("after the end: %q", b.VoiceBridge)
	}
}

// A server that runs a meeting the pool does not know (created on it
// directly) with the number the balancer chose refuses the create; the
// balancer takes another number, and the front-end sees a success.
func TestVoiceBridgeTakenOnTheServer(t *testing.T) {
	p := startPool(t, 1, "")
	c := newClient()
	first := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=dup-room&name=Dup")))
	mustOK(t, "end", c.get(t, "end", "meetingID=dup-room"))
	// Created on the server itself, with the number the pool gives
	// dup-room (the same again: it is seeded by the meetingID).
	resp, err := http.Get(p.fakes[0].SignedURL("create", "meetingID=stranger&name=Stranger&voiceBridge="+first.VoiceBridge))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if info, ok := p.fakes[0].Meeting("stranger"); !ok || info.VoiceBridge != first.VoiceBridge {
		t.Fatalf("the stranger meeting: %+v", info)
	}
	again := voiceBridgeOf(t, mustOK(t, "create", c.get(t, "create", "meetingID=dup-room&name=Dup")))
	if again.VoiceBridge == first.VoiceBridge || len(again.VoiceBridge) != 9 {
		t.Fatalf("created again with %q; the server's stranger has %q", again.VoiceBridge, first.VoiceBridge)
	}
	if got := registry(t)["dup-room"]; got == "" {
		t.Fatal("not in the registry")
	}
}
