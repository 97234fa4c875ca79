// Package bbbtest is a fake BigBlueButton server speaking the BBB 3.0 API
// over real HTTP. It is meant for end-to-end tests, demos and load
// benchmarks of the balancer: it verifies checksums exactly like bbb-web
// (independently of the balancer's own signing code), keeps meeting state,
// records every API call and can be switched into a number of failure modes.
//
// The package does not import "testing" and does not log per request.
package bbbtest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a fake server.
type Options struct {
	// Secret is the shared secret (bbb-web securitySalt). Required.
	Secret string
	// Algorithms lists the allowed checksum algorithms ("sha1", "sha256",
	// "sha384", "sha512"). Default: all four.
	Algorithms []string
	// Addr is the listen address. Default "127.0.0.1:0".
	Addr string
	// Version is the bbbVersion reported by the index call. Default "3.0.0".
	Version string
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// Seed seeds the random source used for passwords, voice bridges, user
	// ids and tokens. 0 means a random seed.
	Seed uint64
	// MaxCalls bounds the call log returned by Calls: 0 keeps every call,
	// n > 0 keeps only the n most recent calls, n < 0 keeps none. CallCount
	// counts every call since the last ResetCalls regardless of this limit.
	MaxCalls int
}

// Failure is a failure mode of the fake server; see SetFailure.
type Failure int

const (
	// FailNone answers normally.
	FailNone Failure = iota
	// FailRefuse closes the listener (and every open connection) so that
	// connections are refused. Switching back to any other mode listens again
	// on the same port.
	FailRefuse
	// FailReset accepts the connection, reads the request and then resets
	// the TCP connection without answering.
	FailReset
	// FailSlow answers normally after the delay set by SetSlow (default 10s),
	// or gives up without answering when the server is closed or the
	// request's context is done.
	FailSlow
	// FailHTTP500 answers with HTTP 500.
	FailHTTP500
	// FailGarbage answers HTTP 200 with a body that is not XML.
	FailGarbage
	// FailFailed answers HTTP 200 with a FAILED/internalError response.
	FailFailed
	// FailDropAnswer does the work of every API call (a create creates
	// the meeting) and then resets the connection without answering: a
	// server that dies between doing and saying.
	FailDropAnswer
)

func (f Failure) String() string {
	switch f {
	case FailNone:
		return "none"
	case FailRefuse:
		return "refuse"
	case FailReset:
		return "reset"
	case FailSlow:
		return "slow"
	case FailHTTP500:
		return "http500"
	case FailGarbage:
		return "garbage"
	case FailFailed:
		return "failed"
	case FailDropAnswer:
		return "drop-answer"
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// FailedBody is the exact body sent in FailFailed mode.
const FailedBody = `<response><returncode>FAILED</returncode><messageKey>internalError</messageKey><message>fake failure</message></response>`

// GarbageBody is the exact body sent in FailGarbage mode.
const GarbageBody = "%%% this is not XML: fake BigBlueButton garbage response %%%\n"

const defaultSlow = 10 * time.Second

// Call is one API call received by the server.
type Call struct {
	Name        string // call name, e.g. "create" or "hooks/create"; "index" for the API root
	Method      string
	RawQuery    string
	ContentType string
	Body        []byte
	ChecksumOK  bool // checksum verified (always true for index, which needs none)
	Time        time.Time
}

// Server is a running fake BBB server.
type Server struct {
	secret  string
	algs    []string // allowed, in Options order
	version string
	now     func() time.Time

	addr    string // host:port actually listened on (fixed across FailRefuse)
	pubHost string // host:port used in URLs
	apiURL  string

	srv       *http.Server
	wg        sync.WaitGroup
	closed    chan struct{}
	closeOnce sync.Once

	lnMu     sync.Mutex
	ln       net.Listener
	lnGen    uint64
	isClosed bool

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	failure   atomic.Int32
	slow      atomic.Int64
	flapEvery atomic.Int64
	flapCount atomic.Int64

	callMu   sync.Mutex
	calls    []Call
	counts   map[string]int
	maxCalls int

	mu             sync.RWMutex
	meetings       map[string]*meeting // by external meetingID
	byInternal     map[string]*meeting
	voiceBridges   map[string]*meeting
	overflowBridge int // past 99999, for servers with more meetings than 5-digit bridges
	seq            uint64
	tracks         map[string][]textTrack // text tracks by record id

	rndMu sync.Mutex
	rnd   *rand.Rand
}

// New starts a fake server; it listens and serves immediately.
func New(opts Options) (*Server, error) {
	if opts.Secret == "" {
		return nil, errors.New("bbbtest: Options.Secret is required")
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = []string{"sha1", "sha256", "sha384", "sha512"}
	}
	var norm []string
	for _, a := range algs {
		a = strings.ToLower(strings.TrimSpace(a))
		if hashLen(a) == 0 {
			return nil, fmt.Errorf("bbbtest: unknown checksum algorithm %q", a)
		}
		norm = append(norm, a)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	version := opts.Version
	if version == "" {
		version = "3.0.0"
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bbbtest: listen: %w", err)
	}
	s := &Server{
		secret:       opts.Secret,
		algs:         norm,
		version:      version,
		now:          now,
		addr:         ln.Addr().String(),
		closed:       make(chan struct{}),
		conns:        make(map[net.Conn]struct{}),
		counts:       make(map[string]int),
		maxCalls:     opts.MaxCalls,
		meetings:     make(map[string]*meeting),
		byInternal:   make(map[string]*meeting),
		voiceBridges: make(map[string]*meeting),
		rnd:          rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.pubHost = publicHost(s.addr)
	s.apiURL = "http://" + s.pubHost + "/bigbluebutton/api"
	s.slow.Store(int64(defaultSlow))
	s.srv = &http.Server{
		Handler:           s,
		ConnState:         s.connState,
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.lnMu.Lock()
	s.ln = ln
	s.serveLocked(ln)
	s.lnMu.Unlock()
	return s, nil
}

// publicHost replaces an unspecified listen IP by 127.0.0.1 so that URLs
// built from it are dialable.
func publicHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (s *Server) serveLocked(ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
}

// Close stops the server and closes every connection. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.lnMu.Lock()
		s.isClosed = true
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
		s.lnMu.Unlock()
		_ = s.srv.Close()
		s.closeConns()
		s.wg.Wait()
	})
}

// URL returns the API base URL without a trailing slash, e.g.
// "http://127.0.0.1:41234/bigbluebutton/api".
func (s *Server) URL() string { return s.apiURL }

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Secret returns the shared secret.
func (s *Server) Secret() string { return s.secret }

// Algorithms returns the allowed checksum algorithms.
func (s *Server) Algorithms() []string { return append([]string(nil), s.algs...) }

// SetFailure switches the failure mode. It applies to every API call,
// including index; FailRefuse affects every connection.
func (s *Server) SetFailure(f Failure) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	s.failure.Store(int32(f))
	if s.isClosed {
		return
	}
	if f == FailRefuse {
		s.lnGen++
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
		s.closeConns()
		return
	}
	if s.ln == nil {
		s.relistenLocked()
	}
}

// Failure returns the current failure mode (as set by SetFailure).
func (s *Server) Failure() Failure { return Failure(s.failure.Load()) }

// relistenLocked listens again on the same address. If the port cannot be
// bound right away it keeps retrying in the background until it succeeds,
// the server is closed or FailRefuse is set again.
func (s *Server) relistenLocked() {
	if ln, err := net.Listen("tcp", s.addr); err == nil {
		s.ln = ln
		s.serveLocked(ln)
		return
	}
	gen := s.lnGen
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.closed:
				return
			case <-t.C:
			}
			s.lnMu.Lock()
			if s.isClosed || s.lnGen != gen || s.ln != nil {
				s.lnMu.Unlock()
				return
			}
			if ln, err := net.Listen("tcp", s.addr); err == nil {
				s.ln = ln
				s.serveLocked(ln)
				s.lnMu.Unlock()
				return
			}
			s.lnMu.Unlock()
		}
	}()
}

// SetSlow sets the delay used by FailSlow (default 10s).
func (s *Server) SetSlow(d time.Duration) { s.slow.Store(int64(d)) }

// SetFlapping makes the server alternate between failing and answering
// normally while the failure mode is FailNone: the first `every` API calls
// after this call get HTTP 500, the next `every` calls are answered
// normally, and so on. 0 turns flapping off.
func (s *Server) SetFlapping(every int) {
	if every < 0 {
		every = 0
	}
	s.flapCount.Store(0)
	s.flapEvery.Store(int64(every))
}

// effectiveFailure is the failure mode to apply to one API call.
func (s *Server) effectiveFailure() Failure {
	f := Failure(s.failure.Load())
	if f != FailNone {
		return f
	}
	if every := s.flapEvery.Load(); every > 0 {
		n := s.flapCount.Add(1) - 1
		if (n/every)%2 == 0 {
			return FailHTTP500
		}
	}
	return FailNone
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.connMu.Lock()
		s.conns[c] = struct{}{}
		s.connMu.Unlock()
	case http.StateClosed, http.StateHijacked:
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
	}
}

func (s *Server) closeConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		_ = c.Close()
		delete(s.conns, c)
	}
}

// resetConn hijacks the connection and closes it with SO_LINGER 0 so the
// peer sees a TCP RST instead of an HTTP response.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// record appends a call to the log.
func (s *Server) record(c Call) {
	s.callMu.Lock()
	s.counts[c.Name]++
	switch {
	case s.maxCalls < 0:
	case s.maxCalls == 0:
		s.calls = append(s.calls, c)
	default:
		s.calls = append(s.calls, c)
		if len(s.calls) >= 2*s.maxCalls {
			kept := make([]Call, s.maxCalls, 2*s.maxCalls)
			copy(kept, s.calls[len(s.calls)-s.maxCalls:])
			s.calls = kept
		}
	}
	s.callMu.Unlock()
}

// Calls returns a copy of the API calls received, in order (bounded by
// Options.MaxCalls). Calls answered in FailRefuse mode are not recorded.
func (s *Server) Calls() []Call {
	s.callMu.Lock()
	calls := s.calls
	if s.maxCalls > 0 && len(calls) > s.maxCalls {
		calls = calls[len(calls)-s.maxCalls:]
	}
	out := make([]Call, len(calls))
	copy(out, calls)
	s.callMu.Unlock()
	for i := range out {
		if out[i].Body != nil {
			out[i].Body = append([]byte(nil), out[i].Body...)
		}
	}
	return out
}

// CallCount returns how many calls with that name were received since the
// last ResetCalls.
func (s *Server) CallCount(name string) int {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	return s.counts[name]
}

// ResetCalls clears the call log and the counters.
func (s *Server) ResetCalls() {
	s.callMu.Lock()
	s.calls = nil
	s.counts = make(map[string]int)
	s.callMu.Unlock()
}

const apiPrefix = "/bigbluebutton/api/"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if Failure(s.failure.Load()) == FailRefuse {
		// A request that slipped in on a connection accepted before the
		// listener was closed: the server is "down".
		resetConn(w)
		return
	}
	p := r.URL.Path
	var call string
	switch {
	case p == "/bigbluebutton/api" || p == apiPrefix || p == "/bigbluebutton/":
		call = "index"
	case strings.HasPrefix(p, apiPrefix):
		call = p[len(apiPrefix):]
	case p == "/html5client" || strings.HasPrefix(p, "/html5client/"):
		s.serveClient(w, r)
		return
	default:
		http.NotFound(w, r)
		return
	}
	s.serveAPI(w, r, call)
}

func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok := html.EscapeString(r.URL.Query().Get("sessionToken"))
	body := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>BigBlueButton (fake)</title></head>" +
		"<body><h1>Fake BigBlueButton client</h1><p>sessionToken: <code>" + tok + "</code></p></body></html>\n"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = io.WriteString(w, body)
}

// waitSlow waits for the FailSlow delay; it reports false if the server was
// closed or the request was abandoned first.
func (s *Server) waitSlow(r *http.Request) bool {
	d := time.Duration(s.slow.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	case <-r.Context().Done():
		return false
	}
}

// random helpers

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
)

func (s *Server) randString(n int, alphabet string) string {
	b := make([]byte, n)
	s.rndMu.Lock()
	for i := range b {
		b[i] = alphabet[s.rnd.IntN(len(alphabet))]
	}
	s.rndMu.Unlock()
	return string(b)
}

func (s *Server) randIntN(n int) int {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.IntN(n)
}
