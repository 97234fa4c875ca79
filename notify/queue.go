// Package notify delivers the balancer's outbound HTTP calls (the
// recording-ready callback, relayed callbacks) durably: each delivery is
// stored before it is attempted, retried with backoff, and survives a
// restart. A delivery is made at least once: a crash between the receiver's
// answer and the delete repeats it, which BBB's receivers already expect
// (BBB itself calls recording-ready once per format).
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Delivery is one outbound request: a POST of Body, or a GET (relayed
// end-of-meeting callbacks, which BBB makes as GETs).
type Delivery struct {
	ID          int64
	Kind        string // for logs and metrics, e.g. "recording_ready"
	Method      string // "GET" or "POST"; "" means POST
	URL         string
	ContentType string
	Body        []byte
	// Header is sent with the request (e.g. a bearer token). A User-Agent
	// here replaces the queue's own.
	Header    http.Header
	Attempts  int // failed attempts so far
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
}

// Store keeps the deliveries not yet made.
type Store interface {
	EnqueueDelivery(ctx context.Context, d Delivery) (int64, error)
	// DueDeliveries returns up to limit deliveries with NextAt <= now,
	// earliest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	RescheduleDelivery(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error
	DeleteDelivery(ctx context.Context, id int64) error
}

// TakingStore is a Store shared by several processes whose DueDeliveries
// also takes what it returns, for a while, so that no other process
// delivers it too (TakesDue true). The queue then asks only for as many as
// it can start: one it took and could not start would wait out the lease.
type TakingStore interface {
	Store
	TakesDue() bool
}

// DefaultBackoff is the wait after each failed attempt; after the last the
// delivery is given up. BBB's own callback retries start the same way.
var DefaultBackoff = []time.Duration{
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour,
}

// Results passed to Queue.Observer.
const (
	ResultDelivered = "delivered" // 2xx
	ResultRetry     = "retry"     // failed, rescheduled
	ResultGaveUp    = "gave_up"   // failed after the last backoff, dropped
	ResultStopped   = "stopped"   // 404 or 410: the receiver wants no more
)

// Queue delivers what its Store holds. Set the fields, then call Run once;
// Enqueue may be called from anywhere, before or during Run.
type Queue struct {
	Store Store
	// Client makes the requests; redirects are never followed, whatever
	// its CheckRedirect (BBB does not follow them either, and a redirect
	// could carry the signed body elsewhere). nil means a plain client.
	Client *http.Client
	Logger *zap.Logger
	// Backoff is the wait after the 1st, 2nd, ... failure; nil means
	// DefaultBackoff.
	Backoff []time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Concurrency is how many attempts run at once (default 4), so one
	// slow receiver does not hold up the others.
	Concurrency int
	// Observer, if set, is told the result of each attempt (for metrics).
	Observer func(kind, result string)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// PollInterval is how often the store is read when nothing else wakes
	// the queue: for deliveries scheduled by another process sharing the
	// database (default 5s). Retries scheduled by this queue and Enqueue
	// wake it at once.
	PollInterval time.Duration

	once   sync.Once
	wake   chan struct{}
	client *http.Client
}

func (q *Queue) init() {
	q.once.Do(func() {
		q.wake = make(chan struct{}, 1)
		c := http.Client{}
		if q.Client != nil {
			c = *q.Client
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		q.client = &c
		if q.Logger == nil {
			q.Logger = zap.NewNop()
		}
	})
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func (q *Queue) pollInterval() time.Duration {
	if q.PollInterval <= 0 {
		return 5 * time.Second
	}
	return q.PollInterval
}

func (q *Queue) backoff() []time.Duration {
	if q.Backoff == nil {
		return DefaultBackoff
	}
	return q.Backoff
}

func (q *Queue) observe(kind, result string) {
	if q.Observer != nil {
		q.Observer(kind, result)
	}
}

// CheckURL accepts what the queue can call: absolute http(s) URLs only;
// anything else could never be delivered and would sit in the queue until
// it is given up.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify: delivery URL %q is not an absolute http(s) URL", Redact(raw))
	}
	return nil
}

// Redact returns a URL for logs: scheme, host and path, without user
// info, query or fragment, which may carry tokens.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// Enqueue stores d for delivery and wakes the queue. It returns once d is
// stored, never waiting on the network. A zero NextAt means now.
func (q *Queue) Enqueue(ctx context.Context, d Delivery) error {
	q.init()
	if d.Kind == "" {
		return errors.New("notify: delivery without a kind")
	}
	if err := CheckURL(d.URL); err != nil {
		return err
	}
	if d.Method != "" && d.Method != http.MethodGet && d.Method != http.MethodPost {
		return fmt.Errorf("notify: a %s delivery with method %q (want GET or POST)", d.Kind, d.Method)
	}
	now := q.now()
	if d.NextAt.IsZero() {
		d.NextAt = now
	}
	d.CreatedAt, d.Attempts, d.LastError = now, 0, ""
	if _, err := q.Store.EnqueueDelivery(ctx, d); err != nil {
		return fmt.Errorf("notify: storing a %s delivery: %w", d.Kind, err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// result is what one attempt leaves behind.
type result struct {
	id   int64
	next time.Time // when it is due again; zero if it is gone
	// held: the store could not record the outcome, so the row still
	// says "due now"; it is kept out of the dispatch until next, so a
	// failing database does not turn into a stream of requests.
	held bool
}

// Run delivers due deliveries until ctx ends, then waits for the attempts
// under way (they are cut short by ctx and stay stored, to be made after
// the next start).
func (q *Queue) Run(ctx context.Context) {
	q.init()
	conc := q.Concurrency
	if conc <= 0 {
		conc = 4
	}
	poll := q.pollInterval()
	inflight := map[int64]bool{}
	done := make(chan result)
	var retries []time.Time // when the retries this queue scheduled fall due
	held := map[int64]time.Time{}
	for {
		wait := time.Duration(-1) // none: only an attempt ending matters
		if free := conc - len(inflight); free > 0 {
			// In-flight and held deliveries are still due in the store:
			// ask for enough to fill the free slots besides them.
			limit := free + len(inflight) + len(held)
			if ts, ok := q.Store.(TakingStore); ok && ts.TakesDue() {
				limit = free // taken ones are not read again
			}
			due, err := q.Store.DueDeliveries(ctx, q.now(), limit)
			if err != nil {
				if ctx.Err() == nil {
					q.Logger.Error("reading due deliveries", zap.Error(err))
				}
				wait = poll
			} else {
				now := q.now()
				for id, until := range held {
					if !until.After(now) {
						delete(held, id)
					}
				}
				for _, d := range due {
					if _, h := held[d.ID]; h || inflight[d.ID] || len(inflight) >= conc {
						continue
					}
					inflight[d.ID] = true
					go func(d Delivery) { done <- q.attempt(ctx, d) }(d)
				}
				now = q.now()
				retries = slices.DeleteFunc(retries, func(t time.Time) bool { return !t.After(now) })
				wait = poll
				for _, t := range retries {
					wait = min(wait, t.Sub(now))
				}
			}
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 && len(inflight) < conc {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			for len(inflight) > 0 {
				r := <-done
				delete(inflight, r.id)
			}
			return
		case r := <-done:
			delete(inflight, r.id)
			if !r.next.IsZero() {
				retries = append(retries, r.next)
			}
			if r.held {
				held[r.id] = r.next
			}
		case <-q.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// attempt makes one delivery attempt and records its outcome.
func (q *Queue) attempt(ctx context.Context, d Delivery) result {
	log := q.Logger.With(zap.Int64("delivery", d.ID), zap.String("kind", d.Kind),
		zap.String("url", Redact(d.URL)), zap.Int("attempt", d.Attempts+1))
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, err := q.send(actx, d)
	if ctx.Err() != nil {
		// Shutting down: not the receiver's failure; it stays due.
		return result{id: d.ID}
	}
	// The outcome is recorded even if ctx ends meanwhile: a delivery made
	// must not be made again for want of a delete.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	gone := func(outcome string, logf func(string, ...zap.Field), msg string, fields ...zap.Field) result {
		r := result{id: d.ID}
		if err := q.Store.DeleteDelivery(sctx, d.ID); err != nil {
			// It will be made again, once the poll interval has passed.
			q.Logger.Error("deleting a delivery", zap.Int64("delivery", d.ID), zap.Error(err))
			r = result{id: d.ID, next: q.now().Add(q.pollInterval()), held: true}
		}
		logf(msg, fields...)
		q.observe(d.Kind, outcome)
		return r
	}
	var failure string
	switch {
	case err != nil:
		failure = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			failure = fmt.Sprintf("no answer within %s", timeout)
		}
	case status >= 200 && status <= 299:
		return gone(ResultDelivered, log.Debug, "delivered", zap.Int("status", status))
	case status == http.StatusNotFound || status == http.StatusGone:
		// BBB's recording-ready contract: the receiver has no such meeting
		// (any more); asking again will not change that.
		return gone(ResultStopped, log.Info, "receiver declined the delivery; not retried", zap.Int("status", status))
	default:
		failure = fmt.Sprintf("HTTP %d", status)
	}

	backoff := q.backoff()
	attempts := d.Attempts + 1
	if attempts > len(backoff) {
		return gone(ResultGaveUp, log.Warn, "delivery failed; giving up",
			zap.String("error", failure), zap.Time("since", d.CreatedAt))
	}
	next := q.now().Add(backoff[attempts-1])
	r := result{id: d.ID, next: next}
	if err := q.Store.RescheduleDelivery(sctx, d.ID, attempts, next, failure); err != nil {
		// Its row keeps the old count and says "due": held here until next.
		q.Logger.Error("rescheduling a delivery", zap.Int64("delivery", d.ID), zap.Error(err))
		r.held = true
	}
	log.Info("delivery failed; will retry", zap.String("error", failure), zap.Time("next", next))
	q.observe(d.Kind, ResultRetry)
	return r
}

// send makes the request of d and returns the status. Errors carry no URL: Go's
// *url.Error quotes it whole, query and all.
func (q *Queue) send(ctx context.Context, d Delivery) (int, error) {
	method, body := d.Method, io.Reader(bytes.NewReader(d.Body))
	if method == "" {
		method = http.MethodPost
	}
	if method == http.MethodGet {
		body = nil
	}
	req, err := http.NewRequestWithContext(ctx, method, d.URL, body)
	if err != nil {
		return 0, errors.New("invalid request")
	}
	req.Header.Set("User-Agent", "bbb_balance")
	for k, vs := range d.Header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if d.ContentType != "" && body != nil {
		req.Header.Set("Content-Type", d.ContentType)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	// Read a little so the connection can be reused; the answer itself
	// does not matter.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
