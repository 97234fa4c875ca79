package recordings

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Observer hears about the importer's results: metrics and the
// recording-ready callback. Its methods must not block for long; Imported
// and Failed may be called from two goroutines at once.
type Observer interface {
	// Imported is called after a recording was imported from the spool
	// and its tar removed. A crash between the commit and the tar's
	// removal imports the tar again: Imported may be called twice.
	Imported(e Entry)
	// Failed is called when a tar is moved to failed/.
	Failed(reason string)
}

// Importer defaults.
const (
	DefaultScanInterval = 60 * time.Second
	DefaultSettle       = 5 * time.Second
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = 30 * time.Second
	maxRetryBackoff     = 10 * time.Minute
)

// ImporterConfig configures an Importer. Library and Store are required.
type ImporterConfig struct {
	Library *Library
	Store   Store
	Logger  *zap.Logger // nil: none
	// ScanInterval is the period of the spool scan that backs up the
	// file-system events (default DefaultScanInterval).
	ScanInterval time.Duration
	// Settle: a tar is taken only once its mtime is at least Settle old
	// (default DefaultSettle; negative: at once). Writers should still
	// write ".<name>.part" and rename it into the spool when complete:
	// names starting with "." are never taken.
	Settle time.Duration
	// Limits bounds one recording (zero fields: defaults).
	Limits Limits
	// ImportUnpublished imports new recordings unpublished whatever their
	// metadata says (scalelite's RECORDING_IMPORT_UNPUBLISHED).
	ImportUnpublished bool
	// ProtectByDefault marks newly imported recordings protected.
	ProtectByDefault bool
	// ServerForHost maps the host name (lower case, no port) of a
	// recording's first playback link to a pool server id, "" if none; nil:
	// no mapping. A tar named <recordID>.<serverID>.tar names its server
	// itself, which wins.
	ServerForHost func(host string) string
	// TenantOf maps the meeting id a server knows (the recording's
	// meetingID) to the tenant that owns the meeting and the id its
	// front-end knows (tenants.Set.Owner); nil: no tenants.
	TenantOf func(serverMeetingID string) (tenant, meetingID string)
	Observer Observer // nil: none
	// MaxAttempts bounds the imports of one tar that fail for a reason
	// not its own (database, disk): after that many, it is moved to
	// failed/ (default DefaultMaxAttempts). Between attempts the importer
	// waits RetryBackoff, doubled each time up to 10 minutes.
	MaxAttempts  int
	RetryBackoff time.Duration
	// NoSync skips the fsyncs of an import's files and directories before
	// its commit (see sync_durable.go): a power loss may then lose a
	// recording's files after its tar is gone. The commit itself is still
	// synced by the store. A kill -9 is safe either way.
	NoSync bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Expirer, when set, runs beside the importer: the one process that
	// imports from a library is the one that expires its recordings.
	Expirer *Expirer
}

// Importer imports the recording tars that arrive in the library's spool
// directory, and directories of existing recordings (ImportDir).
//
// A recording is placed with renames under its lock, its files and
// directories are made durable, it is committed to the store in one synced
// transaction, and its tar is removed only after the commit: a crash or a
// power loss at any point leaves the recording either fully imported or
// its tar in the spool, where the next run imports it again (an import is
// idempotent; sync_durable.go tells why the flushes suffice). A tar that
// can never import (ErrBadRecording) is moved to failed/ with a .error
// file; a tar whose import failed for another reason stays and is retried
// with backoff, at most MaxAttempts times.
type Importer struct {
	c   ImporterConfig
	log *zap.Logger

	passMu    sync.Mutex  // one spool pass at a time
	spoolHeld atomic.Bool // Run holds the library's spool lock: no other process imports
	checkMu   sync.Mutex  // one Check at a time
	retries   map[string]*retryState
	future    map[string]futureState

	stagingMu sync.Mutex
	staging   []string // directories of work/ to extract into (see takeStaging)
}

// takeStaging returns a directory of work/ to extract a tar into: one a
// committed import gave back (putStaging), or a new one. A committed import
// leaves its directory holding only the empty <format>/ directories its
// recording was renamed out of, and the next import extracts among them:
// the import of a recording makes and removes no directory beside the
// recording's own (a directory made and removed is a cost on any
// filesystem, and ext4 without a journal scans past recently freed inodes
// at every new one).
func (im *Importer) takeStaging() (string, error) {
	im.stagingMu.Lock()
	if n := len(im.staging); n > 0 {
		dir := im.staging[n-1]
		im.staging = im.staging[:n-1]
		im.stagingMu.Unlock()
		return dir, nil
	}
	im.stagingMu.Unlock()
	return im.c.Library.tempDir("import-")
}

// putStaging gives back the directory of a committed import: it holds
// nothing but empty directories.
func (im *Importer) putStaging(dir string) {
	im.stagingMu.Lock()
	defer im.stagingMu.Unlock()
	if len(im.staging) < 2*maxBatch {
		im.staging = append(im.staging, dir)
		return
	}
	removeAll(dir)
}

// dropStaging removes the directories given back, at the end of a pass:
// work/ stays clear between passes.
func (im *Importer) dropStaging() {
	im.stagingMu.Lock()
	defer im.stagingMu.Unlock()
	for _, dir := range im.staging {
		removeAll(dir)
	}
	im.staging = nil
}

type futureState struct {
	mod   time.Time
	size  int64
	first time.Time
}

type retryState struct {
	mod      time.Time
	size     int64
	attempts int
	next     time.Time
	stuck    bool // rejected but could not be moved out of the spool
}

// NewImporter checks c and fills in the defaults.
func NewImporter(c ImporterConfig) (*Importer, error) {
	if c.Library == nil || c.Store == nil {
		return nil, errors.New("recordings: importer needs a library and a store")
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = DefaultScanInterval
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	} else if c.Settle < 0 {
		c.Settle = 0
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Importer{c: c, log: c.Logger, retries: map[string]*retryState{}, future: map[string]futureState{}}, nil
}

// IsTarName reports whether the importer takes a spool file of this name:
// *.tar, *.tar.gz or *.tgz, not starting with ".".
func IsTarName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")
}

// claimName is the spool name of a tar being imported: it starts with a
// dot, so no pass takes it, and names the tar it came from.
func claimName(name string) string { return "." + name + ".importing" }

// claimedTar is claimName's inverse: the tar a claim name stands for.
func claimedTar(claim string) (name string, ok bool) {
	rest, dot := strings.CutPrefix(claim, ".")
	name, importing := strings.CutSuffix(rest, ".importing")
	return name, dot && importing && IsTarName(name)
}

// unclaim gives a claimed tar its name back, unless a newer tar of the
// same name arrived meanwhile: the newer one holds every format the
// server had published when it was sent, so the older one goes.
func unclaim(claimed, p string) {
	if _, err := os.Lstat(p); err == nil {
		os.Remove(claimed)
		return
	}
	os.Rename(claimed, p)
}

// recoverClaims puts back the tars a crashed import had claimed. It must
// not run beside an import (ImportSpool holds passMu; ImportTar called on
// its own must not overlap a pass).
func recoverClaims(spool string) {
	entries, _ := os.ReadDir(spool)
	for _, e := range entries {
		if orig, ok := claimedTar(e.Name()); ok {
			unclaim(filepath.Join(spool, e.Name()), filepath.Join(spool, orig))
		}
	}
}

// parseTarName reads "<recordID>.<serverID>.tar" (the upload endpoint's
// names; serverID is url.PathEscape-d and may hold dots). Other names
// give "", "".
func parseTarName(name string) (recordID, serverID string) {
	stem := name
	for _, ext := range []string{".tar.gz", ".tgz", ".tar"} {
		if strings.HasSuffix(stem, ext) {
			stem = strings.TrimSuffix(stem, ext)
			break
		}
	}
	const n = 54 // len of a record id
	if len(stem) <= n+1 || stem[n] != '.' || !ValidRecordID(stem[:n]) {
		return "", ""
	}
	s, err := url.PathUnescape(stem[n+1:])
	if err != nil || s == "" {
		return "", ""
	}
	return stem[:n], s
}

// Run imports the spool until ctx ends: it first takes the library's
// importer lock (another process holding it: Run stands by until it is
// free), clears what earlier runs left in work/, imports every tar
// waiting, then watches the spool
// (file-system events, plus a scan every ScanInterval as a safety net).
// When ctx ends, the tar being imported is abandoned safely (it stays in
// the spool) and Run returns nil.
func (im *Importer) Run(ctx context.Context) error {
	lib := im.c.Library
	release, ok, err := lib.lockSpool()
	for err == nil && !ok {
		im.log.Info("another process imports from this recordings library: standing by", zap.String("dir", lib.WorkDir))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(im.c.ScanInterval):
		}
		release, ok, err = lib.lockSpool()
	}
	if err != nil {
		im.log.Warn("recordings importer: no cross-process lock", zap.String("dir", lib.WorkDir), zap.Error(err))
	} else {
		im.spoolHeld.Store(true)
		defer release()
		defer im.spoolHeld.Store(false)
	}
	if err := lib.CleanWork(time.Now()); err != nil {
		im.log.Warn("clearing the recordings work directory", zap.String("dir", lib.WorkDir), zap.Error(err))
	}
	if sizes, ok := im.c.Store.(SizeStore); ok {
		go im.measure(ctx, sizes)
	}
	if im.c.Expirer != nil {
		go im.c.Expirer.Run(ctx)
	}
	// Create and Rename (a complete file renamed in) ask for a pass now;
	// Write (a file being written in place) for one after Settle, so a
	// long write costs one pass, not one per event.
	kick, written := make(chan struct{}, 1), make(chan struct{}, 1)
	poke := func(c chan struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	if w, err := fsnotify.NewWatcher(); err != nil {
		im.log.Warn("recordings spool: no file-system events, scanning only", zap.Duration("interval", im.c.ScanInterval), zap.Error(err))
	} else {
		defer w.Close()
		if err := w.Add(lib.SpoolDir); err != nil {
			im.log.Warn("recordings spool: no file-system events, scanning only", zap.Duration("interval", im.c.ScanInterval), zap.Error(err))
		} else {
			go func() {
				for {
					select {
					case ev, ok := <-w.Events:
						if !ok {
							return
						}
						switch {
						case ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename):
							poke(kick)
						case ev.Has(fsnotify.Write):
							poke(written)
						}
					case err, ok := <-w.Errors:
						if !ok {
							return
						}
						// An overflow lost events: a pass finds what they said.
						im.log.Debug("recordings spool watcher", zap.Error(err))
						poke(kick)
					}
				}
			}()
		}
	}
	scan := time.NewTicker(im.c.ScanInterval)
	defer scan.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	var wakeAt time.Time
	arm := func(t time.Time) {
		if wakeAt.IsZero() || t.Before(wakeAt) {
			wakeAt = t
			wake.Reset(max(t.Sub(im.c.Now()), 10*time.Millisecond))
		}
	}
	for {
		next, err := im.ImportSpool(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			im.log.Warn("recordings spool scan", zap.String("dir", lib.SpoolDir), zap.Error(err))
		}
		wake.Stop()
		wakeAt = time.Time{}
		if !next.IsZero() {
			arm(next) // a tar still settling or waiting for a retry
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
				break wait
			case <-scan.C:
				break wait
			case <-wake.C:
				break wait
			case <-written:
				arm(im.c.Now().Add(im.c.Settle))
			}
		}
	}
}

// Batches of ImportSpool: the recordings placed while the previous batch
// was being flushed are flushed and committed together (see
// sync_durable.go), at most maxBatch of them and, beyond the first,
// maxBatchBytes of tars.
const (
	maxBatch      = 64
	maxBatchBytes = 256 << 20
)

// errNotTried marks the tars of a pass that were not imported (the pass
// was cancelled first).
var errNotTried = errors.New("recordings: not tried")

// ImportSpool imports, oldest first, every tar of the spool whose mtime is
// at least Settle old and that is not waiting for a retry. It returns the
// earliest time at which a tar left waiting will be ready (zero if none).
// Run calls it; it may be called directly (a CLI "import now", tests).
//
// Tars are extracted and placed one at a time while another goroutine
// flushes and commits the recordings already placed, in batches: the
// slower the flushes (a busy disk), the more recordings share each one,
// so that they do not set the pace; a quiet disk keeps batches small.
func (im *Importer) ImportSpool(ctx context.Context) (next time.Time, err error) {
	im.passMu.Lock()
	defer im.passMu.Unlock()
	defer im.dropStaging()
	spool := im.c.Library.SpoolDir
	// No import is under way (passes take turns): a claim left in the
	// spool is a crashed one.
	recoverClaims(spool)
	entries, err := os.ReadDir(spool)
	if err != nil {
		return next, err
	}
	type cand struct {
		name string
		mod  time.Time
		size int64
	}
	var ready []cand
	now := im.c.Now()
	present := map[string]bool{}
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, e := range entries {
		name := e.Name()
		if !IsTarName(name) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		present[name] = true
		if st := im.retries[name]; st != nil {
			if !st.mod.Equal(fi.ModTime()) || st.size != fi.Size() {
				delete(im.retries, name) // a new file: a fresh start
			} else if st.stuck {
				continue
			} else if now.Before(st.next) {
				soonest(st.next)
				continue
			}
		}
		mod := fi.ModTime()
		if mod.After(now) {
			// The writer's clock is ahead of ours (a shared filesystem):
			// count the settle time from when this version was first seen.
			if f, ok := im.future[name]; ok && f.mod.Equal(mod) && f.size == fi.Size() {
				mod = f.first
			} else {
				im.future[name] = futureState{mod: mod, size: fi.Size(), first: now}
				mod = now
			}
		}
		if settled := mod.Add(im.c.Settle); now.Before(settled) {
			soonest(settled)
			continue
		}
		ready = append(ready, cand{name, fi.ModTime(), fi.Size()})
	}
	for name := range im.retries {
		if !present[name] {
			delete(im.retries, name)
		}
	}
	for name := range im.future {
		if !present[name] {
			delete(im.future, name)
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		if !ready[i].mod.Equal(ready[j].mod) {
			return ready[i].mod.Before(ready[j].mod)
		}
		return ready[i].name < ready[j].name
	})

	// The outcome of each ready tar; each is written by one goroutine
	// (the placing loop or the committer) and read after both are done.
	outcome := make([]error, len(ready))
	for i := range outcome {
		outcome[i] = errNotTried
	}
	type queued struct {
		i   int
		job *tarJob
	}
	placed := make(chan queued, maxBatch)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for q := range placed {
			batch := []queued{q}
			bytes := q.job.size
		more:
			for len(batch) < maxBatch && bytes < maxBatchBytes {
				select {
				case q, ok := <-placed:
					if !ok {
						break more
					}
					batch = append(batch, q)
					bytes += q.job.size
				default:
					break more
				}
			}
			jobs := make([]*tarJob, len(batch))
			for k, q := range batch {
				jobs[k] = q.job
			}
			for k, err := range im.finish(ctx, jobs) {
				outcome[batch[k].i] = err
			}
		}
	}()
	for i, c := range ready {
		if ctx.Err() != nil {
			break
		}
		// A recording placed but not yet committed holds its lock: a
		// second tar of it waits in place() until the committer is done
		// with the first.
		job, err := im.prepare(ctx, filepath.Join(spool, c.name))
		if err != nil || job == nil {
			outcome[i] = err
			continue
		}
		placed <- queued{i, job}
	}
	close(placed)
	<-committed

	for i, c := range ready {
		err := outcome[i]
		p := filepath.Join(spool, c.name)
		switch {
		case err == errNotTried:
		case err == nil, errors.Is(err, fs.ErrNotExist):
			delete(im.retries, c.name)
		case ctx.Err() != nil:
			// Cancelled: the tar waits, its attempts uncounted.
		case errors.Is(err, ErrBadRecording):
			if _, serr := os.Lstat(p); serr == nil {
				im.retries[c.name] = &retryState{mod: c.mod, size: c.size, stuck: true}
			}
		default:
			st := im.retries[c.name]
			if st == nil {
				st = &retryState{mod: c.mod, size: c.size}
				im.retries[c.name] = st
			}
			st.attempts++
			if st.attempts >= im.c.MaxAttempts {
				reason := fmt.Sprintf("gave up after %d attempts: %v", st.attempts, err)
				if im.reject(p, c.name, reason) == nil {
					delete(im.retries, c.name)
				} else {
					st.stuck = true
				}
				continue
			}
			wait := im.c.RetryBackoff << (st.attempts - 1)
			if wait > maxRetryBackoff || wait <= 0 {
				wait = maxRetryBackoff
			}
			st.next = im.c.Now().Add(wait)
			soonest(st.next)
			im.log.Warn("recording import failed, will retry", zap.String("file", c.name),
				zap.Int("attempt", st.attempts), zap.Duration("retry_in", wait), zap.Error(err))
		}
	}
	return next, nil
}

// ImportTar imports one recording tar. A tar that can never import is
// moved to failed/ and the error wraps ErrBadRecording; on any other error
// the tar stays where it is, to be tried again. A tar of a recording
// deleted through the API is dropped (deleted recordings stay deleted).
//
// The tar is first claimed: renamed to a name no pass takes (see
// claimName), so a newer tar of the same recording sent meanwhile lands
// beside it instead of being removed with it. On a transient error the
// claim goes back to its name, unless a newer tar took it.
func (im *Importer) ImportTar(ctx context.Context, p string) error {
	defer im.dropStaging()
	job, err := im.prepare(ctx, p)
	if err != nil || job == nil {
		return err
	}
	return im.finish(ctx, []*tarJob{job})[0]
}

// tarJob is a claimed tar whose recording is placed in the library (its
// lock held), waiting to be made durable and committed by finish.
type tarJob struct {
	name, path, claimed string // the tar's name, its path in the spool, its claimed path
	work                string // its staging directory in work/ (takeStaging)
	size                int64  // of the tar
	formats             []string
	placed              *placed
}

// prepare claims the tar p, extracts it into work/ and places its
// recording into the library (see place). It returns a nil job when there
// is nothing to commit (the recording was deleted through the API: the tar
// is dropped). On error nothing is left placed, and the tar is back in the
// spool, or in failed/ when the error wraps ErrBadRecording.
func (im *Importer) prepare(ctx context.Context, p string) (job *tarJob, err error) {
	name := filepath.Base(p)
	nameID, serverID := parseTarName(name)
	// Lstat first: opening a fifo would block, a symlink leads anywhere.
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		err := bad("%s is not a regular file", name)
		im.reject(p, name, err.Error())
		return nil, err
	}
	claimed := filepath.Join(filepath.Dir(p), claimName(name))
	if err := os.Rename(p, claimed); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !errors.Is(err, ErrBadRecording) {
			unclaim(claimed, p)
		}
	}()
	f, err := os.Open(claimed)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, err := im.takeStaging()
	if err != nil {
		return nil, err
	}
	defer func() {
		if job == nil {
			removeAll(dir)
		}
	}()
	st, err := extractForImport(ctx, f, dir, im.c.Limits, !im.c.NoSync)
	if err == nil && nameID != "" && nameID != st.RecordID {
		err = bad("the file name names record %s, the tar holds %s", nameID, st.RecordID)
	}
	if err != nil {
		if errors.Is(err, ErrBadRecording) {
			im.reject(claimed, name, err.Error())
		}
		return nil, err
	}
	f.Close()
	pl, err := im.place(ctx, st, serverID)
	if errors.Is(err, errDeleted) {
		im.log.Info("recording was deleted through the API: its tar is dropped",
			zap.String("file", name), zap.String("record_id", st.RecordID))
		if err := os.Remove(claimed); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &tarJob{name: name, path: p, claimed: claimed, work: dir, size: fi.Size(), formats: st.Formats, placed: pl}, nil
}

// finish makes the recordings of jobs durable and commits them together
// (commit), then removes the tars of those committed and puts back those
// that failed. It returns each job's error.
func (im *Importer) finish(ctx context.Context, jobs []*tarJob) []error {
	ps := make([]*placed, len(jobs))
	for i, j := range jobs {
		ps[i] = j.placed
	}
	saved, errs := im.commit(ctx, ps)
	for i, j := range jobs {
		if errs[i] != nil {
			removeAll(j.work) // the staged files, put back by the undo
			unclaim(j.claimed, j.path)
			continue
		}
		im.putStaging(j.work)
		if err := os.Remove(j.claimed); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Imported all the same; the next pass imports it again, harmlessly.
			im.log.Warn("recording imported but its tar could not be removed", zap.String("file", j.name), zap.Error(err))
		}
		e := saved[i]
		im.log.Info("recording imported", zap.String("file", j.name), zap.String("record_id", e.RecordID),
			zap.Strings("formats", j.formats), zap.Bool("published", e.Published), zap.String("server", e.ServerID))
		if im.c.Observer != nil {
			im.c.Observer.Imported(e)
		}
	}
	return errs
}

// errDeleted: the recording was deleted through the API; an import must
// not bring it back.
var errDeleted = errors.New("recordings: recording was deleted through the API")

// placed is a recording whose files are in place in the library and whose
// row is not committed yet: its lock is held until commit commits it or
// puts the files back.
type placed struct {
	id     string
	e      Entry    // the row to commit
	trees  []string // the format directories placed from the staged tree
	done   moves    // every rename, to undo them
	aside  string   // the replaced directories, removed once committed
	unlock func()
}

// release ends a placement: the lock goes, and the replaced directories.
func (p *placed) release() {
	p.unlock()
	removeAll(p.aside)
}

// undo puts every file back where it was (the staged files back into the
// Staged's Dir) and releases the placement.
func (p *placed) undo(log *zap.Logger, cause error) {
	if uerr := p.done.undo(); uerr != nil {
		log.Error("recording files could not be put back; importing its tar again repairs them",
			zap.String("record_id", p.id), zap.NamedError("undo_error", uerr), zap.Error(cause))
	}
	p.release()
}

// install places a staged recording into the library, makes it durable
// and commits it: placeLocked and commit for one recording. The caller
// holds the recording's lock; install releases it (unlock).
func (im *Importer) install(ctx context.Context, st *Staged, serverID string, unlock func()) (Entry, error) {
	p, err := im.placeLocked(ctx, st, serverID, unlock)
	if err != nil {
		return Entry{}, err
	}
	saved, errs := im.commit(ctx, []*placed{p})
	return saved[0], errs[0]
}

// place moves a staged recording into the library, under the recording's
// lock, and returns it placed: the lock is still held and the row is not
// written (commit does both). Formats of the stored recording that the
// staged one lacks keep their files and rows (BBB may send a later tar
// without an earlier format). On failure every rename is undone, the
// staged files are back in st.Dir and the lock is released.
func (im *Importer) place(ctx context.Context, st *Staged, serverID string) (*placed, error) {
	return im.placeLocked(ctx, st, serverID, im.c.Library.Lock(st.RecordID))
}

// placeLocked is place for a caller that holds the recording's lock
// already: unlock releases it, and is called when the placement is
// released or undone.
func (im *Importer) placeLocked(ctx context.Context, st *Staged, serverID string, unlock func()) (_ *placed, err error) {
	lib, id := im.c.Library, st.RecordID
	p := &placed{id: id, unlock: unlock}
	defer func() {
		if err != nil {
			p.undo(im.log, err)
		}
	}()

	old, exists, err := im.c.Store.Recording(ctx, id)
	if err != nil {
		return nil, err
	}
	if exists && old.State == StateDeleted {
		// Files a crashed delete left behind go too.
		if err := lib.Remove(id, ""); err != nil {
			im.log.Warn("removing files of a deleted recording", zap.String("record_id", id), zap.Error(err))
		}
		return nil, errDeleted
	}
	published := st.Recording.Published && (st.keepState || !im.c.ImportUnpublished)
	e := Entry{Recording: st.Recording, ServerID: serverID, Protected: im.c.ProtectByDefault}
	if im.c.TenantOf != nil {
		e.Tenant, e.MeetingID = im.c.TenantOf(e.MeetingID)
		if e.Tenant != "" {
			// The front-end knows its meeting by its own id.
			e.Meta = append([]MetaEntry(nil), e.Meta...)
			for i := range e.Meta {
				if e.Meta[i].Key == "meetingId" {
					e.Meta[i].Value = e.MeetingID
				}
			}
		}
	}
	if exists {
		e.Protected = old.Protected
		if old.PublishSet {
			published, e.PublishSet = old.Published, true
		}
	}
	e.Published = published
	e.State = StateUnpublished
	if published {
		e.State = StatePublished
	}
	if e.ServerID == "" && im.c.ServerForHost != nil && len(e.Formats) > 0 {
		if u, err := url.Parse(e.Formats[0].URL); err == nil && u.Hostname() != "" {
			e.ServerID = im.c.ServerForHost(strings.ToLower(u.Hostname()))
		}
	}
	if e.ServerID == "" && exists {
		e.ServerID = old.ServerID
	}
	e.Formats = append([]Format(nil), e.Formats...)

	onDisk, err := lib.Formats(id)
	if err != nil {
		return nil, err
	}
	inTar := map[string]bool{}
	for _, f := range st.Formats {
		inTar[f] = true
	}
	setAside := func(fd FormatDir) error {
		if p.aside == "" {
			var err error
			if p.aside, err = lib.tempDir("old-"); err != nil {
				return err
			}
		}
		return p.done.rename(lib.Dir(id, fd.Format, fd.Published), filepath.Join(p.aside, fmt.Sprintf("%s-%t", fd.Format, fd.Published)))
	}
	for _, fd := range onDisk {
		if inTar[fd.Format] {
			if err := setAside(fd); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range st.Formats {
		dst := lib.Dir(id, f, published)
		if err := p.done.rename(filepath.Join(st.Dir, f, id), dst); err != nil {
			return nil, err
		}
		p.trees = append(p.trees, dst)
	}
	if exists {
		for _, of := range old.Formats {
			if inTar[of.Type] || !ValidFormat(of.Type) {
				continue
			}
			var here, there bool
			for _, fd := range onDisk {
				if fd.Format == of.Type {
					here = here || fd.Published == published
					there = there || fd.Published != published
				}
			}
			switch {
			case here && there:
				err = setAside(FormatDir{of.Type, !published})
			case there:
				err = p.done.rename(lib.Dir(id, of.Type, !published), lib.Dir(id, of.Type, published))
			case !here:
				im.log.Warn("recording format has no files: dropped", zap.String("record_id", id), zap.String("format", of.Type))
				continue
			}
			if err != nil {
				return nil, err
			}
			e.Formats = append(e.Formats, of)
		}
	}
	// Every format on disk, this tar's and those an earlier one left.
	if e.Bytes, err = im.c.Library.DiskSize(id); err != nil {
		e.Bytes = -1 // the walk in the background measures it again
	}
	p.e = e
	return p, nil
}

// commit makes placed recordings durable (their files, then the
// directories their renames changed: see sync_durable.go) and commits
// their rows in one synced transaction; if that fails, each is committed
// alone, so that one bad row does not hold the others back. Each
// placement is released, or undone when its commit failed. It returns the
// entries as stored and the error of each.
func (im *Importer) commit(ctx context.Context, ps []*placed) ([]Entry, []error) {
	saved := make([]Entry, len(ps))
	errs := make([]error, len(ps))
	failAll := func(err error) ([]Entry, []error) {
		for i, p := range ps {
			errs[i] = err
			p.undo(im.log, err)
		}
		return saved, errs
	}
	if err := ctx.Err(); err != nil {
		return failAll(err)
	}
	if !im.c.NoSync {
		var set syncSet
		work := im.c.Library.WorkDir
		for _, p := range ps {
			for _, t := range p.trees {
				if err := set.addTree(t); err != nil {
					return failAll(fmt.Errorf("recordings: flushing imported files: %w", err))
				}
			}
			for _, mv := range p.done {
				set.addRename(work, mv.from, mv.to)
			}
		}
		if err := set.sync(); err != nil {
			return failAll(fmt.Errorf("recordings: flushing imported files: %w", err))
		}
	}
	es := make([]Entry, len(ps))
	for i, p := range ps {
		es[i] = p.e
	}
	got, err := im.c.Store.SaveImports(ctx, es)
	if err == nil {
		for i, p := range ps {
			saved[i] = got[i]
			p.release()
		}
		return saved, errs
	}
	if len(ps) == 1 || ctx.Err() != nil {
		return failAll(err)
	}
	for i, p := range ps {
		got, err := im.c.Store.SaveImports(ctx, es[i:i+1])
		if err != nil {
			errs[i] = err
			p.undo(im.log, err)
			continue
		}
		saved[i] = got[0]
		p.release()
	}
	return saved, errs
}

// reject moves a spool file to failed/ beside a <name>.error file saying
// why, logs it and tells the observer.
func (im *Importer) reject(p, name, reason string) error {
	lib := im.c.Library
	im.log.Warn("recording tar rejected", zap.String("file", name), zap.String("reason", reason))
	if im.c.Observer != nil {
		im.c.Observer.Failed(reason)
	}
	dst := filepath.Join(lib.FailedDir, name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Lstat(dst + errorSuffix); errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		dst = filepath.Join(lib.FailedDir, fmt.Sprintf("%s.%d", name, i))
	}
	msg := fmt.Sprintf("%s\n%s\n%s%s to import it again.\n",
		im.c.Now().UTC().Format(time.RFC3339), reason, failureAdvice, lib.SpoolDir)
	if err := os.WriteFile(dst+errorSuffix, []byte(msg), 0o644); err != nil {
		im.log.Error("writing the reason of a rejected recording tar", zap.String("file", dst+errorSuffix), zap.Error(err))
	}
	if err := moveFile(p, dst); err != nil {
		im.log.Error("moving a rejected recording tar to failed/: it stays in the spool and is skipped until it changes",
			zap.String("file", name), zap.Error(err))
		return err
	}
	return nil
}

// measureEvery is how often the importer looks for recordings whose size
// on disk the index does not know (indexed before it kept sizes, or a
// format removed since).
const measureEvery = 10 * time.Minute

// measure fills in the sizes on disk the index lacks, a batch at a time,
// in the background: a first run over a large library walks every
// recording once, at the pace of one recording's walk after another.
func (im *Importer) measure(ctx context.Context, sizes SizeStore) {
	for {
		ids, err := sizes.UnsizedRecordings(ctx, 200)
		if err != nil && ctx.Err() == nil {
			im.log.Warn("reading the recordings without a size", zap.Error(err))
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			unlock := im.c.Library.Lock(id) // not while an import moves its files
			n, err := im.c.Library.DiskSize(id)
			unlock()
			if err != nil {
				n = 0 // no files (a broken library): nothing to count, and not walked again
			}
			if err := sizes.SetRecordingBytes(ctx, id, n); err != nil && ctx.Err() == nil {
				im.log.Warn("keeping a recording's size", zap.String("record_id", id), zap.Error(err))
				break
			}
		}
		if len(ids) == 200 && err == nil {
			continue // more to do
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(measureEvery):
		}
	}
}
