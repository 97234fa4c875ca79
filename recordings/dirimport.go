package recordings

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"go.uber.org/zap"
)

// DirReport is the outcome of ImportDir.
type DirReport struct {
	Imported int
	Skipped  []DirSkip
}

// DirSkip is one recording (or stray directory entry) ImportDir left out.
type DirSkip struct {
	Path   string // relative to the imported root: "<format>/<recordID>", or the stray entry
	Reason string
}

// ImportDir imports an existing BBB or scalelite tree of recordings,
// <root>/<format>/<recordID>/metadata.xml (a published/ or unpublished/
// directory), grouping the formats of each record id. Each recording is
// checked like a tar (regular files and directories only, Limits, every
// metadata.xml), copied into work/ (hard-linked when move is true, and
// the source removed once the recording is committed), and then placed
// and committed exactly as an imported tar. Bad recordings, recordings
// deleted through the API and recordings whose import failed are listed in
// the report and skipped. The error is for a root that cannot be read or
// a cancelled ctx. The observer is not told (a bulk migration should not
// fire recording-ready callbacks for old recordings).
func (im *Importer) ImportDir(ctx context.Context, root string, move bool) (DirReport, error) {
	var rep DirReport
	skip := func(p, reason string) {
		rep.Skipped = append(rep.Skipped, DirSkip{Path: p, Reason: reason})
		im.log.Warn("recording directory skipped", zap.String("root", root), zap.String("path", p), zap.String("reason", reason))
	}
	fmts, err := os.ReadDir(root)
	if err != nil {
		return rep, err
	}
	byID := map[string][]string{}
	for _, fe := range fmts {
		if !fe.IsDir() || !ValidFormat(fe.Name()) {
			skip(fe.Name(), "not a format directory")
			continue
		}
		ids, err := os.ReadDir(filepath.Join(root, fe.Name()))
		if err != nil {
			skip(fe.Name(), err.Error())
			continue
		}
		for _, ie := range ids {
			rel := fe.Name() + "/" + ie.Name()
			if !ie.IsDir() || !ValidRecordID(ie.Name()) {
				skip(rel, "not a <recordID> directory")
				continue
			}
			byID[ie.Name()] = append(byID[ie.Name()], fe.Name())
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		formats := byID[id]
		sort.Strings(formats)
		err := im.importDirOne(ctx, root, id, formats, move)
		switch {
		case err == nil:
			rep.Imported++
		case ctx.Err() != nil:
			return rep, ctx.Err()
		case errors.Is(err, errDeleted):
			skip("*/"+id, "the recording was deleted through the API")
		default:
			skip("*/"+id, err.Error())
		}
	}
	return rep, nil
}

func (im *Importer) importDirOne(ctx context.Context, root, id string, formats []string, move bool) error {
	var srcs []string
	for _, f := range formats {
		srcs = append(srcs, filepath.Join(root, f, id))
	}
	// With move, the files are hard-linked into work/ (copied across
	// filesystems) and the sources removed only once the recording is
	// committed: a source renamed into work/ would be lost to work/'s
	// clean-up at the next start if the process died before that.
	st, dir, err := im.stageCopies(ctx, id, formats, srcs, move)
	defer removeAll(dir)
	if err != nil {
		return err
	}
	e, err := im.install(ctx, st, "", im.c.Library.Lock(id))
	if err != nil {
		return err
	}
	// install made the copies durable before it committed: the sources
	// may go.
	if move {
		for _, s := range srcs {
			if err := os.RemoveAll(s); err != nil {
				im.log.Warn("removing an imported recording directory", zap.String("dir", s), zap.Error(err))
			}
		}
	}
	im.log.Info("recording imported from a directory", zap.String("root", root), zap.String("record_id", id),
		zap.Strings("formats", formats), zap.Bool("published", e.Published))
	return nil
}

// stageCopies stages recording id from format directories outside work/
// (srcs[i] holds formats[i], each a <root>/<format>/<id> directory): they
// are checked in place first, so that a bad recording is never copied,
// then copied into a new directory of work/, dir (hard-linked with link,
// copied across filesystems), checked again and staged there. The caller
// removes dir ("" or not) whatever the error.
func (im *Importer) stageCopies(ctx context.Context, id string, formats, srcs []string, link bool) (st *Staged, dir string, err error) {
	lim := im.c.Limits.withDefaults()
	if err := checkTrees(srcs, lim); err != nil {
		return nil, "", err
	}
	byRoot := map[string][]string{}
	for i, f := range formats {
		root := filepath.Dir(filepath.Dir(srcs[i]))
		byRoot[root] = append(byRoot[root], f)
	}
	for root, fmts := range byRoot {
		if _, err := stage(ctx, root, id, fmts); err != nil {
			return nil, "", err
		}
	}
	if dir, err = im.c.Library.tempDir("import-"); err != nil {
		return nil, "", err
	}
	for i, f := range formats {
		dst := filepath.Join(dir, f, id)
		err = copyTree(srcs[i], dst, link)
		if link && errors.Is(err, syscall.EXDEV) {
			os.RemoveAll(dst)
			err = copyTree(srcs[i], dst, false)
		}
		if err != nil {
			return nil, dir, err
		}
	}
	// What is placed is what is checked: the copies.
	if err := checkTrees([]string{dir}, lim); err != nil {
		return nil, dir, err
	}
	st, err = stage(ctx, dir, id, formats)
	return st, dir, err
}

// checkTrees checks recording directories outside the library the way
// Extract checks a tar: regular files and directories only, within lim
// (counted over all of them).
func checkTrees(dirs []string, lim Limits) error {
	var count int
	var total int64
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(filepath.Dir(filepath.Dir(dir)), p)
			if count++; count > lim.MaxFiles {
				return bad("more than %d entries", lim.MaxFiles)
			}
			switch {
			case d.IsDir():
				return nil
			case d.Type().IsRegular():
				fi, err := d.Info()
				if err != nil {
					return err
				}
				if fi.Size() > lim.MaxFileSize {
					return bad("file %q is larger than %d bytes", rel, lim.MaxFileSize)
				}
				if total += fi.Size(); total > lim.MaxTotalSize {
					return bad("files larger than %d bytes in all", lim.MaxTotalSize)
				}
				return nil
			case d.Type()&fs.ModeSymlink != 0:
				return bad("symlink %q", rel)
			default:
				return bad("%q is not a regular file or directory", rel)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies a directory of regular files and directories (modes
// 0644/0755, mtimes kept), or with link hard-links its files; anything
// else is refused.
func copyTree(src, dst string, link bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case !d.Type().IsRegular():
			return bad("%q is not a regular file or directory", p)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if link {
			return os.Link(p, to) // the same file: its time too
		}
		if err := copyFile(p, to); err != nil {
			return err
		}
		return os.Chtimes(to, fi.ModTime(), fi.ModTime())
	})
}
