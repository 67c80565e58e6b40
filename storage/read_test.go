package storage

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fill appends n batches of 4 records (~100 bytes each) and returns the
// byte size of one batch.
func fill(t *testing.T, l *Log, n int) int64 {
	t.Helper()
	var size int64
	for i := 0; i < n; i++ {
		b := batch(4, 100, int64(1000+i*10))
		size = int64(len(b))
		mustAppend(t, l, b)
	}
	return size
}

func TestReadMidBatchAndIndex(t *testing.T) {
	e := newEnv(t)
	e.cfg.IndexIntervalBytes = 1000
	e.cfg.SegmentBytes = 20_000
	l := e.open()
	fill(t, l, 100) // 400 records, several segments
	if len(l.segs) < 2 {
		t.Fatalf("expected several segments, got %d", len(l.segs))
	}
	for off := int64(0); off < 400; off++ {
		r, err := l.Read(off, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.AppendTo(nil)
		r.Release()
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != off/4*4 || int64(len(b)) != h.Size() {
			t.Fatalf("Read(%d) returned batch %d (%d bytes)", off, h.BaseOffset, len(b))
		}
	}
	// Sealed segments' indexes were written; reopen loads them lazily.
	l.Close()
	l = e.open()
	for _, off := range []int64{0, 5, 123, 398} {
		r, err := l.Read(off, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.AppendTo(nil)
		r.Release()
		if h, _ := ParseBatchHeader(b); h.BaseOffset != off/4*4 {
			t.Fatalf("after reopen Read(%d) gave %d", off, h.BaseOffset)
		}
	}
}

func TestReadMaxBytesMinOne(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 3000
	l := e.open()
	bs := fill(t, l, 20)

	// maxBytes smaller than a batch: minOne returns it whole, else nothing.
	r, err := l.Read(0, 10, true)
	if err != nil || r.Size != bs || len(r.Chunks()) != 1 {
		t.Fatalf("minOne: %v size %d", err, r.Size)
	}
	r.Release()
	r, err = l.Read(0, 10, false)
	if err != nil || r.Size != 0 {
		t.Fatalf("!minOne: %v size %d", err, r.Size)
	}
	r.Release()
	// Whole batches only, up to maxBytes, across segments.
	for _, max := range []int32{int32(bs), int32(bs) + 1, int32(3*bs) - 1, int32(7 * bs), 1 << 20} {
		r, err := l.Read(0, max, false)
		if err != nil {
			t.Fatal(err)
		}
		want := min(int64(max)/bs*bs, 20*bs)
		if r.Size != want {
			t.Fatalf("maxBytes %d: size %d, want %d", max, r.Size, want)
		}
		var sum int64
		for _, c := range r.Chunks() {
			sum += c.Len
		}
		var w bytes.Buffer
		n, err := r.WriteTo(&w)
		if sum != r.Size || n != r.Size || err != nil {
			t.Fatalf("chunks %d, WriteTo %d %v, size %d", sum, n, err, r.Size)
		}
		a, _ := r.AppendTo([]byte("prefix"))
		if !bytes.Equal(a[6:], w.Bytes()) {
			t.Fatal("AppendTo and WriteTo differ")
		}
		r.Release()
		r.Release() // idempotent
	}
}

func TestReadOutOfRange(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	fill(t, l, 3)
	for _, off := range []int64{-1, 13, 100} {
		if _, err := l.Read(off, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d): %v", off, err)
		}
	}
	r, err := l.Read(12, 100, true)
	if err != nil || r.Size != 0 || r.HighWatermark != 12 {
		t.Fatalf("Read(HW): %v %+v", err, r)
	}
	r.Release()
	if _, err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(4, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("below log start: %v", err)
	}
	r, err = l.Read(5, 100, true)
	if err != nil || r.Size == 0 || r.LogStartOffset != 5 {
		t.Fatalf("at log start: %v", err)
	}
	r.Release()
}

// Reads keep their files even when retention deletes the segment or the
// log is closed, and run concurrently with appends.
func TestReadConcurrentWithAppendsAndDeletes(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 2000
	e.cfg.RetentionBytes = 8000
	e.opts.Fsync = FsyncAlways
	l := e.open()
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ls := l.LogStartOffset()
				r, err := l.Read(ls, 3000, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start meanwhile
				}
				if err != nil {
					t.Error(err)
					return
				}
				b, err := r.AppendTo(nil)
				r.Release()
				if err != nil {
					t.Error(err)
					return
				}
				for len(b) > 0 {
					h, err := ParseBatchHeader(b)
					if err != nil {
						t.Errorf("read a bad batch: %v", err)
						return
					}
					b = b[h.Size():]
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		res := mustAppend(t, l, batch(2, 50, int64(i)))
		if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := l.ApplyRetention(); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := l.Read(l.LogStartOffset(), 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	fill(t, l, 20)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// The segments r references may be deleted and the log closed: the
	// files are still readable until Release.
	if _, err := r.AppendTo(nil); err != nil {
		t.Fatalf("read after delete/close: %v", err)
	}
	r.Release()
}

func TestChangedWakesOnAppend(t *testing.T) {
	for _, policy := range []Fsync{FsyncAlways, FsyncNever} {
		e := newEnv(t)
		e.opts.Fsync = policy
		l := e.open()
		ch := l.Changed()
		select {
		case <-ch:
			t.Fatal("closed before any append")
		default:
		}
		mustAppend(t, l, batch(1, 10, 1))
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: Changed not closed after append", policy)
		}
		if l.HighWatermark() != 1 {
			t.Fatalf("HW %d", l.HighWatermark())
		}
		ch = l.Changed()
		l.Close()
		<-ch
		if _, err := l.Read(0, 10, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if _, err := l.Append(batch(1, 1, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close: %v", err)
		}
	}
}
