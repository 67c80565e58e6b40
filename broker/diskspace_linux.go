package broker

import (
	"os"
	"syscall"
)

// freeSpace is the space available to the broker on dir's file system
// (statfs f_bavail: blocks reserved for root are not counted).
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// diskBytes is the size of dir's file system and the bytes free to an
// unprivileged writer (DescribeLogDirs' TotalBytes and UsableBytes).
func diskBytes(dir string) (total, usable int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), true
}

// fallocate allocates size bytes of blocks to f without writing them.
func fallocate(f *os.File, size int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if err != syscall.EINTR {
			return err
		}
	}
}
