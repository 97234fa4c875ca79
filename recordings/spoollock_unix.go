//go:build unix

package recordings

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// lockSpool takes an exclusive, non-blocking lock on work/.importer.lock,
// so that two processes never import from one library at once (an old
// process finishing its tar while a new one starts). The kernel releases
// it when the process dies, kill -9 included. ok is false when another
// process holds it.
func (l *Library) lockSpool() (release func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(l.WorkDir, spoolLockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}
