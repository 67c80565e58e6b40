//go:build unix

package vfs

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes flock(LOCK_EX|LOCK_NB): the lock belongs to the open file
// description, so a second open of the same file, even in this process,
// is refused too.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		return err
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
