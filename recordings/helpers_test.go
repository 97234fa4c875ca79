package recordings_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recID is the i-th test record id.
func recID(i int) string { return fmt.Sprintf("%040x-%013d", 0x9ed2ddf5+i, 1715171203311+int64(i)) }

// metadataXML is bbb-api.md §6's metadata.xml for record id and format.
func metadataXML(id, format string, published bool) string {
	state := "published"
	if !published {
		state = "unpublished"
	}
	link := map[string]string{
		"presentation": "https://bbb1.example.com/playback/presentation/2.3/" + id,
		"video":        "https://bbb1.example.com/playback/video/" + id + "/",
		"podcast":      "https://bbb1.example.com/podcast/" + id + "/audio.ogg",
	}[format]
	if link == "" {
		link = "https://bbb1.example.com/" + format + "/" + id + "/"
	}
	preview := ""
	if format == "presentation" {
		preview = `
    <extensions>
      <preview>
        <images>
          <image width="176" height="136" alt="Welcome">https://bbb1.example.com/presentation/` + id + `/presentation/d2d9a672040fbde2a47a10bf6c37b6a4b5ae187f-1715171203320/thumbnails/thumb-1.png</image>
        </images>
      </preview>
    </extensions>`
	}
	return fmt.Sprintf(`<recording>
  <id>%[1]s</id>
  <state>%[2]s</state>
  <published>%[3]t</published>
  <start_time>1715171203311</start_time>
  <end_time>1715175127802</end_time>
  <participants>3</participants>
  <meeting id="%[1]s" externalId="room-alpha" name="Alpha Room" breakout="false"/>
  <meta>
    <isBreakout>false</isBreakout>
    <meetingId>room-alpha</meetingId>
    <meetingName>Alpha Room</meetingName>
    <bbb-origin>greenlight</bbb-origin>
    <bbb-recording-ready-url>https://app.example.com/recording_ready</bbb-recording-ready-url>
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
`, id, state, published, format, link, preview)
}

// tarEntry is one tar entry; Typeflag 0 means a regular file.
type tarEntry struct {
	Name     string
	Body     string
	Type     byte
	Linkname string
}

func tarFile(name, body string) tarEntry { return tarEntry{Name: name, Body: body, Type: tar.TypeReg} }
func tarDir(name string) tarEntry        { return tarEntry{Name: name, Type: tar.TypeDir} }

// formatFiles are the entries of one format of a recording: its
// directories, metadata.xml and a few small files.
func formatFiles(id, format string, published bool) []tarEntry {
	p := format + "/" + id + "/"
	es := []tarEntry{tarDir(format + "/"), tarDir(p), tarFile(p+"metadata.xml", metadataXML(id, format, published))}
	switch format {
	case "presentation":
		es = append(es, tarDir(p+"shapes/"), tarFile(p+"shapes/1.svg", "<svg/>"), tarFile(p+"cursor.xml", "<recording/>"),
			tarFile(p+"video/webcams.webm", strings.Repeat("w", 3000)))
	case "video":
		es = append(es, tarFile(p+"video-0.m4v", strings.Repeat("v", 1500)))
	default:
		es = append(es, tarFile(p+"index.html", format))
	}
	return es
}

// recordingTar is a recording tar of id with the given formats.
func recordingTar(t testing.TB, id string, published bool, formats ...string) []byte {
	var es []tarEntry
	for _, f := range formats {
		es = append(es, formatFiles(id, f, published)...)
	}
	return buildTar(t, es)
}

func buildTar(t testing.TB, es []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: 0o600,
			ModTime: time.Unix(1715171203, 0), Format: tar.FormatPAX}
		if h.Typeflag == tar.TypeReg || e.Body != "" {
			h.Size = int64(len(e.Body))
		}
		if e.Type == tar.TypeDir {
			h.Mode = 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.Name, err)
		}
		if e.Body != "" {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
