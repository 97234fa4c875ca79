package notify

import (
	"net/url"

	"github.com/bbb-balance/bbb_balance/bbb"
)

// KindRecordingReady is the kind of recording-ready callbacks.
const KindRecordingReady = "recording_ready"

// RecordingReady builds the recording-ready callback of BBB's contract
// (bbb-api.md §4.3): a form POST of signed_parameters, a JWT of
// {"meeting_id","record_id"} signed with secret (the one the front-end
// uses with the balancer). alg is "HS256" (BBB's default; "" means it) or
// "HS512", for a front-end that only allows sha512.
func RecordingReady(callbackURL, secret, alg, meetingID, recordID string) (Delivery, error) {
	if err := checkURL(callbackURL); err != nil {
		return Delivery{}, err
	}
	if alg == "" {
		alg = "HS256"
	}
	// A struct keeps BBB's key order.
	claims := struct {
		MeetingID string `json:"meeting_id"`
		RecordID  string `json:"record_id"`
	}{meetingID, recordID}
	token, err := bbb.SignJWT(alg, secret, claims)
	if err != nil {
		return Delivery{}, err
	}
	return Delivery{
		Kind:        KindRecordingReady,
		URL:         callbackURL,
		ContentType: "application/x-www-form-urlencoded",
		Body:        []byte(url.Values{"signed_parameters": {token}}.Encode()),
	}, nil
}
