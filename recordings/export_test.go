package recordings

import (
	"context"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
	"time"
)

// ExtractInMemory is Extract into memory instead of a directory: the fuzz
// test runs thousands of tars a second with it, where a directory per tar
// costs the disk a create and a remove of every file. It returns the tree
// written, and the names extract asked for that are not clean relative
// paths (an os.Root would refuse them; none may ever be asked for).
func ExtractInMemory(ctx context.Context, r io.Reader, lim Limits) (*Staged, fstest.MapFS, []string, error) {
	t := &memTree{files: fstest.MapFS{}}
	st, err := extract(ctx, r, t, "memory", lim)
	return st, t.files, t.refused, err
}

// memTree is a tree in memory, with a filesystem's refusals: a name that
// exists already, a directory where a file is, a file below a file.
type memTree struct {
	files   fstest.MapFS
	refused []string
}

// check refuses a name leading out of the tree, as an os.Root does, or not
// clean (the extractor joins clean names only). (Not
// fs.ValidPath: a file name need not be UTF-8 on disk.)
func (t *memTree) check(op, name string) error {
	bad := name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\x00")
	for _, e := range strings.Split(name, "/") {
		bad = bad || e == "" || e == "." || e == ".."
	}
	if bad {
		t.refused = append(t.refused, name)
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

func (t *memTree) MkdirAll(name string) error {
	if err := t.check("mkdir", name); err != nil {
		return err
	}
	parts := strings.Split(name, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if f, ok := t.files[p]; ok {
			if !f.Mode.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
			}
			continue
		}
		t.files[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	}
	return nil
}

func (t *memTree) Create(name string) (io.WriteCloser, error) {
	if err := t.check("open", name); err != nil {
		return nil, err
	}
	if _, ok := t.files[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	if dir := path.Dir(name); dir != "." {
		if f, ok := t.files[dir]; !ok || !f.Mode.IsDir() {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	f := &fstest.MapFile{Mode: 0o644}
	t.files[name] = f
	return memFile{f}, nil
}

func (t *memTree) Chtimes(name string, mtime time.Time) {
	if f, ok := t.files[name]; ok {
		f.ModTime = mtime
	}
}

func (t *memTree) FS() fs.FS { return t.files }

type memFile struct{ f *fstest.MapFile }

func (w memFile) Write(p []byte) (int, error) {
	w.f.Data = append(w.f.Data, p...)
	return len(p), nil
}

func (memFile) Close() error { return nil }
