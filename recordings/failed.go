package recordings

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A tar the importer refuses goes to the failed directory beside a
// <name>.error file (Importer.reject): the time on its first line, the
// reason after it, and a last line saying how to retry. The operator lists
// them and moves one back into the spool to import it again (the admin
// API, the CLI, the console).

// FailedImport is a refused tar waiting in the failed directory.
type FailedImport struct {
	Name   string    `json:"name"`   // its file name in the failed directory
	Reason string    `json:"reason"` // why it was refused; "" if no .error file says
	Size   int64     `json:"size"`
	Time   time.Time `json:"time"` // when it was refused
}

// errorSuffix ends the name of the file that says why a tar was refused.
const errorSuffix = ".error"

// failureAdvice starts the last line of a .error file, which says where
// to move the tar to retry it.
const failureAdvice = "Move the file back into "

// maxFailureNote bounds what is read of one .error file.
const maxFailureNote = 8 << 10

// FailedImports lists the tars of the failed directory, newest first (by
// their refusal), at most limit of them with their reasons (0: all), and
// says how many there are: a directory of thousands costs a listing and
// limit small reads.
func (l *Library) FailedImports(limit int) (list []FailedImport, total int, err error) {
	ents, err := os.ReadDir(l.FailedDir)
	if err != nil {
		return nil, 0, err
	}
	refused := map[string]time.Time{} // the .error files' times, by tar
	for _, ent := range ents {
		if tar, ok := strings.CutSuffix(ent.Name(), errorSuffix); ok {
			if fi, err := ent.Info(); err == nil {
				refused[tar] = fi.ModTime()
			}
		}
	}
	list = []FailedImport{}
	for _, ent := range ents {
		name := ent.Name()
		if !ent.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, errorSuffix) {
			continue
		}
		fi, err := ent.Info()
		if err != nil {
			continue // gone meanwhile
		}
		f := FailedImport{Name: name, Size: fi.Size(), Time: fi.ModTime()}
		if at, ok := refused[name]; ok {
			f.Time = at
		}
		list = append(list, f)
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].Time.Equal(list[j].Time) {
			return list[i].Time.After(list[j].Time)
		}
		return list[i].Name < list[j].Name
	})
	total = len(list)
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	for i := range list {
		if at, reason, ok := readFailureNote(filepath.Join(l.FailedDir, list[i].Name+errorSuffix)); ok {
			list[i].Reason = reason
			if !at.IsZero() {
				list[i].Time = at
			}
		}
	}
	return list, total, nil
}

// readFailureNote reads a .error file: the time on its first line (zero if
// it is not one) and the reason, without the closing advice.
func readFailureNote(p string) (at time.Time, reason string, ok bool) {
	f, err := os.Open(p)
	if err != nil {
		return time.Time{}, "", false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxFailureNote))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(lines[0])); err == nil {
		at, lines = t, lines[1:]
	}
	if n := len(lines); n > 0 && strings.HasPrefix(lines[n-1], failureAdvice) {
		lines = lines[:n-1]
	}
	return at, strings.TrimSpace(strings.Join(lines, "\n")), true
}

// RetryFailed moves the refused tar name back into the spool, where the
// importer takes it again, and removes its .error file. It returns the
// tar's name in the spool: a second refusal of one name is kept as
// <name>.1 (and so on), and goes back as <name>. A name with a path
// separator, or that is no refused tar, is refused (fs.ErrInvalid); an
// unknown one is fs.ErrNotExist; a tar of that name already waiting in the
// spool is fs.ErrExist.
func (l *Library) RetryFailed(name string) (spoolName string, err error) {
	if name == "" || name != filepath.Base(name) || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, errorSuffix) {
		return "", fmt.Errorf("%q is not the name of a refused recording tar: %w", name, fs.ErrInvalid)
	}
	spoolName = name
	if !IsTarName(name) {
		base, n, found := cutLast(name, ".")
		if _, err := strconv.Atoi(n); !found || err != nil || !IsTarName(base) {
			return "", fmt.Errorf("%q is not a recording tar: %w", name, fs.ErrInvalid)
		}
		spoolName = base
	}
	src := filepath.Join(l.FailedDir, name)
	if fi, err := os.Lstat(src); err != nil {
		return "", fmt.Errorf("no refused recording tar %q: %w", name, fs.ErrNotExist)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a recording tar: %w", name, fs.ErrInvalid)
	}
	dst := filepath.Join(l.SpoolDir, spoolName)
	for _, p := range []string{dst, filepath.Join(l.SpoolDir, claimName(spoolName))} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("a tar named %s is in the spool already: %w", spoolName, fs.ErrExist)
		}
	}
	if err := os.Rename(src, dst); err != nil {
		if !errors.Is(err, syscall.EXDEV) {
			return "", err
		}
		// Another filesystem: copied under a name no import takes, then
		// renamed into place whole.
		part := filepath.Join(l.SpoolDir, "."+spoolName+".part")
		if err := moveFile(src, part); err != nil {
			return "", err
		}
		if err := os.Rename(part, dst); err != nil {
			return "", err
		}
	}
	if err := os.Remove(src + errorSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return spoolName, fmt.Errorf("the tar is back in the spool, but its %s stays: %w", name+errorSuffix, err)
	}
	return spoolName, nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
