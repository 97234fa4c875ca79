package recordings

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bbb-balance/bbb_balance/bbb"
	"go.uber.org/zap"
)

// The upload protocol (examples/bbb/README.md): a BBB server POSTs the tar
// of a recording to the balancer, with
//
//	?server=<pool server id>&recordID=<id>&timestamp=<unix seconds>
//	 &nonce=<16-128 hex>&sha256=<hex of the body>&checksum=<hex>
//
// where checksum is a BBB API checksum (sha256 or sha512) of a call named
// "uploadRecording" over the query as sent, with that server's own BBB
// secret. The secret proves the server, the timestamp bounds how long a
// captured request is worth anything, the nonce makes it single use within
// that time, and the body hash binds the signature to the bytes.

// UploadCall is the call name hashed into an upload's checksum.
const UploadCall = "uploadRecording"

// UploadSkew is how far the timestamp of a server's signed call (an
// upload, a status call) may be from the balancer's clock, either way.
const UploadSkew = 5 * time.Minute

// DefaultUploadMaxSize bounds one upload when UploadHandler.MaxSize is 0:
// a long meeting with video runs to a few GB.
const DefaultUploadMaxSize int64 = 16 << 30

// serverCallAlgorithms are the checksums accepted on the servers' signed
// calls: a new protocol has no old clients to keep sha1 for.
var serverCallAlgorithms = []bbb.Algorithm{bbb.SHA256, bbb.SHA512}

// NonceStore remembers the nonces of accepted uploads until they expire.
type NonceStore interface {
	// UseNonce records nonce until expires. fresh is false when the nonce
	// was already recorded and has not expired: a replay.
	UseNonce(ctx context.Context, nonce string, expires time.Time) (fresh bool, err error)
}

// UploadHandler receives recording tars from BBB servers and puts them in
// the importer's spool directory as <recordID>.<escaped server id>.tar.
// The integrator mounts it at POST /bigbluebutton/recording/upload.
type UploadHandler struct {
	// Spool is the importer's spool directory. Uploads are written beside
	// their final name (same file system), so the rename is atomic.
	Spool string
	// MaxSize bounds a body in bytes; 0 means DefaultUploadMaxSize.
	MaxSize int64
	// Servers returns a pool server's BBB secret by id.
	Servers func(id string) (secret string, ok bool)
	Nonces  NonceStore
	// Now is the clock (tests); nil means time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

// UploadName is the spool file name of an upload: the importer takes the
// record id and the server id back from it.
func UploadName(recordID, serverID string) string {
	return recordID + "." + url.PathEscape(serverID) + ".tar"
}

func (h *UploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := acceptServerCall(w, r, "recording upload", http.MethodPost, UploadCall, h.Servers, h.Now, h.Logger)
	if req == nil {
		return
	}
	q, serverID, recordID, ts, fail := req.query, req.server, req.recordID, req.at, req.fail
	nonce := q.Get("nonce")
	if len(nonce) < 16 || len(nonce) > 128 || !isHex(nonce) {
		fail(http.StatusBadRequest, "nonce must be 16 to 128 hex digits")
		return
	}
	want, err := hex.DecodeString(q.Get("sha256"))
	if err != nil || len(want) != sha256.Size {
		fail(http.StatusBadRequest, "sha256 must be 64 hex digits")
		return
	}
	limit := h.MaxSize
	if limit <= 0 {
		limit = DefaultUploadMaxSize
	}
	if r.ContentLength > limit {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", limit), zap.Int64("length", r.ContentLength))
		return
	}

	// Only now, with the request proven to come from the server, is the
	// nonce spent: a forger cannot use up a server's nonces. It lives as
	// long as its timestamp would pass the check above.
	if h.Nonces == nil {
		fail(http.StatusInternalServerError, "no nonce store configured")
		return
	}
	fresh, err := h.Nonces.UseNonce(r.Context(), serverID+":"+nonce, ts.Add(UploadSkew))
	if err != nil {
		fail(http.StatusInternalServerError, "cannot record the nonce", zap.Error(err))
		return
	}
	if !fresh {
		fail(http.StatusConflict, "nonce already used (replay)")
		return
	}

	start := time.Now()
	n, err := h.receive(r, w, limit, want, UploadName(recordID, serverID))
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			fail(he.status, he.msg, zap.Int64("bytes", n), zap.Error(he.err))
		} else {
			fail(http.StatusInternalServerError, "cannot store the upload", zap.Int64("bytes", n), zap.Error(err))
		}
		return
	}
	req.log.Info("recording uploaded", zap.Int64("bytes", n), zap.Duration("took", time.Since(start)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, "stored "+recordID+"\n")
}

// httpError is a request refused for the client's doing: its status, the
// one-line answer, and what only the log gets.
type httpError struct {
	status int
	msg    string
	err    error
}

func (e *httpError) Error() string { return e.msg }

// refuse answers a server's call with status and a one-line msg, and logs
// why under what ("recording upload"); the checksum and the secret never
// reach either.
func refuse(w http.ResponseWriter, log *zap.Logger, what string, status int, msg string, fields ...zap.Field) {
	fields = append(fields, zap.Int("status", status))
	if status >= 500 {
		log.Error(what+" failed: "+msg, fields...)
	} else {
		log.Warn(what+" rejected: "+msg, fields...)
	}
	http.Error(w, msg, status)
}

// serverCall is a request a pool server signed with its own BBB secret.
type serverCall struct {
	server string    // its id in the pool
	query  bbb.Query // the signed parameters, as sent
	at     time.Time // its timestamp
}

// verifyServerCall checks a request signed by a pool server for call: the
// server's id in "server", a checksum (sha256 or sha512) of call + the
// query + that server's secret, and a "timestamp" (unix seconds) within
// UploadSkew of now (nil: time.Now). The checksum is checked before the
// other parameters, so an unsigned request learns nothing about them. The
// server id is returned even on error, for the log.
func verifyServerCall(r *http.Request, call string, servers func(id string) (string, bool), now func() time.Time) (serverCall, *httpError) {
	signed, sum, ok := bbb.SplitChecksum(r.URL.RawQuery)
	if !ok {
		return serverCall{}, &httpError{http.StatusForbidden, "missing checksum", nil}
	}
	c := serverCall{query: bbb.Query(signed)}
	c.server = c.query.Get("server")
	secret, ok := "", false
	if c.server != "" && servers != nil {
		secret, ok = servers(c.server)
	}
	if !ok {
		return c, &httpError{http.StatusForbidden, "unknown server", nil}
	}
	if err := bbb.NewVerifier([]string{secret}, serverCallAlgorithms).VerifySigned(call, signed, sum); err != nil {
		return c, &httpError{http.StatusForbidden, "checksum mismatch", nil}
	}
	t := time.Now()
	if now != nil {
		t = now()
	}
	secs, err := strconv.ParseInt(c.query.Get("timestamp"), 10, 64)
	if err != nil {
		return c, &httpError{http.StatusBadRequest, "timestamp must be unix seconds", nil}
	}
	c.at = time.Unix(secs, 0)
	if c.at.Before(t.Add(-UploadSkew)) || c.at.After(t.Add(UploadSkew)) {
		return c, &httpError{http.StatusForbidden, "timestamp out of range (check the clocks)",
			fmt.Errorf("timestamp %d, balancer's clock %d", secs, t.Unix())}
	}
	return c, nil
}

// serverRequest is a pool server's signed call being answered.
type serverRequest struct {
	serverCall
	recordID string
	w        http.ResponseWriter
	what     string      // what the call is, for the log: "recording upload"
	log      *zap.Logger // with the remote address, the server and the record id
}

// fail answers the call with status and a one-line msg, and logs why
// (refuse).
func (req *serverRequest) fail(status int, msg string, fields ...zap.Field) {
	refuse(req.w, req.log, req.what, status, msg, fields...)
}

// acceptServerCall checks what every signed call of a pool server shares:
// its method, its signature and timestamp (verifyServerCall) and a valid
// recordID. A refused call is answered and logged, and nil returned.
func acceptServerCall(w http.ResponseWriter, r *http.Request, what, method, call string,
	servers func(id string) (string, bool), now func() time.Time, logger *zap.Logger) *serverRequest {
	if logger == nil {
		logger = zap.NewNop()
	}
	req := &serverRequest{w: w, what: what, log: logger.With(zap.String("remote", r.RemoteAddr))}
	if r.Method != method {
		w.Header().Set("Allow", method)
		req.fail(http.StatusMethodNotAllowed, "method not allowed", zap.String("method", r.Method))
		return nil
	}
	c, herr := verifyServerCall(r, call, servers, now)
	req.serverCall = c
	req.log = req.log.With(zap.String("server", c.server))
	if herr != nil {
		req.fail(herr.status, herr.msg, zap.Error(herr.err))
		return nil
	}
	req.recordID = c.query.Get("recordID")
	if !ValidRecordID(req.recordID) {
		req.fail(http.StatusBadRequest, "invalid recordID", zap.String("record_id", truncate(req.recordID, 80)))
		return nil
	}
	req.log = req.log.With(zap.String("record_id", req.recordID))
	return req
}

// receive streams the body into a hidden part file (the importer skips
// names starting with "."), checks its hash, makes it durable and renames
// it to name. On any error the part file is removed.
func (h *UploadHandler) receive(r *http.Request, w http.ResponseWriter, limit int64, want []byte, name string) (n int64, err error) {
	f, err := os.CreateTemp(h.Spool, ".upload-*.part")
	if err != nil {
		return 0, err
	}
	part := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	sum := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, sum), http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return n, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", limit), nil}
		}
		if isWriteErr(err, f) {
			return n, err
		}
		return n, &httpError{http.StatusBadRequest, "body incomplete", err}
	}
	if subtle.ConstantTimeCompare(sum.Sum(nil), want) != 1 {
		return n, &httpError{http.StatusBadRequest, "sha256 mismatch", nil}
	}
	if err = f.Sync(); err != nil {
		return n, err
	}
	if err = f.Close(); err != nil {
		return n, err
	}
	if err = os.Rename(part, filepath.Join(h.Spool, name)); err != nil {
		return n, err
	}
	// The rename is durable only once the directory is.
	if d, derr := os.Open(h.Spool); derr == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

// isWriteErr tells a failed write to f (disk full: our fault, 500) from a
// failed read of the body (the client's, 400).
func isWriteErr(err error, f *os.File) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && pe.Path == f.Name()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
