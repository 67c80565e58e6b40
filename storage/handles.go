package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Handles bounds the segment files that are open at once, across every log
// sharing it (a broker shares one). A segment's .log file is opened when it
// is first used and stays open while it is used; once more than Max are
// open, the least recently used ones that nobody is using are closed, and
// reopened when next needed. Idle partitions so hold no descriptor: a
// broker serves far more partitions than its descriptor limit, which Kafka
// instead asks operators to raise.
//
// A handle in use is pinned and never closed under its user: a Read keeps
// its segments' files pinned until ReadResult.Release (the fetch path sends
// them with sendfile), an append or an fsync for its call. Pinned files
// count towards Max but cannot be closed: the number open can exceed Max by
// the files pinned at that moment (in-flight fetches and writes), and drops
// back as they are released.
//
// A file written and not yet fsynced is closed only when no clean idle
// file is left to close, so that a write is normally fsynced through the
// descriptor it went through. When it is closed, the fsync goes through a
// new descriptor of the same file: fsync flushes the file's pages whatever
// descriptor wrote them, and Linux (since 4.16) reports to a descriptor
// opened after a writeback error that error if nobody has seen it yet, so
// the failure still fences the log. Pinning such files instead would let
// one Produce to thousands of partitions hold thousands of descriptors
// until their fsyncs.
//
// Recency is tracked as by the CLOCK algorithm (a use bit per handle, swept
// by a hand), so that using an open file takes two atomic operations and
// no lock shared between logs.
//
// Only .log files are held open: index, time index, checkpoint and snapshot
// files are read and written whole, each with its own short-lived open.
type Handles struct {
	max int

	mu      sync.Mutex
	open    []*handle // every open handle, in clock order
	hand    int       // next position of the clock hand in open
	pending int       // files being opened: room is made for them first

	// syncs bounds the fsyncs in flight: each pins its file, reopened
	// if it was closed, so thousands of logs fsyncing at once (one
	// Produce to thousands of partitions) would otherwise open thousands
	// of files past the bound. More in flight gains nothing either: the
	// device serializes them, and a log waiting for a slot covers more
	// appends with its next fsync.
	syncs chan struct{}

	count     atomic.Int64 // len(open), read without mu
	opens     atomic.Int64 // files opened, for metrics and tests
	evictions atomic.Int64 // files closed to stay under max
}

// NewHandles returns a bound of max open segment files (at least 1).
func NewHandles(n int) *Handles {
	n = max(n, 1)
	return &Handles{max: n, syncs: make(chan struct{}, max(1, min(64, n/4)))}
}

// DefaultMaxOpenFiles is the bound used when none is given: half the
// process's descriptor limit (RLIMIT_NOFILE, which the Go runtime raises
// to the hard limit at start), leaving the other half to connections and
// the short-lived opens of index and checkpoint files. At least 64.
func DefaultMaxOpenFiles() int {
	n := fileLimit()
	if n <= 0 {
		return 4096
	}
	return int(max(64, n/2))
}

var defaultHandles = sync.OnceValue(func() *Handles { return NewHandles(DefaultMaxOpenFiles()) })

// Max returns the bound.
func (hs *Handles) Max() int { return hs.max }

// Open returns the number of segment files open now.
func (hs *Handles) Open() int { return int(hs.count.Load()) }

// Full reports whether the bound is reached: a caller that could keep a
// file pinned for long (the fetch path, until a response is written)
// should copy its data and let go instead.
func (hs *Handles) Full() bool { return hs.count.Load() >= int64(hs.max) }

// Opens returns how many segment files were opened, counting reopens.
func (hs *Handles) Opens() int64 { return hs.opens.Load() }

// Evictions returns how many idle segment files were closed to keep the
// bound.
func (hs *Handles) Evictions() int64 { return hs.evictions.Load() }

// handle states besides the pin count (>= 0, the file is open).
const (
	handleClosed = -1 // not open; the next pin opens it
	handleDead   = -2 // closed for good (the segment is gone)
)

var errHandleDead = errors.New("storage: segment file used after its segment was closed")

// handle is one segment file, opened on demand. It implements vfs.File:
// each call pins the file for its duration, so code that does not keep
// the file across calls needs no care. Code that hands the file on (a
// ReadResult's chunks) or must keep the descriptor (a write until its
// fsync) pins it with pin and releases it with unpin.
type handle struct {
	hs   *Handles
	fs   vfs.FS
	path string

	mu    sync.Mutex   // serializes opening
	state atomic.Int64 // pin count, or handleClosed / handleDead
	used  atomic.Bool  // the clock's reference bit
	dirty atomic.Int32 // writes not yet fsynced (Log.dirty holds it): close last
	f     vfs.File     // while open; written under hs.mu
	slot  int          // index in hs.open, -1 if not there; hs.mu
}

// newHandle returns the handle of path. f, if not nil, is the file already
// opened with openFile (just created); it is registered, pinned once if
// pinned is set.
func (hs *Handles) newHandle(fsys vfs.FS, path string, f vfs.File, pinned bool) *handle {
	h := &handle{hs: hs, fs: fsys, path: path, slot: -1}
	h.state.Store(handleClosed)
	if f != nil {
		hs.closeAll(hs.add(h, f))
		if !pinned {
			h.unpin()
		}
	}
	return h
}

// pin returns the open file, opening it if needed; the caller must unpin.
func (h *handle) pin() (vfs.File, error) {
	if f, ok := h.tryPin(); ok {
		return f, nil
	}
	return h.pinSlow()
}

func (h *handle) tryPin() (vfs.File, bool) {
	for {
		v := h.state.Load()
		if v < 0 {
			return nil, false
		}
		if h.state.CompareAndSwap(v, v+1) {
			if !h.used.Load() {
				h.used.Store(true)
			}
			return h.f, true
		}
	}
}

func (h *handle) pinSlow() (vfs.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.tryPin(); ok {
		return f, nil
	}
	if h.state.Load() == handleDead {
		return nil, errHandleDead
	}
	// Never O_CREATE or O_TRUNC: the file exists (created with its
	// segment), and a reopen must find it as it was.
	f, err := h.hs.openFile(h.fs, h.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	h.hs.closeAll(h.hs.add(h, f))
	return f, nil
}

// openFile opens a segment file once there is room for it under the bound
// (an idle file is closed first, not after: the descriptors in use stay
// within the bound even while many files are being opened at once). The
// file must then be registered with add (newHandle or pinSlow), which
// takes over the room made for it.
func (hs *Handles) openFile(fsys vfs.FS, name string, flag int, perm os.FileMode) (vfs.File, error) {
	hs.mu.Lock()
	hs.pending++
	victims := hs.trimLocked(true)
	hs.mu.Unlock()
	hs.closeAll(victims)
	f, err := fsys.OpenFile(name, flag, perm)
	if err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
		// Descriptors ran out elsewhere (connections): give back idle
		// segment files and try once more.
		hs.closeAll(hs.shed())
		f, err = fsys.OpenFile(name, flag, perm)
	}
	if err != nil {
		hs.mu.Lock()
		hs.pending--
		hs.mu.Unlock()
		return nil, err
	}
	hs.opens.Add(1)
	return f, nil
}

// unpin releases a pin. The last one of a handle over the bound lets the
// bound be restored.
func (h *handle) unpin() {
	n := h.state.Add(-1)
	if n < 0 {
		panic("storage: segment file unpinned more often than pinned")
	}
	if n == 0 && h.hs.count.Load() > int64(h.hs.max) {
		h.hs.closeAll(h.hs.trim())
	}
}

// close closes the file for good (the segment's last reference is gone).
func (h *handle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.hs
	hs.mu.Lock()
	h.state.Store(handleDead)
	f := h.f
	h.f = nil
	if h.slot >= 0 {
		hs.removeLocked(h)
	}
	hs.mu.Unlock()
	if f != nil {
		return f.Close()
	}
	return nil
}

// add registers h, just opened as f by openFile, pinned once, and returns
// the files to close to stay within the bound.
func (hs *Handles) add(h *handle, f vfs.File) []vfs.File {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.pending--
	h.f = f
	h.slot = len(hs.open)
	hs.open = append(hs.open, h)
	hs.count.Store(int64(len(hs.open)))
	h.used.Store(true)
	h.state.Store(1)
	// Room is made now, not when h is unpinned: the bound holds as long
	// as some open file is not pinned.
	return hs.trimLocked(true)
}

func (hs *Handles) trim() []vfs.File {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.trimLocked(true)
}

func (hs *Handles) trimLocked(dirtyOK bool) []vfs.File {
	var out []vfs.File
	for len(hs.open)+hs.pending > hs.max {
		f := hs.sweepLocked(false)
		if f == nil && dirtyOK {
			f = hs.sweepLocked(true)
		}
		if f == nil {
			break // the rest are pinned
		}
		out = append(out, f)
	}
	return out
}

// shed closes up to an eighth of the open files (at least one), for when
// the process ran out of descriptors.
func (hs *Handles) shed() []vfs.File {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []vfs.File
	for n := max(1, len(hs.open)/8); n > 0; n-- {
		f := hs.evictLocked()
		if f == nil {
			break
		}
		out = append(out, f)
	}
	return out
}

// evictLocked advances the clock hand to the first unpinned handle not
// used since the hand last passed (one without unsynced writes if there is
// one), closes its state and returns its file (to be closed outside mu).
// Nil if every handle is pinned.
func (hs *Handles) evictLocked() vfs.File {
	if f := hs.sweepLocked(false); f != nil {
		return f
	}
	return hs.sweepLocked(true)
}

// sweepLocked is one turn of evictLocked, passing over files with unsynced
// writes unless dirtyOK.
func (hs *Handles) sweepLocked(dirtyOK bool) vfs.File {
	for n := 2 * len(hs.open); n > 0 && len(hs.open) > 0; n-- {
		if hs.hand >= len(hs.open) {
			hs.hand = 0
		}
		h := hs.open[hs.hand]
		if h.state.Load() == 0 && (dirtyOK || h.dirty.Load() == 0) {
			if h.used.Load() {
				h.used.Store(false) // a second chance
			} else if h.state.CompareAndSwap(0, handleClosed) {
				// No pin can be taken from now on: pins need state >= 0.
				f := h.f
				h.f = nil
				hs.removeLocked(h) // the hand now points at the next one
				hs.evictions.Add(1)
				return f
			}
		}
		hs.hand++
	}
	return nil
}

func (hs *Handles) removeLocked(h *handle) {
	i, last := h.slot, len(hs.open)-1
	hs.open[i] = hs.open[last]
	hs.open[i].slot = i
	hs.open[last] = nil
	hs.open = hs.open[:last]
	hs.count.Store(int64(len(hs.open)))
	h.slot = -1
}

// closeAll closes evicted files. A close error is not a data error: the
// file was idle, every write to it already fsynced or, under FsyncNever,
// left to the page cache, which a close does not drop.
func (hs *Handles) closeAll(files []vfs.File) {
	for _, f := range files {
		f.Close()
	}
}

// The vfs.File methods, each pinning the file for the call.

func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	f, err := h.pin()
	if err != nil {
		return 0, err
	}
	defer h.unpin()
	return f.ReadAt(p, off)
}

func (h *handle) Write(p []byte) (int, error) {
	f, err := h.pin()
	if err != nil {
		return 0, err
	}
	defer h.unpin()
	return f.Write(p)
}

// errReopen: Sync could not reopen a file closed for the bound. Nothing
// was fsynced and nothing is known to be lost (the writes are in the page
// cache): the caller retries instead of fencing the log.
var errReopen = errors.New("reopen for fsync")

func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	f, err := h.pin()
	if err != nil {
		return 0, err
	}
	defer h.unpin()
	return f.WriteAt(p, off)
}

func (h *handle) Sync() error {
	h.hs.syncs <- struct{}{}
	defer func() { <-h.hs.syncs }()
	f, err := h.pin()
	if err != nil {
		return fmt.Errorf("%w: %w", errReopen, err)
	}
	defer h.unpin()
	return f.Sync()
}

func (h *handle) Truncate(size int64) error {
	f, err := h.pin()
	if err != nil {
		return err
	}
	defer h.unpin()
	return f.Truncate(size)
}

func (h *handle) Stat() (os.FileInfo, error) {
	f, err := h.pin()
	if err != nil {
		return nil, err
	}
	defer h.unpin()
	return f.Stat()
}

func (h *handle) Close() error { return h.close() }
