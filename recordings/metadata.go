// Package recordings reads the metadata.xml files a BigBlueButton server
// writes for each recording format, merges the formats of one recording and
// renders the <recording> element of a getRecordings answer served from the
// balancer's own host.
//
// References: bbb-api.md §2.8 (getRecordings answer), §6 (recording files and
// the metadata.xml → API mapping), §4.3 (recording-ready URL keys) and
// scalelite.md §6.2–6.5 (import model: path-only URLs served from the
// balancer's host).
package recordings

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// MaxMetadataSize is the largest metadata.xml ParseMetadata accepts.
const MaxMetadataSize = 1 << 20 // 1 MiB

// Errors returned (wrapped) by ParseMetadata.
var (
	ErrTooLarge        = errors.New("recordings: metadata.xml larger than 1 MiB")
	ErrMissingRecordID = errors.New("recordings: metadata.xml has no <id>")
	ErrInvalidRecordID = errors.New("recordings: invalid record id")
	ErrNotRecording    = errors.New("recordings: root element is not <recording>")
)

// recordIDRe is the shape of a BBB record id: the internal meeting id,
// sha1hex(meetingID) + "-" + createTime in ms (bbb-api.md §5.1, §6). The
// reference documents no "-<n>" suffix, so none is accepted.
var recordIDRe = regexp.MustCompile(`^[0-9a-f]{40}-[0-9]{13}$`)

// ValidRecordID reports whether id is a plausible BBB record id.
func ValidRecordID(id string) bool { return recordIDRe.MatchString(id) }

// RecordingReadyKeys are the metadata keys BBB's recording-ready callback
// looks up, in its fallback order (bbb-api.md §4.3).
var RecordingReadyKeys = []string{"bbb-recording-ready-url", "bn-recording-ready-url", "canvas-recording-ready-url"}

// MetaEntry is one child of <meta>: key as written (case kept), raw value.
type MetaEntry struct {
	Key   string
	Value string
}

// Breakout describes a breakout recording's link to its parent
// (from <breakout parentMeetingId=… sequence=… freeJoin=… meetingId=…/>).
type Breakout struct {
	ParentMeetingID string
	MeetingID       string
	Sequence        int
	FreeJoin        bool
}

// Thumbnail is one <image> of <extensions><preview><images>.
// Width, Height and Alt are kept verbatim (they are copied to the answer).
type Thumbnail struct {
	Width  string
	Height string
	Alt    string
	URL    string // as written by the BBB server
	Path   string // path-only form of URL ("" if URL is unusable)
}

// Format is the <playback> part of one format's metadata.xml.
type Format struct {
	Type           string // playback/format
	URL            string // playback/link, as written by the BBB server
	Path           string // request URI of URL (path + query), "" if unusable
	ProcessingTime int64  // ms
	DurationMS     int64  // playback/duration
	Length         int64  // minutes, DurationMS / 60000 (integer division, as BBB)
	Size           int64  // playback/size, bytes
	Extensions     string // raw inner XML of playback/extensions
	Thumbnails     []Thumbnail
}

// Metadata is one parsed metadata.xml (one format of one recording).
type Metadata struct {
	RecordID          string
	State             string // "available" (video format bug) mapped to "published"
	Published         bool
	StartTime         int64 // ms
	EndTime           int64 // ms
	Participants      int
	RawSize           int64
	MeetingID         string // meeting@externalId, else meta/meetingId
	InternalMeetingID string // meeting@id ("" when there is no <meeting>)
	Name              string // meeting@name, else meta/meetingName
	IsBreakout        bool   // meeting@breakout, else meta/isBreakout
	Breakout          *Breakout
	BreakoutRooms     []string
	Meta              []MetaEntry // children of <meta>, document order
	Format            Format
}

// MetaValue returns the value of the first <meta> child named key (exact
// match) and whether it exists.
func (m *Metadata) MetaValue(key string) (string, bool) { return metaValue(m.Meta, key) }

func metaValue(meta []MetaEntry, key string) (string, bool) {
	for _, e := range meta {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

func recordingReadyURL(meta []MetaEntry) string {
	for _, k := range RecordingReadyKeys {
		if v, ok := metaValue(meta, k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// XML shapes of metadata.xml.

type xmlRecording struct {
	XMLName       xml.Name          `xml:"recording"`
	ID            *string           `xml:"id"`
	State         string            `xml:"state"`
	Published     string            `xml:"published"`
	StartTime     string            `xml:"start_time"`
	EndTime       string            `xml:"end_time"`
	Participants  string            `xml:"participants"`
	RawSize       string            `xml:"raw_size"`
	Meeting       *xmlMeeting       `xml:"meeting"`
	Meta          *xmlMeta          `xml:"meta"`
	Breakout      *xmlBreakout      `xml:"breakout"`
	BreakoutRooms *xmlBreakoutRooms `xml:"breakoutRooms"`
	Playback      *xmlPlayback      `xml:"playback"`
}

type xmlMeeting struct {
	ID         string `xml:"id,attr"`
	ExternalID string `xml:"externalId,attr"`
	Name       string `xml:"name,attr"`
	Breakout   string `xml:"breakout,attr"`
}

type xmlMeta struct {
	Entries []xmlMetaEntry `xml:",any"`
}

type xmlMetaEntry struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type xmlBreakout struct {
	ParentMeetingID string `xml:"parentMeetingId,attr"`
	MeetingID       string `xml:"meetingId,attr"`
	Sequence        string `xml:"sequence,attr"`
	FreeJoin        string `xml:"freeJoin,attr"`
}

type xmlBreakoutRooms struct {
	Rooms []string `xml:"breakoutRoom"`
}

type xmlPlayback struct {
	Format         string         `xml:"format"`
	Link           string         `xml:"link"`
	ProcessingTime string         `xml:"processing_time"`
	Duration       string         `xml:"duration"`
	Size           string         `xml:"size"`
	Extensions     *xmlExtensions `xml:"extensions"`
}

type xmlExtensions struct {
	Inner   string     `xml:",innerxml"`
	Preview xmlPreview `xml:"preview"`
}

type xmlPreview struct {
	Images []xmlImage `xml:"images>image"`
}

type xmlImage struct {
	Width  string `xml:"width,attr"`
	Height string `xml:"height,attr"`
	Alt    string `xml:"alt,attr"`
	URL    string `xml:",chardata"`
}

// ParseMetadata parses one format's metadata.xml. It refuses documents over
// MaxMetadataSize, malformed XML, a root other than <recording>, a missing or
// implausible <id>, and non-numeric/non-boolean values in numeric/boolean
// fields (empty values are zero). Unknown elements are ignored.
func ParseMetadata(r io.Reader) (*Metadata, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("recordings: reading metadata.xml: %w", err)
	}
	if len(data) > MaxMetadataSize {
		return nil, ErrTooLarge
	}
	var x xmlRecording
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&x); err != nil {
		var unexp xml.UnmarshalError
		if errors.As(err, &unexp) && strings.HasPrefix(string(unexp), "expected element type <recording>") {
			return nil, ErrNotRecording
		}
		return nil, fmt.Errorf("recordings: malformed metadata.xml: %w", err)
	}
	// Anything after the root element must be whitespace, comments or PIs.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("recordings: malformed metadata.xml after </recording>: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return nil, errors.New("recordings: malformed metadata.xml: more than one root element")
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, errors.New("recordings: malformed metadata.xml: text after </recording>")
			}
		}
	}

	if x.ID == nil || strings.TrimSpace(*x.ID) == "" {
		return nil, ErrMissingRecordID
	}
	m := &Metadata{RecordID: strings.TrimSpace(*x.ID)}
	if !ValidRecordID(m.RecordID) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidRecordID, truncate(m.RecordID, 80))
	}

	p := parser{}
	m.State = strings.TrimSpace(x.State)
	if m.State == "available" { // video format bug; scalelite maps it too
		m.State = "published"
	}
	if strings.TrimSpace(x.Published) == "" {
		m.Published = m.State == "published"
	} else {
		m.Published = p.boolean("published", x.Published)
	}
	m.StartTime = p.int64("start_time", x.StartTime)
	m.EndTime = p.int64("end_time", x.EndTime)
	m.Participants = int(p.intN("participants", x.Participants, 32))
	m.RawSize = p.int64("raw_size", x.RawSize)

	if x.Meta != nil {
		for _, e := range x.Meta.Entries {
			if e.XMLName.Space != "" { // namespaced: not a BBB meta key
				continue
			}
			m.Meta = append(m.Meta, MetaEntry{Key: e.XMLName.Local, Value: e.Value})
		}
	}
	metaID, _ := m.MetaValue("meetingId")
	metaName, _ := m.MetaValue("meetingName")
	metaBreakout, _ := m.MetaValue("isBreakout")
	var breakoutAttr string
	if x.Meeting != nil {
		m.InternalMeetingID = strings.TrimSpace(x.Meeting.ID)
		m.MeetingID = x.Meeting.ExternalID
		m.Name = x.Meeting.Name
		breakoutAttr = x.Meeting.Breakout
	}
	if m.MeetingID == "" {
		m.MeetingID = metaID
	}
	if m.Name == "" {
		m.Name = metaName
	}
	if strings.TrimSpace(breakoutAttr) != "" {
		m.IsBreakout = p.boolean("meeting@breakout", breakoutAttr)
	} else if strings.TrimSpace(metaBreakout) != "" {
		m.IsBreakout = p.boolean("meta/isBreakout", metaBreakout)
	}

	if x.Breakout != nil {
		m.Breakout = &Breakout{
			ParentMeetingID: strings.TrimSpace(x.Breakout.ParentMeetingID),
			MeetingID:       strings.TrimSpace(x.Breakout.MeetingID),
			Sequence:        int(p.intN("breakout@sequence", x.Breakout.Sequence, 32)),
			FreeJoin:        strings.TrimSpace(x.Breakout.FreeJoin) != "" && p.boolean("breakout@freeJoin", x.Breakout.FreeJoin),
		}
	}
	if x.BreakoutRooms != nil {
		for _, r := range x.BreakoutRooms.Rooms {
			if r = strings.TrimSpace(r); r != "" {
				m.BreakoutRooms = append(m.BreakoutRooms, r)
			}
		}
	}

	if pb := x.Playback; pb != nil {
		f := &m.Format
		f.Type = strings.TrimSpace(pb.Format)
		f.URL = strings.TrimSpace(pb.Link)
		f.Path = PathOnly(f.URL)
		f.ProcessingTime = p.int64("playback/processing_time", pb.ProcessingTime)
		f.DurationMS = p.int64("playback/duration", pb.Duration)
		f.Length = f.DurationMS / 60000
		f.Size = p.int64("playback/size", pb.Size)
		if ext := pb.Extensions; ext != nil {
			f.Extensions = ext.Inner
			for _, img := range ext.Preview.Images {
				u := strings.TrimSpace(img.URL)
				f.Thumbnails = append(f.Thumbnails, Thumbnail{
					Width: img.Width, Height: img.Height, Alt: img.Alt,
					URL: u, Path: PathOnly(u),
				})
			}
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return m, nil
}

// parser collects the first field conversion error.
type parser struct{ err error }

func (p *parser) intN(field, s string, bits int) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("recordings: metadata.xml field %s: invalid number %q", field, truncate(s, 40))
	}
	return v
}

func (p *parser) int64(field, s string) int64 { return p.intN(field, s, 64) }

func (p *parser) boolean(field, s string) bool {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseBool(s)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("recordings: metadata.xml field %s: invalid boolean %q", field, truncate(s, 40))
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// PathOnly returns the request URI (path and query, no fragment) of an
// absolute http(s) URL, as scalelite keeps it (Ruby URI#request_uri). An
// already path-only value ("/…") is returned without its fragment. The raw
// text is kept (no re-escaping). It returns "" for anything else: relative
// paths, other schemes, protocol-relative "//host" values, or values with
// control characters or spaces.
func PathOnly(link string) string {
	link = strings.TrimSpace(link)
	if link == "" {
		return ""
	}
	for i := 0; i < len(link); i++ {
		if c := link[i]; c <= ' ' || c == 0x7f {
			return ""
		}
	}
	var rest string
	switch {
	case strings.HasPrefix(link, "//"):
		return ""
	case strings.HasPrefix(link, "/"):
		rest = link
	default:
		i := strings.Index(link, "://")
		if i <= 0 {
			return ""
		}
		scheme := strings.ToLower(link[:i])
		if scheme != "http" && scheme != "https" {
			return ""
		}
		after := link[i+3:]
		j := strings.IndexAny(after, "/?#")
		if j == 0 { // no authority
			return ""
		}
		if j < 0 {
			rest = ""
		} else {
			rest = after[j:]
		}
	}
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		rest = rest[:k]
	}
	if rest == "" || rest[0] == '?' {
		rest = "/" + rest
	}
	if strings.HasPrefix(rest, "//") || strings.HasPrefix(rest, `/\`) {
		// Keep it on the balancer's host whatever a browser makes of it.
		rest = "/" + strings.TrimLeft(rest, `/\`)
	}
	return rest
}
