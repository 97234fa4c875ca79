package bbb

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Return codes.
const (
	Success = "SUCCESS"
	Failed  = "FAILED"
)

// Message keys the balancer itself answers with. BBB's own keys come back
// from the servers untouched.
const (
	KeyChecksumError        = "checksumError"
	KeyMissingMeetingID     = "missingParamMeetingID"
	KeyNotFound             = "notFound"
	KeyUnsupportedRequest   = "unsupportedRequest"
	KeyUnsupportedContent   = "unsupportedContentType"
	KeyInternalError        = "internalError"
	KeyServerUnavailable    = "serverUnavailable"
	KeyServerTagUnavailable = "serverTagUnavailable"
	KeyNoMeetings           = "noMeetings"
	KeyNoRecordings         = "noRecordings"
	KeyMissingRecordID      = "missingParamRecordID"
	KeyMissingPublish       = "missingParamPublish"
	KeyInvalidMeetingID     = "invalidMeetingIdentifier"
	KeyMissingFullName      = "missingParamFullName"
	KeyValidationError      = "validationError"
	KeyMaxParticipants      = "maxParticipantsReached"
	KeyNonUniqueVoiceBridge = "nonUniqueVoiceBridge"
)

// Messages that go with the keys above, as BBB words them.
const (
	MsgChecksumMismatch  = "Checksums do not match"
	MsgChecksumMissing   = "You must provide the checksum"
	MsgMissingMeetingID  = "You must provide a meeting ID"
	MsgMeetingNotFound   = "A meeting with that ID does not exist"
	MsgUnsupported       = "This request is not supported."
	MsgUnsupportedCT     = "POST request Content-Type is missing or unsupported"
	MsgServerUnavailable = "The server for this meeting is disabled/offline."
	MsgNoMeetings        = "no meetings were found on this server"
	MsgNoRecordings      = "There are no recordings for the meeting(s)."
	MsgRecordingsMissing = "We could not find recordings"
	MsgMissingRecordID   = "You must specify a recordID."
	MsgMissingPublish    = "You must specify a publish value true or false."
	MsgMissingFullName   = "You must provide your name"
)

// ContentTypeXML is what bbb-web sends with every XML answer.
const ContentTypeXML = "text/xml;charset=utf-8"

// Envelope is the part every BBB answer has.
type Envelope struct {
	ReturnCode string `xml:"returncode"`
	MessageKey string `xml:"messageKey"`
	Message    string `xml:"message"`
}

// OK reports whether the answer is SUCCESS.
func (e Envelope) OK() bool { return e.ReturnCode == Success }

// WriteXML writes an XML answer the way bbb-web does: HTTP 200 even for
// errors, no XML declaration, no caching.
func WriteXML(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentTypeXML)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// ErrorXML renders BBB's error shape.
func ErrorXML(key, message string) []byte {
	var b bytes.Buffer
	b.WriteString("<response><returncode>FAILED</returncode><messageKey>")
	xml.EscapeText(&b, []byte(key))
	b.WriteString("</messageKey><message>")
	xml.EscapeText(&b, []byte(message))
	b.WriteString("</message></response>")
	return b.Bytes()
}

// WriteError answers a BBB API error.
func WriteError(w http.ResponseWriter, key, message string) {
	WriteXML(w, ErrorXML(key, message))
}

// ErrorsXML renders BBB's other error shape, a list of errors without a
// top-level messageKey, which bbb-web uses for a voice-bridge clash.
func ErrorsXML(key, message string) []byte {
	var b bytes.Buffer
	b.WriteString("<response><returncode>FAILED</returncode><errors><error><key>")
	xml.EscapeText(&b, []byte(key))
	b.WriteString("</key><message>")
	xml.EscapeText(&b, []byte(message))
	b.WriteString("</message></error></errors></response>")
	return b.Bytes()
}

// Element is one XML element to render: a name and either text or children.
// It keeps the balancer's own answers in BBB's element order without a
// struct per answer.
type Element struct {
	Name     string
	Text     string
	Children []Element
	Raw      []byte // pre-rendered inner XML, written as is
}

// E is shorthand for a text element.
func E(name, text string) Element { return Element{Name: name, Text: text} }

// SuccessXML renders <response><returncode>SUCCESS</returncode>…</response>.
func SuccessXML(children ...Element) []byte {
	var b bytes.Buffer
	Element{Name: "response", Children: append([]Element{E("returncode", Success)}, children...)}.render(&b)
	return b.Bytes()
}

func (e Element) render(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(e.Name)
	b.WriteByte('>')
	xml.EscapeText(b, []byte(e.Text))
	b.Write(e.Raw)
	for _, c := range e.Children {
		c.render(b)
	}
	b.WriteString("</")
	b.WriteString(e.Name)
	b.WriteByte('>')
}

// ParseEnvelope reads returncode, messageKey and message from an answer.
// It runs on every forwarded call, so it looks for the three elements
// directly and leaves full XML decoding to answers it cannot read that way.
func ParseEnvelope(body []byte) (Envelope, error) {
	if rc, ok := elementText(body, "returncode"); ok && bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		e := Envelope{ReturnCode: rc}
		e.MessageKey, _ = elementText(body, "messageKey")
		e.Message, _ = elementText(body, "message")
		if e.MessageKey == "" && !e.OK() && bytes.Contains(body, []byte("<errors>")) {
			// BBB's other error shape (ErrorsXML): its first error's key.
			// Only a failure has it: a success is not searched again.
			e.MessageKey, _ = elementText(body, "key")
		}
		return e, nil
	}
	var e Envelope
	err := xml.Unmarshal(body, &e)
	if err == nil && e.ReturnCode == "" {
		err = errNoReturnCode
	}
	return e, err
}

// elementText returns the unescaped text of the first <name>…</name> in
// body, if it holds plain text.
func elementText(body []byte, name string) (string, bool) {
	open := "<" + name + ">"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(open):]
	j := bytes.IndexByte(rest, '<')
	if j < 0 || !bytes.HasPrefix(rest[j:], []byte("</"+name+">")) {
		return "", false
	}
	text := rest[:j]
	if bytes.IndexByte(text, '&') < 0 {
		return string(text), true
	}
	return xmlUnescaper.Replace(string(text)), true
}

var xmlUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#39;", "'", "&#34;", `"`, "&amp;", "&")

var errNoReturnCode = xmlError("response did not include returncode")

type xmlError string

func (e xmlError) Error() string { return string(e) }

// Meeting is what the balancer reads of one <meeting> of getMeetings.
type Meeting struct {
	MeetingID             string `xml:"meetingID"`
	MeetingName           string `xml:"meetingName"`
	InternalMeetingID     string `xml:"internalMeetingID"`
	CreateTime            int64  `xml:"createTime"`
	Running               bool   `xml:"running"`
	ParticipantCount      int    `xml:"participantCount"`
	ListenerCount         int    `xml:"listenerCount"`
	VoiceParticipantCount int    `xml:"voiceParticipantCount"`
	VideoCount            int    `xml:"videoCount"`
	ModeratorCount        int    `xml:"moderatorCount"`
	MaxUsers              int    `xml:"maxUsers"`
	IsBreakout            bool   `xml:"isBreakout"`
}

// MeetingXML is a Meeting with its element's content kept byte for byte,
// so a merged getMeetings hands the front-end what the server said.
type MeetingXML struct {
	Meeting
	Inner []byte `xml:",innerxml"`
}

// MeetingsResponse is a parsed getMeetings answer.
type MeetingsResponse struct {
	Envelope
	Meetings []MeetingXML `xml:"meetings>meeting"`
}

// ParseMeetings parses a getMeetings answer, keeping each meeting's XML.
func ParseMeetings(r io.Reader) (*MeetingsResponse, error) {
	var m MeetingsResponse
	return &m, decodeAnswer(r, &m, &m.Envelope)
}

// IndexResponse is what the balancer reads of a server's index answer.
type IndexResponse struct {
	Envelope
	BBBVersion string `xml:"bbbVersion"`
}

// ParseIndex parses the answer of the index call (GET /bigbluebutton/api).
func ParseIndex(r io.Reader) (*IndexResponse, error) {
	var m IndexResponse
	return &m, decodeAnswer(r, &m, &m.Envelope)
}

func decodeAnswer(r io.Reader, into any, env *Envelope) error {
	if err := xml.NewDecoder(io.LimitReader(r, MaxAnswer)).Decode(into); err != nil {
		return fmt.Errorf("unreadable answer: %w", err)
	}
	if env.ReturnCode == "" {
		return errNoReturnCode
	}
	return nil
}

// WriteMeetings answers a getMeetings with meetings gathered from several
// servers, with BBB's noMeetings shape when there are none.
func WriteMeetings(w http.ResponseWriter, meetings []MeetingXML) {
	if len(meetings) == 0 {
		WriteXML(w, SuccessXML(Element{Name: "meetings"}, E("messageKey", KeyNoMeetings), E("message", MsgNoMeetings)))
		return
	}
	const (
		head = "<response><returncode>" + Success + "</returncode><meetings>"
		tail = "</meetings></response>"
	)
	// A large pool's list is megabytes: it is laid out in one buffer of
	// its exact size (reused) and written at once, with its length, which
	// costs the fewest copies and write calls.
	size := len(head) + len(tail)
	for _, m := range meetings {
		size += len("<meeting></meeting>") + len(m.Inner)
	}
	bp := meetingsBuffers.Get().(*[]byte)
	b := append((*bp)[:0], head...)
	for _, m := range meetings {
		b = append(b, "<meeting>"...)
		b = append(b, m.Inner...)
		b = append(b, "</meeting>"...)
	}
	b = append(b, tail...)
	h := w.Header()
	h.Set("Content-Type", ContentTypeXML)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	if cap(b) <= maxKeptBuffer {
		*bp = b
		meetingsBuffers.Put(bp)
	}
}

// meetingsBuffers keeps WriteMeetings' buffers between calls; one larger
// than maxKeptBuffer (a pool far beyond the usual) is left to the GC.
var meetingsBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxKeptBuffer = 16 << 20

// ValidElementName reports whether s is safe as an XML element name (BBB renders metadata keys as element
// names): an ASCII letter
// or "_" followed by ASCII letters, digits, "-", "_" or "."; no ":" (namespace
// prefixes) and not starting with "xml" in any case (reserved).
func ValidElementName(s string) bool {
	if s == "" || len(s) > 256 || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
