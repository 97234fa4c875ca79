package api

import (
	"encoding/json"
	"net/http"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// Until the recordings index lands, the recording calls answer as a BBB
// server with no recordings does.

func (f *Front) getRecordings(w http.ResponseWriter, req *request) {
	bbb.WriteXML(w, bbb.SuccessXML(bbb.Element{Name: "recordings"}, bbb.E("messageKey", bbb.KeyNoRecordings), bbb.E("message", bbb.MsgNoRecordings)))
}

func (f *Front) publishRecordings(w http.ResponseWriter, req *request) {
	if req.params.Get("recordID") == "" {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return
	}
	if req.params.Get("publish") == "" {
		bbb.WriteError(w, bbb.KeyMissingPublish, bbb.MsgMissingPublish)
		return
	}
	bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgRecordingsMissing)
}

func (f *Front) deleteRecordings(w http.ResponseWriter, req *request) {
	f.recordingsNotFound(w, req)
}

func (f *Front) updateRecordings(w http.ResponseWriter, req *request) {
	f.recordingsNotFound(w, req)
}

func (f *Front) recordingsNotFound(w http.ResponseWriter, req *request) {
	if req.params.Get("recordID") == "" {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return
	}
	bbb.WriteError(w, bbb.KeyNotFound, bbb.MsgRecordingsMissing)
}

func (f *Front) getRecordingTextTracks(w http.ResponseWriter, req *request) {
	id := req.params.Get("recordID")
	if id == "" {
		bbb.WriteError(w, bbb.KeyMissingRecordID, bbb.MsgMissingRecordID)
		return
	}
	writeJSONFailure(w, bbb.KeyNoRecordings, "No recording found for "+id)
}

func (f *Front) putRecordingTextTrack(w http.ResponseWriter, req *request) {
	id := req.params.Get("recordID")
	if id == "" {
		writeJSONFailure(w, "paramError", "Missing param recordID.")
		return
	}
	writeJSONFailure(w, bbb.KeyNoRecordings, "No recording was found for "+id)
}

// writeJSONFailure is the JSON error shape of the text-track calls.
func writeJSONFailure(w http.ResponseWriter, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"response": map[string]string{"returncode": bbb.Failed, "messageKey": key, "message": msg}})
}
