package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

func TestIdempotentProducer(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 1000
	l := e.open()
	const pid = 7
	b := batch(3, 10, 1)
	r0 := mustAppend(t, l, idem(b, pid, 0, 0))
	r1 := mustAppend(t, l, idem(b, pid, 0, 3))
	mustAppend(t, l, batch(1, 10, 1)) // a non-idempotent batch in between

	// A retry of either of the last five batches is a duplicate.
	for _, c := range []struct {
		seq  int32
		want AppendResult
	}{{0, r0}, {3, r1}} {
		res, err := l.Append(idem(b, pid, 0, c.seq))
		if err != nil || !res.Duplicate || res.BaseOffset != c.want.BaseOffset || res.LastOffset != c.want.LastOffset {
			t.Fatalf("retry of seq %d: %+v %v", c.seq, res, err)
		}
	}
	leo := l.LogEndOffset()
	// Gap.
	if _, err := l.Append(idem(b, pid, 0, 7)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	// Same first sequence, different length: not a duplicate, out of order.
	if _, err := l.Append(idem(batch(2, 10, 1), pid, 0, 3)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("overlap: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatal("rejected batches were written")
	}
	mustAppend(t, l, idem(b, pid, 0, 6))
	// New epoch must start at 0.
	if _, err := l.Append(idem(b, pid, 1, 9)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at 9: %v", err)
	}
	mustAppend(t, l, idem(b, pid, 1, 0))
	// Older epoch is fenced.
	if _, err := l.Append(idem(b, pid, 0, 9)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	// Retries of the old epoch's batches are no longer duplicates.
	if _, err := l.Append(idem(b, pid, 0, 6)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch retry: %v", err)
	}
	// An unknown producer may start at any sequence (KIP-360).
	mustAppend(t, l, idem(b, 99, 3, 42))
	// Only the last five batches are remembered.
	seq := int32(3)
	for i := 0; i < 6; i++ {
		mustAppend(t, l, idem(b, pid, 1, seq))
		seq += 3
	}
	if _, err := l.Append(idem(b, pid, 1, 3)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry older than five batches: %v", err)
	}
	if res, err := l.Append(idem(b, pid, 1, seq-3*5)); err != nil || !res.Duplicate {
		t.Fatalf("retry of the fifth newest: %+v %v", res, err)
	}
}

func TestIdempotentMultiBatchCall(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	b := batch(2, 10, 1)
	two := append(idem(b, 1, 0, 0), idem(b, 1, 0, 2)...)
	res := mustAppend(t, l, two)
	if res.BaseOffset != 0 || res.LastOffset != 3 {
		t.Fatalf("%+v", res)
	}
	res, err := l.Append(bytes.Clone(two))
	if err != nil || !res.Duplicate || res.BaseOffset != 0 || res.LastOffset != 3 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	// A gap inside one call rejects the call.
	if _, err := l.Append(append(idem(b, 1, 0, 4), idem(b, 1, 0, 7)...)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatal(err)
	}
	// ... and leaves no state behind: 4 is still next.
	mustAppend(t, l, idem(b, 1, 0, 4))
}

func TestSequenceWraps(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	b := batch(2, 10, 1)
	mustAppend(t, l, idem(b, 1, 0, math.MaxInt32-1)) // last sequence MaxInt32
	if _, err := l.Append(idem(b, 1, 0, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatal(err)
	}
	mustAppend(t, l, idem(b, 1, 0, 0))
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		e := newEnv(t)
		e.cfg.SegmentBytes = 1000
		e.opts.Fsync = FsyncInterval
		l := e.open()
		b := batch(3, 10, 1)
		var last AppendResult
		for i := int32(0); i < 20; i++ {
			last = mustAppend(t, l, idem(b, 5, 2, i*3))
		}
		if clean {
			l.Close()
		} else {
			crash(t, l)
		}
		l = e.open()
		res, err := l.Append(idem(b, 5, 2, 19*3))
		if err != nil || !res.Duplicate || res.BaseOffset != last.BaseOffset {
			t.Fatalf("clean=%v: retry after restart: %+v %v", clean, res, err)
		}
		if _, err := l.Append(idem(b, 5, 2, 21*3)); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("clean=%v: gap after restart: %v", clean, err)
		}
		if _, err := l.Append(idem(b, 5, 1, 0)); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("clean=%v: old epoch after restart: %v", clean, err)
		}
		mustAppend(t, l, idem(b, 5, 2, 20*3))
		// State of producers whose batches retention deleted comes from
		// the snapshots.
		if _, err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil {
			t.Fatal(err)
		}
		crash(t, l)
		l = e.open()
		if _, err := l.Append(idem(b, 5, 2, 30*3)); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("clean=%v: state lost with its segments: %v", clean, err)
		}
		l.Close()
	}
}

func TestProducerExpiration(t *testing.T) {
	e := newEnv(t)
	e.cfg.ProducerIDExpirationMs = 1000
	l := e.open()
	b := batch(1, 10, 1)
	mustAppend(t, l, idem(b, 1, 0, 0))
	e.clock.Advance(2 * time.Second)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	// Forgotten: any sequence is accepted again.
	mustAppend(t, l, idem(b, 1, 0, 50))
}
