package recordings

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Durability of an import. A tar leaves the spool only once its recording
// would survive a power loss, with flushes that cost what the import wrote
// rather than what the whole filesystem holds (syncfs(2), used before,
// also waited for every other writer's dirty data on that disk: rsync, the
// database, logs):
//
//  1. Every file and directory below each format directory placed from the
//     tar, the format directory <format>/<recordID> included, is fsynced.
//     All of them were written by this import (extracted from the tar, or
//     copied or moved in by ImportDir). A file's fsync makes its data and
//     inode durable; a directory's makes its entries durable (fsync(2):
//     the entry of a file needs an fsync of its directory too).
//  2. Every library directory whose entries the import's renames changed
//     is fsynced: <tree>/<format> on both sides of each rename (the
//     recording's directory arrives there, or an older copy leaves), and
//     the tree itself (published/, unpublished/: the rename may have made
//     its <format>/). Directories in work/ are not: what is left there is
//     scratch, cleared at the next start (Library.CleanWork).
//  3. Only then is the index committed, and the commit is synced too
//     (Store.SaveImports). Only after that is the tar removed.
//
// So after a power loss at any point, either the tar is still in the spool
// (or its claim, which recoverClaims puts back) and importing it again
// repairs whatever state the files and the row were left in (an import is
// idempotent), or the tar is gone, and then the files (1, 2) and the row
// (3) had reached stable storage before it went. A kill -9 needs none of
// this (the kernel keeps what was written); the flushes are for power
// losses and kernel crashes. Nothing is ordered among the fsyncs of 1 and
// 2: every change they cover is made before the first one starts, and the
// commit waits for the last one.
//
// What the fsyncs cost is journal commits and disk cache flushes more than
// calls: those of a batch are issued together, syncWorkers at a time, and a
// journaling filesystem (ext4, xfs) serves concurrent fsyncs with one
// journal commit (without a journal, ext4 writes each inode and directory
// block on its own, and the concurrency overlaps those writes). ImportSpool
// commits together the recordings placed while the previous batch was
// being flushed, so a busy disk costs a few flushes per batch of
// recordings, not one flush of everything per recording. Large files start
// their writeback while they are extracted (startWriteback), so that their
// fsync has little left to wait for and the disk works during the
// extraction rather than after it.

const (
	// syncWorkers bounds the fsyncs in flight (each holds a thread).
	syncWorkers = 32
	// writebackChunk: a file being extracted starts the writeback of what
	// it has written every writebackChunk bytes, and at its close.
	writebackChunk = 8 << 20
)

// extractForImport is Extract into dir as the importer does it: when
// writeback is set, each file starts its writeback as it is written.
func extractForImport(ctx context.Context, r io.Reader, dir string, lim Limits, writeback bool) (*Staged, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var t tree = rootTree{root}
	if writeback {
		t = writebackTree{rootTree{root}}
	}
	return extract(ctx, r, t, dir, lim)
}

// writebackTree is rootTree whose files start their writeback as they are
// written (see writebackFile).
type writebackTree struct{ rootTree }

func (t writebackTree) Create(name string) (io.WriteCloser, error) {
	w, err := t.rootTree.Create(name)
	if err != nil {
		return nil, err
	}
	if f, ok := w.(*os.File); ok {
		return &writebackFile{f: f}, nil
	}
	return w, nil
}

// writebackFile starts the writeback of every writebackChunk bytes written,
// and of the rest at Close.
type writebackFile struct {
	f          *os.File
	n, started int64 // bytes written; bytes whose writeback was started
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if w.n-w.started >= writebackChunk {
		startWriteback(w.f, w.started, w.n-w.started)
		w.started = w.n
	}
	return n, err
}

func (w *writebackFile) Close() error {
	if w.n > w.started {
		startWriteback(w.f, w.started, w.n-w.started)
		w.started = w.n
	}
	return w.f.Close()
}

// syncSet is what a batch of imports must fsync before its commit: files
// and directories, each once.
type syncSet struct {
	seen        map[string]bool
	files, dirs []string
}

func (s *syncSet) add(p string, dir bool) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[p] {
		return
	}
	s.seen[p] = true
	if dir {
		s.dirs = append(s.dirs, p)
	} else {
		s.files = append(s.files, p)
	}
}

// addTree adds dir and everything below it (regular files and
// directories: all a placed recording holds).
func (s *syncSet) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			s.add(p, true)
		case d.Type().IsRegular():
			s.add(p, false)
		}
		return nil
	})
}

// addRename adds the directories whose entries a rename from → to of a
// recording's directory changed, except those in work (scratch).
func (s *syncSet) addRename(work, from, to string) {
	inWork := func(p string) bool { return p == work || strings.HasPrefix(p, work+string(filepath.Separator)) }
	if d := filepath.Dir(from); !inWork(d) {
		s.add(d, true)
	}
	if d := filepath.Dir(to); !inWork(d) {
		s.add(d, true)
		// The rename made <format>/ if it was missing (moves.rename).
		s.add(filepath.Dir(d), true)
	}
}

// sync fsyncs every file and directory of the set, syncWorkers at a time,
// and returns the first error. Files go first, directories after, all
// through the same workers: fsyncs in flight together share journal
// commits.
func (s *syncSet) sync() error {
	paths := make(chan string)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	workers := min(syncWorkers, len(s.files)+len(s.dirs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				if err := fsyncPath(p); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range s.files {
		paths <- p
	}
	if runtime.GOOS != "windows" { // no fsync of a directory there (NTFS journals them)
		for _, p := range s.dirs {
			paths <- p
		}
	}
	close(paths)
	wg.Wait()
	return first
}

// fsyncPath opens p (a regular file or a directory) read-only and fsyncs
// it: fsync works on the inode, whatever the descriptor's mode (Windows
// wants write access). A variable for the tests, which record what is
// synced and when.
var fsyncPath = func(p string) error {
	flag := os.O_RDONLY
	if runtime.GOOS == "windows" {
		flag = os.O_RDWR // FlushFileBuffers needs write access (files only there: see sync)
	}
	f, err := os.OpenFile(p, flag, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
