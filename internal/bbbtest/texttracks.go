package bbbtest

import (
	"encoding/json"
	"net/http"
	"sort"
)

// Text tracks (bbb-api.md §2.12–2.13): the fake keeps the tracks uploaded
// with putRecordingTextTrack, by record id, and lists them with
// getRecordingTextTracks; both answer JSON as BBB does.

type textTrack struct {
	Href   string `json:"href"`
	Kind   string `json:"kind"`
	Label  string `json:"label"`
	Lang   string `json:"lang"`
	Source string `json:"source"`
}

func replyJSON(w http.ResponseWriter, resp map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"response": resp})
}

func jsonFailed(w http.ResponseWriter, key, msg string) {
	replyJSON(w, map[string]any{"returncode": "FAILED", "messageKey": key, "message": msg})
}

func (s *Server) apiGetRecordingTextTracks(w http.ResponseWriter, req *apiRequest) {
	if !req.checksumOK {
		checksumError(w)
		return
	}
	id := req.params.Get("recordID")
	if id == "" {
		replyFailed(w, "missingParamRecordID", "You must specify a recordID.")
		return
	}
	s.mu.Lock()
	tracks := append([]textTrack(nil), s.tracks[id]...)
	s.mu.Unlock()
	if len(tracks) == 0 {
		jsonFailed(w, "noCaptionsFound", "No captions found for "+id)
		return
	}
	sort.Slice(tracks, func(i, j int) bool { return tracks[i].Lang < tracks[j].Lang })
	replyJSON(w, map[string]any{"returncode": "SUCCESS", "tracks": tracks})
}

func (s *Server) apiPutRecordingTextTrack(w http.ResponseWriter, req *apiRequest) {
	if !req.checksumOK {
		jsonFailed(w, "paramError", "Missing param checksum.")
		return
	}
	p := req.query
	for _, name := range []string{"recordID", "kind", "lang"} {
		if p.Get(name) == "" {
			jsonFailed(w, "paramError", "Missing param "+name+".")
			return
		}
	}
	if k := p.Get("kind"); k != "subtitles" && k != "captions" {
		jsonFailed(w, "invalidKind", "Invalid kind parameter, expected='subtitles|captions' actual="+k)
		return
	}
	if req.files["file"] == 0 {
		jsonFailed(w, "empty_uploaded_text_track", "Empty uploaded text track.")
		return
	}
	id, lang := p.Get("recordID"), p.Get("lang")
	label := p.Get("label")
	if label == "" {
		label = lang
	}
	s.mu.Lock()
	if s.tracks == nil {
		s.tracks = map[string][]textTrack{}
	}
	s.tracks[id] = append(s.tracks[id], textTrack{
		Href: "http://" + s.pubHost + "/bigbluebutton/textTrack/token/" + id + "/" + p.Get("kind") + "_" + lang + ".vtt",
		Kind: p.Get("kind"), Label: label, Lang: lang, Source: "upload",
	})
	s.mu.Unlock()
	replyJSON(w, map[string]any{"returncode": "SUCCESS", "recordId": id, "messageKey": "upload_text_track_success", "message": "Text track uploaded successfully"})
}
