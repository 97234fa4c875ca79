package bbb

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// The poller reads every server's getMeetings every interval: 1,000 servers
// with a few dozen meetings each is tens of MB of XML per round, and
// encoding/xml spends most of a round's CPU on it. scanMeetings reads the
// numbers and slices out each meeting's XML (kept for the pool's
// getMeetings), walking the tags with a depth count, so an attendee's
// customdata or a meeting's metadata can never pass for a meeting's own
// field. Anything it does not expect (a comment, CDATA, a declaration)
// sends the answer to encoding/xml instead.

var errScan = errors.New("bbb: not a plain getMeetings answer")

// ReadMeetings parses a getMeetings answer keeping each meeting's XML
// (ParseMeetings), fast; encoding/xml reads what the scanner does not take.
func ReadMeetings(r io.Reader) (*MeetingsResponse, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxAnswer))
	if err != nil {
		return nil, err
	}
	if res, err := scanMeetings(body); err == nil {
		return res, nil
	}
	return ParseMeetings(bytes.NewReader(body))
}

// scanMeetings reads a getMeetings answer: each meeting's fields, and its
// content as a slice of b (not a copy).
func scanMeetings(b []byte) (*MeetingsResponse, error) {
	list := &MeetingsResponse{}
	var (
		path   []string // open elements
		starts []int    // where each open element's content starts
		cur    *MeetingXML
	)
	i := 0
	for {
		lt := bytes.IndexByte(b[i:], '<')
		if lt < 0 {
			if len(path) != 0 || len(bytes.TrimSpace(b[i:])) > 0 {
				return nil, errScan
			}
			break
		}
		i += lt
		closeStart := i
		gt := bytes.IndexByte(b[i:], '>')
		if gt < 0 {
			return nil, errScan
		}
		tag := b[i+1 : i+gt]
		i += gt + 1
		if len(tag) == 0 || tag[0] == '!' || tag[0] == '?' {
			return nil, errScan
		}
		switch {
		case tag[0] == '/': // closing
			name := string(tag[1:])
			if len(path) == 0 || path[len(path)-1] != name {
				return nil, errScan
			}
			depth := len(path)
			// The element's whole content; with child elements in it, it is
			// not a field the scanner reads, and encoding/xml would join
			// the text around the children.
			content := b[starts[depth-1]:closeStart:closeStart]
			text := content
			// With child elements, or a carriage return (which XML reads
			// as a line feed), it is encoding/xml's to read.
			if bytes.IndexByte(text, '<') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
				text = nil
			}
			path, starts = path[:depth-1], starts[:depth-1]
			switch {
			case depth == 2 && path[0] == "response":
				if err := setEnvelope(&list.Envelope, name, text); err != nil {
					return nil, err
				}
			case depth == 3 && name == "meeting" && cur != nil:
				cur.Inner = content
				list.Meetings = append(list.Meetings, *cur)
				cur = nil
			case depth == 4 && cur != nil:
				if err := setMeetingField(&cur.Meeting, name, text); err != nil {
					return nil, err
				}
			}
		case tag[len(tag)-1] == '/': // self-closing: no text, nothing to set
		default:
			name := tag
			if sp := bytes.IndexAny(tag, " \t\r\n"); sp >= 0 {
				name = tag[:sp]
			}
			path = append(path, string(name))
			starts = append(starts, i)
			if len(path) == 3 && path[1] == "meetings" && path[2] == "meeting" {
				cur = &MeetingXML{}
			}
		}
	}
	if list.ReturnCode == "" {
		return nil, errNoReturnCode
	}
	return list, nil
}

// setEnvelope and setMeetingField set the field name stands for; a field
// the balancer reads whose content is not plain text (text is nil) or does
// not parse sends the answer to encoding/xml.
func setEnvelope(e *Envelope, name string, text []byte) error {
	switch name {
	case "returncode":
		e.ReturnCode = unescape(text)
	case "messageKey":
		e.MessageKey = unescape(text)
	case "message":
		e.Message = unescape(text)
	default:
		return nil
	}
	if text == nil {
		return errScan
	}
	return nil
}

func setMeetingField(m *Meeting, name string, text []byte) error {
	plain := string(bytes.TrimSpace(text))
	var err error
	num := func() int {
		var n int
		n, err = strconv.Atoi(plain)
		return n
	}
	switch name {
	case "meetingID":
		m.MeetingID = unescape(text)
	case "meetingName":
		m.MeetingName = unescape(text)
	case "internalMeetingID":
		m.InternalMeetingID = unescape(text)
	case "createTime":
		m.CreateTime, err = strconv.ParseInt(plain, 10, 64)
	case "running":
		m.Running, err = strconv.ParseBool(plain)
	case "participantCount":
		m.ParticipantCount = num()
	case "listenerCount":
		m.ListenerCount = num()
	case "voiceParticipantCount":
		m.VoiceParticipantCount = num()
	case "videoCount":
		m.VideoCount = num()
	case "moderatorCount":
		m.ModeratorCount = num()
	case "maxUsers":
		m.MaxUsers = num()
	case "isBreakout":
		m.IsBreakout, err = strconv.ParseBool(plain)
	default:
		return nil
	}
	if text == nil || err != nil {
		return errScan
	}
	return nil
}

func unescape(text []byte) string {
	if bytes.IndexByte(text, '&') < 0 {
		return string(text)
	}
	return xmlUnescaper.Replace(string(text))
}
