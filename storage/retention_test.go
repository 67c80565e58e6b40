package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	return len(m)
}

func TestRetentionBytes(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	e.cfg.RetentionMs = -1
	l := e.open()
	bs := fill(t, l, 40)
	perSeg := 2000 / bs
	segs := countFiles(t, e.dir, ".log")
	if segs < 5 {
		t.Fatalf("%d segments", segs)
	}
	l.SetConfig(func() Config { c := e.cfg; c.RetentionBytes = 5000; return c }())
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.Size() < 5000 || l.Size() > 5000+perSeg*bs {
		t.Fatalf("size %d after retention.bytes 5000", l.Size())
	}
	if got := countFiles(t, e.dir, ".log"); got >= segs {
		t.Fatalf("no segment deleted: %d", got)
	}
	if countFiles(t, e.dir, ".index") != countFiles(t, e.dir, ".log")-1 {
		// The active segment's index is written at close only.
		t.Fatalf("index files: %d for %d segments", countFiles(t, e.dir, ".index"), countFiles(t, e.dir, ".log"))
	}
	ls := l.LogStartOffset()
	if ls == 0 || ls%4 != 0 {
		t.Fatalf("log start %d", ls)
	}
	if got := readAll(t, l, ls); len(got) != int(160-ls) {
		t.Fatalf("read %d records from %d", len(got), ls)
	}
	// The start survives a restart, clean or not.
	l.Close()
	l = e.open()
	if l.LogStartOffset() != ls {
		t.Fatalf("log start %d after reopen, want %d", l.LogStartOffset(), ls)
	}
}

func TestRetentionMs(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	e.cfg.RetentionMs = int64(time.Hour / time.Millisecond)
	l := e.open()
	now := e.clock.Ms()
	// Old records, then fresh ones.
	for i := 0; i < 20; i++ {
		mustAppend(t, l, batch(4, 100, now-2*3600_000+int64(i)))
	}
	old := l.LogEndOffset()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, batch(4, 100, now+int64(i)))
	}
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	ls := l.LogStartOffset()
	if ls == 0 || ls > old {
		t.Fatalf("log start %d, old records end at %d", ls, old)
	}
	// Everything expires: the active segment is rolled and deleted too.
	e.clock.Advance(3 * time.Hour)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != l.LogEndOffset() || l.Size() != 0 {
		t.Fatalf("after full expiry: start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	res := mustAppend(t, l, batch(1, 1, e.clock.Ms()))
	if res.BaseOffset != 160 {
		t.Fatalf("offsets restarted: %d", res.BaseOffset)
	}
}

// TestRetentionZero: retention.bytes=0 and retention.ms=0 are values, as
// in Kafka (the usual way to empty a topic), not "unset": every sealed
// segment goes, and with retention.ms=0 the active one once its records
// are in the past.
func TestRetentionZero(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	e.cfg.RetentionMs = -1
	l := e.open()
	fill(t, l, 40)
	end := l.LogEndOffset()
	cfg := e.cfg
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if countFiles(t, e.dir, ".log") != 1 || l.LogStartOffset() == 0 {
		t.Fatalf("retention.bytes=0 left %d segments, log start %d", countFiles(t, e.dir, ".log"), l.LogStartOffset())
	}
	cfg.RetentionBytes, cfg.RetentionMs = -1, 0
	l.SetConfig(cfg)
	e.clock.Advance(time.Millisecond)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != end || l.Size() != 0 {
		t.Fatalf("retention.ms=0: start %d end %d size %d, want everything deleted", l.LogStartOffset(), end, l.Size())
	}
}

func TestSegmentMsRoll(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentMs = 1000
	l := e.open()
	mustAppend(t, l, batch(1, 10, e.clock.Ms()))
	mustAppend(t, l, batch(1, 10, e.clock.Ms()))
	if n := countFiles(t, e.dir, ".log"); n != 1 {
		t.Fatalf("%d segments", n)
	}
	e.clock.Advance(2 * time.Second)
	mustAppend(t, l, batch(1, 10, e.clock.Ms()))
	if n := countFiles(t, e.dir, ".log"); n != 2 {
		t.Fatalf("append after segment.ms: %d segments", n)
	}
	e.clock.Advance(2 * time.Second)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, e.dir, ".log"); n != 3 {
		t.Fatalf("ApplyRetention after segment.ms: %d segments", n)
	}
	// An empty active segment is not rolled.
	e.clock.Advance(2 * time.Second)
	l.ApplyRetention()
	if n := countFiles(t, e.dir, ".log"); n != 3 {
		t.Fatalf("empty segment rolled: %d segments", n)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	e.cfg.RetentionMs = -1
	l := e.open()
	fill(t, l, 30) // 120 records
	segs := countFiles(t, e.dir, ".log")
	if _, err := l.DeleteRecordsBefore(121); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past HW: %v", err)
	}
	got, err := l.DeleteRecordsBefore(50)
	if err != nil || got != 50 || l.LogStartOffset() != 50 {
		t.Fatalf("DeleteRecordsBefore(50) = %d, %v", got, err)
	}
	if n := countFiles(t, e.dir, ".log"); n >= segs {
		t.Fatalf("no segment deleted (%d)", n)
	}
	if got, _ := l.DeleteRecordsBefore(10); got != 50 {
		t.Fatalf("moving back: %d", got)
	}
	recs := readAll(t, l, 50)
	if len(recs) != 70 || recs[0].Offset != 50 {
		t.Fatalf("%d records from %d", len(recs), recs[0].Offset)
	}
	// Durable before returning: survives an unclean restart.
	crash(t, l)
	l = e.open()
	if l.LogStartOffset() != 50 {
		t.Fatalf("log start %d after crash", l.LogStartOffset())
	}
	// -1 is the high watermark: everything goes.
	if got, err := l.DeleteRecordsBefore(-1); err != nil || got != 120 {
		t.Fatalf("DeleteRecordsBefore(-1) = %d, %v", got, err)
	}
	if l.Size() != 0 {
		t.Fatalf("size %d", l.Size())
	}
	if r, err := l.Read(120, 100, true); err != nil || r.Size != 0 {
		t.Fatalf("Read at end: %v", err)
	}
	if res := mustAppend(t, l, batch(1, 1, 1)); res.BaseOffset != 120 || res.LogStartOffset != 120 {
		t.Fatalf("%+v", res)
	}
}

// crash abandons l as a killed process would: no clean checkpoint, files
// left as they are (stops its goroutines and drops its descriptors).
func crash(t *testing.T, l *Log) {
	t.Helper()
	if err := l.close(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.dir, checkpointName)); err != nil {
		t.Fatal(err)
	}
}
