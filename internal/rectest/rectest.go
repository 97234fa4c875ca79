// Package rectest builds BBB recordings for tests and benchmarks: the
// metadata.xml a BBB server writes for each format (bbb-api.md §6) and the
// tar a post-publish script sends (<format>/<recordID>/...).
package rectest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"html"
	"strings"
	"time"
)

// RecordID is the record id BBB gives a meeting created at createTime (ms):
// sha1hex(meetingID) + "-" + createTime (bbb-api.md §5.1).
func RecordID(meetingID string, createTime int64) string {
	sum := sha1.Sum([]byte(meetingID))
	return fmt.Sprintf("%s-%013d", hex.EncodeToString(sum[:]), createTime)
}

// Recording describes one recording; zero fields get the values of
// bbb-api.md §6's example.
type Recording struct {
	ID        string // default RecordID(MeetingID, StartTime)
	MeetingID string // default "room-alpha"
	Name      string // default "Alpha Room"
	Host      string // of the playback links; default "bbb1.example.com"
	Published bool
	StartTime int64       // ms; default 1715171203311
	Meta      [][2]string // user metadata after BBB's own keys; default bbb-origin=greenlight
}

func (r Recording) withDefaults() Recording {
	if r.MeetingID == "" {
		r.MeetingID = "room-alpha"
	}
	if r.Name == "" {
		r.Name = "Alpha Room"
	}
	if r.Host == "" {
		r.Host = "bbb1.example.com"
	}
	if r.StartTime == 0 {
		r.StartTime = 1715171203311
	}
	if r.ID == "" {
		r.ID = RecordID(r.MeetingID, r.StartTime)
	}
	if r.Meta == nil {
		r.Meta = [][2]string{{"bbb-origin", "greenlight"}}
	}
	return r
}

// WithDefaults returns r with its defaults filled in (its ID, say).
func (r Recording) WithDefaults() Recording { return r.withDefaults() }

// MetadataXML is the metadata.xml of one format of r.
func (r Recording) MetadataXML(format string) string {
	r = r.withDefaults()
	state := "published"
	if !r.Published {
		state = "unpublished"
	}
	link := map[string]string{
		"presentation": "https://" + r.Host + "/playback/presentation/2.3/" + r.ID,
		"video":        "https://" + r.Host + "/playback/video/" + r.ID + "/",
		"podcast":      "https://" + r.Host + "/podcast/" + r.ID + "/audio.ogg",
	}[format]
	if link == "" {
		link = "https://" + r.Host + "/" + format + "/" + r.ID + "/"
	}
	preview := ""
	if format == "presentation" {
		preview = `
    <extensions>
      <preview>
        <images>
          <image width="176" height="136" alt="Welcome">https://` + r.Host + `/presentation/` + r.ID + `/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>
        </images>
      </preview>
    </extensions>`
	}
	var meta strings.Builder
	for _, kv := range r.Meta {
		fmt.Fprintf(&meta, "\n    <%s>%s</%s>", kv[0], html.EscapeString(kv[1]), kv[0])
	}
	name := html.EscapeString(r.Name)
	mid := html.EscapeString(r.MeetingID)
	return fmt.Sprintf(`<recording>
  <id>%[1]s</id>
  <state>%[2]s</state>
  <published>%[3]t</published>
  <start_time>%[10]d</start_time>
  <end_time>%[11]d</end_time>
  <participants>3</participants>
  <meeting id="%[1]s" externalId="%[7]s" name="%[8]s" breakout="false"/>
  <meta>
    <isBreakout>false</isBreakout>
    <meetingId>%[7]s</meetingId>
    <meetingName>%[8]s</meetingName>%[9]s
  </meta>
  <playback>
    <format>%[4]s</format>
    <link>%[5]s</link>
    <processing_time>61234</processing_time>
    <duration>3903112</duration>%[6]s
    <size>48211033</size>
  </playback>
  <raw_size>210334455</raw_size>
</recording>
`, r.ID, state, r.Published, format, link, preview, mid, name, meta.String(), r.StartTime, r.StartTime+3924491)
}

// Entry is one tar entry; Type 0 means a regular file.
type Entry struct {
	Name     string
	Body     string
	Type     byte
	Linkname string
}

// File and Dir are the usual entries.
func File(name, body string) Entry { return Entry{Name: name, Body: body, Type: tar.TypeReg} }
func Dir(name string) Entry        { return Entry{Name: name, Type: tar.TypeDir} }

// Entries are the entries of r's formats: directories, metadata.xml and a
// few small files, as a BBB server publishes them.
func (r Recording) Entries(formats ...string) []Entry {
	r = r.withDefaults()
	var es []Entry
	for _, format := range formats {
		p := format + "/" + r.ID + "/"
		es = append(es, Dir(format+"/"), Dir(p), File(p+"metadata.xml", r.MetadataXML(format)))
		switch format {
		case "presentation":
			es = append(es, Dir(p+"shapes/"), File(p+"shapes/1.svg", "<svg/>"), File(p+"cursor.xml", "<recording/>"),
				File(p+"video/webcams.webm", strings.Repeat("w", 3000)))
		case "video":
			es = append(es, File(p+"video-0.m4v", strings.Repeat("v", 1500)))
		default:
			es = append(es, File(p+"index.html", format))
		}
	}
	return es
}

// Tar is the tar of r's formats.
func (r Recording) Tar(formats ...string) ([]byte, error) { return Tar(r.Entries(formats...)) }

// Tar writes entries into a tar.
func Tar(es []Entry) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: 0o600,
			ModTime: time.Unix(1715171203, 0), Format: tar.FormatPAX}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if e.Type == tar.TypeDir {
			h.Mode = 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %q: %w", e.Name, err)
		}
		if e.Body != "" && h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}
