package dialin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRequest sends arbitrary bodies: the handler must never panic and
// must answer either an HTTP error or a well-formed document that carries
// nothing FreeSWITCH would expand.
func FuzzRequest(f *testing.F) {
	seed := modXMLCurlForm(did)
	f.Add(seed.Encode())
	seed.Set("variable_pin", "723456789")
	f.Add(seed.Encode())
	seed.Set("variable_pin", "7234567891")
	f.Add(seed.Encode())
	seed.Set("variable_dialin_failed_pins", "2")
	seed.Set("variable_pin", "99999")
	f.Add(seed.Encode())
	for _, p := range injections {
		s := modXMLCurlForm(did)
		s.Set("variable_pin", "723456789")
		s.Set(fieldCallerName, p)
		f.Add(s.Encode())
	}
	f.Add("section=dialplan&Caller-Destination-Number=%2B1&variable_pin=723456789&Caller-Caller-ID-Name=%24%7Bx%7D")
	f.Add("section=dialplan&Caller-Destination-Number=1&Caller-Destination-Number=2")
	f.Add("section=result&%zz")
	f.Add("")

	reg := map[string]Meeting{
		"723456789": {"room-${x}", "bbb1.example.com"},
		"99999":     {"m", "bbb2.example.com:5060"},
	}
	h := &Handler{
		Config: Config{Password: testPassword, MaxDuration: 3600e9, MaxDigits: 10},
		Lookup: func(_ context.Context, vb string) (Meeting, bool) { m, ok := reg[vb]; return m, ok },
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/fsapi", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(User, testPassword)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", rec.Code)
			}
			return
		}
		doc, err := decodeDocument(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, rec.Body)
		}
		checkNoInjection(t, rec.Body.Bytes(), doc)
	})
}

// FuzzCallerName checks that whatever a caller sends as name and number,
// what reaches the document is short, valid UTF-8 and free of anything
// FreeSWITCH, SIP or XML would interpret.
func FuzzCallerName(f *testing.F) {
	for _, p := range injections {
		f.Add(p, "5554321", false, false)
	}
	f.Add("Test User", "+4915112345678", false, false)
	f.Add("5554321", "5554321", false, true)
	f.Add("+49 (30) 1234-5678", "", true, false)
	f.Add("$", "{", false, false)
	f.Fuzz(func(t *testing.T, name, number string, hideName, hideNumber bool) {
		c := callerID{name: name, number: number, hideName: hideName, hideNumber: hideNumber}
		for _, visible := range []int{-1, 4} {
			shownName, shownNumber := c.displayName(visible), c.displayNumber(visible)
			for _, s := range []string{shownName, shownNumber} {
				if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxCallerNameRunes {
					t.Fatalf("%q", s)
				}
				if strings.ContainsAny(s, "${}\\'\"<>") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || !isXMLChar(r) }) {
					t.Fatalf("%q carries what FreeSWITCH or XML would interpret", s)
				}
			}
			if shownNumber != unavailable && strings.Trim(shownNumber, "+X0123456789") != "" {
				t.Fatalf("number %q", shownNumber)
			}
			if hideNumber && shownNumber != unavailable {
				t.Fatalf("hidden number shown as %q", shownNumber)
			}
			if visible < 0 && strings.ContainsAny(shownNumber, "0123456789") {
				t.Fatalf("number %q shows digits", shownNumber)
			}
			if hideName && hideNumber && shownName != unavailable {
				t.Fatalf("hidden caller shown as %q", shownName)
			}
			// The set action's data must come out of the document as it went in.
			d := dialplan{context: "public", extension: "x", destination: "1", actions: []action{{"set", "effective_caller_id_name=" + shownName}}}
			var buf bytes.Buffer
			d.writeTo(&buf)
			doc, err := decodeDocument(buf.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, buf.String())
			}
			got := doc.Sections[0].Contexts[0].Extensions[0].Conditions[0].Actions
			if len(got) != 1 || got[0].Data != "effective_caller_id_name="+shownName {
				t.Fatalf("round trip: %+v, want %q", got, shownName)
			}
		}
	})
}
