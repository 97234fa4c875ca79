package recordings

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the filesystem holding dir to stable storage (one
// syncfs(2), instead of an fsync per file of a recording).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
