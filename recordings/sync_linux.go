package recordings

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f from off to
// the disk, without waiting (sync_file_range(2) SYNC_FILE_RANGE_WRITE).
// It makes nothing durable by itself (the fsync before the commit does):
// it spreads the disk writes of a large file over its extraction instead
// of leaving them all to that fsync, and keeps the dirty pages of an
// import few. Best effort.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
