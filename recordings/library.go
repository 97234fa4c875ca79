package recordings

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"
)

// LibraryConfig places the directories of a recording library. Root gives
// the default of each directory (scalelite's layout under one root, like
// /var/bigbluebutton); each may be set on its own instead (scalelite's
// RECORDING_SPOOL_DIR, RECORDING_WORK_DIR, RECORDING_PUBLISH_DIR,
// RECORDING_UNPUBLISH_DIR).
type LibraryConfig struct {
	Root        string
	Spool       string // incoming tars; default <Root>/spool
	Work        string // temporary; default <Root>/work
	Failed      string // rejected tars and their .error files; default <Root>/failed
	Published   string // published/<format>/<recordID>/; default <Root>/published
	Unpublished string // unpublished/<format>/<recordID>/; default <Root>/unpublished
}

// Library is the on-disk store of recording files:
//
//	spool/                           incoming <anything>.tar (writers write .<name>.part and rename)
//	work/                            temporary; same filesystem as published/ and unpublished/
//	failed/<name>.tar + .tar.error   rejected tars and why
//	published/<format>/<recordID>/   files served to everyone
//	unpublished/<format>/<recordID>/ files kept but not served
//
// Every change of a recording's directories is a rename, so a directory
// is either wholly in place or not there. Methods that change a
// recording's files (SetPublished, Remove) expect the caller to hold
// Lock(id), so that they never interleave with an import of the same
// recording; the caller then updates the index under the same lock.
type Library struct {
	SpoolDir, WorkDir, FailedDir, PublishedDir, UnpublishedDir string

	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	n int
}

// ErrNoFiles is returned (wrapped) by SetPublished for a format that has
// no directory in either tree.
var ErrNoFiles = errors.New("recordings: no files for this recording")

// NewLibrary creates the library's directories (0755) as needed and checks
// that work/ can rename into published/ and unpublished/ (same filesystem).
func NewLibrary(c LibraryConfig) (*Library, error) {
	pick := func(dir, name string) (string, error) {
		if dir == "" {
			if c.Root == "" {
				return "", fmt.Errorf("recordings: library: no %s directory and no root", name)
			}
			dir = filepath.Join(c.Root, name)
		}
		return filepath.Abs(dir)
	}
	l := &Library{locks: map[string]*refMutex{}}
	for _, d := range []struct {
		dst  *string
		dir  string
		name string
	}{
		{&l.SpoolDir, c.Spool, "spool"},
		{&l.WorkDir, c.Work, "work"},
		{&l.FailedDir, c.Failed, "failed"},
		{&l.PublishedDir, c.Published, "published"},
		{&l.UnpublishedDir, c.Unpublished, "unpublished"},
	} {
		dir, err := pick(d.dir, d.name)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("recordings: library: %w", err)
		}
		*d.dst = dir
	}
	for _, tree := range []string{l.PublishedDir, l.UnpublishedDir} {
		if err := renameProbe(l.WorkDir, tree); err != nil {
			return nil, fmt.Errorf("recordings: library: work directory %s cannot rename into %s (it must be on the same filesystem): %w",
				l.WorkDir, tree, err)
		}
	}
	return l, nil
}

func renameProbe(from, to string) error {
	d, err := os.MkdirTemp(from, "probe-")
	if err != nil {
		return err
	}
	dst := filepath.Join(to, ".probe-"+filepath.Base(d))
	if err := os.Rename(d, dst); err != nil {
		os.Remove(d)
		return err
	}
	return os.Remove(dst)
}

// Lock takes the per-recording lock of id and returns its release
// (idempotent). Imports, publish/unpublish and deletes of one recording
// hold it while they change its files and its index row.
func (l *Library) Lock(id string) (unlock func()) {
	l.mu.Lock()
	m := l.locks[id]
	if m == nil {
		m = &refMutex{}
		l.locks[id] = m
	}
	m.n++
	l.mu.Unlock()
	m.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.Unlock()
			l.mu.Lock()
			if m.n--; m.n == 0 {
				delete(l.locks, id)
			}
			l.mu.Unlock()
		})
	}
}

var formatRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidFormat reports whether name is usable as a format directory name
// (presentation, video, podcast, screenshare, notes, custom ones).
func ValidFormat(name string) bool { return formatRe.MatchString(name) }

// Dir returns the directory of one format of a recording in the published
// or unpublished tree, or "" when id or format is not a valid name (so a
// caller can never be led outside the tree).
func (l *Library) Dir(id, format string, published bool) string {
	if !ValidRecordID(id) || !ValidFormat(format) {
		return ""
	}
	return filepath.Join(l.tree(published), format, id)
}

func (l *Library) tree(published bool) string {
	if published {
		return l.PublishedDir
	}
	return l.UnpublishedDir
}

// FormatDir is one format directory of a recording found on disk.
type FormatDir struct {
	Format    string
	Published bool // in published/ (else unpublished/)
}

// Formats lists the format directories of recording id in both trees,
// sorted by format then published first. A format may appear in both.
func (l *Library) Formats(id string) ([]FormatDir, error) {
	if !ValidRecordID(id) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidRecordID, truncate(id, 80))
	}
	var out []FormatDir
	for _, pub := range []bool{true, false} {
		entries, err := os.ReadDir(l.tree(pub))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() || !ValidFormat(e.Name()) {
				continue
			}
			fi, err := os.Lstat(filepath.Join(l.tree(pub), e.Name(), id))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if fi.IsDir() {
				out = append(out, FormatDir{Format: e.Name(), Published: pub})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Format < out[j].Format })
	return out, nil
}

// DiskSize is the size of recording id's files in both trees, every
// format (symbolic links are not followed: the importer makes none).
func (l *Library) DiskSize(id string) (int64, error) {
	dirs, err := l.Formats(id)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, d := range dirs {
		size, err := dirSize(l.Dir(id, d.Format, d.Published))
		if err != nil {
			return 0, err
		}
		n += size
	}
	return n, nil
}

// dirSize is the size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			fi, err := e.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// SetPublished moves the given formats of recording id into the published
// (or unpublished) tree; nil formats means every format found on disk.
// A format already in the target tree stays; one in both trees loses its
// copy in the source tree; one in neither is an error (ErrNoFiles) and
// nothing is moved. If a move fails, the moves already done are undone.
// The caller holds Lock(id).
func (l *Library) SetPublished(id string, formats []string, published bool) error {
	found, err := l.Formats(id)
	if err != nil {
		return err
	}
	if formats == nil {
		for _, f := range found {
			formats = append(formats, f.Format)
		}
		if len(formats) == 0 {
			return fmt.Errorf("%w: %s", ErrNoFiles, id)
		}
	}
	where := map[string][2]bool{} // format → [in target, in source]
	for _, f := range found {
		w := where[f.Format]
		if f.Published == published {
			w[0] = true
		} else {
			w[1] = true
		}
		where[f.Format] = w
	}
	formats = dedupe(formats)
	for _, f := range formats {
		if !ValidFormat(f) {
			return fmt.Errorf("recordings: invalid format %q", truncate(f, 80))
		}
		if w := where[f]; !w[0] && !w[1] {
			return fmt.Errorf("%w: %s format %s", ErrNoFiles, id, f)
		}
	}
	var trash string // source copies of formats in both trees, until all moves are done
	var done moves
	for _, f := range formats {
		w := where[f]
		if !w[1] {
			continue
		}
		src, dst := l.Dir(id, f, !published), l.Dir(id, f, published)
		if w[0] {
			if trash == "" {
				if trash, err = l.tempDir("trash-"); err != nil {
					done.undo()
					return err
				}
			}
			dst = filepath.Join(trash, f)
		}
		if err := done.rename(src, dst); err != nil {
			done.undo()
			removeAll(trash)
			return fmt.Errorf("recordings: moving %s format %s: %w", id, f, err)
		}
	}
	removeAll(trash)
	return nil
}

// Remove deletes every file of recording id (format "" = every format) in
// both trees. Each directory is first renamed into work/, so no
// half-deleted directory is ever visible. No files is not an error. The
// caller holds Lock(id).
func (l *Library) Remove(id, format string) error {
	found, err := l.Formats(id)
	if err != nil {
		return err
	}
	if format != "" && !ValidFormat(format) {
		return fmt.Errorf("recordings: invalid format %q", truncate(format, 80))
	}
	var trash string
	defer func() { removeAll(trash) }()
	var done moves
	for i, f := range found {
		if format != "" && f.Format != format {
			continue
		}
		if trash == "" {
			if trash, err = l.tempDir("trash-"); err != nil {
				return err
			}
		}
		if err := done.rename(l.Dir(id, f.Format, f.Published), filepath.Join(trash, fmt.Sprint(i))); err != nil {
			done.undo()
			return fmt.Errorf("recordings: removing %s format %s: %w", id, f.Format, err)
		}
	}
	return nil
}

// tempDir makes a fresh directory in work/.
func (l *Library) tempDir(prefix string) (string, error) {
	d, err := os.MkdirTemp(l.WorkDir, prefix)
	if err != nil {
		return "", fmt.Errorf("recordings: work directory: %w", err)
	}
	return d, nil
}

// CleanWork removes what earlier runs left in work/: entries last changed
// before cutoff (a process that was killed mid-way). Entries of work in
// progress are newer, so this is safe while the library is in use.
func (l *Library) CleanWork(cutoff time.Time) error {
	stale, err := l.staleWork(cutoff)
	if err != nil {
		return err
	}
	var first error
	for _, e := range stale {
		if err := os.RemoveAll(filepath.Join(l.WorkDir, e.Name())); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// staleWork lists the entries of work/ that CleanWork(cutoff) removes.
func (l *Library) staleWork(cutoff time.Time) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(l.WorkDir)
	if err != nil {
		return nil, err
	}
	var out []fs.FileInfo
	for _, e := range entries {
		if e.Name() == spoolLockName {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		out = append(out, fi)
	}
	return out, nil
}

func removeAll(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// moves records renames so that they can be undone in reverse order.
type moves []struct{ from, to string }

func (m *moves) rename(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	*m = append(*m, struct{ from, to string }{from, to})
	return nil
}

// undo renames everything back, newest first; it goes on past a failure
// and returns the first one.
func (m *moves) undo() error {
	var first error
	for i := len(*m) - 1; i >= 0; i-- {
		mv := (*m)[i]
		if err := os.Rename(mv.to, mv.from); err != nil && first == nil {
			first = err
		}
	}
	*m = nil
	return first
}

// moveFile renames a file, copying it when from and to are on different
// filesystems (spool/ and failed/ may be).
func moveFile(from, to string) error {
	err := os.Rename(from, to)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyFile(from, to); err != nil {
		return err
	}
	return os.Remove(from)
}

// copyFile copies a file to to, which must not exist; a failed copy
// leaves nothing at to.
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(to)
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(to)
		return err
	}
	return nil
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// spoolLockName is the file in work/ whose lock an importing process holds.
const spoolLockName = ".importer.lock"
