package recordings

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// Recording is one record id with all its formats merged, the unit of a
// getRecordings answer (bbb-api.md §2.8).
type Recording struct {
	RecordID          string
	MeetingID         string
	InternalMeetingID string
	Name              string
	IsBreakout        bool
	Published         bool
	State             string
	StartTime         int64
	EndTime           int64
	Participants      int
	RawSize           int64
	Meta              []MetaEntry // unique keys, first-seen order
	Breakout          *Breakout
	BreakoutRooms     []string
	Formats           []Format // in the order given to Merge
}

// Size is the sum of the formats' sizes (the answer's <size>).
func (r *Recording) Size() int64 {
	var n int64
	for _, f := range r.Formats {
		n += f.Size
	}
	return n
}

// MetaValue returns the value of meta key (exact match) and whether it exists.
func (r *Recording) MetaValue(key string) (string, bool) { return metaValue(r.Meta, key) }

// RecordingReadyURL returns the recording-ready callback URL from the
// metadata (bbb-api.md §4.3 fallback order), or "".
func (r *Recording) RecordingReadyURL() string { return recordingReadyURL(r.Meta) }

// Merge combines the metadata.xml of several formats of one recording. All
// must carry the same RecordID and distinct format types. Recording-level
// fields come from the first metadata, except that empty/zero values are
// filled from later ones; Published is true if any format is published. Meta
// keys are merged in first-seen order, a later value replacing an earlier
// one. Metadata without a playback format (e.g. deleted) add no Format.
func Merge(formats ...*Metadata) (Recording, error) {
	var r Recording
	if len(formats) == 0 {
		return r, errors.New("recordings: merge: no metadata")
	}
	seenFmt := map[string]bool{}
	metaIdx := map[string]int{}
	for i, m := range formats {
		if m == nil {
			return Recording{}, fmt.Errorf("recordings: merge: metadata %d is nil", i)
		}
		if i == 0 {
			r = Recording{
				RecordID: m.RecordID, MeetingID: m.MeetingID, InternalMeetingID: m.InternalMeetingID,
				Name: m.Name, IsBreakout: m.IsBreakout, Published: m.Published, State: m.State,
				StartTime: m.StartTime, EndTime: m.EndTime, Participants: m.Participants, RawSize: m.RawSize,
			}
			if !ValidRecordID(r.RecordID) {
				return Recording{}, fmt.Errorf("%w: %q", ErrInvalidRecordID, truncate(r.RecordID, 80))
			}
		} else {
			if m.RecordID != r.RecordID {
				return Recording{}, fmt.Errorf("recordings: merge: record id %q differs from %q", truncate(m.RecordID, 80), r.RecordID)
			}
			fillS(&r.MeetingID, m.MeetingID)
			fillS(&r.InternalMeetingID, m.InternalMeetingID)
			fillS(&r.Name, m.Name)
			fillS(&r.State, m.State)
			r.IsBreakout = r.IsBreakout || m.IsBreakout
			r.Published = r.Published || m.Published
			fillI(&r.StartTime, m.StartTime)
			fillI(&r.EndTime, m.EndTime)
			fillI(&r.RawSize, m.RawSize)
			if r.Participants == 0 {
				r.Participants = m.Participants
			}
		}
		if r.Breakout == nil && m.Breakout != nil {
			b := *m.Breakout
			r.Breakout = &b
		}
		if len(r.BreakoutRooms) == 0 && len(m.BreakoutRooms) > 0 {
			r.BreakoutRooms = append([]string(nil), m.BreakoutRooms...)
		}
		for _, e := range m.Meta {
			if j, ok := metaIdx[e.Key]; ok {
				r.Meta[j].Value = e.Value
				continue
			}
			metaIdx[e.Key] = len(r.Meta)
			r.Meta = append(r.Meta, e)
		}
		if m.Format.Type == "" {
			continue
		}
		if seenFmt[m.Format.Type] {
			return Recording{}, fmt.Errorf("recordings: merge: format %q given twice for %s", m.Format.Type, r.RecordID)
		}
		seenFmt[m.Format.Type] = true
		f := m.Format
		f.Thumbnails = append([]Thumbnail(nil), m.Format.Thumbnails...)
		r.Formats = append(r.Formats, f)
	}
	return r, nil
}

func fillS(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func fillI(dst *int64, v int64) {
	if *dst == 0 {
		*dst = v
	}
}

// WriteRecordingXML writes one <recording> element of a getRecordings answer in
// BBB's element order (bbb-api.md §2.8), compact (no whitespace between
// elements). Playback and thumbnail URLs are rebuilt as host + path-only URL
// (host like "https://bbb.example.com", a trailing "/" is dropped); a URL
// without a usable path is emitted as stored. Meta keys that are not safe XML
// element names are skipped; all text is escaped.
func WriteRecordingXML(b *bytes.Buffer, rec Recording, host string) {
	host = strings.TrimRight(strings.TrimSpace(host), "/")
	b.WriteString("<recording>")
	el(b, "recordID", rec.RecordID)
	el(b, "meetingID", rec.MeetingID)
	if rec.InternalMeetingID != "" {
		el(b, "internalMeetingID", rec.InternalMeetingID)
	}
	el(b, "name", rec.Name)
	el(b, "isBreakout", strconv.FormatBool(rec.IsBreakout))
	el(b, "published", strconv.FormatBool(rec.Published))
	el(b, "state", rec.State)
	el(b, "startTime", strconv.FormatInt(rec.StartTime, 10))
	el(b, "endTime", strconv.FormatInt(rec.EndTime, 10))
	el(b, "participants", strconv.Itoa(rec.Participants))
	el(b, "rawSize", strconv.FormatInt(rec.RawSize, 10))
	b.WriteString("<metadata>")
	for _, e := range rec.Meta {
		if !bbb.ValidElementName(e.Key) {
			continue
		}
		el(b, e.Key, e.Value)
	}
	b.WriteString("</metadata>")
	if rec.Breakout != nil {
		b.WriteString("<breakout>")
		el(b, "parentId", rec.Breakout.ParentMeetingID)
		el(b, "sequence", strconv.Itoa(rec.Breakout.Sequence))
		el(b, "freeJoin", strconv.FormatBool(rec.Breakout.FreeJoin))
		b.WriteString("</breakout>")
	}
	if len(rec.BreakoutRooms) > 0 {
		b.WriteString("<breakoutRooms>")
		for _, id := range rec.BreakoutRooms {
			el(b, "breakoutRoom", id)
		}
		b.WriteString("</breakoutRooms>")
	}
	el(b, "size", strconv.FormatInt(rec.Size(), 10))
	b.WriteString("<playback>")
	for _, f := range rec.Formats {
		b.WriteString("<format>")
		el(b, "type", f.Type)
		el(b, "url", rebuild(host, f.Path, f.URL))
		el(b, "processingTime", strconv.FormatInt(f.ProcessingTime, 10))
		el(b, "length", strconv.FormatInt(f.Length, 10))
		el(b, "size", strconv.FormatInt(f.Size, 10))
		writeExtensions(b, f, host)
		b.WriteString("</format>")
	}
	b.WriteString("</playback>")
	b.WriteString("<data></data>")
	b.WriteString("</recording>")
}

// writeExtensions emits the <extensions> children: <preview> rebuilt from the
// thumbnails (URLs on the balancer's host), every other child element copied
// verbatim from the raw inner XML.
func writeExtensions(b *bytes.Buffer, f Format, host string) {
	wrotePreview := false
	for _, raw := range extensionChildren(f.Extensions) {
		if raw.name == "preview" {
			if !wrotePreview && len(f.Thumbnails) > 0 {
				writePreview(b, f.Thumbnails, host)
			}
			wrotePreview = true
			continue
		}
		b.WriteString(raw.text)
	}
	if !wrotePreview && len(f.Thumbnails) > 0 {
		writePreview(b, f.Thumbnails, host)
	}
}

func writePreview(b *bytes.Buffer, thumbs []Thumbnail, host string) {
	b.WriteString("<preview><images>")
	for _, t := range thumbs {
		b.WriteString(`<image width="`)
		esc(b, t.Width)
		b.WriteString(`" height="`)
		esc(b, t.Height)
		b.WriteString(`" alt="`)
		esc(b, t.Alt)
		b.WriteString(`">`)
		esc(b, rebuild(host, t.Path, t.URL))
		b.WriteString("</image>")
	}
	b.WriteString("</images></preview>")
}

type rawElement struct {
	name string // local name
	text string // raw XML of the element
}

// extensionChildren splits raw inner XML into its top-level elements (text,
// comments and PIs between them are dropped). Namespaced elements and
// elements holding a directive or processing instruction are dropped, as are
// all elements if the fragment does not parse.
func extensionChildren(inner string) []rawElement {
	if strings.TrimSpace(inner) == "" {
		return nil
	}
	dec := xml.NewDecoder(strings.NewReader(inner))
	var out []rawElement
	depth := 0
	var start int64
	var cur xml.Name
	skip := false // child holds a directive or PI: not copied
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start, cur, skip = before, t.Name, false
			}
			depth++
		case xml.Directive, xml.ProcInst:
			skip = true
		case xml.EndElement:
			depth--
			if depth == 0 && !skip && cur.Space == "" && start >= 0 && dec.InputOffset() <= int64(len(inner)) {
				out = append(out, rawElement{name: cur.Local, text: inner[start:dec.InputOffset()]})
			}
		}
	}
	if depth != 0 {
		return nil
	}
	return out
}

func rebuild(host, path, orig string) string {
	if path == "" {
		return orig
	}
	return host + path
}

func el(b *bytes.Buffer, name, value string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	esc(b, value)
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

func esc(b *bytes.Buffer, s string) { _ = xml.EscapeText(b, []byte(s)) }
