package recordings

import (
	"mime"
	"testing"
)

func TestContentType(t *testing.T) {
	// The files of BBB's published formats, and what BBB's nginx sends.
	for name, want := range map[string]string{
		"/presentation/x/video/webcams.webm":                    "video/webm",
		"/presentation/x/deskshare/deskshare.mp4":               "video/mp4",
		"/video/x/video-0.m4v":                                  "video/x-m4v",
		"/screenshare/x/deskshare.webm":                         "video/webm",
		"/presentation/x/shapes.svg":                            "image/svg+xml",
		"/presentation/x/metadata.xml":                          "text/xml; charset=utf-8",
		"/presentation/x/presentation_text.json":                "application/json",
		"/presentation/x/caption_en-US.vtt":                     "text/vtt; charset=utf-8",
		"/presentation/x/presentation/p/slide-1.png":            "image/png",
		"/presentation/x/presentation/p/thumbnails/thumb-1.png": "image/png",
		"/presentation/x/presentation/p/textfiles/slide-1.txt":  "text/plain; charset=utf-8",
		"/podcast/x/audio.ogg":                                  "audio/ogg",
		"/podcast/x/audio.opus":                                 "audio/ogg",
		"/notes/x/notes.html":                                   "text/html; charset=utf-8",
		"/notes/x/notes.pdf":                                    "application/pdf",
		"/video/x/index.html":                                   "text/html; charset=utf-8",
		"/video/x/playback.css":                                 "text/css; charset=utf-8",
		"/video/x/playback.js":                                  "application/javascript; charset=utf-8",
		"photo.JPG":                                             "image/jpeg",
		"clip.WebM":                                             "video/webm",
		"/video/x/":                                             "",
		"/presentation/x/noext":                                 "",
		"/presentation/x/a.unknown":                             "",
		"/presentation/x.webm/":                                 "",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
	// Every entry is a well-formed media type, text declares its charset.
	for ext, typ := range contentTypes {
		mt, params, err := mime.ParseMediaType(typ)
		if err != nil {
			t.Errorf("%s: %q: %v", ext, typ, err)
		}
		if (mt == "text/html" || mt == "text/plain" || mt == "text/xml" || mt == "text/css" || mt == "text/vtt") && params["charset"] != "utf-8" {
			t.Errorf("%s: %q without charset", ext, typ)
		}
	}
}
