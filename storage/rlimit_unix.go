//go:build unix

package storage

import "syscall"

// fileLimit is the process's soft RLIMIT_NOFILE, or 0 if unknown.
func fileLimit() int64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int64(r.Cur)
}
