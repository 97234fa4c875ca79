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

func FuzzExtract(f *testing.F) {
	id := recID(7)
	good := formatFiles(id, "presentation", true)
	f.Add(recordingTar(f, id, true, "presentation", "video"))
	f.Add(gzipped(f, recordingTar(f, id, false, "podcast")))
	f.Add(buildTar(f, append(good, tarEntry{Name: "presentation/" + id + "/l", Type: tar.TypeSymlink, Linkname: "../../../x"})))
	f.Add(buildTar(f, append(good, tarFile("presentation/"+id+"/../../x", "x"))))
	f.Add(buildTar(f, []tarEntry{tarFile("/abs", "x")}))
	f.Add(recordingTar(f, id, true, "presentation")[:2000])
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "x")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := recordings.Extract(context.Background(), bytes.NewReader(b), dir,
			recordings.Limits{MaxFiles: 200, MaxTotalSize: 1 << 20})
		if ents, _ := os.ReadDir(parent); len(ents) != 1 {
			t.Fatalf("wrote outside its directory: %v", ents)
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
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				t.Errorf("%s: type %v", p, d.Type())
			}
			rel, _ := filepath.Rel(dir, p)
			if parts := strings.Split(rel, string(filepath.Separator)); !d.IsDir() && (len(parts) < 3 || parts[1] != st.RecordID) {
				t.Errorf("file %s outside <format>/<id>/", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
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
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	t.Fatalf("no header %q", name)
	return nil
}
