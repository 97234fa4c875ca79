package recordings

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbb-balance/bbb_balance/internal/rectest"
)

// memStore is the index in memory (store.DB imports this package): the
// importer's calls only. save, when set, runs before a commit and may
// refuse it.
type memStore struct {
	Store // the other methods are not called
	mu    sync.Mutex
	rows  map[string]Entry
	save  func(es []Entry) error
}

func (m *memStore) Recording(_ context.Context, id string) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.rows[id]
	return e, ok, nil
}

func (m *memStore) SaveImports(_ context.Context, es []Entry) ([]Entry, error) {
	if m.save != nil {
		if err := m.save(es); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[string]Entry{}
	}
	for _, e := range es {
		m.rows[e.RecordID] = e
	}
	return append([]Entry(nil), es...), nil
}

// syncLog records the paths fsyncPath syncs during a test.
type syncLog struct {
	mu     sync.Mutex
	synced map[string]bool
}

func recordSyncs(t *testing.T) *syncLog {
	l := &syncLog{synced: map[string]bool{}}
	orig := fsyncPath
	fsyncPath = func(p string) error {
		l.mu.Lock()
		l.synced[p] = true
		l.mu.Unlock()
		return orig(p)
	}
	t.Cleanup(func() { fsyncPath = orig })
	return l
}

// missing lists what of want was not synced.
func (l *syncLog) missing(want []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range want {
		if !l.synced[p] {
			out = append(out, p)
		}
	}
	return out
}

func (l *syncLog) reset() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.synced
	l.synced = map[string]bool{}
	return old
}

// walk lists dir and everything below it.
func walk(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		out = append(out, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func spoolTar(t *testing.T, lib *Library, r rectest.Recording, formats ...string) string {
	t.Helper()
	b, err := r.Tar(formats...)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(lib.SpoolDir, r.WithDefaults().ID+".tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The guarantee, step by step: every file and directory the import placed
// and every library directory its renames changed are synced before the
// commit, the tar is still in the spool at the commit and gone after it,
// and nothing of work/ is synced (scratch).
func TestImportSyncsBeforeTheCommitAndCommitsBeforeTheTarGoes(t *testing.T) {
	lib, err := NewLibrary(LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	log := recordSyncs(t)
	ctx := context.Background()
	r := rectest.Recording{MeetingID: "durable", Published: true}
	id := r.WithDefaults().ID
	var mustSync func() []string // what must be synced at the commit
	commits := 0
	st := &memStore{save: func(es []Entry) error {
		commits++
		if m := log.missing(mustSync()); len(m) > 0 {
			t.Errorf("commit %d: not synced before it: %v", commits, m)
		}
		if _, err := os.Lstat(filepath.Join(lib.SpoolDir, claimName(id+".tar"))); err != nil {
			t.Errorf("commit %d: the tar is not in the spool: %v", commits, err)
		}
		return nil
	}}
	imp := func(unpublished bool, formats ...string) {
		t.Helper()
		im, err := NewImporter(ImporterConfig{Library: lib, Store: st, Settle: -1, ImportUnpublished: unpublished})
		if err != nil {
			t.Fatal(err)
		}
		p := spoolTar(t, lib, r, formats...)
		if err := im.ImportTar(ctx, p); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{p, filepath.Join(lib.SpoolDir, claimName(id+".tar"))} {
			if _, err := os.Lstat(q); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("tar left after the import: %s: %v", q, err)
			}
		}
		for p := range log.reset() {
			if strings.HasPrefix(p, lib.WorkDir) {
				t.Errorf("scratch synced: %s", p)
			}
		}
	}

	// A new recording, imported unpublished: its files and directories,
	// unpublished/<format>/ where it arrived, and unpublished/ (which the
	// renames gave new format directories).
	mustSync = func() []string {
		var w []string
		for _, f := range []string{"presentation", "video"} {
			w = append(w, walk(t, lib.Dir(id, f, false))...)
			w = append(w, filepath.Join(lib.UnpublishedDir, f))
		}
		return append(w, lib.UnpublishedDir)
	}
	imp(true, "presentation", "video")

	// Sent again with podcast only, now published: podcast arrives in
	// published/, and the kept formats move over from unpublished/ (both
	// sides of those renames are synced).
	mustSync = func() []string {
		return append(walk(t, lib.Dir(id, "podcast", true)),
			filepath.Join(lib.PublishedDir, "podcast"), lib.PublishedDir,
			filepath.Join(lib.UnpublishedDir, "presentation"), filepath.Join(lib.UnpublishedDir, "video"),
			filepath.Join(lib.PublishedDir, "presentation"), filepath.Join(lib.PublishedDir, "video"))
	}
	imp(false, "podcast")
	if commits != 2 {
		t.Fatalf("%d commits", commits)
	}
	got, err := lib.Formats(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].Published || !got[1].Published || !got[2].Published {
		t.Fatalf("formats on disk %+v", got)
	}
}

// A batch whose commit fails is committed one recording at a time: the
// good ones stay, the refused one is put back, and every lock is released.
func TestCommitAloneWhenTheBatchFails(t *testing.T) {
	lib, err := NewLibrary(LibraryConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := rectest.Recording{MeetingID: "good", Published: true}
	refused := rectest.Recording{MeetingID: "refused", Published: true}
	st := &memStore{save: func(es []Entry) error {
		if len(es) > 1 {
			return errors.New("the batch is refused")
		}
		if es[0].RecordID == refused.WithDefaults().ID {
			return errors.New("this row is refused")
		}
		return nil
	}}
	im, err := NewImporter(ImporterConfig{Library: lib, Store: st, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	var ps []*placed
	var staged []*Staged
	for _, r := range []rectest.Recording{good, refused} {
		b, err := r.Tar("video")
		if err != nil {
			t.Fatal(err)
		}
		dir, err := lib.tempDir("import-")
		if err != nil {
			t.Fatal(err)
		}
		s, err := extractForImport(ctx, bytes.NewReader(b), dir, Limits{}, true)
		if err != nil {
			t.Fatal(err)
		}
		p, err := im.place(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		ps, staged = append(ps, p), append(staged, s)
	}
	_, errs := im.commit(ctx, ps)
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("errors %v", errs)
	}
	var rows []string
	for id := range st.rows {
		rows = append(rows, id)
	}
	sort.Strings(rows)
	if len(rows) != 1 || rows[0] != good.WithDefaults().ID {
		t.Fatalf("rows %v", rows)
	}
	if fds, _ := lib.Formats(good.WithDefaults().ID); len(fds) != 1 {
		t.Fatalf("good: %+v", fds)
	}
	id := refused.WithDefaults().ID
	if fds, _ := lib.Formats(id); len(fds) != 0 {
		t.Fatalf("refused, placed all the same: %+v", fds)
	}
	if _, err := os.Stat(filepath.Join(staged[1].Dir, "video", id, "metadata.xml")); err != nil {
		t.Fatalf("refused: its files are not back: %v", err)
	}
	for _, r := range []rectest.Recording{good, refused} {
		locked := make(chan func())
		go func() { locked <- lib.Lock(r.WithDefaults().ID) }()
		select {
		case unlock := <-locked:
			unlock()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: lock still held", r.MeetingID)
		}
	}
}
