package dialin

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPassword = "s3cret"

// fsDocument is what FreeSWITCH reads from an answer.
type fsDocument struct {
	XMLName  xml.Name    `xml:"document"`
	Type     string      `xml:"type,attr"`
	Sections []fsSection `xml:"section"`
}

type fsSection struct {
	Name        string      `xml:"name,attr"`
	Description string      `xml:"description,attr"`
	Result      *fsResult   `xml:"result"`
	Contexts    []fsContext `xml:"context"`
}

type fsResult struct {
	Status string `xml:"status,attr"`
}

type fsContext struct {
	Name       string        `xml:"name,attr"`
	Extensions []fsExtension `xml:"extension"`
}

type fsExtension struct {
	Name       string        `xml:"name,attr"`
	Conditions []fsCondition `xml:"condition"`
}

type fsCondition struct {
	Field      string     `xml:"field,attr"`
	Expression string     `xml:"expression,attr"`
	Actions    []fsAction `xml:"action"`
}

type fsAction struct {
	Application string `xml:"application,attr"`
	Data        string `xml:"data,attr"`
}

// registry is a Lookup over a fixed map that records what it was asked.
type registry struct {
	mu       sync.Mutex
	meetings map[string]Meeting
	asked    []string
}

func (reg *registry) lookup(_ context.Context, vb string) (Meeting, bool) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.asked = append(reg.asked, vb)
	m, ok := reg.meetings[vb]
	return m, ok
}

func newHandler(cfg Config, reg *registry) (*Handler, *[]string) {
	if cfg.Password == "" {
		cfg.Password = testPassword
	}
	var observed []string
	var mu sync.Mutex
	h := &Handler{
		Config: cfg,
		Observe: func(result string) {
			mu.Lock()
			observed = append(observed, result)
			mu.Unlock()
		},
	}
	if reg != nil {
		h.Lookup = reg.lookup
	}
	return h, &observed
}

// modXMLCurlForm is a dialplan lookup as mod_xml_curl posts it for a call
// from a SIP trunk into the public context (a trimmed real request: its
// own fields, then the channel's event headers and variables).
func modXMLCurlForm(destination string) url.Values {
	return url.Values{
		"hostname":                    {"gw1"},
		"section":                     {"dialplan"},
		"tag_name":                    {""},
		"key_name":                    {""},
		"key_value":                   {""},
		"Event-Name":                  {"REQUEST_PARAMS"},
		"Core-UUID":                   {"6a8a3e34-5f7e-4b57-9d2e-3c7b0c5f9a11"},
		"FreeSWITCH-Hostname":         {"gw1"},
		"FreeSWITCH-Switchname":       {"gw1"},
		"FreeSWITCH-IPv4":             {"192.0.2.10"},
		"Event-Calling-File":          {"mod_dialplan_xml.c"},
		"Event-Calling-Function":      {"dialplan_xml_locate"},
		"Channel-State":               {"CS_ROUTING"},
		"Channel-Call-State":          {"RINGING"},
		"Channel-Name":                {"sofia/external/+4915112345678@203.0.113.5"},
		"Unique-ID":                   {"0f0e1d2c-3b4a-5968-7766-554433221100"},
		"Call-Direction":              {"inbound"},
		"Answer-State":                {"ringing"},
		"Caller-Direction":            {"inbound"},
		"Caller-Logical-Direction":    {"inbound"},
		"Caller-Username":             {"+4915112345678"},
		"Caller-Dialplan":             {"XML"},
		"Caller-Caller-ID-Name":       {"+4915112345678"},
		"Caller-Caller-ID-Number":     {"+4915112345678"},
		"Caller-Orig-Caller-ID-Name":  {"+4915112345678"},
		"Caller-Network-Addr":         {"203.0.113.5"},
		"Caller-ANI":                  {"+4915112345678"},
		"Caller-Destination-Number":   {destination},
		"Caller-Unique-ID":            {"0f0e1d2c-3b4a-5968-7766-554433221100"},
		"Caller-Source":               {"mod_sofia"},
		"Caller-Context":              {"public"},
		"Caller-Channel-Name":         {"sofia/external/+4915112345678@203.0.113.5"},
		"Caller-Profile-Index":        {"1"},
		"Caller-Privacy-Hide-Name":    {"false"},
		"Caller-Privacy-Hide-Number":  {"false"},
		"variable_direction":          {"inbound"},
		"variable_uuid":               {"0f0e1d2c-3b4a-5968-7766-554433221100"},
		"variable_sip_from_user":      {"+4915112345678"},
		"variable_sip_to_user":        {destination},
		"variable_sip_req_user":       {destination},
		"variable_sofia_profile_name": {"external"},
		"variable_max_forwards":       {"69"},
		"Hunt-Destination-Number":     {destination},
		"Hunt-Context":                {"public"},
		"Hunt-Dialplan":               {"XML"},
	}
}

func post(h http.Handler, form url.Values, user, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/fsapi", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func postAuthorized(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	return post(h, form, User, testPassword)
}

// parseDocument checks the answer is a well-formed FreeSWITCH document
// and returns it.
func parseDocument(t testing.TB, rec *httptest.ResponseRecorder) fsDocument {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Fatalf("Content-Type %q", ct)
	}
	doc, err := decodeDocument(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.Body)
	}
	return doc
}

func decodeDocument(body []byte) (fsDocument, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			return fsDocument{}, err
		}
	}
	var doc fsDocument
	if err := xml.Unmarshal(body, &doc); err != nil {
		return fsDocument{}, err
	}
	if doc.Type != "freeswitch/xml" || len(doc.Sections) != 1 {
		return doc, errors.New("not one section of a freeswitch/xml document")
	}
	return doc, nil
}

// dialplanActions returns the actions of a dialplan document, which must
// match destination in context public.
func dialplanActions(t testing.TB, doc fsDocument, destination string) (extension string, actions []fsAction) {
	t.Helper()
	s := doc.Sections[0]
	if s.Name != "dialplan" || len(s.Contexts) != 1 || s.Contexts[0].Name != "public" ||
		len(s.Contexts[0].Extensions) != 1 || len(s.Contexts[0].Extensions[0].Conditions) != 1 {
		t.Fatalf("not one public extension with one condition: %+v", s)
	}
	ext := s.Contexts[0].Extensions[0]
	cond := ext.Conditions[0]
	if cond.Field != "destination_number" {
		t.Fatalf("condition field %q", cond.Field)
	}
	re, err := regexp.Compile(cond.Expression)
	if err != nil {
		t.Fatalf("expression %q: %v", cond.Expression, err)
	}
	if !re.MatchString(destination) || re.MatchString(destination+"0") || re.MatchString("x"+destination) {
		t.Fatalf("expression %q does not match exactly %q", cond.Expression, destination)
	}
	return ext.Name, cond.Actions
}

func isNotFound(doc fsDocument) bool {
	s := doc.Sections[0]
	return s.Name == "result" && s.Result != nil && s.Result.Status == "not found" && len(s.Contexts) == 0
}

func sameActions(t testing.TB, got []fsAction, want ...fsAction) {
	t.Helper()
	if !slices.Equal(got, want) {
		var b strings.Builder
		for _, a := range got {
			b.WriteString("\n  " + a.Application + " " + a.Data)
		}
		t.Fatalf("actions:%s\nwant %v", b.String(), want)
	}
}

const did = "+4930123456"

var defaultCollection = fsAction{"play_and_get_digits",
	`5 9 3 7000 # conference/conf-enter_conf_pin.wav conference/conf-bad-pin.wav pin ^\d+$ 7000 'hangup:NORMAL_CLEARING inline'`}

func TestOffWithoutPassword(t *testing.T) {
	var observed []string
	h := &Handler{Observe: func(r string) { observed = append(observed, r) }}
	for _, rec := range []*httptest.ResponseRecorder{
		post(h, modXMLCurlForm(did), "", ""),
		post(h, modXMLCurlForm(did), User, ""),
	} {
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", rec.Code)
		}
	}
	if !slices.Equal(observed, []string{ResultRefused, ResultRefused}) {
		t.Errorf("observed %v", observed)
	}
}

func TestAuthentication(t *testing.T) {
	h, observed := newHandler(Config{Realm: "bbb.example.com"}, nil)
	for _, c := range []struct {
		name, user, password string
	}{
		{"none", "", ""},
		{"wrong password", User, "wrong"},
		{"password prefix", User, testPassword[:3]},
		{"wrong user", "admin", testPassword},
		{"empty user", "", testPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := post(h, modXMLCurlForm(did), c.user, c.password)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != `Basic realm="bbb.example.com"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	for _, r := range *observed {
		if r != ResultRefused {
			t.Errorf("observed %q, want refused", r)
		}
	}
	if rec := postAuthorized(h, modXMLCurlForm(did)); rec.Code != http.StatusOK {
		t.Errorf("right credentials: status %d", rec.Code)
	}
}

func TestMethod(t *testing.T) {
	h, observed := newHandler(Config{}, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		req := httptest.NewRequest(method, "/fsapi?section=dialplan", nil)
		req.SetBasicAuth(User, testPassword)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q", method, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if len(*observed) != 3 || (*observed)[0] != ResultRefused {
		t.Errorf("observed %v", *observed)
	}
}

func TestNotDialplan(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"123456789": {"m", "bbb1.example.com"}}}
	h, observed := newHandler(Config{}, reg)
	for _, c := range []struct {
		name   string
		change func(url.Values)
	}{
		{"directory", func(f url.Values) { f.Set("section", "directory") }},
		{"configuration", func(f url.Values) { f.Set("section", "configuration") }},
		{"no section", func(f url.Values) { f.Del("section") }},
		{"no destination", func(f url.Values) { f.Del("Caller-Destination-Number"); f.Del("Hunt-Destination-Number") }},
		{"other context", func(f url.Values) { f.Set("Caller-Context", "default"); f.Set("variable_pin", "123456789") }},
		{"destination with spaces", func(f url.Values) { f.Set("Caller-Destination-Number", "1 XML default") }},
		{"destination with a variable", func(f url.Values) { f.Set("Caller-Destination-Number", "${sip_to_user}") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := modXMLCurlForm(did)
			c.change(form)
			if doc := parseDocument(t, postAuthorized(h, form)); !isNotFound(doc) {
				t.Fatalf("want the not-found document, got %+v", doc)
			}
		})
	}
	if len(reg.asked) != 0 {
		t.Errorf("the registry was asked %v", reg.asked)
	}
	for _, r := range *observed {
		if r != ResultNotDialplan {
			t.Errorf("observed %q, want not_dialplan", r)
		}
	}
}

func TestHuntFieldsStandIn(t *testing.T) {
	h, _ := newHandler(Config{}, nil)
	form := modXMLCurlForm(did)
	form.Del("Caller-Destination-Number")
	form.Del("Caller-Context")
	_, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if actions[len(actions)-1] != (fsAction{"transfer", did + " XML public"}) {
		t.Errorf("last action %+v", actions[len(actions)-1])
	}
}

func TestPrompt(t *testing.T) {
	h, observed := newHandler(Config{}, nil)
	rec := postAuthorized(h, modXMLCurlForm(did))
	ext, actions := dialplanActions(t, parseDocument(t, rec), did)
	if ext != "bbb_dialin_prompt" {
		t.Errorf("extension %q", ext)
	}
	sameActions(t, actions,
		fsAction{"answer", ""},
		fsAction{"sleep", "500"},
		fsAction{"playback", "ivr/ivr-welcome.wav"},
		fsAction{"sleep", "200"},
		defaultCollection,
		fsAction{"transfer", did + " XML public"},
	)
	if !slices.Equal(*observed, []string{ResultPrompt}) {
		t.Errorf("observed %v", *observed)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
}

func TestPromptWithSettings(t *testing.T) {
	h, _ := newHandler(Config{
		MaxDuration:   90 * time.Minute,
		MinDigits:     6,
		MaxDigits:     10,
		Tries:         2,
		DigitTimeout:  5 * time.Second,
		WelcomePrompt: "/usr/share/sounds/welcome.wav",
		PinPrompt:     "phrase:enter_pin",
		InvalidPrompt: "ivr/ivr-that_was_an_invalid_entry.wav",
		Context:       "dialin",
	}, nil)
	form := modXMLCurlForm("100")
	form.Set("Caller-Context", "dialin")
	form.Set("Hunt-Context", "dialin")
	doc := parseDocument(t, postAuthorized(h, form))
	if doc.Sections[0].Contexts[0].Name != "dialin" {
		t.Fatalf("context %q", doc.Sections[0].Contexts[0].Name)
	}
	doc.Sections[0].Contexts[0].Name = "public"
	_, actions := dialplanActions(t, doc, "100")
	sameActions(t, actions,
		fsAction{"answer", ""},
		fsAction{"sched_hangup", "+5400 NORMAL_CLEARING"},
		fsAction{"sleep", "500"},
		fsAction{"playback", "/usr/share/sounds/welcome.wav"},
		fsAction{"sleep", "200"},
		fsAction{"play_and_get_digits", `6 10 2 5000 # phrase:enter_pin ivr/ivr-that_was_an_invalid_entry.wav pin ^\d+$ 5000 'hangup:NORMAL_CLEARING inline'`},
		fsAction{"transfer", "100 XML dialin"},
	)
}

func TestBridge(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"723456789": {"room-42", "bbb2.example.com"}}}
	h, observed := newHandler(Config{}, reg)
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "723456789")
	form.Set("Caller-Caller-ID-Name", "Test User")
	ext, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if ext != "bbb_dialin_bridge" {
		t.Errorf("extension %q", ext)
	}
	sameActions(t, actions,
		fsAction{"set", "meeting_id=room-42"},
		fsAction{"set", "effective_caller_id_name=Test User"},
		fsAction{"set", "effective_caller_id_number=+XXXXXXXXX5678"},
		fsAction{"bridge", "sofia/external/723456789@bbb2.example.com"},
	)
	if !slices.Equal(*observed, []string{ResultFound}) || !slices.Equal(reg.asked, []string{"723456789"}) {
		t.Errorf("observed %v, asked %v", *observed, reg.asked)
	}
}

func TestBridgeProfileAndPort(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"72345": {"m", "[2001:db8::7]:5060"}}}
	h, _ := newHandler(Config{Profile: "bbb"}, reg)
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "72345")
	_, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if got := actions[len(actions)-1]; got != (fsAction{"bridge", "sofia/bbb/72345@[2001:db8::7]:5060"}) {
		t.Errorf("bridge %+v", got)
	}
}

func TestBreakoutRooms(t *testing.T) {
	parent := Meeting{"parent", "bbb1.example.com"}
	own := Meeting{"breakout-own", "bbb3.example.com"}
	reg := &registry{meetings: map[string]Meeting{
		"723456789":  parent,
		"7234567892": own,
		"1234":       {"too-short", "bbb9.example.com"},
	}}
	h, _ := newHandler(Config{MaxDigits: 10}, reg)
	for _, c := range []struct {
		name, pin   string
		wantMeeting string
		wantHost    string
		wantAsked   []string
	}{
		{"unknown breakout: the parent's server, the breakout's pin", "7234567897", "parent", "bbb1.example.com", []string{"7234567897", "723456789"}},
		{"a breakout the registry knows is its own meeting", "7234567892", "breakout-own", "bbb3.example.com", []string{"7234567892"}},
		{"no fallback below MinDigits", "12345", "", "", []string{"12345"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg.asked = nil
			form := modXMLCurlForm(did)
			form.Set("variable_pin", c.pin)
			ext, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
			if !slices.Equal(reg.asked, c.wantAsked) {
				t.Errorf("asked %v, want %v", reg.asked, c.wantAsked)
			}
			if c.wantMeeting == "" {
				if ext != "bbb_dialin_reprompt" {
					t.Fatalf("extension %q, want the reprompt", ext)
				}
				return
			}
			if actions[0] != (fsAction{"set", "meeting_id=" + c.wantMeeting}) {
				t.Errorf("first action %+v", actions[0])
			}
			if got := actions[len(actions)-1]; got != (fsAction{"bridge", "sofia/external/" + c.pin + "@" + c.wantHost}) {
				t.Errorf("bridge %+v", got)
			}
		})
	}
}

func TestUnknownPin(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{}}
	h, observed := newHandler(Config{}, reg)

	form := modXMLCurlForm(did)
	form.Set("variable_pin", "55512345")
	ext, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if ext != "bbb_dialin_reprompt" {
		t.Errorf("extension %q", ext)
	}
	sameActions(t, actions,
		fsAction{"set", "dialin_failed_pins=1"},
		fsAction{"playback", "conference/conf-bad-pin.wav"},
		fsAction{"sleep", "500"},
		defaultCollection,
		fsAction{"transfer", did + " XML public"},
	)

	// FreeSWITCH sends the counter back with the next lookup.
	form.Set("variable_dialin_failed_pins", "1")
	_, actions = dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if actions[0] != (fsAction{"set", "dialin_failed_pins=2"}) {
		t.Errorf("second wrong PIN: %+v", actions[0])
	}

	form.Set("variable_dialin_failed_pins", "2")
	ext, actions = dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
	if ext != "bbb_dialin_hangup" {
		t.Errorf("third wrong PIN: extension %q", ext)
	}
	sameActions(t, actions,
		fsAction{"playback", "conference/conf-bad-pin.wav"},
		fsAction{"hangup", "NORMAL_CLEARING"},
	)
	if !slices.Equal(*observed, []string{ResultNotFound, ResultNotFound, ResultNotFound}) {
		t.Errorf("observed %v", *observed)
	}
}

func TestMalformedPinsAreNotLookedUp(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"12345": {"m", "h"}}}
	h, _ := newHandler(Config{}, reg)
	for _, pin := range []string{"1234", "1234567890", "12345*", "12 345", "١٢٣٤٥", "12345\x00", "${pin}", "-12345", "+12345"} {
		form := modXMLCurlForm(did)
		form.Set("variable_pin", pin)
		ext, _ := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
		if ext != "bbb_dialin_reprompt" {
			t.Errorf("pin %q: extension %q", pin, ext)
		}
	}
	if len(reg.asked) != 0 {
		t.Errorf("asked %q", reg.asked)
	}
}

func TestUnusableHostIsNotFound(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"12345": {"m", "bbb.example.com ${system(id)}"}}}
	h, observed := newHandler(Config{}, reg)
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "12345")
	if ext, _ := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did); ext != "bbb_dialin_reprompt" {
		t.Errorf("extension %q", ext)
	}
	if !slices.Equal(*observed, []string{ResultNotFound}) {
		t.Errorf("observed %v", *observed)
	}
}

func TestNilLookupFindsNothing(t *testing.T) {
	h, _ := newHandler(Config{}, nil)
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "12345")
	if ext, _ := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did); ext != "bbb_dialin_reprompt" {
		t.Errorf("extension %q", ext)
	}
}

func TestCallerID(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"12345": {"m", "bbb.example.com"}}}
	for _, c := range []struct {
		name       string
		fields     map[string]string
		visible    int
		wantName   string
		wantNumber string
	}{
		// Seven digits show three: never more than half.
		{"a name", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321"}, 0, "Test User", "XXXX321"},
		{"name hidden: the masked number", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321", fieldHideName: "true"}, 0, "XXXX321", "XXXX321"},
		{"name and number hidden", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321", fieldHideName: "true", fieldHideNumber: "true"}, 0, unavailable, unavailable},
		{"a number as name", map[string]string{fieldCallerName: "5554321", fieldCallerNumber: "5554321"}, 0, "XXXX321", "XXXX321"},
		{"a number as name, number hidden", map[string]string{fieldCallerName: "5554321", fieldCallerNumber: "5554321", fieldHideNumber: "yes"}, 0, unavailable, unavailable},
		{"E.164 with separators", map[string]string{fieldCallerName: "+49 30 1234-5678", fieldCallerNumber: "+493012345678"}, 0, "+XX XX XXXX-5678", "+XXXXXXXX5678"},
		{"short numbers show at most half", map[string]string{fieldCallerName: "", fieldCallerNumber: "12345"}, 0, "XXX45", "XXX45"},
		{"empty", map[string]string{fieldCallerName: "", fieldCallerNumber: ""}, 0, unavailable, unavailable},
		{"anonymous", map[string]string{fieldCallerName: "Anonymous", fieldCallerNumber: "anonymous"}, 0, "Anonymous", unavailable},
		{"privacy variable full", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321", fieldPrivacy: "full"}, 0, unavailable, unavailable},
		{"privacy variable number", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321", fieldPrivacy: "number"}, 0, "Test User", unavailable},
		{"privacy variable name", map[string]string{fieldCallerName: "Test User", fieldCallerNumber: "5554321", fieldPrivacy: "name"}, 0, "XXXX321", "XXXX321"},
		{"a number inside a name", map[string]string{fieldCallerName: "Anna 015112345678 Room 12", fieldCallerNumber: ""}, 0, "Anna XXXXXXXX5678 Room 12", unavailable},
		{"two visible", map[string]string{fieldCallerName: "", fieldCallerNumber: "+4915112345678"}, 2, "+XXXXXXXXXXX78", "+XXXXXXXXXXX78"},
		{"none visible", map[string]string{fieldCallerName: "5554321", fieldCallerNumber: "5554321"}, -1, "XXXXXXX", "XXXXXXX"},
		{"long names are cut", map[string]string{fieldCallerName: strings.Repeat("ab", 100)}, 0, strings.Repeat("ab", 32), "+XXXXXXXXX5678"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := newHandler(Config{CallerIDVisible: c.visible}, reg)
			form := modXMLCurlForm(did)
			form.Set("variable_pin", "12345")
			for k, v := range c.fields {
				form.Set(k, v)
			}
			_, actions := dialplanActions(t, parseDocument(t, postAuthorized(h, form)), did)
			if got := actions[1]; got != (fsAction{"set", "effective_caller_id_name=" + c.wantName}) {
				t.Errorf("name: %q", got.Data)
			}
			if got := actions[2]; got != (fsAction{"set", "effective_caller_id_number=" + c.wantNumber}) {
				t.Errorf("number: %q", got.Data)
			}
		})
	}
}

var injections = []string{
	"${system(rm -rf /)}",
	"$${hostname}",
	"\\${system(id)}",
	`$\{x}`,
	`</action><action application="bridge" data="sofia/external/1@evil.example.com"/>`,
	`"/><action application="system" data="id"/><x a="`,
	`' onload='x`,
	"Tom & Jerry <tom@example.com>",
	"a\x00b\x01c\x1b[31md\x7fe",
	"line\nbreak\r\ttab",
	"\xff\xfe invalid \xc3\x28 utf8",
	"\u202eevil\u200b",
	"]]><!--",
	"&amp;&#36;{x}",
	"x,hangup:CALL_REJECTED inline",
	"^^:a=1:b=2",
}

// TestInjection puts hostile text into every field that can reach a
// document, and into the registry's answers.
func TestInjection(t *testing.T) {
	for _, payload := range injections {
		for _, field := range []string{fieldCallerName, fieldCallerNumber, fieldDestination, fieldPin, fieldContext, fieldFailedPins, fieldPrivacy, "meeting", "host"} {
			t.Run(field, func(t *testing.T) {
				meeting := Meeting{"room", "bbb.example.com"}
				switch field {
				case "meeting":
					meeting.MeetingID = payload
				case "host":
					meeting.Host = payload
				}
				reg := &registry{meetings: map[string]Meeting{"12345": meeting}}
				h, _ := newHandler(Config{}, reg)
				form := modXMLCurlForm(did)
				form.Set("variable_pin", "12345")
				if strings.HasPrefix(field, "Caller-") || strings.HasPrefix(field, "variable_") {
					form.Set(field, payload)
				}
				if field == fieldDestination {
					form.Del(fieldHuntDestination)
				}
				rec := postAuthorized(h, form)
				doc := parseDocument(t, rec)
				checkNoInjection(t, rec.Body.Bytes(), doc)
			})
		}
	}
}

// checkNoInjection fails if a document carries anything FreeSWITCH would
// expand or more than the expected actions.
func checkNoInjection(t testing.TB, body []byte, doc fsDocument) {
	t.Helper()
	if bytes.Contains(body, []byte("${")) || bytes.Contains(body, []byte("&#36;")) {
		t.Fatalf("document has ${:\n%s", body)
	}
	if isNotFound(doc) {
		return
	}
	ext := doc.Sections[0].Contexts[0].Extensions[0]
	if len(doc.Sections[0].Contexts) != 1 || len(doc.Sections[0].Contexts[0].Extensions) != 1 || len(ext.Conditions) != 1 {
		t.Fatalf("document has more than one extension:\n%s", body)
	}
	allowed := map[string]bool{"answer": true, "sched_hangup": true, "sleep": true, "playback": true, "play_and_get_digits": true,
		"transfer": true, "set": true, "bridge": true, "hangup": true}
	bridges := 0
	for _, a := range ext.Conditions[0].Actions {
		if !allowed[a.Application] {
			t.Fatalf("action %q:\n%s", a.Application, body)
		}
		if a.Application == "bridge" {
			bridges++
			if !regexp.MustCompile(`^sofia/external/\d+@[A-Za-z0-9._:\[\]-]+$`).MatchString(a.Data) {
				t.Fatalf("bridge %q", a.Data)
			}
		}
		if a.Application == "transfer" && !regexp.MustCompile(`^[A-Za-z0-9_.+*#-]+ XML public$`).MatchString(a.Data) {
			t.Fatalf("transfer %q", a.Data)
		}
		if a.Application == "set" && strings.ContainsAny(a.Data, "${}\\'\"<>\x00\n\r\t") {
			t.Fatalf("set %q", a.Data)
		}
		if strings.Contains(a.Data, "${") {
			t.Fatalf("%s %q", a.Application, a.Data)
		}
	}
	if bridges > 1 {
		t.Fatalf("%d bridges", bridges)
	}
}

func TestBodyLimit(t *testing.T) {
	h, observed := newHandler(Config{}, nil)
	form := modXMLCurlForm(did)
	form.Set("variable_switch_r_sdp", strings.Repeat("a=x\r\n", MaxBodyBytes/4))
	if rec := postAuthorized(h, form); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", rec.Code)
	}
	if !slices.Equal(*observed, []string{ResultRefused}) {
		t.Errorf("observed %v", *observed)
	}
}

func TestUnreadableForm(t *testing.T) {
	h, _ := newHandler(Config{}, nil)
	req := httptest.NewRequest(http.MethodPost, "/fsapi", strings.NewReader("section=%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(User, testPassword)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", rec.Code)
	}
}

func TestQueryDoesNotCount(t *testing.T) {
	h, _ := newHandler(Config{}, nil)
	req := httptest.NewRequest(http.MethodPost, "/fsapi?section=dialplan&Caller-Destination-Number=1", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(User, testPassword)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !isNotFound(parseDocument(t, rec)) {
		t.Errorf("a query string made a dialplan: %s", rec.Body)
	}
}

func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.MinDigits != 5 || d.MaxDigits != 9 || d.Tries != 3 || d.DigitTimeout != 7*time.Second || d.CallerIDVisible != 4 ||
		d.Context != "public" || d.Profile != "external" || d.Realm != "fsapi" || d.MaxDuration != 0 {
		t.Errorf("defaults %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if got := (Config{MinDigits: 12}).WithDefaults().MaxDigits; got != 12 {
		t.Errorf("MaxDigits follows a large MinDigits: %d", got)
	}
	for _, c := range []Config{
		{MinDigits: 6, MaxDigits: 5},
		{MaxDigits: 20},
		{MinDigits: -1},
		{Tries: -1},
		{DigitTimeout: time.Millisecond},
		{MaxDuration: -time.Minute},
		{WelcomePrompt: "two words.wav"},
		{PinPrompt: "${x}.wav"},
		{InvalidPrompt: "a'b.wav"},
		{Context: "pub lic"},
		{Profile: "ext/ernal"},
		{Realm: `a"b`},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestInvalidConfigRefuses(t *testing.T) {
	h, observed := newHandler(Config{PinPrompt: "a b"}, nil)
	if rec := postAuthorized(h, modXMLCurlForm(did)); rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if !slices.Equal(*observed, []string{ResultRefused}) {
		t.Errorf("observed %v", *observed)
	}
}

func TestConcurrent(t *testing.T) {
	reg := &registry{meetings: map[string]Meeting{"12345": {"m", "bbb.example.com"}}}
	h, _ := newHandler(Config{}, reg)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				form := modXMLCurlForm(did)
				if i%2 == 0 {
					form.Set("variable_pin", "12345")
				}
				rec := postAuthorized(h, form)
				if _, err := decodeDocument(rec.Body.Bytes()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkFound(b *testing.B) {
	reg := map[string]Meeting{"723456789": {"room-42", "bbb2.example.com"}}
	h := &Handler{
		Config:  Config{Password: testPassword, MaxDuration: 4 * time.Hour},
		Lookup:  func(_ context.Context, vb string) (Meeting, bool) { m, ok := reg[vb]; return m, ok },
		Observe: func(string) {},
	}
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "723456789")
	form.Set("Caller-Caller-ID-Name", "Test User")
	body := form.Encode()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/fsapi", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(User, testPassword)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkAnswer is the handler's own work, without the HTTP request's
// parsing that net/http does for every handler.
func BenchmarkAnswer(b *testing.B) {
	reg := map[string]Meeting{"723456789": {"room-42", "bbb2.example.com"}}
	h := &Handler{Lookup: func(_ context.Context, vb string) (Meeting, bool) { m, ok := reg[vb]; return m, ok }}
	cfg := Config{Password: testPassword}.WithDefaults()
	form := modXMLCurlForm(did)
	form.Set("variable_pin", "723456789")
	form.Set("Caller-Caller-ID-Name", "Test User")
	body := form.Encode()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		c, err := parseCall(body)
		if err != nil {
			b.Fatal(err)
		}
		_, doc := h.answer(context.Background(), cfg, c)
		buf.Reset()
		doc.writeTo(&buf)
	}
}
