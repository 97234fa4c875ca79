package recordings

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Limits bound what one recording may hold. Zero fields take the defaults.
type Limits struct {
	MaxFiles     int   // entries, files and directories; default DefaultMaxFiles
	MaxFileSize  int64 // bytes of one file; default MaxTotalSize
	MaxTotalSize int64 // bytes of all files; default DefaultMaxTotalSize
}

// Default limits: generous, they only stop absurd input.
const (
	DefaultMaxFiles     = 100_000
	DefaultMaxTotalSize = 20 << 30 // 20 GiB
)

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	if l.MaxFileSize <= 0 || l.MaxFileSize > l.MaxTotalSize {
		l.MaxFileSize = l.MaxTotalSize
	}
	return l
}

// ErrBadRecording marks (wraps) the errors that blame the input: a tar or
// directory that will never import, whatever is retried. Every other error
// of Extract and the importer is the machine's (disk full, I/O, database)
// and worth a retry.
var ErrBadRecording = errors.New("bad recording")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRecording, fmt.Sprintf(format, args...))
}

// Staged is one recording unpacked and checked in a directory of work/,
// ready to be placed into the library.
type Staged struct {
	Dir       string   // holds <format>/<RecordID>/
	RecordID  string   // the one record id of every format
	Formats   []string // format directory names, sorted
	Recording Recording
	// keepState: Recording.Published is the state to place it in, not
	// subject to ImportUnpublished (a check re-indexing files where they
	// are keeps the state the index or their tree says).
	keepState bool
}

// Extract unpacks a recording tar (plain or gzip, told apart by its magic)
// holding <format>/<recordID>/... into dir, an empty directory, then reads
// every format's metadata.xml and merges them. It refuses the whole tar,
// with an error wrapping ErrBadRecording that says why, on: absolute names,
// "..", entries outside <format>/<recordID>/, links, devices, fifos,
// sparse files, duplicate entries, more entries or bytes than lim allows,
// a truncated tar or gzip stream, several record ids, an invalid record id
// or format name, a format without metadata.xml, a metadata.xml that does
// not parse or names another record or format than its directory. Only
// regular files (0644) and directories (0755) are written, never outside
// dir. On error dir may hold a part of the tar: the caller removes it.
func Extract(ctx context.Context, r io.Reader, dir string, lim Limits) (*Staged, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return extract(ctx, r, rootTree{root}, dir, lim)
}

// tree is where extract writes a recording's files. In production it is an
// os.Root: the kernel keeps every write inside dir whatever the names (a
// second wall behind checkName). The fuzz test gives it memory, so that it
// tries thousands of tars a second instead of waiting on the disk.
type tree interface {
	// MkdirAll makes the directory name and its parents, 0755.
	MkdirAll(name string) error
	// Create makes the new regular file name, 0644; it fails if name exists.
	Create(name string) (io.WriteCloser, error)
	// Chtimes sets the modification time of name, best effort.
	Chtimes(name string, mtime time.Time)
	// FS reads the tree back; it implements fs.ReadLinkFS (Lstat).
	FS() fs.FS
}

// rootTree is a tree on disk.
type rootTree struct{ root *os.Root }

func (t rootTree) MkdirAll(name string) error { return t.root.MkdirAll(name, 0o755) }

func (t rootTree) Create(name string) (io.WriteCloser, error) {
	return t.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

func (t rootTree) Chtimes(name string, mtime time.Time) { _ = t.root.Chtimes(name, mtime, mtime) }

func (t rootTree) FS() fs.FS { return t.root.FS() }

// extract is Extract into the tree t, which holds the directory dir (the
// Staged's Dir).
func extract(ctx context.Context, r io.Reader, t tree, dir string, lim Limits) (*Staged, error) {
	lim = lim.withDefaults()
	src := &srcReader{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	var stream io.Reader = br
	var gz *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if gz, err = gzip.NewReader(br); err != nil {
			return nil, src.blame(err, "gzip")
		}
		stream = gz
	}

	cr := &countReader{r: stream}
	tr := tar.NewReader(cr)
	x := extractor{ctx: ctx, tree: t, lim: lim, seen: map[string]bool{}}
	var dataEnd int64 // where the last entry's data ends, padded to a block
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// The end is two zero blocks; without them the tar was cut
			// at an entry boundary and may be missing entries.
			if cr.n < dataEnd+2*512 {
				return nil, bad("truncated tar (no end-of-archive marker)")
			}
			break
		}
		if err != nil {
			return nil, src.blame(err, "tar")
		}
		dataEnd = cr.n // tar.Reader reads no further than the header
		if hdr.Typeflag == tar.TypeReg {
			dataEnd += (hdr.Size + 511) / 512 * 512
		}
		if err := x.entry(hdr, tr); err != nil {
			return nil, src.blame(err, "tar")
		}
	}
	if gz != nil {
		// Read the gzip trailer, so a cut or corrupted stream is caught by
		// its checksum. What follows the tar is padding: bounded.
		if _, err := io.Copy(io.Discard, io.LimitReader(gz, 1<<20)); err != nil {
			return nil, src.blame(err, "gzip")
		}
	}
	if x.id == "" {
		return nil, bad("no recording in the tar (no metadata.xml)")
	}
	return stageFS(ctx, t.FS(), dir, x.id, x.formats())
}

// extractor writes the entries of one tar.
type extractor struct {
	ctx   context.Context
	tree  tree
	lim   Limits
	id    string
	seen  map[string]bool // name → is a directory
	fmts  map[string]bool // formats with a <format>/<id> directory
	count int
	total int64
}

func (x *extractor) formats() []string {
	var out []string
	for f := range x.fmts {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink:
		return bad("symlink %q", truncate(name, 200))
	case tar.TypeLink:
		return bad("hard link %q", truncate(name, 200))
	case tar.TypeChar, tar.TypeBlock:
		return bad("device file %q", truncate(name, 200))
	case tar.TypeFifo:
		return bad("fifo %q", truncate(name, 200))
	case tar.TypeGNUSparse:
		return bad("sparse file %q", truncate(name, 200))
	default:
		return bad("entry %q of unsupported type %q", truncate(name, 200), hdr.Typeflag)
	}
	isDir := hdr.Typeflag == tar.TypeDir
	if isDir && hdr.Size != 0 {
		// The reader would skip the data: a cheap way to make it inflate
		// a gzip bomb.
		return bad("directory %q with %d bytes of data", truncate(name, 200), hdr.Size)
	}
	if x.count++; x.count > x.lim.MaxFiles {
		return bad("more than %d entries", x.lim.MaxFiles)
	}
	parts, err := x.checkName(name, isDir)
	if err != nil {
		return err
	}
	if len(parts) < 2 {
		return nil // "<format>/": nothing to write yet
	}
	if x.fmts == nil {
		x.fmts = map[string]bool{}
	}
	x.fmts[parts[0]] = true
	clean := strings.Join(parts, "/")
	if isDir {
		return x.tree.MkdirAll(clean)
	}
	if hdr.Size < 0 || hdr.Size > x.lim.MaxFileSize {
		return bad("file %q is larger than %d bytes", truncate(name, 200), x.lim.MaxFileSize)
	}
	if x.total += hdr.Size; x.total > x.lim.MaxTotalSize {
		return bad("files larger than %d bytes in all", x.lim.MaxTotalSize)
	}
	if err := x.tree.MkdirAll(path.Dir(clean)); err != nil {
		return err
	}
	f, err := x.tree.Create(clean)
	if err != nil {
		return err
	}
	w := &errWriter{w: f}
	_, err = io.CopyN(w, &ctxReader{ctx: x.ctx, r: tr}, hdr.Size)
	if cerr := f.Close(); err == nil && cerr != nil {
		return cerr
	}
	if err != nil {
		if w.err != nil || x.ctx.Err() != nil {
			return err // the machine's, not the tar's
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return bad("truncated tar: file %q is cut short", truncate(name, 200))
		}
		return err
	}
	if !hdr.ModTime.IsZero() {
		x.tree.Chtimes(clean, hdr.ModTime)
	}
	return nil
}

// checkName validates an entry name and returns its components. Directory
// entries "<format>/" and "<format>/<id>/" and everything below
// "<format>/<id>/" are allowed; files only below "<format>/<id>/".
func (x *extractor) checkName(name string, isDir bool) ([]string, error) {
	q := truncate(name, 200)
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimSuffix(n, "/")
	switch {
	case n == "" || n == ".":
		if isDir {
			return nil, nil
		}
		return nil, bad("entry with an empty name")
	case strings.HasPrefix(n, "/"):
		return nil, bad("absolute name %q", q)
	case strings.ContainsAny(n, "\\\x00"):
		return nil, bad("name %q holds a backslash or NUL", q)
	}
	parts := strings.Split(n, "/")
	for _, p := range parts {
		if p == ".." {
			return nil, bad("name %q leads out of the tar (..)", q)
		}
		if p == "" || p == "." {
			return nil, bad("name %q is not clean", q)
		}
	}
	if !ValidFormat(parts[0]) {
		return nil, bad("entry %q is not under <format>/<recordID>/ (format %q)", q, truncate(parts[0], 80))
	}
	if len(parts) == 1 {
		if !isDir {
			return nil, bad("entry %q is not under <format>/<recordID>/", q)
		}
		return parts, nil
	}
	id := parts[1]
	if !ValidRecordID(id) {
		return nil, bad("entry %q is not under <format>/<recordID>/ (invalid record id %q)", q, truncate(id, 80))
	}
	if x.id == "" {
		x.id = id
	} else if id != x.id {
		return nil, bad("several record ids in one tar (%s, %s)", x.id, id)
	}
	if len(parts) == 2 && !isDir {
		return nil, bad("entry %q is a file where <format>/<recordID>/ must be a directory", q)
	}
	clean := strings.Join(parts, "/")
	if wasDir, ok := x.seen[clean]; ok && !(wasDir && isDir) {
		return nil, bad("duplicate entry %q", q)
	}
	for i := len(parts) - 1; i >= 1; i-- {
		parent := strings.Join(parts[:i], "/")
		if wasDir, ok := x.seen[parent]; ok {
			if !wasDir {
				return nil, bad("entry %q is below the file %q", q, truncate(parent, 200))
			}
			break
		}
		x.seen[parent] = true
	}
	x.seen[clean] = isDir
	return parts, nil
}

// stage reads the metadata.xml of each format of recording id under dir,
// checks and merges them.
func stage(ctx context.Context, dir, id string, formats []string) (*Staged, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return stageFS(ctx, root.FS(), dir, id, formats)
}

// stageFS is stage reading the tree fsys, which holds the directory dir.
func stageFS(ctx context.Context, fsys fs.FS, dir, id string, formats []string) (*Staged, error) {
	if len(formats) == 0 {
		return nil, bad("no recording (no <format>/<recordID>/ directory)")
	}
	var metas []*Metadata
	for _, f := range formats {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := f + "/" + id + "/metadata.xml"
		fi, err := fs.Lstat(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, bad("format %s has no metadata.xml", f)
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, bad("%s is not a regular file", name)
		}
		file, err := fsys.Open(name)
		if err != nil {
			return nil, err
		}
		m, err := ParseMetadata(file)
		file.Close()
		if err != nil {
			return nil, bad("%s: %v", name, err)
		}
		if m.RecordID != id {
			return nil, bad("%s names record %q, not its directory's %s", name, truncate(m.RecordID, 80), id)
		}
		if m.Format.Type != "" && m.Format.Type != f {
			return nil, bad("%s names format %q, not its directory's %s", name, truncate(m.Format.Type, 80), f)
		}
		metas = append(metas, m)
	}
	rec, err := Merge(metas...)
	if err != nil {
		return nil, bad("%v", err)
	}
	return &Staged{Dir: dir, RecordID: id, Formats: formats, Recording: rec}, nil
}

// srcReader remembers an error of the underlying reader, so that a tar or
// gzip error caused by the machine (an I/O error reading the spool) is not
// taken for bad input.
type srcReader struct {
	r   io.Reader
	err error
}

func (e *srcReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// blame returns err as it is when it is the machine's (a read error, a
// write error, a cancelled context, or already marked), else marks it bad.
func (e *srcReader) blame(err error, what string) error {
	if e.err != nil {
		return fmt.Errorf("recordings: reading the tar: %w", e.err)
	}
	if errors.Is(err, ErrBadRecording) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *fs.PathError
	var le *os.LinkError
	if errors.As(err, &pe) || errors.As(err, &le) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return bad("truncated %s", what)
	}
	return bad("%s: %v", what, err)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
