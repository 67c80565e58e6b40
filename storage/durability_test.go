package storage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Under FsyncAlways nothing is visible before its fsync completes.
func TestHighWatermarkWaitsForFsync(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	release := make(chan struct{})
	var once sync.Once
	e.efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpSync && strings.HasSuffix(name, ".log") {
			<-release
		}
	})
	defer once.Do(func() { close(release) })

	res := mustAppend(t, l, batch(3, 10, 500))
	if l.LogEndOffset() != 3 || l.HighWatermark() != 0 {
		t.Fatalf("leo %d hw %d before fsync", l.LogEndOffset(), l.HighWatermark())
	}
	if r, err := l.Read(0, 1000, true); err != nil || r.Size != 0 {
		t.Fatalf("read at HW: %v", err)
	}
	if _, err := l.Read(1, 1000, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read above HW: %v", err)
	}
	if off, ts, _ := l.OffsetForTimestamp(0); off != -1 || ts != -1 {
		t.Fatalf("OffsetForTimestamp sees unsynced data: %d", off)
	}
	if off, ts, _ := l.MaxTimestamp(); off != -1 || ts != -1 {
		t.Fatalf("MaxTimestamp sees unsynced data: %d %d", off, ts)
	}
	if _, err := l.DeleteRecordsBefore(2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore above HW: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, res.LastOffset+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDurable before fsync: %v", err)
	}
	ch := l.Changed()
	once.Do(func() { close(release) })
	<-ch
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 3 {
		t.Fatalf("hw %d", l.HighWatermark())
	}
	if off, ts, _ := l.MaxTimestamp(); off != 2 || ts != 502 {
		t.Fatalf("MaxTimestamp %d %d", off, ts)
	}
}

func TestFsyncInterval(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncInterval
	e.opts.FsyncInterval = 5 * time.Millisecond
	l := e.open()
	before := e.efs.Count(vfs.OpSync)
	res := mustAppend(t, l, batch(2, 10, 1))
	if l.HighWatermark() != 2 {
		t.Fatal("HW not at the log end under interval")
	}
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.efs.Count(vfs.OpSync) == before {
		if time.Now().After(deadline) {
			t.Fatal("no background fsync")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConfigNormalize(t *testing.T) {
	c := Config{SegmentBytes: 1 << 40, IndexIntervalBytes: -1}.normalize()
	d := DefaultConfig()
	// Zero retention is Kafka's 0 (delete what is sealed), and zero
	// max.message.bytes Kafka's 0 (refuse every batch), not unset.
	if c.SegmentBytes != 1<<31-1 || c.IndexIntervalBytes != 4096 || c.RetentionMs != 0 ||
		c.RetentionBytes != 0 || c.MaxMessageBytes != 0 || c.SegmentMs != d.SegmentMs {
		t.Fatalf("%+v", c)
	}
	if c := (Config{MaxMessageBytes: -1}).normalize(); c.MaxMessageBytes != d.MaxMessageBytes {
		t.Fatalf("negative max.message.bytes: %+v", c)
	}
	e := newEnv(t)
	l := e.open()
	l.SetConfig(Config{MaxMessageBytes: 100})
	if _, err := l.Append(batch(2, 100, 1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("SetConfig not applied: %v", err)
	}
	if l.Config().MaxMessageBytes != 100 || l.Dir() != e.dir {
		t.Fatal(l.Config())
	}
}

// TestMaxMessageBytesZero: max.message.bytes=0, which Kafka accepts
// (atLeast(0)), refuses every batch with MESSAGE_TOO_LARGE, even the
// smallest, and writes nothing; raising it again accepts them.
func TestMaxMessageBytesZero(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxMessageBytes = 0
	l := e.open()
	if got := l.Config().MaxMessageBytes; got != 0 {
		t.Fatalf("max.message.bytes %d, want 0", got)
	}
	if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Append with max.message.bytes=0: %v, want ErrMessageTooLarge", err)
	}
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after a refused batch", hw)
	}
	cfg := e.cfg
	cfg.MaxMessageBytes = DefaultConfig().MaxMessageBytes
	l.SetConfig(cfg)
	if _, err := l.Append(batch(1, 1, 1)); err != nil {
		t.Fatalf("Append after raising max.message.bytes: %v", err)
	}
}

func TestDuplicateKeepsLogAppendTime(t *testing.T) {
	e := newEnv(t)
	e.cfg.LogAppendTime = true
	l := e.open()
	b := idem(batch(1, 10, 1), 3, 0, 0)
	first := mustAppend(t, l, b)
	e.clock.Advance(time.Minute)
	dup := mustAppend(t, l, b)
	if !dup.Duplicate || dup.LogAppendTime != first.LogAppendTime || dup.BaseOffset != first.BaseOffset {
		t.Fatalf("first %+v dup %+v", first, dup)
	}
}

func TestLeaderEpochStamp(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, batch(1, 1, 1))
	l.SetLeaderEpoch(7)
	mustAppend(t, l, batch(1, 1, 1))
	r, err := l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.AppendTo(nil)
	r.Release()
	h0, _ := ParseBatchHeader(b)
	h1, err := ParseBatchHeader(b[h0.Size():])
	if err != nil || h0.PartitionLeaderEpoch != 0 || h1.PartitionLeaderEpoch != 7 {
		t.Fatalf("%v %d %d", err, h0.PartitionLeaderEpoch, h1.PartitionLeaderEpoch)
	}
}

// Close while appends, waits, reads and retention run: every call either
// succeeds or reports ErrClosed, and no file is used after it is closed.
func TestCloseUnderLoad(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	e.cfg.SegmentBytes = 3000
	e.cfg.RetentionBytes = 10000
	l := e.open()
	fill(t, l, 5)
	ok := func(err error) bool {
		return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrOffsetOutOfRange)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				res, err := l.Append(batch(2, 50, 1))
				if !ok(err) {
					t.Error(err)
				}
				if err != nil {
					return
				}
				if err := l.WaitDurable(context.Background(), res.LastOffset+1); !ok(err) {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r, err := l.Read(l.LogStartOffset(), 5000, true)
				if !ok(err) {
					t.Error(err)
				}
				if err != nil {
					if errors.Is(err, ErrClosed) {
						return
					}
					continue
				}
				if _, err := r.AppendTo(nil); err != nil {
					t.Error(err)
				}
				r.Release()
				if _, _, err := l.OffsetForTimestamp(0); !ok(err) {
					t.Error(err)
				}
				if err := l.ApplyRetention(); !ok(err) {
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l = e.open()
	if l.Err() != nil || l.LogEndOffset() < 20 {
		t.Fatalf("after reopen: %v leo %d", l.Err(), l.LogEndOffset())
	}
}

// A retried batch is answered with the original batch's timestamp under
// CreateTime too (its max timestamp), as Kafka's UnifiedLog answers a
// duplicate.
func TestDuplicateCreateTimeAnswersBatchTimestamp(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	b := idem(batch(3, 10, 1000), 3, 0, 0)
	first := mustAppend(t, l, b)
	if first.LogAppendTime != -1 {
		t.Fatalf("first append under CreateTime: LogAppendTime %d", first.LogAppendTime)
	}
	dup := mustAppend(t, l, b)
	if !dup.Duplicate || dup.LogAppendTime != 1002 || dup.BaseOffset != first.BaseOffset {
		t.Fatalf("first %+v dup %+v", first, dup)
	}
}
