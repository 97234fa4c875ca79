package recordings

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A check compares the index with the library's files, which drift apart
// when a process dies between a file change and its row, when files are
// moved or restored by hand, or when a volume is swapped (scalelite's
// users find recordings missing from the shared volume and cannot tell
// why: scalelite#214). It reports each difference with what a repair does
// about it, and a repair does exactly that.

// Kinds of Finding.
const (
	KindMissingFiles = "missing_files" // an indexed format whose directory is in neither tree
	KindOrphan       = "orphan"        // a directory in a tree that the index does not list
	KindMisplaced    = "misplaced"     // a format's directory in the other tree than its recording's state says, or in both
	KindStalePart    = "stale_part"    // an unfinished upload (.<name>.part) in the spool that nobody writes any more
	KindStaleClaim   = "stale_claim"   // a claimed tar (.<name>.importing) that no import holds
	KindStaleWork    = "stale_work"    // a leftover in work/
)

// Check defaults.
const (
	// DefaultStaleAge: an upload's part file or an entry of work/ unchanged
	// this long belongs to no upload, import or move still running.
	DefaultStaleAge = time.Hour
	// DefaultCheckListed bounds the findings a report lists.
	DefaultCheckListed = 1000
)

// CheckOptions are the options of Importer.Check.
type CheckOptions struct {
	// Repair repairs what can be repaired; otherwise nothing changes.
	Repair bool
	// StaleAge is the age from which part files and entries of work/
	// are leftovers (default DefaultStaleAge).
	StaleAge time.Duration
	// MaxListed bounds the findings listed in the report; the others are
	// counted (and repaired) all the same (default DefaultCheckListed).
	MaxListed int
	// By names who asked, for the log of repairs.
	By string
}

// Finding is one difference between the index and the files.
type Finding struct {
	Kind     string `json:"kind"`
	RecordID string `json:"record_id,omitempty"`
	Format   string `json:"format,omitempty"`
	Path     string `json:"path,omitempty"`
	Problem  string `json:"problem"`
	// Action is what a repair does; with Manual, a repair leaves it and
	// Action says why and what a person should do.
	Action string `json:"action"`
	Manual bool   `json:"manual,omitempty"`
	// Repaired: a repair ran and the problem is gone; Error: why not.
	Repaired bool   `json:"repaired,omitempty"`
	Error    string `json:"error,omitempty"`

	fix fix
}

// fix is what a repair does about a recording's finding (diagnose).
type fix int

const (
	fixNone            fix = iota // a person decides
	fixMove                       // into the tree of the recording's state
	fixDropDuplicate              // the copy in the other tree, of identical size
	fixImport                     // index the directory from its metadata.xml
	fixFinishDelete               // the recording was deleted: remove its files
	fixMarkRemoved                // drop the format from the index
	fixDroppedByImport            // the import of the recording's other directories drops it
)

// CheckReport is what Check found, and with Repair what it did.
type CheckReport struct {
	Repair      bool      `json:"repair"`
	Recordings  int       `json:"recordings"`  // index entries read, every state
	Directories int       `json:"directories"` // <format>/<recordID> directories found in both trees
	Findings    []Finding `json:"findings"`
	// Counts are the findings by kind, listed or not; Unlisted those
	// beyond MaxListed.
	Counts   map[string]int `json:"counts"`
	Unlisted int            `json:"unlisted"`
	// Repaired findings are gone; Remaining are still there (every one
	// when not repairing); Manual those a repair leaves to a person.
	Repaired  int      `json:"repaired"`
	Remaining int      `json:"remaining"`
	Manual    int      `json:"manual"`
	Notes     []string `json:"notes,omitempty"`
}

// IndexRow is what a check reads of one recording of the index.
type IndexRow struct {
	RecordID  string
	State     string
	Published bool
	Formats   []string // format names
}

// CheckStore is a Store that a check can read whole, a page at a time.
type CheckStore interface {
	// IndexPage returns up to limit recordings, every tenant and state,
	// whose ids sort after after, in id order.
	IndexPage(ctx context.Context, after string, limit int) ([]IndexRow, error)
}

// ErrNotCheckable is returned by Check for an index that is not a
// CheckStore.
var ErrNotCheckable = errors.New("recordings: this index cannot be checked")

// indexPageSize is the index rows a check reads at once.
const indexPageSize = 1000

// Check compares the index with the library's files and, with
// opts.Repair, repairs what it found; it changes nothing otherwise. It
// reads the index a page at a time and walks each tree once, keeping only
// the record ids and format bits of what the trees hold; every recording
// where the two disagree is examined again under its lock, with the index
// read again, so that an import or a delete running meanwhile is never
// taken for a problem, and each repair is made under that lock. A repair
// is idempotent: run again, it finds nothing to do. Whenever a file's
// fate is in doubt (two copies that differ, a directory that cannot be
// read), the finding is Manual: reported, left as it is.
func (im *Importer) Check(ctx context.Context, opts CheckOptions) (CheckReport, error) {
	index, ok := im.c.Store.(CheckStore)
	if !ok {
		return CheckReport{}, ErrNotCheckable
	}
	if opts.StaleAge <= 0 {
		opts.StaleAge = DefaultStaleAge
	}
	if opts.MaxListed <= 0 {
		opts.MaxListed = DefaultCheckListed
	}
	im.checkMu.Lock()
	defer im.checkMu.Unlock()
	c := &checker{im: im, lib: im.c.Library, opts: opts, cutoff: im.c.Now().Add(-opts.StaleAge),
		log: im.log.With(zap.String("by", opts.By)),
		rep: CheckReport{Repair: opts.Repair, Findings: []Finding{}, Counts: map[string]int{}}}
	if err := c.spool(); err != nil {
		return c.rep, err
	}
	if err := c.work(); err != nil {
		return c.rep, err
	}
	suspects, err := c.compare(ctx, index)
	if err != nil {
		return c.rep, err
	}
	for _, id := range suspects {
		if err := ctx.Err(); err != nil {
			return c.rep, err
		}
		if err := c.recording(ctx, id); err != nil {
			return c.rep, err
		}
	}
	return c.rep, nil
}

type checker struct {
	im     *Importer
	lib    *Library
	opts   CheckOptions
	cutoff time.Time // part files and entries of work/ last changed before are stale
	log    *zap.Logger
	rep    CheckReport
}

func (c *checker) add(f Finding) {
	c.rep.Counts[f.Kind]++
	if f.Manual {
		c.rep.Manual++
	}
	if f.Repaired {
		c.rep.Repaired++
	} else {
		c.rep.Remaining++
	}
	if len(c.rep.Findings) < c.opts.MaxListed {
		c.rep.Findings = append(c.rep.Findings, f)
	} else {
		c.rep.Unlisted++
	}
}

// done records the outcome of a repair of f (err nil: made).
func (c *checker) done(f *Finding, err error) {
	if err != nil {
		f.Error = err.Error()
		c.log.Warn("recordings check: repair failed", zap.String("kind", f.Kind), zap.String("record_id", f.RecordID),
			zap.String("format", f.Format), zap.String("path", f.Path), zap.String("action", f.Action), zap.Error(err))
		return
	}
	f.Repaired = true
	c.log.Info("recordings check: repaired", zap.String("kind", f.Kind), zap.String("record_id", f.RecordID),
		zap.String("format", f.Format), zap.String("path", f.Path), zap.String("action", f.Action))
}

// spool finds the stale part files and claims of the spool.
func (c *checker) spool() error {
	spool := c.lib.SpoolDir
	entries, err := os.ReadDir(spool)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".part") {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(c.cutoff) {
			continue
		}
		f := Finding{Kind: KindStalePart, Path: filepath.Join(spool, name),
			Problem: "an upload that never finished, unchanged since " + stamp(fi.ModTime()),
			Action:  "remove"}
		if c.opts.Repair {
			c.done(&f, removeIfBefore(f.Path, c.cutoff))
		}
		c.add(f)
	}
	// A claim is stale only while no import runs: its mtime is its tar's
	// (a rename keeps it), so its age says nothing.
	idle := c.im.whileIdle(func() {
		entries, err := os.ReadDir(spool)
		if err != nil {
			return
		}
		var claims []Finding
		for _, e := range entries {
			name := e.Name()
			orig, ok := claimedTar(name)
			if !ok {
				continue
			}
			f := Finding{Kind: KindStaleClaim, Path: filepath.Join(spool, name),
				Problem: "a tar claimed by an import that no longer runs",
				Action:  "rename it back to " + orig + ", for the importer to take again"}
			if _, err := os.Lstat(filepath.Join(spool, orig)); err == nil {
				f.Action = "remove: a newer " + orig + " has arrived since, which the importer takes instead"
			}
			claims = append(claims, f)
		}
		if c.opts.Repair && len(claims) > 0 {
			recoverClaims(spool)
			for i := range claims {
				c.done(&claims[i], gone(claims[i].Path))
			}
		}
		for _, f := range claims {
			c.add(f)
		}
	})
	if !idle {
		c.rep.Notes = append(c.rep.Notes, "an import is running: claimed tars (.<name>.importing) in the spool were not judged")
	}
	return nil
}

// whileIdle runs fn while no import from the library's spool runs: no
// pass of this importer, and no other process importing (the library's
// spool lock is this importer's Run's, or free). It returns false, fn not
// run, when an import may be running.
func (im *Importer) whileIdle(fn func()) bool {
	if !im.passMu.TryLock() {
		return false
	}
	defer im.passMu.Unlock()
	if !im.spoolHeld.Load() {
		release, ok, err := im.c.Library.lockSpool()
		if err != nil || !ok {
			return false
		}
		defer release()
	}
	fn()
	return true
}

// work finds the stale entries of work/.
func (c *checker) work() error {
	stale, err := c.lib.staleWork(c.cutoff)
	if err != nil {
		return err
	}
	found := make([]Finding, len(stale))
	for i, fi := range stale {
		found[i] = Finding{Kind: KindStaleWork, Path: filepath.Join(c.lib.WorkDir, fi.Name()),
			Problem: "left in work/ by an import, move or delete that did not finish, unchanged since " + stamp(fi.ModTime()),
			Action:  "remove"}
	}
	if c.opts.Repair && len(found) > 0 {
		cleanErr := c.lib.CleanWork(c.cutoff)
		for i := range found {
			err := gone(found[i].Path)
			if err != nil && cleanErr != nil {
				err = cleanErr
			}
			c.done(&found[i], err)
		}
	}
	for _, f := range found {
		c.add(f)
	}
	return nil
}

// removeIfBefore removes the file p if it was last changed before cutoff.
func removeIfBefore(p string, cutoff time.Time) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.ModTime().Before(cutoff) {
		return errors.New("it changed meanwhile: in use again")
	}
	return os.Remove(p)
}

// gone returns an error unless p is gone.
func gone(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return errors.New("still there")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// treeBits packs where the directories of one record id are: two bits a
// format (published/, unpublished/), formats numbered in the order the
// walk met them; a record id with a format beyond maxTreeFormats is a
// suspect at once.
type treeBits uint64

const maxTreeFormats = 32

func treeBit(format int, published bool) treeBits {
	if published {
		return 1 << (2 * format)
	}
	return 2 << (2 * format)
}

// compare walks both trees, then reads the index, and returns the record
// ids, sorted, where the two disagree: candidates to examine under their
// lock. Entries of the trees that are no recording's directory are
// reported as they are met.
func (c *checker) compare(ctx context.Context, index CheckStore) ([]string, error) {
	formats := map[string]int{}
	disk := map[string]treeBits{}
	suspects := map[string]bool{}
	for _, pub := range []bool{true, false} {
		tree := c.lib.tree(pub)
		entries, err := os.ReadDir(tree)
		if err != nil {
			return nil, err
		}
		for _, fe := range entries {
			name := fe.Name()
			if strings.HasPrefix(name, ".") || name == "lost+found" {
				continue // not ours: a rename probe, a filesystem's own
			}
			if !fe.IsDir() || !ValidFormat(name) {
				c.stray(filepath.Join(tree, name), "not a format directory")
				continue
			}
			i, ok := formats[name]
			if !ok {
				i = len(formats)
				formats[name] = i
			}
			err := c.walkFormat(ctx, filepath.Join(tree, name), func(id string) {
				if i >= maxTreeFormats {
					suspects[id] = true
					return
				}
				disk[id] |= treeBit(i, pub)
			})
			if err != nil {
				return nil, err
			}
		}
	}
	agrees := func(row IndexRow, bits treeBits, onDisk bool) bool {
		if row.State == StateDeleted {
			return !onDisk
		}
		var want treeBits
		for _, f := range row.Formats {
			i, ok := formats[f]
			if !ok || i >= maxTreeFormats {
				return false
			}
			want |= treeBit(i, row.Published)
		}
		return want == bits
	}
	for after := ""; ; {
		rows, err := index.IndexPage(ctx, after, indexPageSize)
		if err != nil {
			return nil, fmt.Errorf("reading the recordings index: %w", err)
		}
		for _, row := range rows {
			c.rep.Recordings++
			bits, onDisk := disk[row.RecordID]
			delete(disk, row.RecordID)
			if !agrees(row, bits, onDisk) {
				suspects[row.RecordID] = true
			}
		}
		if len(rows) < indexPageSize {
			break
		}
		after = rows[len(rows)-1].RecordID
	}
	for id := range disk {
		suspects[id] = true
	}
	out := make([]string, 0, len(suspects))
	for id := range suspects {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// walkFormat calls each for every recording directory of the format
// directory dir, reading it a batch at a time (a format directory can
// hold a million recordings).
func (c *checker) walkFormat(ctx context.Context, dir string, each func(id string)) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := d.ReadDir(1024)
		for _, e := range batch {
			id := e.Name()
			switch {
			case strings.HasPrefix(id, "."):
			case !e.IsDir() || !ValidRecordID(id):
				c.stray(filepath.Join(dir, id), "not a <recordID> directory")
			default:
				c.rep.Directories++
				each(id)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// stray reports an entry of a tree that is no recording's directory.
func (c *checker) stray(p, what string) {
	c.add(Finding{Kind: KindOrphan, Path: p, Problem: what,
		Action: "leave: it is no recording; remove it by hand if nothing needs it", Manual: true})
}

// recState is what the index and the trees say of one recording.
type recState struct {
	id     string
	row    Entry
	exists bool
	dirs   []FormatDir
}

func (s *recState) live() bool { return s.exists && s.row.State != StateDeleted }

// trees returns where each format directory is: [in published/, in
// unpublished/].
func (s *recState) trees() map[string][2]bool {
	out := map[string][2]bool{}
	for _, d := range s.dirs {
		w := out[d.Format]
		if d.Published {
			w[0] = true
		} else {
			w[1] = true
		}
		out[d.Format] = w
	}
	return out
}

func (c *checker) read(ctx context.Context, id string) (recState, error) {
	s := recState{id: id}
	var err error
	if s.row, s.exists, err = c.im.c.Store.Recording(ctx, id); err != nil {
		return s, fmt.Errorf("reading the recordings index: %w", err)
	}
	if ValidRecordID(id) {
		if s.dirs, err = c.lib.Formats(id); err != nil {
			return s, err
		}
	}
	return s, nil
}

// locked runs fn with what the index and the trees say of recording id
// now, under its lock; unlock may be handed over (install releases it).
func (c *checker) locked(ctx context.Context, id string, fn func(s recState, found []Finding, unlock func()) error) error {
	unlock := c.lib.Lock(id)
	defer unlock()
	s, err := c.read(ctx, id)
	if err != nil {
		return err
	}
	return fn(s, c.diagnose(ctx, s), unlock)
}

// findings diagnoses recording id as it is now, under its lock.
func (c *checker) findings(ctx context.Context, id string) ([]Finding, error) {
	var found []Finding
	err := c.locked(ctx, id, func(_ recState, now []Finding, _ func()) error {
		found = now
		return nil
	})
	return found, err
}

// recording examines one suspect, and repairs it when asked.
func (c *checker) recording(ctx context.Context, id string) error {
	found, err := c.findings(ctx, id)
	if err != nil || len(found) == 0 {
		return err // none: an import or a delete was under way
	}
	if c.opts.Repair {
		if err := c.repair(ctx, id, found); err != nil {
			return err
		}
	}
	for _, f := range found {
		c.add(f)
	}
	return nil
}

// repair repairs one recording in three steps, each under the lock with
// what the index and the trees say then: the moves first, then the
// re-import of its directories (which also drops the formats without
// files, so none is dropped first that would leave the recording deleted),
// then the formats without files. The outcome of each finding is read
// from a last look.
func (c *checker) repair(ctx context.Context, id string, found []Finding) error {
	failed := map[string]error{} // kind/format → why
	key := func(f *Finding) string { return f.Kind + "/" + f.Format }
	steps := []func(s recState, now []Finding, unlock func()) error{
		func(s recState, now []Finding, _ func()) error {
			for i := range now {
				if f := &now[i]; f.fix == fixMove || f.fix == fixDropDuplicate {
					if err := c.lib.SetPublished(id, []string{f.Format}, s.row.Published); err != nil {
						failed[key(f)] = err
					}
				}
			}
			return nil
		},
		func(s recState, now []Finding, unlock func()) error {
			var formats []string
			var finish *Finding
			for i := range now {
				switch f := &now[i]; f.fix {
				case fixImport:
					formats = append(formats, f.Format)
				case fixFinishDelete:
					finish = f
				}
			}
			var err error
			switch {
			case finish != nil:
				err = deleteLocked(ctx, c.im.c.Store, c.lib, id, "")
			case len(formats) > 0:
				err = c.reimport(ctx, s, formats, unlock)
			}
			if err != nil {
				for i := range now {
					if f := &now[i]; f.fix == fixImport || f.fix == fixFinishDelete || f.fix == fixDroppedByImport {
						failed[key(f)] = err
					}
				}
			}
			return nil
		},
		func(_ recState, now []Finding, _ func()) error {
			for i := range now {
				if f := &now[i]; f.fix == fixMarkRemoved {
					if err := deleteLocked(ctx, c.im.c.Store, c.lib, id, f.Format); err != nil {
						failed[key(f)] = err
					}
				}
			}
			return nil
		},
	}
	for _, step := range steps {
		if err := c.locked(ctx, id, step); err != nil {
			return err
		}
	}
	left, err := c.findings(ctx, id)
	if err != nil {
		return err
	}
	remains := map[string]bool{}
	for i := range left {
		remains[key(&left[i])] = true
	}
	for i := range found {
		f := &found[i]
		switch {
		case !remains[key(f)]:
			c.done(f, nil)
		case f.fix == fixNone:
		case failed[key(f)] != nil:
			c.done(f, failed[key(f)])
		default:
			c.done(f, errors.New("still there after the repair"))
		}
	}
	return nil
}

// reimport indexes the directories of formats of recording s from their
// metadata.xml, the way ImportDir imports a tree: hard-linked into work/
// and installed. They keep the state the index gives the recording, or
// without an entry the state their tree says (published only if each is
// in published/). unlock is the recording's, which install releases.
func (c *checker) reimport(ctx context.Context, s recState, formats []string, unlock func()) error {
	trees := s.trees()
	published := true
	srcs := make([]string, len(formats))
	for i, f := range formats {
		pub := trees[f][0]
		srcs[i] = c.lib.Dir(s.id, f, pub)
		published = published && pub
	}
	st, dir, err := c.im.stageCopies(ctx, s.id, formats, srcs, true)
	defer removeAll(dir)
	if err != nil {
		return err
	}
	if s.exists {
		published = s.row.Published
	}
	st.Recording.Published, st.keepState = published, true
	_, err = c.im.install(ctx, st, "", unlock)
	return err
}

// diagnose compares what the index and the trees say of one recording.
func (c *checker) diagnose(ctx context.Context, s recState) []Finding {
	id, lib := s.id, c.lib
	trees := s.trees()
	pub := s.row.Published
	var out []Finding
	indexed := map[string]bool{}
	var doubt []string // formats in both trees whose copies differ
	withFiles := 0     // indexed formats with a directory
	if s.live() {
		for _, f := range s.row.Formats {
			indexed[f.Type] = true
			w := trees[f.Type]
			right, wrong := w[treeIndex(pub)], w[treeIndex(!pub)]
			if right || wrong {
				withFiles++
			}
			switch {
			case right && wrong:
				out = append(out, c.duplicate(id, f.Type, pub, &doubt))
			case wrong:
				out = append(out, Finding{Kind: KindMisplaced, RecordID: id, Format: f.Type, Path: lib.Dir(id, f.Type, !pub), fix: fixMove,
					Problem: fmt.Sprintf("the recording is %s, this format is in %s/", stateName(pub), treeName(!pub)),
					Action:  fmt.Sprintf("move it to %s/", treeName(pub))})
			}
		}
	}

	var orphans []string
	for f := range trees {
		if !indexed[f] {
			orphans = append(orphans, f)
		}
	}
	sort.Strings(orphans)
	importable := 0
	importPublished := true
	for _, f := range orphans {
		w := trees[f]
		o := Finding{Kind: KindOrphan, RecordID: id, Format: f, Path: lib.Dir(id, f, w[0])}
		switch {
		case !s.exists:
			o.Problem = "no index entry"
		case !s.live():
			o.Problem = "the recording was deleted through the API; these files outlived the delete"
		default:
			o.Problem = "the index lists the recording without this format"
		}
		switch {
		case s.exists && !s.live():
			o.fix, o.Action = fixFinishDelete, "remove them, as the delete would have"
		case w[0] && w[1]:
			o.Manual, o.Action = true, "leave: it is in both published/ and unpublished/; remove the wrong copy by hand, then check again"
		case len(doubt) > 0:
			o.Manual, o.Action = true, fmt.Sprintf("leave until the two copies of %s are sorted out (a re-import would replace one of them)", strings.Join(doubt, ", "))
		default:
			if _, err := stage(ctx, lib.tree(w[0]), id, []string{f}); err != nil {
				o.Manual, o.Action = true, "leave: it cannot be re-imported: "+err.Error()
				break
			}
			o.fix = fixImport
			importable++
			importPublished = importPublished && w[0]
		}
		out = append(out, o)
	}
	if importable > 0 {
		state := importPublished
		if s.exists {
			state = pub
		}
		for i := range out {
			if out[i].fix == fixImport {
				out[i].Action = "re-import it from its metadata.xml, " + stateName(state)
			}
		}
	}

	if !s.live() {
		return out
	}
	for _, f := range s.row.Formats {
		if w := trees[f.Type]; w[0] || w[1] {
			continue
		}
		m := Finding{Kind: KindMissingFiles, RecordID: id, Format: f.Type, Path: lib.Dir(id, f.Type, pub),
			Problem: "indexed, but its directory is in neither published/ nor unpublished/"}
		switch {
		case importable > 0:
			m.fix, m.Action = fixDroppedByImport, "drop it from the index (the re-import of the recording's other directories does)"
		case withFiles > 0:
			m.fix, m.Action = fixMarkRemoved, "mark the format removed in the index"
		case len(orphans) > 0:
			// Dropping the last format deletes the recording, and a
			// later check would then remove the files it did not index.
			m.Manual, m.Action = true, "leave while the recording has directories the index does not list (see them)"
		default:
			m.fix, m.Action = fixMarkRemoved, "mark the format removed in the index; no format is left, so the recording is marked deleted"
		}
		out = append(out, m)
	}
	return out
}

// duplicate judges a format in both trees: the copy in the wrong tree goes
// only if it is the same size as the other.
func (c *checker) duplicate(id, format string, pub bool, doubt *[]string) Finding {
	f := Finding{Kind: KindMisplaced, RecordID: id, Format: format, Path: c.lib.Dir(id, format, !pub),
		Problem: fmt.Sprintf("in both published/ and unpublished/; the recording is %s", stateName(pub))}
	right, err := dirSize(c.lib.Dir(id, format, pub))
	wrong, err2 := dirSize(f.Path)
	switch {
	case err != nil || err2 != nil:
		f.Manual, f.Action = true, "leave: the copies cannot be compared: "+errors.Join(err, err2).Error()
		*doubt = append(*doubt, format)
	case right == wrong:
		f.fix, f.Action = fixDropDuplicate, fmt.Sprintf("remove the copy in %s/ (%d bytes, the same size as the one in %s/)", treeName(!pub), wrong, treeName(pub))
	default:
		f.Manual = true
		f.Action = fmt.Sprintf("leave: the copies differ (%d bytes in %s/, %d in %s/); remove the wrong one by hand", right, treeName(pub), wrong, treeName(!pub))
		*doubt = append(*doubt, format)
	}
	return f
}

func treeIndex(published bool) int {
	if published {
		return 0
	}
	return 1
}

func treeName(published bool) string {
	if published {
		return "published"
	}
	return "unpublished"
}

func stateName(published bool) string {
	if published {
		return StatePublished
	}
	return StateUnpublished
}
