package bbb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// Endpoint is one BBB server as the balancer calls it.
type Endpoint struct {
	URL       string    // API base, e.g. https://bbb1.example.com/bigbluebutton/api
	Secret    string    // the server's securitySalt
	Algorithm Algorithm // for signing; SHA256 when empty
}

// CallURL returns the signed URL of call with query q.
func (e Endpoint) CallURL(call string, q Query) string {
	alg := e.Algorithm
	if alg == "" {
		alg = SHA256
	}
	return strings.TrimSuffix(e.URL, "/") + "/" + call + "?" + Sign(alg, call, string(q), e.Secret)
}

// MaxAnswer bounds how much of a server's answer is read: a getMeetings of a
// full server is a few MB at most.
const MaxAnswer = 64 << 20

// Client calls BBB servers.
type Client struct {
	HTTP *http.Client
}

// SameHostRedirects is the CheckRedirect of a Client's http.Client: a
// server may move its own API (http to https), but an answer that sends
// the caller to another host is not followed. A join that fails on the
// server redirects to the errorRedirectUrl or logoutURL its caller chose;
// the balancer must never fetch those.
func SameHostRedirects(req *http.Request, via []*http.Request) error {
	switch {
	case len(via) >= 10:
		return errors.New("stopped after 10 redirects")
	case req.URL.Host != via[0].URL.Host:
		return http.ErrUseLastResponse
	}
	return nil
}

// CallError is a call that got no usable BBB answer: the server was
// unreachable, timed out, or answered something that is not BBB XML.
type CallError struct {
	Call   string
	Status int // the HTTP status of the answer; 0 when none came
	Err    error
}

func (e *CallError) Error() string { return e.Call + ": " + e.Err.Error() }

// redact drops the query from a transport error's URL: a checksum there is
// as good as the server's secret for replaying that call (getMeetings has
// no parameters, so its checksum never changes), and errors end up in logs.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.Err
	}
	u.RawQuery, u.User = "", nil
	return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
}
func (e *CallError) Unwrap() error { return e.Err }

// Unanswered reports whether a call failed because the server refused the
// connection or closed it without answering: not a timeout (the server
// may still be working on it), not an answer. A create that failed so may
// go to another server.
func Unanswered(err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != 0 {
		return false
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Result is a BBB answer: its raw body and its envelope. A FAILED answer is
// a Result, not an error; the caller decides what it means.
type Result struct {
	Envelope
	Body []byte
}

// Do calls call on e with query q: a GET, or a POST of body with
// contentType when body is not nil.
func (c *Client) Do(ctx context.Context, e Endpoint, call string, q Query, body io.Reader, contentType string) (*Result, error) {
	data, err := c.DoRaw(ctx, e, call, q, body, contentType)
	if err != nil {
		return nil, err
	}
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, &CallError{Call: call, Status: http.StatusOK, Err: fmt.Errorf("unreadable answer: %w", err)}
	}
	return &Result{Envelope: env, Body: data}, nil
}

// DoRaw calls call like Do and returns the answer's body unparsed, for the
// calls that answer JSON (the text-track calls).
func (c *Client) DoRaw(ctx context.Context, e Endpoint, call string, q Query, body io.Reader, contentType string) ([]byte, error) {
	resp, err := c.send(ctx, e, call, q, body, contentType)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		// The answer had begun: the server did the work.
		return nil, &CallError{Call: call, Status: resp.StatusCode, Err: err}
	}
	return data, nil
}

// Open calls call like Do but hands back the open answer for the caller to
// stream and close, after checking the HTTP status.
func (c *Client) Open(ctx context.Context, e Endpoint, call string, q Query) (io.ReadCloser, error) {
	resp, err := c.send(ctx, e, call, q, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Index calls the server's index (no checksum) and returns its answer.
func (c *Client) Index(ctx context.Context, e Endpoint) (*IndexResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(e.URL, "/"), nil)
	if err != nil {
		return nil, &CallError{Call: "index", Err: err}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &CallError{Call: "index", Err: redact(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &CallError{Call: "index", Status: resp.StatusCode, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	ix, err := ParseIndex(resp.Body)
	if err != nil {
		return nil, &CallError{Call: "index", Err: err}
	}
	return ix, nil
}

func (c *Client) send(ctx context.Context, e Endpoint, call string, q Query, body io.Reader, contentType string) (*http.Response, error) {
	method := http.MethodGet
	if body != nil {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, e.CallURL(call, q), body)
	if err != nil {
		return nil, &CallError{Call: call, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &CallError{Call: call, Err: redact(err)}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &CallError{Call: call, Status: resp.StatusCode, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	return resp, nil
}
