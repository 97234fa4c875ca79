package recordings

import (
	"path"
	"strings"
)

// contentTypes are the Content-Types of the files of the published formats
// (presentation, video, screenshare, podcast, notes), as a BBB server
// serves them: BBB's playback nginx locations set no types, so its files
// get nginx's stock mime.types (conf/mime.types: webm video/webm, m4v
// video/x-m4v, xml text/xml, js application/javascript, ...). Go's table
// and the system's mime.types, which Caddy's file server would use, differ
// on some (.webm is audio/webm there, and a system may not know .m4v).
// Beyond nginx's table: .vtt captions are text/vtt, the type WebVTT is
// registered with and browsers expect of a <track> (nginx would send
// application/octet-stream), and .opus audio is audio/ogg (Opus in an Ogg
// file). Text is UTF-8, as BBB writes it.
var contentTypes = map[string]string{
	// the players' pages and data
	".html": "text/html; charset=utf-8",
	".htm":  "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "application/javascript; charset=utf-8",
	".xml":  "text/xml; charset=utf-8", // metadata.xml, cursor.xml, panzooms.xml, slides_new.xml, deskshare.xml
	".json": "application/json",        // presentation_text.json, captions.json, tldraw.json, ...
	".txt":  "text/plain; charset=utf-8",
	".vtt":  "text/vtt; charset=utf-8", // captions
	".svg":  "image/svg+xml",           // shapes.svg, slides
	// slides and thumbnails
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".ico":  "image/x-icon",
	// webcams, screen share, the video format
	".webm": "video/webm",
	".mp4":  "video/mp4",
	".m4v":  "video/x-m4v",
	// podcast
	".ogg":  "audio/ogg",
	".opus": "audio/ogg",
	".mp3":  "audio/mpeg",
	".m4a":  "audio/x-m4a",
	// shared notes, uploaded presentations
	".pdf":  "application/pdf",
	".odt":  "application/vnd.oasis.opendocument.text",
	".doc":  "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".rtf":  "application/rtf",
	// the players' fonts
	".woff":  "font/woff",
	".woff2": "font/woff2",
}

// ContentType is the Content-Type of the recording file name (a path or a
// file name) as a BBB server serves it, by its extension in any case; ""
// for an extension not in the table.
func ContentType(name string) string {
	return contentTypes[strings.ToLower(path.Ext(name))]
}
