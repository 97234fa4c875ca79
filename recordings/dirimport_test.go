package recordings_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// writeTree writes tar entries as files under root (a BBB published/ tree).
func writeTree(t *testing.T, root string, es []tarEntry) {
	t.Helper()
	for _, e := range es {
		p := filepath.Join(root, filepath.FromSlash(e.Name))
		var err error
		switch e.Type {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			err = os.Symlink(e.Linkname, p)
		default:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(e.Body), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// bbbTree is a published/ tree with two good recordings and bad ones.
func bbbTree(t *testing.T) (root string, good, bad []string) {
	root = t.TempDir()
	good = []string{recID(1), recID(2)}
	bad = []string{recID(3), recID(4)}
	writeTree(t, root, formatFiles(good[0], "presentation", true))
	writeTree(t, root, formatFiles(good[0], "video", true))
	writeTree(t, root, formatFiles(good[1], "presentation", true))
	// recID(3): its video format has no metadata.xml.
	writeTree(t, root, formatFiles(bad[0], "presentation", true))
	writeTree(t, root, []tarEntry{tarFile("video/"+bad[0]+"/video-0.m4v", "v")})
	// recID(4): a symlink out of the tree.
	writeTree(t, root, append(formatFiles(bad[1], "podcast", true),
		tarEntry{Name: "podcast/" + bad[1] + "/secret", Type: tar.TypeSymlink, Linkname: "/etc/passwd"}))
	writeTree(t, root, []tarEntry{tarFile("README", "x"), tarDir("presentation/not-a-record-id/")})
	return root, good, bad
}

func TestImportDirCopy(t *testing.T) {
	r := newImportRig(t)
	root, good, bad := bbbTree(t)
	rep, err := r.importer(nil).ImportDir(context.Background(), root, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 {
		t.Fatalf("imported %d: %+v", rep.Imported, rep)
	}
	var got []string
	for _, s := range rep.Skipped {
		got = append(got, s.Path+": "+s.Reason)
	}
	sort.Strings(got)
	for i, want := range []string{
		"*/" + bad[0] + ": bad recording: format video has no metadata.xml",
		"*/" + bad[1] + ": bad recording: symlink",
		"README: not a format directory",
		"presentation/not-a-record-id: not a <recordID> directory",
	} {
		if i >= len(got) || !strings.HasPrefix(got[i], want) {
			t.Fatalf("skipped %q, want %q at %d", got, want, i)
		}
	}
	if e := r.consistent(good[0]); formatTypes(e) != "presentation,video" || !e.Published {
		t.Fatalf("entry %+v", e)
	}
	r.consistent(good[1])
	for _, id := range bad {
		if _, ok := r.entry(id); ok {
			t.Fatalf("bad recording %s imported", id)
		}
		r.consistent(id) // and no files
	}
	// Copied: the source is whole.
	if _, err := os.Stat(filepath.Join(root, "video", good[0], "video-0.m4v")); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.obs.counts(); n != 0 {
		t.Fatalf("observer told of %d bulk imports", n)
	}
	workEmpty(t, r.lib)
	// Again: idempotent.
	if rep, err := r.importer(nil).ImportDir(context.Background(), root, false); err != nil || rep.Imported != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	r.consistent(good[0])
}

func TestImportDirMove(t *testing.T) {
	r := newImportRig(t)
	root, good, bad := bbbTree(t)
	rep, err := r.importer(nil).ImportDir(context.Background(), root, true)
	if err != nil || rep.Imported != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	for _, id := range good {
		r.consistent(id)
		if _, err := os.Stat(filepath.Join(root, "presentation", id)); !os.IsNotExist(err) {
			t.Fatalf("%s not moved: %v", id, err)
		}
	}
	// Bad recordings are left where they were.
	if _, err := os.Stat(filepath.Join(root, "video", bad[0], "video-0.m4v")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "podcast", bad[1], "secret")); err != nil {
		t.Fatal(err)
	}
	workEmpty(t, r.lib)
}

// sourceWatch is the index, checking at every commit that the moved
// recording's source is still whole: until its commit, a process killed
// at any moment leaves the user's recording where it was (work/ is
// cleaned at the next start).
type sourceWatch struct {
	recordings.Store
	t    *testing.T
	file string
	seen int
}

func (s *sourceWatch) SaveImports(ctx context.Context, es []recordings.Entry) ([]recordings.Entry, error) {
	s.seen++
	if _, err := os.Stat(s.file); err != nil {
		s.t.Errorf("at the commit the source is gone: %v", err)
	}
	return s.Store.SaveImports(ctx, es)
}

func TestImportDirMoveKeepsTheSourceUntilCommitted(t *testing.T) {
	r := newImportRig(t)
	root := t.TempDir()
	id := recID(1)
	writeTree(t, root, formatFiles(id, "presentation", true))
	watch := &sourceWatch{Store: r.db, t: t, file: filepath.Join(root, "presentation", id, "metadata.xml")}
	im := r.importer(func(c *recordings.ImporterConfig) { c.Store = watch })
	if rep, err := im.ImportDir(context.Background(), root, true); err != nil || rep.Imported != 1 || watch.seen == 0 {
		t.Fatalf("%+v %v (commits seen %d)", rep, err, watch.seen)
	}
	if _, err := os.Stat(watch.file); !os.IsNotExist(err) {
		t.Fatalf("moved, yet the source remains: %v", err)
	}
	r.consistent(id)
}
