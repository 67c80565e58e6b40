package storage

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestOffsetForTimestamp(t *testing.T) {
	for _, codec := range []int{CodecNone, CodecZstd} {
		e := newEnv(t)
		e.cfg.SegmentBytes = 1500
		e.cfg.IndexIntervalBytes = 300
		l := e.open()
		// Batch i holds 4 records with timestamps 1000+10i .. 1000+10i+3.
		for i := 0; i < 50; i++ {
			b := batch(4, 50, int64(1000+i*10))
			if codec != CodecNone {
				b = compressBatch(t, b, codec)
			}
			mustAppend(t, l, b)
		}
		check := func(ts, wantOff, wantTs int64) {
			t.Helper()
			off, got, err := l.OffsetForTimestamp(ts)
			if err != nil || off != wantOff || got != wantTs {
				t.Fatalf("codec %d: OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", codec, ts, off, got, err, wantOff, wantTs)
			}
		}
		check(0, 0, 1000)
		check(1000, 0, 1000)
		check(1001, 1, 1001)
		check(1003, 3, 1003)
		check(1004, 4, 1010)
		check(1255, 104, 1260)
		check(1493, 199, 1493)
		check(1494, -1, -1)
		off, ts, err := l.MaxTimestamp()
		if err != nil || off != 199 || ts != 1493 {
			t.Fatalf("MaxTimestamp = %d, %d, %v", off, ts, err)
		}
		// The log start bounds the answer.
		if _, err := l.DeleteRecordsBefore(102); err != nil {
			t.Fatal(err)
		}
		check(0, 102, 1252)
		// Reopen: sealed segments answer from their time index files.
		l.Close()
		l = e.open()
		check(1255, 104, 1260)
		check(0, 102, 1252)
	}
}

func TestMaxTimestampOutOfOrder(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	empty := func() {
		off, ts, err := l.MaxTimestamp()
		if err != nil || off != -1 || ts != -1 {
			t.Fatalf("empty log: %d %d %v", off, ts, err)
		}
	}
	empty()
	mustAppend(t, l, BuildBatch(100, []Record{{Timestamp: 100}, {Timestamp: 900}, {Timestamp: 200}}))
	mustAppend(t, l, BuildBatch(300, []Record{{Timestamp: 300}, {Timestamp: 900}}))
	off, ts, err := l.MaxTimestamp()
	if err != nil || off != 1 || ts != 900 {
		t.Fatalf("MaxTimestamp = %d, %d, %v", off, ts, err)
	}
	if off, ts, _ := l.OffsetForTimestamp(250); off != 1 || ts != 900 {
		t.Fatalf("OffsetForTimestamp(250) = %d, %d", off, ts)
	}
	if off, ts, _ := l.OffsetForTimestamp(901); off != -1 || ts != -1 {
		t.Fatalf("OffsetForTimestamp(901) = %d, %d", off, ts)
	}
}

func TestTimestampsWithFsyncAlwaysHW(t *testing.T) {
	e := newEnv(t)
	e.opts.Fsync = FsyncAlways
	l := e.open()
	// Hold the HW back by not letting the syncer run: append under the
	// append lock's view, then check that nothing above the HW shows.
	mustAppend(t, l, batch(2, 10, 100))
	if err := l.WaitDurable(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	off, ts, err := l.MaxTimestamp()
	if err != nil || off != 1 || ts != 101 {
		t.Fatalf("%d %d %v", off, ts, err)
	}
}

// TestTimestampBounds: with CheckTimestamps, a CreateTime batch holding a
// record more than TimestampBeforeMaxMs before or TimestampAfterMaxMs after
// the log's clock is refused whole, naming each such record, compressed or
// not, as Kafka's LogValidator refuses it (message.timestamp.*.max.ms); a
// record without a timestamp passes, and LogAppendTime is not checked.
func TestTimestampBounds(t *testing.T) {
	for _, codec := range []int{CodecNone, CodecLz4, CodecSnappy} {
		e := newEnv(t)
		e.cfg.CheckTimestamps = true
		e.cfg.TimestampBeforeMaxMs, e.cfg.TimestampAfterMaxMs = 60_000, 3_600_000
		l := e.open()
		now := e.clock.Ms()
		build := func(ts ...int64) []byte {
			recs := make([]Record, len(ts))
			for i := range ts {
				recs[i] = Record{Timestamp: ts[i], Value: []byte("v")}
			}
			b := BuildBatch(ts[0], recs)
			if codec != CodecNone {
				b = compressBatch(t, b, codec)
			}
			return b
		}
		refused := func(want []int32, ts ...int64) {
			t.Helper()
			_, err := l.Append(build(ts...))
			var te *TimestampError
			if !errors.Is(err, ErrInvalidTimestamp) || !errors.As(err, &te) || !slices.Equal(te.Records, want) {
				t.Fatalf("codec %d: append of %v: %v, want a TimestampError naming records %v", codec, ts, err, want)
			}
		}
		refused([]int32{0}, now+3_600_001)
		refused([]int32{1}, now, now-60_001, now)
		refused([]int32{0, 2}, now-time.Hour.Milliseconds(), now+3_600_000, now+2*3_600_000)
		if l.LogEndOffset() != 0 {
			t.Fatalf("codec %d: refused batches wrote up to %d", codec, l.LogEndOffset())
		}
		// Many refused records: the first MaxTimestampErrors are named.
		many := make([]int64, 3*MaxTimestampErrors)
		for i := range many {
			many[i] = now + 10*3_600_000
		}
		_, err := l.Append(build(many...))
		var te *TimestampError
		if !errors.As(err, &te) || te.Count != len(many) || len(te.Records) != MaxTimestampErrors || te.Records[MaxTimestampErrors-1] != MaxTimestampErrors-1 {
			t.Fatalf("codec %d: %d refused records: %v", codec, len(many), err)
		}
		mustAppend(t, l, build(now-60_000, now+3_600_000, -1))
		// The bounds move with the clock.
		e.clock.Advance(time.Hour)
		mustAppend(t, l, build(now+2*3_600_000))
		refused([]int32{0}, now)

		// Not checked: a CreateTime log without the check, LogAppendTime.
		cfg := e.cfg
		cfg.CheckTimestamps = false
		l.SetConfig(cfg)
		mustAppend(t, l, build(1000))
		cfg.CheckTimestamps, cfg.LogAppendTime = true, true
		l.SetConfig(cfg)
		mustAppend(t, l, build(1000, now+10*3_600_000))
	}
}
