package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// evictIdle closes every open handle nobody uses (two sweeps: the first
// only clears the use bits).
func (hs *Handles) evictIdle() {
	hs.mu.Lock()
	var files []vfs.File
	for range 2 {
		for _, h := range hs.open {
			h.used.Store(false)
		}
		for {
			f := hs.evictLocked()
			if f == nil {
				break
			}
			files = append(files, f)
		}
	}
	hs.mu.Unlock()
	hs.closeAll(files)
}

// openFDsUnder counts this process's descriptors open on segment (.log)
// files under dir, from /proc/self/fd (Linux only). Checkpoint and index
// files, opened briefly by background writes, are not counted.
func openFDsUnder(t *testing.T, dir string) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors through /proc/self/fd")
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) &&
			strings.HasSuffix(strings.TrimSuffix(target, " (deleted)"), logSuffix) {
			n++
		}
	}
	return n
}

// Many logs share a bound far below their segment count: every log is
// written, made durable, read back, closed and reopened, and the process
// never holds more descriptors on their files than the bound.
func TestHandlesBoundManyLogs(t *testing.T) {
	const logs, bound = 40, 6
	root := t.TempDir()
	hs := NewHandles(bound)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1500 // several segments per log
	opts := Options{Fsync: FsyncAlways, Logger: quietLogger(), Handles: hs}
	open := func() []*Log {
		ls := make([]*Log, logs)
		for i := range ls {
			l, err := Open(filepath.Join(root, fmt.Sprintf("t-%d", i)), cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			ls[i] = l
		}
		return ls
	}
	check := func(when string) {
		t.Helper()
		if n := hs.Open(); n > bound {
			t.Fatalf("%s: %d segment files open, bound %d", when, n, bound)
		}
		if n := openFDsUnder(t, root); n > bound {
			t.Fatalf("%s: the process holds %d descriptors under the data dir, bound %d", when, n, bound)
		}
	}
	ls := open()
	check("after open")
	want := map[int][][]byte{}
	for round := range 5 {
		for i, l := range ls {
			b := batch(3, 200, int64(1000+round))
			res := mustAppend(t, l, b)
			if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			want[i] = append(want[i], b)
		}
		check(fmt.Sprintf("after append round %d", round))
	}
	verify := func() {
		t.Helper()
		for i, l := range ls {
			if got := readAll(t, l, 0); len(got) != 15 {
				t.Fatalf("log %d: read %d records, want 15", i, len(got))
			}
			check(fmt.Sprintf("after reading log %d", i))
		}
	}
	verify()
	if len(ls[0].segs) < 3 {
		t.Fatalf("want several segments per log, got %d", len(ls[0].segs))
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := hs.Open(); n != 0 {
		t.Fatalf("%d segment files open after every log closed", n)
	}
	ls = open()
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	check("after reopen")
	verify()
	if hs.Evictions() == 0 {
		t.Fatal("nothing was evicted: the test did not exercise the bound")
	}
}

// A file being read (a ReadResult) is never closed to make room, whatever
// the pressure; a file with unsynced writes is closed only when no clean
// idle one is left, and its fsync then still makes the write durable.
func TestHandlesPinnedNotEvicted(t *testing.T) {
	hs := NewHandles(2)
	// A clean idle file of another log.
	eo := newEnv(t)
	eo.opts.Handles = hs
	lo := eo.open()
	mustAppend(t, lo, batch(1, 10, 1))
	clean := lo.segs[0]
	// A file with an unsynced write.
	e := newEnv(t)
	e.opts.Handles = hs
	e.opts.Fsync = FsyncInterval
	e.opts.FsyncInterval = time.Hour // the write stays unsynced
	l := e.open()
	mustAppend(t, l, batch(4, 100, 1000))
	active := l.segs[len(l.segs)-1]
	f := active.f.f
	// A third file opens: the clean one is the one to go, though the
	// dirty one was used less recently.
	clean.f.used.Store(true)
	active.f.used.Store(false)
	e3 := newEnv(t)
	e3.opts.Handles = hs
	e3.open()
	if active.f.f != f || clean.f.state.Load() != handleClosed || hs.Open() != 2 {
		t.Fatalf("the file of an unsynced write was closed while a clean one was idle (%d open)", hs.Open())
	}
	// With nothing else to close, it goes, and the fsync reopens it.
	hs.evictIdle()
	if active.f.state.Load() != handleClosed {
		t.Fatal("setup: an unpinned file with unsynced writes was never closed")
	}
	if err := l.syncRound(false); err != nil {
		t.Fatalf("fsync after the file was closed: %v", err)
	}
	if active.f.dirty.Load() != 0 {
		t.Fatal("still marked dirty after its fsync")
	}

	e2 := newEnv(t)
	e2.opts.Handles = hs
	e2.opts.FS = vfs.Default // OS files, as the fetch path's sendfile needs
	l2 := e2.open()
	mustAppend(t, l2, batch(4, 100, 1000))
	rr, err := l2.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	hs.evictIdle()
	// Other logs keep opening files meanwhile.
	for i := range 5 {
		e3 := newEnv(t)
		e3.opts.Handles = hs
		mustAppend(t, e3.open(), batch(1, 10, int64(i)))
	}
	hs.evictIdle()
	b, err := rr.AppendTo(nil)
	if err != nil {
		t.Fatalf("a pinned read lost its file: %v", err)
	}
	if _, _, err := DecodeBatches(b, 0); err != nil || len(b) == 0 {
		t.Fatalf("read back %d bytes: %v", len(b), err)
	}
	if vfs.OSFile(rr.Chunks()[0].File) == nil {
		t.Fatal("a chunk is not an OS file: sendfile cannot be used")
	}
	rr.Release()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, e.open(), 0); len(got) != 4 {
		t.Fatalf("after close and reopen: %d records", len(got))
	}
}

// A reader that took a segment just before retention deleted it, and whose
// file was closed meanwhile, still reads it: the deletion keeps the file
// open for it.
func TestHandlesDeletedSegmentStaysReadable(t *testing.T) {
	e := newEnv(t)
	hs := NewHandles(1)
	e.opts.Handles = hs
	e.cfg.SegmentBytes = 1000
	e.cfg.RetentionMs = -1
	l := e.open()
	fill(t, l, 20)
	s := l.segs[0]
	want := make([]byte, s.size)
	if _, err := s.f.ReadAt(want, 0); err != nil {
		t.Fatal(err)
	}
	s.incRef() // a reader between its lookup and its read
	hs.evictIdle()
	if s.f.state.Load() != handleClosed {
		t.Fatal("setup: the segment's file is still open")
	}
	if _, err := l.DeleteRecordsBefore(l.segs[2].base); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path); !os.IsNotExist(err) {
		t.Fatalf("setup: segment file not deleted: %v", err)
	}
	hs.evictIdle()
	got := make([]byte, len(want))
	if _, err := s.f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reading a deleted segment still held: %v", err)
	}
	s.decRef()
	if s.f.state.Load() != handleDead {
		t.Fatal("the deleted segment's file stayed open after its last reader")
	}
}

// A reader holding a segment that compaction replaces reads the old bytes,
// never the cleaned file that now has its name, even if its file had been
// closed for the bound.
func TestHandlesCompactedSegmentKeepsOldFile(t *testing.T) {
	m := newCModel(t, 600)
	hs := NewHandles(1)
	m.e.opts.Handles = hs
	m.l.Close()
	m.l = m.e.open()
	m.fillKeys(30, 2, 3, time.Second)
	forceRoll(t, m.l)
	s := m.l.segs[0]
	want := make([]byte, s.size)
	if _, err := s.f.ReadAt(want, 0); err != nil {
		t.Fatal(err)
	}
	s.incRef()
	hs.evictIdle()
	st := m.compact(CompactPolicy{})
	if st.Rewritten == 0 || m.l.segs[0] == s {
		t.Fatalf("setup: nothing compacted (%+v)", st)
	}
	hs.evictIdle()
	got := make([]byte, len(want))
	if _, err := s.f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("a replaced segment's reader read other bytes (err %v)", err)
	}
	s.decRef()
	m.check()
}

// Appends, reads and fsyncs of many logs in parallel under a bound of two
// open files (run with -race).
func TestHandlesConcurrent(t *testing.T) {
	const logs = 8
	hs := NewHandles(2)
	root := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4000
	ls := make([]*Log, logs)
	for i := range ls {
		l, err := Open(filepath.Join(root, fmt.Sprint(i)), cfg, Options{Fsync: FsyncAlways, Logger: quietLogger(), Handles: hs})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls[i] = l
	}
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 40 {
				res, err := l.Append(batch(2, 100, int64(j)))
				if err == nil {
					err = l.WaitDurable(context.Background(), res.LastOffset+1)
				}
				if err != nil {
					t.Errorf("log %d: %v", i, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for off := int64(0); off < 80; {
				rr, err := l.Read(off, 1000, true)
				if err != nil {
					t.Errorf("log %d read %d: %v", i, off, err)
					return
				}
				b, err := rr.AppendTo(nil)
				rr.Release()
				if err != nil {
					t.Errorf("log %d read %d: %v", i, off, err)
					return
				}
				if len(b) == 0 {
					runtime.Gosched()
					continue
				}
				_, next, err := DecodeBatches(b, off)
				if err != nil {
					t.Errorf("log %d read %d: %v", i, off, err)
					return
				}
				off = next
			}
		}()
	}
	wg.Wait()
	if n := hs.Open(); n > 2 {
		t.Fatalf("%d files open once idle, bound 2", n)
	}
}

// A file with unsynced writes closed for the bound, that cannot be reopened
// for its fsync (out of descriptors), does not fence the log: nothing was
// fsynced, nothing is lost, and the next round makes the write durable.
func TestHandlesSyncReopenFailureRetried(t *testing.T) {
	e := newEnv(t)
	hs := NewHandles(4)
	e.opts.Handles = hs
	e.opts.Fsync = FsyncInterval
	e.opts.FsyncInterval = time.Hour // rounds run only when called
	l := e.open()
	res := mustAppend(t, l, batch(4, 100, 1000))
	hs.evictIdle()
	remove := e.efs.Inject(vfs.Fault{Op: vfs.OpOpen, Match: vfs.Suffix(logSuffix), Err: syscall.EMFILE})
	if err := l.syncRound(false); err == nil {
		t.Fatal("setup: the fsync round did not need to reopen the file")
	}
	if err := l.Err(); err != nil {
		t.Fatalf("running out of descriptors for an fsync fenced the log: %v", err)
	}
	remove()
	syncs := e.efs.Count(vfs.OpSync)
	if err := l.syncRound(false); err != nil {
		t.Fatalf("the next round: %v", err)
	}
	if e.efs.Count(vfs.OpSync) == syncs {
		t.Fatal("the retried round did not fsync the segment")
	}
	if l.segs[len(l.segs)-1].f.dirty.Load() != 0 {
		t.Fatal("still marked dirty after the retried fsync")
	}
	if got := readAll(t, l, 0); int64(len(got)) != res.LastOffset+1 {
		t.Fatalf("read %d records", len(got))
	}
}
