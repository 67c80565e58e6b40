package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func segPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentName(base, suffix))
}

// lastSeg returns the base offset of the newest segment file.
func lastSeg(t *testing.T, dir string) int64 {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	b, ok := parseBaseName(filepath.Base(m[len(m)-1]), logSuffix)
	if !ok {
		t.Fatal(m)
	}
	return b
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func flipByte(t *testing.T, p string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, pos)
	b[0] ^= 0x5a
	f.WriteAt(b, pos)
}

func TestRecoverTruncatedMidBatch(t *testing.T) {
	for _, policy := range []Fsync{FsyncAlways, FsyncNever} {
		e := newEnv(t)
		e.cfg.SegmentBytes = 3000
		e.opts.Fsync = policy
		l := e.open()
		bs := fill(t, l, 30)
		if err := l.WaitDurable(t.Context(), 120); err != nil {
			t.Fatal(err)
		}
		crash(t, l)
		p := segPath(e.dir, lastSeg(t, e.dir), logSuffix)
		size := fileSize(t, p)
		if err := os.Truncate(p, size-bs/2); err != nil {
			t.Fatal(err)
		}
		l = e.open()
		if l.LogEndOffset() != 116 || l.HighWatermark() != 116 {
			t.Fatalf("%v: after torn tail leo %d hw %d", policy, l.LogEndOffset(), l.HighWatermark())
		}
		if fileSize(t, p) != size-bs {
			t.Fatalf("torn tail not truncated: %d", fileSize(t, p))
		}
		if got := readAll(t, l, 0); len(got) != 116 {
			t.Fatalf("%d records", len(got))
		}
		if res := mustAppend(t, l, batch(1, 1, 1)); res.BaseOffset != 116 {
			t.Fatalf("next offset %d", res.BaseOffset)
		}
		if err := l.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoverFlippedTailBytes(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	bs := fill(t, l, 10)
	crash(t, l)
	p := segPath(e.dir, 0, logSuffix)
	// A flipped byte in the last batch's payload: CRC mismatch.
	flipByte(t, p, 10*bs-5)
	l = e.open()
	if l.LogEndOffset() != 36 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	crash(t, l)
	// Flipped length field of the (new) last batch.
	flipByte(t, p, 8*bs+offLength+1)
	l = e.open()
	if l.LogEndOffset() != 32 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	// Garbage appended after the last batch.
	crash(t, l)
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("garbage that is not a batch header at all, long enough to look like one.."))
	f.Close()
	l = e.open()
	if l.LogEndOffset() != 32 || fileSize(t, p) != 8*bs {
		t.Fatalf("leo %d size %d", l.LogEndOffset(), fileSize(t, p))
	}
	if got := readAll(t, l, 0); len(got) != 32 {
		t.Fatalf("%d records", len(got))
	}
}

// A clean shutdown is trusted: Open does not scan, so damage it would have
// truncated goes unnoticed (and the next unclean open catches it).
func TestCleanShutdownSkipsScan(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	bs := fill(t, l, 10)
	l.Close()
	flipByte(t, segPath(e.dir, 0, logSuffix), 10*bs-5)
	l = e.open()
	if l.LogEndOffset() != 40 {
		t.Fatalf("clean open scanned: leo %d", l.LogEndOffset())
	}
	// The clean flag was cleared by Open: a crash now means a scan.
	crash(t, l)
	l = e.open()
	if l.LogEndOffset() != 36 {
		t.Fatalf("unclean open after clean one: leo %d", l.LogEndOffset())
	}
}

func TestRecoverMissingAndBadIndexes(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 3000
	e.cfg.IndexIntervalBytes = 500
	l := e.open()
	fill(t, l, 30)
	want := readAll(t, l, 0)
	l.Close()
	m, _ := filepath.Glob(filepath.Join(e.dir, "*index"))
	if len(m) < 6 {
		t.Fatalf("index files: %v", m)
	}
	for i, p := range m {
		switch i % 3 {
		case 0:
			os.Remove(p)
		case 1:
			os.WriteFile(p, []byte("short"), 0o644) // misshapen
		case 2:
			os.Truncate(p, 0)
		}
	}
	l = e.open()
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for _, off := range []int64{3, 57, 119} {
		if o, _, err := l.OffsetForTimestamp(want[off].Timestamp); err != nil || o != off {
			t.Fatalf("OffsetForTimestamp: %d %v", o, err)
		}
	}
	l.Close()
	for _, p := range m {
		if fileSize(t, p) == 0 || fileSize(t, p) == 5 {
			t.Fatalf("index %s not rebuilt", p)
		}
	}
}

// Index entries that pass the sanity checks but point at the wrong batch
// are caught on use and the index is rebuilt.
func TestWrongIndexEntriesRebuilt(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 3000
	e.cfg.IndexIntervalBytes = 200
	l := e.open()
	bs := fill(t, l, 30)
	l.Close()
	// Entries: offset 4 at the position of offset 8's batch, etc.
	idx := appendIndexEntry(nil, 0, 0)
	idx = appendIndexEntry(idx, 4, uint32(2*bs))
	idx = appendIndexEntry(idx, 12, uint32(3*bs+7))
	os.WriteFile(segPath(e.dir, 0, indexSuffix), idx, 0o644)
	l = e.open()
	for _, off := range []int64{5, 13} {
		r, err := l.Read(off, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.AppendTo(nil)
		r.Release()
		if h, _ := ParseBatchHeader(b); h.BaseOffset != off/4*4 {
			t.Fatalf("Read(%d) gave batch %d", off, h.BaseOffset)
		}
	}
	if err := l.Err(); err != nil {
		t.Fatalf("fenced for a bad index: %v", err)
	}
}

func TestMidSegmentCorruptionFences(t *testing.T) {
	setup := func(t *testing.T) (*env, int64) {
		e := newEnv(t)
		e.cfg.SegmentBytes = 3000
		l := e.open()
		bs := fill(t, l, 30)
		l.Close()
		// A flipped payload byte in the middle of the first segment.
		flipByte(t, segPath(e.dir, 0, logSuffix), 2*bs+100)
		return e, bs
	}
	checkFenced := func(t *testing.T, l *Log) {
		t.Helper()
		if err := l.Err(); !errors.Is(err, ErrCorruption) || !errors.Is(err, ErrStorage) {
			t.Fatalf("Err() = %v", err)
		}
		if _, err := l.Read(l.LogStartOffset(), 100, true); !errors.Is(err, ErrStorage) {
			t.Fatalf("Read: %v", err)
		}
		if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrStorage) {
			t.Fatalf("Append: %v", err)
		}
		if err := l.WaitDurable(t.Context(), 1<<40); !errors.Is(err, ErrStorage) {
			t.Fatalf("WaitDurable: %v", err)
		}
		select {
		case <-l.Changed():
		default:
			t.Fatal("Changed not closed on a fenced log")
		}
	}
	t.Run("index rebuild", func(t *testing.T) {
		e, _ := setup(t)
		os.Remove(segPath(e.dir, 0, indexSuffix))
		before := fileSize(t, segPath(e.dir, 0, logSuffix))
		l := e.open()
		checkFenced(t, l)
		l.Close()
		if fileSize(t, segPath(e.dir, 0, logSuffix)) != before {
			t.Fatal("fenced segment was modified")
		}
	})
	t.Run("full recovery", func(t *testing.T) {
		e, _ := setup(t)
		os.Remove(filepath.Join(e.dir, checkpointName)) // recover every segment
		checkFenced(t, e.open())
	})
	t.Run("read", func(t *testing.T) {
		e, bs := setup(t)
		// A damaged header is found when a read walks over it.
		flipByte(t, segPath(e.dir, 0, logSuffix), 3*bs+offMagic)
		l := e.open()
		if l.Err() != nil {
			t.Fatal("fenced before reading")
		}
		if _, err := l.Read(13, 1<<20, true); !errors.Is(err, ErrCorruption) {
			t.Fatalf("Read over a bad header: %v", err)
		}
		checkFenced(t, l)
	})
}

// Under FsyncNever an older segment may end in zeros the OS never wrote:
// that tail is truncated, not treated as corruption.
func TestRecoverZeroTailInOlderSegment(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 3000
	l := e.open()
	bs := fill(t, l, 30)
	crash(t, l)
	p := segPath(e.dir, 0, logSuffix)
	size := fileSize(t, p)
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt(make([]byte, bs), size-bs)
	f.Close()
	os.Remove(filepath.Join(e.dir, checkpointName))
	l = e.open()
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l, 0)
	perSeg := int(size / bs)
	if len(got) != 120-4 || got[perSeg*4-4].Offset != int64(perSeg*4) {
		t.Fatalf("%d records; the gap should hold 4", len(got))
	}
}

func TestRecoverBadCheckpointAndStrayFiles(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 3000
	l := e.open()
	fill(t, l, 30)
	l.DeleteRecordsBefore(50)
	l.Close()
	os.WriteFile(filepath.Join(e.dir, checkpointName), []byte("nonsense"), 0o644)
	os.WriteFile(filepath.Join(e.dir, "00000000000000000001.index.tmp"), []byte("x"), 0o644)
	os.WriteFile(segPath(e.dir, 999999, indexSuffix), []byte("x"), 0o644)
	l = e.open()
	if l.LogEndOffset() != 120 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	if _, err := os.Stat(segPath(e.dir, 999999, indexSuffix)); !os.IsNotExist(err) {
		t.Fatal("orphan index kept")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "00000000000000000001.index.tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file kept")
	}
	// The log start was in the lost checkpoint: it falls back to the first
	// segment.
	if ls := l.LogStartOffset(); ls > 50 {
		t.Fatalf("log start %d", ls)
	}
}

func TestEmptyLogReopen(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	l.Close()
	l = e.open()
	if l.LogEndOffset() != 0 || l.HighWatermark() != 0 {
		t.Fatal("non-empty")
	}
	crash(t, l)
	l = e.open()
	mustAppend(t, l, batch(1, 1, 1))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.dir); !os.IsNotExist(err) {
		t.Fatal("Delete left the directory")
	}
}

// Batches larger than the scan buffer take the other read path.
func TestRecoverLargeBatches(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxMessageBytes = 1 << 20
	l := e.open()
	for i := 0; i < 4; i++ {
		mustAppend(t, l, batch(10, 30_000, int64(i)))
	}
	crash(t, l)
	os.Truncate(segPath(e.dir, 0, logSuffix), fileSize(t, segPath(e.dir, 0, logSuffix))-1000)
	l = e.open()
	if l.LogEndOffset() != 30 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	r, err := l.Read(25, 10, true)
	if err != nil || r.Size < 300_000 {
		t.Fatalf("%v size %d", err, r.Size)
	}
	r.Release()
	if got := readAll(t, l, 0); len(got) != 30 {
		t.Fatalf("%d records", len(got))
	}
	if off, ts, err := l.OffsetForTimestamp(10); err != nil || off != 19 || ts != 10 {
		t.Fatalf("%d %d %v", off, ts, err)
	}
}
