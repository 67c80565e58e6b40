package storage

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

func TestWriteENOSPCRollsBack(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 5)
	size, hw := l.Size(), l.HighWatermark()
	p := segPath(e.dir, 0, logSuffix)
	remove := e.efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(".log"), Err: syscall.ENOSPC, Torn: 100})
	_, err := l.Append(batch(4, 100, 1))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append: %v", err)
	}
	if l.HighWatermark() != hw || l.LogEndOffset() != hw || l.Size() != size || fileSize(t, p) != size {
		t.Fatalf("partial append visible: hw %d leo %d size %d file %d", l.HighWatermark(), l.LogEndOffset(), l.Size(), fileSize(t, p))
	}
	remove()
	// Space is back: the log goes on.
	if res := mustAppend(t, l, batch(1, 1, 1)); res.BaseOffset != hw {
		t.Fatalf("next offset %d", res.BaseOffset)
	}
	if got := readAll(t, l, 0); len(got) != int(hw)+1 {
		t.Fatalf("%d records", len(got))
	}
}

func TestWriteEIOFences(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 5)
	hw := l.HighWatermark()
	remove := e.efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(".log"), Err: syscall.EIO, Torn: 50, Times: 1})
	if _, err := l.Append(batch(4, 100, 1)); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append: %v", err)
	}
	remove()
	if l.HighWatermark() != hw {
		t.Fatal("HW moved")
	}
	if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append on a fenced log: %v", err)
	}
	if _, err := l.Read(0, 100, true); !errors.Is(err, ErrStorage) {
		t.Fatalf("Read on a fenced log: %v", err)
	}
	// A restart recovers what is on disk.
	l.Close()
	l = e.open()
	if l.LogEndOffset() != hw {
		t.Fatalf("leo %d after restart, want %d", l.LogEndOffset(), hw)
	}
}

// A torn write whose rollback fails too: the partial batch stays on disk
// until the next Open truncates it.
func TestTornWriteRecoveredOnOpen(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 5)
	hw := l.HighWatermark()
	e.efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(".log"), Torn: 70, Times: 1})
	e.efs.Inject(vfs.Fault{Op: vfs.OpTruncate, Match: vfs.Suffix(".log"), Times: 1})
	if _, err := l.Append(batch(4, 100, 1)); !errors.Is(err, ErrStorage) {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	if l.LogEndOffset() != hw || l.Err() != nil {
		t.Fatalf("leo %d err %v", l.LogEndOffset(), l.Err())
	}
	if got := readAll(t, l, 0); len(got) != int(hw) {
		t.Fatalf("%d records", len(got))
	}
}

func TestSyncFailureFences(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	ctx := context.Background()
	res := mustAppend(t, l, batch(2, 10, 1))
	if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	hw := l.HighWatermark()
	remove := e.efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Suffix(".log"), Err: syscall.EIO, Times: 1})
	res = mustAppend(t, l, batch(2, 10, 1))
	err := l.WaitDurable(ctx, res.LastOffset+1)
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("WaitDurable: %v", err)
	}
	remove()
	if l.HighWatermark() != hw {
		t.Fatalf("HW moved to %d after a failed fsync", l.HighWatermark())
	}
	// Never retried into a success.
	if err := l.WaitDurable(ctx, res.LastOffset+1); !errors.Is(err, ErrStorage) {
		t.Fatalf("second WaitDurable: %v", err)
	}
	if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := l.Read(0, 100, true); !errors.Is(err, ErrStorage) {
		t.Fatalf("Read: %v", err)
	}
	// The records already durable are still there after a restart.
	l.Close()
	l = e.open()
	if l.LogEndOffset() < hw {
		t.Fatalf("lost durable records: leo %d < %d", l.LogEndOffset(), hw)
	}
}

func TestSyncFailureAtRoll(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncInterval
	e.opts.FsyncInterval = time.Hour
	e.cfg.SegmentBytes = 1000
	l := e.open()
	fill(t, l, 2)
	e.efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Suffix(".log")})
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = l.Append(batch(4, 100, 1))
	}
	if !errors.Is(err, ErrStorage) || l.Err() == nil {
		t.Fatalf("roll with a failing fsync: %v", err)
	}
}

func TestWaitDurableContext(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for offsets never appended: %v", err)
	}
	if err := l.WaitDurable(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// Many concurrent appenders waiting for durability share fsyncs.
func TestGroupCommit(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	const writers, each = 16, 40
	before := e.efs.Count(vfs.OpSync)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				res, err := l.Append(batch(2, 100, 1))
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
					t.Error(err)
					return
				}
				if hw := l.HighWatermark(); hw <= res.LastOffset {
					t.Errorf("durable offset %d above the HW %d", res.LastOffset, hw)
				}
			}
		}()
	}
	wg.Wait()
	syncs := e.efs.Count(vfs.OpSync) - before
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
	if syncs >= writers*each {
		t.Fatalf("%d fsyncs for %d appends: no group commit", syncs, writers*each)
	}
	if l.HighWatermark() != 2*writers*each {
		t.Fatalf("HW %d", l.HighWatermark())
	}
}

// OnDurable calls each callback exactly once: at once when the end is
// durable already, after the fsync that makes it durable otherwise, with
// the fsync's error once it fails, and with ErrClosed for an end the log
// never reached when it closes.
func TestOnDurable(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	type call struct {
		end int64
		err error
	}
	calls := make(chan call, 100)
	on := func(end int64) { l.OnDurable(end, func(err error) { calls <- call{end, err} }) }
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no callback in 10 s")
			return call{}
		}
	}

	// Concurrent appends: each callback once, nil, with its end durable.
	const appends = 20
	var wg sync.WaitGroup
	for range appends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := mustAppend(t, l, batch(2, 10, 1))
			on(res.LastOffset + 1)
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for range appends {
		c := next()
		if c.err != nil || seen[c.end] {
			t.Fatalf("callback for %d: err %v, seen before %v", c.end, c.err, seen[c.end])
		}
		seen[c.end] = true
		if hw := l.HighWatermark(); hw < c.end {
			t.Fatalf("callback for %d with the HW at %d", c.end, hw)
		}
	}

	// Durable already: called before OnDurable returns.
	on(l.HighWatermark())
	select {
	case c := <-calls:
		if c.err != nil {
			t.Fatal(c.err)
		}
	default:
		t.Fatal("callback for a durable end not called at once")
	}

	// An end never appended waits; Close calls it with ErrClosed.
	on(l.LogEndOffset() + 100)
	select {
	case c := <-calls:
		t.Fatalf("callback before its end is durable: %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
	l.Close()
	if c := next(); !errors.Is(c.err, ErrClosed) {
		t.Fatalf("callback at Close: %v", c.err)
	}

	// A failed fsync: the error, once, and later callbacks get it at once.
	l = e.open()
	e.efs.Inject(vfs.Fault{Op: vfs.OpSync, Match: vfs.Suffix(".log"), Err: syscall.EIO, Times: 1})
	res := mustAppend(t, l, batch(2, 10, 1))
	on(res.LastOffset + 1)
	if c := next(); !errors.Is(c.err, ErrStorage) || !errors.Is(c.err, syscall.EIO) {
		t.Fatalf("callback after a failed fsync: %v", c.err)
	}
	on(res.LastOffset + 1)
	if c := next(); !errors.Is(c.err, ErrStorage) {
		t.Fatalf("callback on a fenced log: %v", c.err)
	}
	select {
	case c := <-calls:
		t.Fatalf("a callback called twice: %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
}

// Watch calls back on every change Changed would report, stops at stop,
// and calls at once on a closed log.
func TestWatch(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	var calls atomic.Int32
	stop := l.Watch(func() { calls.Add(1) })
	res := mustAppend(t, l, batch(2, 10, 1))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	// The HW moved before WaitDurable returned, under the lock the
	// callback ran in.
	if calls.Load() == 0 {
		t.Fatal("no callback after the HW advanced")
	}
	stop()
	stop() // harmless
	n := calls.Load()
	res = mustAppend(t, l, batch(2, 10, 1))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != n {
		t.Fatalf("%d callbacks after stop", calls.Load()-n)
	}
	var atClose atomic.Int32
	l.Watch(func() { atClose.Add(1) })
	l.Close()
	if atClose.Load() == 0 {
		t.Fatal("no callback at Close")
	}
	var closed atomic.Int32
	l.Watch(func() { closed.Add(1) })
	if closed.Load() != 1 {
		t.Fatalf("Watch of a closed log: %d calls before it returned, want 1", closed.Load())
	}
}

// TestOnDurableRaces: appenders registering OnDurable callbacks while the
// log is fenced or closed under them: every callback registered runs
// exactly once, whichever comes first.
func TestOnDurableRaces(t *testing.T) {
	for iter := range 20 {
		e := newEnv(t)
		e.opts.Fsync = FsyncAlways
		l := e.open()
		var registered, called atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 30 {
					res, err := l.Append(batch(2, 10, 1))
					if err != nil {
						return // fenced or closed
					}
					registered.Add(1)
					l.OnDurable(res.LastOffset+1, func(error) { called.Add(1) })
				}
			}()
		}
		time.Sleep(time.Duration(iter%4) * time.Millisecond)
		if iter%2 == 0 {
			l.Fence(errors.New("fenced by the test"))
		} else {
			l.Close()
		}
		wg.Wait()
		l.Close()
		if c, r := called.Load(), registered.Load(); c != r {
			t.Fatalf("round %d: %d callbacks for %d registered", iter, c, r)
		}
	}
}
