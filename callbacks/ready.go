package callbacks

import (
	"context"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/bbb"
	"github.com/bbb-balance/bbb_balance/notify"
	"github.com/bbb-balance/bbb_balance/recordings"
)

// The recording-ready callback (bbb-api.md §4.3): a front-end names its
// URL in a create's metadata; the balancer takes it out of the create
// (the server would sign the call with its own secret, one the front-end
// does not know), keeps it, and calls it once the recording is imported,
// signed with the secret the front-end created the meeting with.

// KindRecordingReady is the delivery kind of recording-ready callbacks.
const KindRecordingReady = "recording_ready"

// ReadyURLs keeps the recording-ready URL a front-end gave at create
// (store.DB implements it).
type ReadyURLs interface {
	SaveReadyURL(ctx context.Context, meetingID, url, secretTag string) error
	ReadyURL(ctx context.Context, meetingID string) (url, secretTag string, ok bool, err error)
}

// TakeReadyURL removes the recording-ready callback URLs from a create's
// parameters and returns the one BBB would call (the first of
// bbb-api.md §4.3's fallback order).
func TakeReadyURL(params bbb.Query) (bbb.Query, string) {
	var url string
	for _, key := range recordings.RecordingReadyKeys {
		if v, ok := params.Lookup("meta_" + key); ok {
			if url == "" {
				url = strings.TrimSpace(v)
			}
			params = params.Without("meta_" + key)
		}
	}
	return params, url
}

// Ready sends the recording-ready callbacks of imported recordings.
type Ready struct {
	URLs    ReadyURLs
	Queue   Enqueuer
	Tenants TenantSource
	Logger  *zap.Logger
}

// Imported queues the recording-ready callback of a recording, if its
// front-end asked for one at create (or its metadata names one: a
// recording made before the balancer): a JWT signed with the secret the
// front-end created the meeting with (bbb-api.md §4.3, scalelite §6.9).
func (c *Ready) Imported(rec recordings.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, known := c.Tenants.Load().Lookup(rec.Tenant)
	if !known {
		c.Logger.Warn("recording of an unknown tenant: no recording-ready callback", zap.String("recording", rec.RecordID), zap.String("tenant", rec.Tenant))
		return
	}
	key, _ := t.ServerID(rec.MeetingID)
	url, tag, ok, err := c.URLs.ReadyURL(ctx, key)
	if err != nil {
		c.Logger.Error("reading the recording-ready URL failed", zap.String("recording", rec.RecordID), zap.Error(err))
		return
	}
	if !ok {
		url = rec.RecordingReadyURL()
	}
	if url == "" {
		return
	}
	v := t.Verifier
	alg := "HS256"
	if !v.Allows(bbb.SHA256) && v.Allows(bbb.SHA512) {
		alg = "HS512" // as scalelite: a front-end that allows only sha512
	}
	d, err := RecordingReady(url, v.SecretFor(tag), alg, rec.MeetingID, rec.RecordID)
	if err == nil {
		err = c.Queue.Enqueue(ctx, d)
	}
	if err != nil {
		c.Logger.Warn("recording-ready callback not queued", zap.String("recording", rec.RecordID), zap.String("url", notify.Redact(url)), zap.Error(err))
	}
}

// RecordingReady builds the recording-ready callback of BBB's contract
// (bbb-api.md §4.3): a form POST of signed_parameters, a JWT of
// {"meeting_id","record_id"} signed with secret (the one the front-end
// uses with the balancer). alg is "HS256" (BBB's default; "" means it) or
// "HS512", for a front-end that only allows sha512.
func RecordingReady(callbackURL, secret, alg, meetingID, recordID string) (notify.Delivery, error) {
	if err := notify.CheckURL(callbackURL); err != nil {
		return notify.Delivery{}, err
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
		return notify.Delivery{}, err
	}
	return notify.Delivery{
		Kind:        KindRecordingReady,
		URL:         callbackURL,
		ContentType: "application/x-www-form-urlencoded",
		Body:        []byte(url.Values{"signed_parameters": {token}}.Encode()),
	}, nil
}
