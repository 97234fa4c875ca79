package recordings_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/bbb-balance/bbb_balance/recordings"
)

// extractInto extracts b into a fresh dir inside a parent directory and
// fails the test if anything appeared in the parent beside that dir.
func extractInto(t testing.TB, b []byte, lim recordings.Limits) (*recordings.Staged, string, error) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := recordings.Extract(context.Background(), bytes.NewReader(b), dir, lim)
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Fatalf("extract wrote outside its directory: %v", ents)
	}
	return st, dir, err
}

func TestExtractGood(t *testing.T) {
	id := recID(1)
	plain := recordingTar(t, id, true, "presentation", "video")
	for name, b := range map[string][]byte{"plain": plain, "gzip": gzipped(t, plain)} {
		t.Run(name, func(t *testing.T) {
			st, dir, err := extractInto(t, b, recordings.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if st.RecordID != id || st.Dir != dir || strings.Join(st.Formats, ",") != "presentation,video" {
				t.Fatalf("staged %+v", st)
			}
			r := st.Recording
			if r.RecordID != id || r.MeetingID != "room-alpha" || !r.Published || len(r.Formats) != 2 ||
				r.Formats[0].Type != "presentation" || r.Formats[1].Type != "video" || len(r.Formats[0].Thumbnails) != 1 {
				t.Fatalf("merged recording %+v", r)
			}
			body, err := os.ReadFile(filepath.Join(dir, "presentation", id, "video", "webcams.webm"))
			if err != nil || len(body) != 3000 {
				t.Fatalf("webcams.webm: %d bytes, %v", len(body), err)
			}
			// Modes are masked whatever the tar says (0600 files, 0777 dirs).
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, _ := d.Info()
				want := fs.FileMode(0o644)
				if d.IsDir() {
					want = 0o755 | fs.ModeDir
				}
				if fi.Mode()&^fs.FileMode(0o022) != want&^0o022 || fi.Mode()&0o7000 != 0 {
					t.Errorf("%s: mode %v", p, fi.Mode())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExtractDotSlashNames(t *testing.T) {
	id := recID(2)
	es := []tarEntry{tarDir("./")}
	for _, e := range formatFiles(id, "presentation", true) {
		e.Name = "./" + e.Name
		es = append(es, e)
	}
	st, _, err := extractInto(t, buildTar(t, es), recordings.Limits{})
	if err != nil || st.RecordID != id {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestExtractRejects(t *testing.T) {
	id, other := recID(3), recID(4)
	good := formatFiles(id, "presentation", true)
	p := "presentation/" + id + "/"
	with := func(extra ...tarEntry) []byte { return buildTar(t, append(append([]tarEntry(nil), good...), extra...)) }
	full := buildTar(t, good)
	// The tar without its end-of-archive blocks, and cut inside the data of
	// its last file (webcams.webm, 3000 bytes).
	var cutAtEntry, cutInData []byte
	{
		cutAtEntry = full[:len(full)-1024]
		for len(cutAtEntry) > 0 && cutAtEntry[len(cutAtEntry)-1] == 0 {
			cutAtEntry = cutAtEntry[:len(cutAtEntry)-1]
		}
		cutAtEntry = full[:(len(cutAtEntry)+511)/512*512]
		i := bytes.Index(full, []byte(strings.Repeat("w", 3000)))
		cutInData = full[:i+1000]
	}
	badID := strings.Replace(metadataXML(id, "presentation", true), "<id>"+id, "<id>"+other, 1)
	tests := []struct {
		name string
		tar  []byte
		lim  recordings.Limits
		want string
	}{
		{"absolute", with(tarFile("/etc/x", "x")), recordings.Limits{}, "absolute"},
		{"dotdot", with(tarFile(p+"../../x", "x")), recordings.Limits{}, ".."},
		{"dotdot inside", with(tarFile(p+"a/../b", "x")), recordings.Limits{}, ".."},
		{"file at top", with(tarFile("x.txt", "x")), recordings.Limits{}, "not under <format>/<recordID>/"},
		{"bad record dir", with(tarFile("presentation/nope/x", "x")), recordings.Limits{}, "invalid record id"},
		{"bad format dir", with(tarFile("pres ent/"+id+"/x", "x")), recordings.Limits{}, "not under"},
		{"file as id dir", buildTar(t, []tarEntry{tarFile(p[:len(p)-1], "x")}), recordings.Limits{}, "must be a directory"},
		{"symlink", with(tarEntry{Name: p + "l", Type: tar.TypeSymlink, Linkname: "/etc/passwd"}), recordings.Limits{}, "symlink"},
		{"hardlink", with(tarEntry{Name: p + "l", Type: tar.TypeLink, Linkname: p + "metadata.xml"}), recordings.Limits{}, "hard link"},
		{"char device", with(tarEntry{Name: p + "d", Type: tar.TypeChar}), recordings.Limits{}, "device"},
		{"block device", with(tarEntry{Name: p + "d", Type: tar.TypeBlock}), recordings.Limits{}, "device"},
		{"fifo", with(tarEntry{Name: p + "f", Type: tar.TypeFifo}), recordings.Limits{}, "fifo"},
		{"directory with data", retype(t, with(tarFile(p+"d", "zzzz")), p+"d", tar.TypeDir), recordings.Limits{}, "with 4 bytes of data"},
		{"duplicate", with(tarFile(p+"cursor.xml", "again")), recordings.Limits{}, "duplicate"},
		{"below a file", with(tarFile(p+"cursor.xml/x", "x")), recordings.Limits{}, "below the file"},
		{"too many entries", full, recordings.Limits{MaxFiles: 5}, "more than 5 entries"},
		{"file too large", full, recordings.Limits{MaxFileSize: 2999}, "larger than 2999 bytes"},
		{"total too large", full, recordings.Limits{MaxTotalSize: 3100}, "larger than 3100 bytes in all"},
		{"truncated in data", cutInData, recordings.Limits{}, "truncated"},
		{"truncated at an entry", cutAtEntry, recordings.Limits{}, "truncated"},
		{"truncated gzip", gzipped(t, full)[:200], recordings.Limits{}, "truncated"},
		{"empty", nil, recordings.Limits{}, "truncated"},
		{"empty tar", buildTar(t, nil), recordings.Limits{}, "no metadata.xml"},
		{"not a tar", bytes.Repeat([]byte("not a tar "), 200), recordings.Limits{}, "tar"},
		{"no metadata", buildTar(t, good[:2]), recordings.Limits{}, "no metadata.xml"},
		{"format without metadata", with(tarFile("video/"+id+"/video-0.m4v", "v")), recordings.Limits{}, "format video has no metadata.xml"},
		{"metadata id differs", buildTar(t, []tarEntry{tarFile(p+"metadata.xml", badID)}), recordings.Limits{}, "names record"},
		{"metadata format differs", buildTar(t, []tarEntry{tarFile("video/"+id+"/metadata.xml", metadataXML(id, "presentation", true))}), recordings.Limits{}, "names format"},
		{"malformed metadata", buildTar(t, []tarEntry{tarFile(p+"metadata.xml", "<recording><id>")}), recordings.Limits{}, "metadata.xml"},
		{"several ids", with(formatFiles(other, "video", true)...), recordings.Limits{}, "several record ids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := extractInto(t, tc.tar, tc.lim)
			if !errors.Is(err, recordings.ErrBadRecording) {
				t.Fatalf("err = %v, want a bad recording", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// A read error of the source is the machine's: retried, not rejected.
func TestExtractReadErrorIsNotBad(t *testing.T) {
	full := recordingTar(t, recID(5), true, "presentation")
	r := io.MultiReader(bytes.NewReader(full[:1500]), iotest{})
	dir := t.TempDir()
	_, err := recordings.Extract(context.Background(), r, dir, recordings.Limits{})
	if err == nil || errors.Is(err, recordings.ErrBadRecording) {
		t.Fatalf("err = %v, want a plain I/O error", err)
	}
}

type iotest struct{}

func (iotest) Read([]byte) (int, error) { return 0, errors.New("input/output error") }

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := recordings.Extract(ctx, bytes.NewReader(recordingTar(t, recID(6), true, "video")), t.TempDir(), recordings.Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// extractSeeds are FuzzExtract's seeds beside its corpus in
// testdata/fuzz/FuzzExtract. They are small on purpose: the fuzzer
// minimizes every input that finds new code, in a number of calls that
// grows with the square of its length, and a 15 KB seed (and the 34 KB
// inputs grown from it) kept it minimizing, reporting no executions, for
// most of a run.
func extractSeeds(t testing.TB) [][]byte {
	id := recID(7)
	p := "presentation/" + id + "/"
	meta := tarFile(p+"metadata.xml", testRecording(id, true).MetadataXML("presentation"))
	video := tarFile("video/"+id+"/metadata.xml", testRecording(id, true).MetadataXML("video"))
	return [][]byte{
		buildTar(t, []tarEntry{meta}),
		buildTar(t, []tarEntry{tarDir("presentation/"), tarDir(p), meta, tarDir(p + "shapes/"), tarFile(p+"shapes/1.svg", "<svg/>"), video}),
		gzipped(t, buildTar(t, []tarEntry{tarFile("podcast/"+id+"/metadata.xml", testRecording(id, false).MetadataXML("podcast"))})),
		buildTar(t, []tarEntry{meta, {Name: p + "l", Type: tar.TypeSymlink, Linkname: "../../../x"}}),
		buildTar(t, []tarEntry{meta, tarFile(p+"../../x", "x")}),
		buildTar(t, []tarEntry{tarFile("/abs", "x")}),
		buildTar(t, []tarEntry{meta})[:1200],
	}
}

// fixChecksums returns b with the checksum of every tar header it finds
// set right, walking from the first header by each one's size. Without
// it, nearly every change the fuzzer makes to a header (a name, a type, a
// size) only meets archive/tar's checksum test, and never the extractor.
func fixChecksums(b []byte) []byte {
	b = bytes.Clone(b)
	for off := 0; off+512 <= len(b); {
		h := b[off : off+512]
		off += 512
		if bytes.Count(h, []byte{0}) == 512 {
			continue // end of archive
		}
		setChecksum(h)
		if strings.IndexByte("123456", h[156]) >= 0 {
			continue // links, devices, directories, fifos: no data
		}
		size, err := strconv.ParseUint(strings.Trim(string(h[124:136]), " \x00"), 8, 32)
		if err != nil {
			break
		}
		off += int(size+511) / 512 * 512
	}
	return b
}

// setChecksum sets the checksum field of the tar header block h.
func setChecksum(h []byte) {
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// FuzzExtract extracts into memory (recordings.ExtractInMemory), not a
// directory: on disk each tar costs a create and a remove per file, and
// the fuzzer stalled on the disk. TestExtractMemoryMatchesDisk keeps the
// memory tree honest: the seeds and corpus give the same answers on disk.
func FuzzExtract(f *testing.F) {
	for _, b := range extractSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, files, refused, err := recordings.ExtractInMemory(context.Background(), bytes.NewReader(fixChecksums(b)),
			recordings.Limits{MaxFiles: 200, MaxTotalSize: 1 << 20})
		if len(refused) > 0 {
			t.Fatalf("asked to write outside its directory: %q", refused)
		}
		if err != nil {
			if !errors.Is(err, recordings.ErrBadRecording) {
				t.Fatalf("input error not marked bad: %v", err)
			}
			return
		}
		if !recordings.ValidRecordID(st.RecordID) || len(st.Formats) == 0 {
			t.Fatalf("accepted %+v", st)
		}
		// Only regular files and directories, all inside <format>/<id>/.
		for name, f := range files {
			if !f.Mode.IsDir() && !f.Mode.IsRegular() {
				t.Errorf("%s: type %v", name, f.Mode)
			}
			if parts := strings.Split(name, "/"); !f.Mode.IsDir() && (len(parts) < 3 || parts[1] != st.RecordID) {
				t.Errorf("file %s outside <format>/<id>/", name)
			}
		}
	})
}

// The fuzz target's memory tree answers as a directory does: for every
// seed and corpus entry of FuzzExtract, the same error or the same files.
func TestExtractMemoryMatchesDisk(t *testing.T) {
	inputs := extractSeeds(t)
	corpus, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzExtract", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range corpus {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, arg, ok := strings.Cut(strings.TrimSpace(string(b)), "\n[]byte(")
		if !ok || !strings.HasSuffix(arg, ")") {
			t.Fatalf("%s: not a []byte corpus entry", name)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(arg, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		inputs = append(inputs, []byte(v))
	}
	lim := recordings.Limits{MaxFiles: 200, MaxTotalSize: 1 << 20}
	accepted := 0
	for i, b := range inputs {
		b = fixChecksums(b)
		_, dir, diskErr := extractInto(t, b, lim)
		_, files, refused, memErr := recordings.ExtractInMemory(context.Background(), bytes.NewReader(b), lim)
		if len(refused) > 0 {
			t.Errorf("input %d: asked for %q", i, refused)
		}
		if (diskErr == nil) != (memErr == nil) || (diskErr != nil && diskErr.Error() != memErr.Error() &&
			!(errors.Is(diskErr, recordings.ErrBadRecording) && errors.Is(memErr, recordings.ErrBadRecording))) {
			t.Errorf("input %d: disk %v, memory %v", i, diskErr, memErr)
			continue
		}
		if diskErr != nil {
			continue
		}
		accepted++
		onDisk := map[string]string{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == dir {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if d.IsDir() {
				onDisk[filepath.ToSlash(rel)] = "dir"
				return nil
			}
			data, err := os.ReadFile(p)
			onDisk[filepath.ToSlash(rel)] = string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		inMemory := map[string]string{}
		for name, f := range files {
			if f.Mode.IsDir() {
				inMemory[name] = "dir"
			} else {
				inMemory[name] = string(f.Data)
			}
		}
		if !reflect.DeepEqual(onDisk, inMemory) {
			t.Errorf("input %d: disk %v\nmemory %v", i, keys(onDisk), keys(inMemory))
		}
	}
	t.Logf("%d inputs, %d accepted: the same on disk and in memory", len(inputs), accepted)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// retype changes the type flag of the header of entry name, which tar.Writer
// would not write (a directory with data).
func retype(t *testing.T, b []byte, name string, typ byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	for off := 0; off+512 <= len(b); off += 512 {
		h := b[off : off+512]
		if string(bytes.TrimRight(h[:100], "\x00")) != name {
			continue
		}
		h[156] = typ
		setChecksum(h)
		return b
	}
	t.Fatalf("no header %q", name)
	return nil
}
