package vfs

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrLocked is what LockFile's error wraps when another process (or another
// open of the same file in this process) holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockedError is returned by LockFile when the lock is held. Holder is what
// the holder wrote into the file when it took the lock (empty if it had
// not written yet or cannot be read).
type LockedError struct {
	Name   string
	Holder []byte
}

func (e *LockedError) Error() string { return fmt.Sprintf("vfs: %s: %v", e.Name, ErrLocked) }

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// FileLock is an exclusive lock on a file, held until Close.
type FileLock struct {
	f *os.File
}

// LockFile creates name if needed, takes an exclusive lock on it without
// waiting, and replaces its contents with info (who holds it, for the
// message another process gets). If the lock is held it returns a
// *LockedError with the holder's info.
//
// The lock is taken on the operating system's file system, whatever FS the
// data goes through: it excludes other processes, which only the kernel
// sees, and the kernel releases it when its holder dies (kill -9
// included), so a stale lock never blocks a restart. It is an advisory
// lock (flock on Unix): it guards against other rewind processes, not
// against tools that ignore it. The file itself is never removed: removing
// it would let a process that opened it just before lock an inode nobody
// else can see.
func LockFile(name string, info []byte) (*FileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if !errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("vfs: lock %s: %w", name, err)
		}
		return nil, &LockedError{Name: name, Holder: readHolder(name)}
	}
	if err := f.Truncate(0); err != nil {
		unlockFile(f)
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt(info, 0); err != nil {
		unlockFile(f)
		f.Close()
		return nil, err
	}
	// Not synced: the info only names the holder in another process's
	// error message; after a crash the next holder rewrites it.
	return &FileLock{f: f}, nil
}

// readHolder reads what the holder wrote. A holder writes right after it
// locks, so an empty file is read again for a short while.
func readHolder(name string) []byte {
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		b, err := os.ReadFile(name)
		if err != nil || len(b) > 0 || time.Now().After(deadline) {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close releases the lock.
func (l *FileLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
