package vfs

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Op is a set of file-system operations, used to choose what a [Fault]
// applies to and what [ErrorFS.Count] counts.
type Op uint32

const (
	OpOpen Op = 1 << iota
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpClose
	OpStat
	OpRemove
	OpRename
	OpMkdir
	OpReadDir
	OpSyncDir

	OpAll Op = 1<<iota - 1
)

var opNames = [...]string{"open", "read", "write", "sync", "truncate", "close", "stat", "remove", "rename", "mkdir", "readdir", "syncdir"}

func (o Op) String() string {
	var parts []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// A Fault is one injected failure rule of an [ErrorFS].
type Fault struct {
	// Op is the set of operations the fault applies to.
	Op Op
	// Match selects files by path; nil matches every path. See [Suffix]
	// and [Base].
	Match func(name string) bool
	// Err is the cause returned, wrapped in an *os.PathError so that
	// errors.Is(err, syscall.ENOSPC) works. Nil means syscall.EIO.
	Err error
	// After lets the first After matching operations succeed.
	After int
	// Times is how many operations fail before the fault disarms itself;
	// 0 means it fails every matching operation until removed.
	Times int
	// Torn, for OpWrite, is how many bytes of the buffer are written
	// before the error is returned: a short (torn) write. 0 writes nothing.
	Torn int
}

// Suffix matches paths ending in s (for example ".log").
func Suffix(s string) func(string) bool {
	return func(name string) bool { return strings.HasSuffix(name, s) }
}

// Base matches paths whose last element is exactly base.
func Base(base string) func(string) bool {
	return func(name string) bool { return filepath.Base(name) == base }
}

// ErrorFS wraps an FS and fails chosen operations, in the spirit of pebble's
// vfs/errorfs. It also counts operations so tests can assert, for example,
// that group commit issued fewer fsyncs than appends. It is safe for
// concurrent use.
type ErrorFS struct {
	inner FS

	mu     sync.Mutex
	faults []*fault
	counts [len(opNames)]int64
	hook   func(op Op, name string)
}

type fault struct {
	Fault
	seen, failed int
}

// NewErrorFS returns an ErrorFS over inner (nil means Default).
func NewErrorFS(inner FS) *ErrorFS {
	if inner == nil {
		inner = Default
	}
	return &ErrorFS{inner: inner}
}

// Inject arms f and returns a function that disarms it.
func (e *ErrorFS) Inject(f Fault) (remove func()) {
	ff := &fault{Fault: f}
	e.mu.Lock()
	e.faults = append(e.faults, ff)
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, x := range e.faults {
			if x == ff {
				e.faults = append(e.faults[:i], e.faults[i+1:]...)
				return
			}
		}
	}
}

// SetHook installs fn (nil removes it), called before every operation
// and outside any lock, so it may block: tests use it to hold an fsync
// in flight.
func (e *ErrorFS) SetHook(fn func(op Op, name string)) {
	e.mu.Lock()
	e.hook = fn
	e.mu.Unlock()
}

// Reset disarms every fault and zeroes the counters.
func (e *ErrorFS) Reset() {
	e.mu.Lock()
	e.faults = nil
	e.hook = nil
	e.counts = [len(opNames)]int64{}
	e.mu.Unlock()
}

// Count returns how many operations in ops were attempted (failed or not).
func (e *ErrorFS) Count(ops Op) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for i := range opNames {
		if ops&(1<<i) != 0 {
			n += e.counts[i]
		}
	}
	return n
}

// check counts op on name and returns the fault that fires, if any.
func (e *ErrorFS) check(op Op, name string) *fault {
	e.mu.Lock()
	hook := e.hook
	e.mu.Unlock()
	if hook != nil {
		hook(op, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range opNames {
		if op == 1<<i {
			e.counts[i]++
		}
	}
	for _, f := range e.faults {
		if f.Op&op == 0 || (f.Match != nil && !f.Match(name)) {
			continue
		}
		f.seen++
		if f.seen <= f.After {
			continue
		}
		if f.Times > 0 && f.failed >= f.Times {
			continue
		}
		f.failed++
		return f
	}
	return nil
}

func (e *ErrorFS) err(op Op, name string) error {
	f := e.check(op, name)
	if f == nil {
		return nil
	}
	return pathErr(op, name, f.Err)
}

func pathErr(op Op, name string, cause error) error {
	if cause == nil {
		cause = syscall.EIO
	}
	return &os.PathError{Op: op.String(), Path: name, Err: cause}
}

func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := e.err(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, name: name, f: f}, nil
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.err(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

func (e *ErrorFS) RemoveAll(name string) error {
	if err := e.err(OpRemove, name); err != nil {
		return err
	}
	return e.inner.RemoveAll(name)
}

func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.err(OpRename, newname); err != nil {
		return err
	}
	return e.inner.Rename(oldname, newname)
}

func (e *ErrorFS) MkdirAll(name string, perm os.FileMode) error {
	if err := e.err(OpMkdir, name); err != nil {
		return err
	}
	return e.inner.MkdirAll(name, perm)
}

func (e *ErrorFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := e.err(OpReadDir, name); err != nil {
		return nil, err
	}
	return e.inner.ReadDir(name)
}

func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if err := e.err(OpStat, name); err != nil {
		return nil, err
	}
	return e.inner.Stat(name)
}

func (e *ErrorFS) SyncDir(name string) error {
	if err := e.err(OpSyncDir, name); err != nil {
		return err
	}
	return e.inner.SyncDir(name)
}

type errorFile struct {
	fs   *ErrorFS
	name string
	f    File
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.err(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	ft := f.fs.check(OpWrite, f.name)
	if ft == nil {
		return f.f.Write(p)
	}
	n := 0
	if ft.Torn > 0 {
		var err error
		n, err = f.f.Write(p[:min(ft.Torn, len(p))])
		if err != nil {
			return n, err
		}
	}
	return n, pathErr(OpWrite, f.name, ft.Err)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	ft := f.fs.check(OpWrite, f.name)
	if ft == nil {
		return f.f.WriteAt(p, off)
	}
	n := 0
	if ft.Torn > 0 {
		var err error
		n, err = f.f.WriteAt(p[:min(ft.Torn, len(p))], off)
		if err != nil {
			return n, err
		}
	}
	return n, pathErr(OpWrite, f.name, ft.Err)
}

func (f *errorFile) Sync() error {
	if err := f.fs.err(OpSync, f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.err(OpTruncate, f.name); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Stat() (os.FileInfo, error) {
	if err := f.fs.err(OpStat, f.name); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

// Close always closes the underlying file, even when a fault fires, so
// tests do not leak descriptors.
func (f *errorFile) Close() error {
	err := f.fs.err(OpClose, f.name)
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}
