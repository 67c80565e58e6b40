// Package vfs is the small file-system interface every disk access of the
// storage package goes through, so that tests can inject faults (ENOSPC, EIO,
// torn writes, failed fsyncs) with [ErrorFS] instead of filling real disks,
// and lose power with [CrashFS], which forgets what was not fsynced.
//
// The interface is deliberately narrow: positional reads, appending and
// positional writes, fsync, truncate, and the directory operations a log needs to create,
// rename and delete its files durably.
package vfs

import (
	"io"
	"os"
)

// File is an open file. Reads are positional (ReadAt) and safe to run
// concurrently with each other and with Write; Write goes to the file's
// current offset (storage opens segment files with os.O_APPEND), WriteAt
// to the given one (on a file opened without os.O_APPEND: the journal
// overwrites the zeros it preallocated).
type File interface {
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync flushes the file's data to stable storage. Implementations may
	// use fdatasync semantics (metadata needed to read the data back, such
	// as the size, is flushed; timestamps need not be).
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
}

// FS is a file system. Names are OS paths.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	MkdirAll(name string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir fsyncs the directory name so that files created, renamed or
	// removed in it survive a crash.
	SyncDir(name string) error
}

// Default is the real operating-system file system.
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// osFile wraps *os.File to give Sync fdatasync semantics where available.
type osFile struct{ *os.File }

// OSFile returns the operating-system file behind f, for zero-copy
// transfers (sendfile), or nil if there is none. Files of an [ErrorFS]
// give nil, so that every read goes through their faults. A wrapper that
// embeds a File is seen through if it has a method Unwrap() File.
func OSFile(f File) *os.File {
	for {
		switch x := f.(type) {
		case osFile:
			return x.File
		case interface{ Unwrap() File }:
			f = x.Unwrap()
		default:
			return nil
		}
	}
}

func (f osFile) Sync() error { return datasync(f.File) }
