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

// UploadSkew is how far an upload's timestamp may be from the balancer's
// clock, either way.
const UploadSkew = 5 * time.Minute

// DefaultUploadMaxSize bounds one upload when UploadHandler.MaxSize is 0:
// a long meeting with video runs to a few GB.
const DefaultUploadMaxSize int64 = 16 << 30

// uploadAlgorithms are the checksums accepted on uploads: a new protocol
// has no old clients to keep sha1 for.
var uploadAlgorithms = []bbb.Algorithm{bbb.SHA256, bbb.SHA512}

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
	log := h.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("remote", r.RemoteAddr))
	// fail answers a one-line text and logs why; the checksum and the
	// secret never reach either.
	fail := func(status int, msg string, fields ...zap.Field) {
		fields = append(fields, zap.Int("status", status))
		if status >= 500 {
			log.Error("recording upload failed: "+msg, fields...)
		} else {
			log.Warn("recording upload rejected: "+msg, fields...)
		}
		http.Error(w, msg, status)
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "method not allowed", zap.String("method", r.Method))
		return
	}
	signed, sum, ok := bbb.SplitChecksum(r.URL.RawQuery)
	if !ok {
		fail(http.StatusForbidden, "missing checksum")
		return
	}
	q := bbb.Query(signed)
	serverID := q.Get("server")
	log = log.With(zap.String("server", serverID))
	secret, ok := "", false
	if serverID != "" && h.Servers != nil {
		secret, ok = h.Servers(serverID)
	}
	if !ok {
		fail(http.StatusForbidden, "unknown server")
		return
	}
	if err := bbb.NewVerifier([]string{secret}, uploadAlgorithms).VerifySigned(UploadCall, signed, sum); err != nil {
		fail(http.StatusForbidden, "checksum mismatch")
		return
	}

	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	secs, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		fail(http.StatusBadRequest, "timestamp must be unix seconds")
		return
	}
	ts := time.Unix(secs, 0)
	if ts.Before(now.Add(-UploadSkew)) || ts.After(now.Add(UploadSkew)) {
		fail(http.StatusForbidden, "timestamp out of range (check the clocks)", zap.Int64("timestamp", secs), zap.Int64("now", now.Unix()))
		return
	}
	recordID := q.Get("recordID")
	if !ValidRecordID(recordID) {
		fail(http.StatusBadRequest, "invalid recordID", zap.String("record_id", truncate(recordID, 80)))
		return
	}
	log = log.With(zap.String("record_id", recordID))
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
	log.Info("recording uploaded", zap.Int64("bytes", n), zap.Duration("took", time.Since(start)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, "stored "+recordID+"\n")
}

// httpError is a receive failure that is the client's doing.
type httpError struct {
	status int
	msg    string
	err    error
}

func (e *httpError) Error() string { return e.msg }

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
