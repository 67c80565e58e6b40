package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// kv is one record to append in the compaction tests.
type kv struct {
	key   string
	value string
	tomb  bool // nil value
	nokey bool // nil key
}

func put(k, v string) kv    { return kv{key: k, value: v} }
func tomb(k string) kv      { return kv{key: k, tomb: true} }
func keyless(v string) kv   { return kv{value: v, nokey: true} }
func (r kv) String() string { return fmt.Sprintf("%s=%s/%v/%v", r.key, r.value, r.tomb, r.nokey) }

// cmodel is a log under test with the records it must hold: compaction
// tests apply the policy to the model and compare.
type cmodel struct {
	t       *testing.T
	e       *env
	l       *Log
	present map[int64]Record // offset -> record the log must return
	removed int              // by the last compact
}

func newCModel(t *testing.T, segmentBytes int64) *cmodel {
	e := newEnv(t)
	e.cfg.SegmentBytes = segmentBytes
	e.cfg.RetentionMs = -1
	e.cfg.IndexIntervalBytes = 0
	m := &cmodel{t: t, e: e, present: map[int64]Record{}}
	m.l = e.open()
	return m
}

// put appends one batch of recs, every record stamped with the clock.
func (m *cmodel) put(recs ...kv) AppendResult {
	m.t.Helper()
	ts := m.e.clock.Ms()
	rs := make([]Record, len(recs))
	for i, r := range recs {
		rs[i] = Record{Timestamp: ts}
		if !r.nokey {
			rs[i].Key = []byte(r.key)
		}
		if !r.tomb {
			rs[i].Value = []byte(r.value)
		}
	}
	res := mustAppend(m.t, m.l, BuildBatch(ts, rs))
	for i, r := range rs {
		r.Offset = res.BaseOffset + int64(i)
		m.present[r.Offset] = r
	}
	return res
}

// fillKeys appends n batches of per records, keys cycling over nkeys.
func (m *cmodel) fillKeys(n, per, nkeys int, step time.Duration) {
	m.t.Helper()
	i := 0
	for range n {
		recs := make([]kv, per)
		for j := range recs {
			recs[j] = put(fmt.Sprintf("key-%d", i%nkeys), fmt.Sprintf("value-%d", i))
			i++
		}
		m.put(recs...)
		m.e.clock.Advance(step)
	}
}

func forceRoll(t *testing.T, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if active := l.segs[len(l.segs)-1]; active.size > 0 {
		if _, err := l.roll(active, l.nowMs()); err != nil {
			t.Fatal(err)
		}
	}
}

func activeBase(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[len(l.segs)-1].base
}

// compact runs Compact and applies the same policy to the model: records
// below the active segment are judged as the package doc says.
func (m *cmodel) compact(p CompactPolicy) CompactStats {
	m.t.Helper()
	st, err := m.l.Compact(p)
	if err != nil {
		m.t.Fatalf("Compact: %v", err)
	}
	m.removed = m.apply(p, activeBase(m.l))
	return st
}

// apply judges the model's records below end as compaction must.
func (m *cmodel) apply(p CompactPolicy, end int64) (removed int) {
	now := m.e.clock.Ms()
	ls := m.l.LogStartOffset()
	latest := map[string]Record{}
	next := map[int64]int64{} // offset -> timestamp of the key's next record
	for _, off := range m.offsets() {
		if r := m.present[off]; off < end && r.Key != nil {
			if prev, ok := latest[string(r.Key)]; ok {
				next[prev.Offset] = r.Timestamp
			}
			latest[string(r.Key)] = r
		}
	}
	for _, off := range m.offsets() {
		r := m.present[off]
		if off >= end {
			continue
		}
		keep := true
		switch {
		case off < ls:
			keep = false
		case r.Key == nil:
		default:
			lt := latest[string(r.Key)]
			switch {
			case lt.Value == nil && lt.Timestamp <= now-p.DeleteRetention.Milliseconds():
				keep = false
			case off == lt.Offset:
			case p.HistoryRetention > 0 && max(r.Timestamp, next[off]) > now-p.HistoryRetention.Milliseconds():
			default:
				keep = false
			}
		}
		if !keep {
			delete(m.present, off)
			removed++
		}
	}
	return removed
}

func (m *cmodel) offsets() []int64 {
	offs := make([]int64, 0, len(m.present))
	for off := range m.present {
		offs = append(offs, off)
	}
	slices.Sort(offs)
	return offs
}

// check reads the whole log and compares it with the model.
func (m *cmodel) check() {
	m.t.Helper()
	checkLog(m.t, m.l, m.present)
}

func checkLog(t *testing.T, l *Log, present map[int64]Record) {
	t.Helper()
	if err := l.Err(); err != nil {
		t.Fatalf("log fenced: %v", err)
	}
	ls := l.LogStartOffset()
	got := readCompacted(t, l, ls)
	want := 0
	for off := range present {
		if off >= ls {
			want++
		}
	}
	prev := int64(-1)
	for _, r := range got {
		w, ok := present[r.Offset]
		if r.Offset <= prev {
			t.Fatalf("offset %d after %d", r.Offset, prev)
		}
		prev = r.Offset
		if !ok {
			t.Fatalf("offset %d (%q=%q) should have been removed", r.Offset, r.Key, r.Value)
		}
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || (r.Key == nil) != (w.Key == nil) ||
			(r.Value == nil) != (w.Value == nil) || r.Timestamp != w.Timestamp {
			t.Fatalf("offset %d: %q=%q at %d, want %q=%q at %d", r.Offset, r.Key, r.Value, r.Timestamp, w.Key, w.Value, w.Timestamp)
		}
	}
	if len(got) != want {
		t.Fatalf("read %d records, want %d", len(got), want)
	}
}

// readCompacted reads every record from offset on, like readAll, but
// stops at an empty read below the HW: compaction may have removed the
// last batches of the last closed segment while the active one is empty.
func readCompacted(t *testing.T, l *Log, from int64) []Record {
	t.Helper()
	return readRecords(t, l, from, true)
}

func logFilesSize(t *testing.T, dir string) int64 {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var n int64
	for _, p := range m {
		n += fileSize(t, p)
	}
	return n
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	m := newCModel(t, 1000)
	m.fillKeys(60, 4, 10, time.Second)
	m.put(keyless("a"), put("key-3", "x"), keyless("b"))
	forceRoll(t, m.l)
	m.fillKeys(2, 4, 10, time.Second)
	if len(m.l.segs) < 5 {
		t.Fatalf("%d segments", len(m.l.segs))
	}
	active := m.l.segs[len(m.l.segs)-1]
	activeBytes, err := os.ReadFile(active.path)
	if err != nil {
		t.Fatal(err)
	}
	activeStart := active.base
	size := m.l.Size()

	st := m.compact(CompactPolicy{DeleteRetention: 24 * time.Hour})
	m.check()
	if st.Rewritten == 0 || st.RecordsRemoved == 0 || st.BytesAfter >= st.BytesBefore || st.SegmentsAfter >= st.Segments {
		t.Fatalf("stats %+v", st)
	}
	if got := size - m.l.Size(); got != st.BytesBefore-st.BytesAfter {
		t.Fatalf("Size shrank by %d, stats say %d", got, st.BytesBefore-st.BytesAfter)
	}
	if m.l.Size() != logFilesSize(t, m.e.dir) {
		t.Fatalf("Size %d, files %d", m.l.Size(), logFilesSize(t, m.e.dir))
	}
	// The active segment is untouched.
	if now, _ := os.ReadFile(segPath(m.e.dir, activeStart, logSuffix)); !bytes.Equal(now, activeBytes) || activeBase(m.l) != activeStart {
		t.Fatal("the active segment changed")
	}
	// At most one record per key below the active segment, plus the
	// keyless ones.
	seen := map[string]bool{}
	keyless := 0
	for _, r := range readAll(t, m.l, 0) {
		if r.Offset >= activeStart {
			break
		}
		if r.Key == nil {
			keyless++
			continue
		}
		if seen[string(r.Key)] {
			t.Fatalf("key %s twice", r.Key)
		}
		seen[string(r.Key)] = true
	}
	if keyless != 2 || len(seen) != 10 {
		t.Fatalf("%d keyless, %d keys", keyless, len(seen))
	}

	// Reads starting at any offset, removed or not, give the next kept
	// record first.
	offs := m.offsets()
	for off := int64(0); off < m.l.HighWatermark(); off++ {
		// A batch may have lost its last records: go on after it.
		var first int64 = -1
		for at := off; first < 0; {
			r, err := m.l.Read(at, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.AppendTo(nil)
			r.Release()
			recs, err := DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				if rec.Offset >= off {
					first = rec.Offset
					break
				}
			}
			h, _ := ParseBatchHeader(b)
			at = h.LastOffset() + 1
		}
		i, _ := slices.BinarySearch(offs, off)
		if first != offs[i] {
			t.Fatalf("read at %d starts at %d, want %d", off, first, offs[i])
		}
	}

	// Clean restart, restart with a full recovery scan, and lost
	// indexes: the same records.
	m.l.Close()
	m.l = m.e.open()
	m.check()
	m.l.Close()
	os.Remove(filepath.Join(m.e.dir, checkpointName))
	idx, _ := filepath.Glob(filepath.Join(m.e.dir, "*index"))
	for _, p := range idx {
		os.Remove(p)
	}
	m.l = m.e.open()
	m.check()
}

// lastAt returns the offset of key's last record with a timestamp at or
// before ts: where the key stood at ts.
func lastAt(recs []Record, key string, ts int64) int64 {
	at := int64(-1)
	for _, r := range recs {
		if string(r.Key) == key && r.Timestamp <= ts {
			at = r.Offset
		}
	}
	return at
}

func TestCompactHistoryWindow(t *testing.T) {
	m := newCModel(t, 600)
	h := time.Hour
	p := CompactPolicy{HistoryRetention: h, DeleteRetention: 24 * time.Hour}
	m.fillKeys(40, 2, 3, 5*time.Minute) // a batch every 5 minutes, 200 minutes
	forceRoll(t, m.l)
	orig := readAll(t, m.l, 0)

	// Superseded records go once they and their successors are older
	// than the hour; where every key stood at any time of the last hour
	// can still be read.
	st := m.compact(p)
	m.check()
	if st.RecordsRemoved == 0 || st.RecordsRemoved != int64(m.removed) {
		t.Fatalf("%+v, the model removed %d", st, m.removed)
	}
	// The 11 batches of the hour, and before them the last record of
	// each key.
	if len(m.present) != 2*11+3 {
		t.Fatalf("%d records kept, want 25", len(m.present))
	}
	checkHistory := func() {
		t.Helper()
		got := readAll(t, m.l, 0)
		now := m.e.clock.Ms()
		for ts := now - h.Milliseconds(); ts <= now; ts += 30_000 {
			for k := range 3 {
				key := fmt.Sprintf("key-%d", k)
				if want, got := lastAt(orig, key, ts), lastAt(got, key, ts); want != got {
					t.Fatalf("%s at %d: offset %d, want %d", key, ts, got, want)
				}
			}
		}
	}
	checkHistory()

	// Nothing to do until a kept record becomes removable.
	if st := m.compact(p); !st.Skipped {
		t.Fatalf("second run: %+v", st)
	}
	m.e.clock.Advance(5*time.Minute + time.Millisecond)
	if st := m.compact(p); st.Skipped || st.RecordsRemoved != int64(m.removed) || m.removed == 0 {
		t.Fatalf("after 5 minutes: %+v, the model removed %d", st, m.removed)
	}
	m.check()
	checkHistory()
	m.e.clock.Advance(2 * time.Hour)
	m.compact(p)
	m.check()
	if len(m.present) != 3 {
		t.Fatalf("%d records kept, want the 3 latest", len(m.present))
	}
}

func TestCompactTombstones(t *testing.T) {
	for _, hist := range []time.Duration{0, 24 * time.Hour} {
		t.Run(fmt.Sprint(hist), func(t *testing.T) {
			m := newCModel(t, 400)
			p := CompactPolicy{HistoryRetention: hist, DeleteRetention: time.Hour}
			m.put(put("a", "1"), put("b", "1"), put("c", "1"))
			m.e.clock.Advance(time.Minute)
			m.put(put("a", "2"), tomb("c"), tomb("d"))
			m.e.clock.Advance(time.Minute)
			m.put(tomb("a"))
			forceRoll(t, m.l)
			m.put(put("e", "1"))

			m.compact(p)
			m.check()
			want := 5 // b=1, c and d tombstones, a tombstone, e=1
			if hist > 0 {
				want = 8
			}
			if len(m.present) != want {
				t.Fatalf("%d records kept, want %d", len(m.present), want)
			}

			// The tombstones expire: the keys go with all their history.
			m.e.clock.Advance(time.Hour)
			st := m.compact(p)
			m.check()
			keys := map[string]bool{}
			for _, r := range readAll(t, m.l, 0) {
				keys[string(r.Key)] = true
			}
			if len(keys) != 2 || !keys["b"] || !keys["e"] {
				t.Fatalf("keys left %v (%+v)", keys, st)
			}
		})
	}
}

func TestCompactIdempotent(t *testing.T) {
	m := newCModel(t, 800)
	p := CompactPolicy{HistoryRetention: 10 * time.Minute, DeleteRetention: time.Hour}
	m.fillKeys(50, 3, 7, time.Minute)
	m.put(tomb("key-1"))
	m.fillKeys(3, 3, 7, time.Minute)
	m.compact(p)
	m.check()
	files := func() map[string][]byte {
		out := map[string][]byte{}
		ms, _ := filepath.Glob(filepath.Join(m.e.dir, "*.log"))
		for _, p := range ms {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(p)] = b
		}
		return out
	}
	before := files()
	if st := m.compact(p); !st.Skipped {
		t.Fatalf("second run: %+v", st)
	}
	// A full run over the compacted log (a reopened log has no memory of
	// the previous one) changes nothing.
	m.l.Close()
	m.l = m.e.open()
	st := m.compact(p)
	if st.Skipped || st.Rewritten != 0 || st.RecordsRemoved != 0 || st.BytesAfter != st.BytesBefore {
		t.Fatalf("full run over a compacted log: %+v", st)
	}
	after := files()
	if len(after) != len(before) {
		t.Fatalf("%d files, then %d", len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Fatalf("%s changed", name)
		}
	}
	m.check()
}

func TestCompactMinCleanableDirtyRatio(t *testing.T) {
	m := newCModel(t, 2000)
	p := CompactPolicy{DeleteRetention: time.Hour, MinCleanableDirtyRatio: 0.5}
	m.fillKeys(60, 4, 5, time.Second)
	forceRoll(t, m.l)
	m.compact(p)
	// A little new data: under half of the closed bytes are dirty.
	m.put(put("key-1", "new"))
	forceRoll(t, m.l)
	if st, err := m.l.Compact(p); err != nil || !st.Skipped {
		t.Fatalf("%+v %v", st, err)
	}
	m.check()
	for range 10 {
		m.fillKeys(10, 4, 5, time.Second)
		forceRoll(t, m.l)
	}
	if st := m.compact(p); st.Skipped || st.RecordsRemoved == 0 {
		t.Fatalf("dirty log: %+v", st)
	}
	m.check()
}

func TestCompactMaxCompactionLag(t *testing.T) {
	m := newCModel(t, 1<<20)
	p := CompactPolicy{DeleteRetention: time.Hour, MaxCompactionLag: time.Hour}
	m.fillKeys(20, 2, 2, time.Minute)
	if st := m.compact(p); st.Rolled || st.Segments != 0 {
		t.Fatalf("young active segment: %+v", st)
	}
	m.e.clock.Advance(time.Hour)
	st := m.compact(p)
	if !st.Rolled || st.RecordsRemoved != 38 {
		t.Fatalf("old active segment: %+v", st)
	}
	m.check()
}

// DeleteRecords moves the log start inside a segment: compaction keeps
// it where it is.
func TestCompactKeepsLogStart(t *testing.T) {
	m := newCModel(t, 1000)
	m.fillKeys(40, 4, 3, time.Second)
	if _, err := m.l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	m.compact(CompactPolicy{})
	m.check()
	if m.l.LogStartOffset() != 5 {
		t.Fatalf("log start %d", m.l.LogStartOffset())
	}
	m.l.Close()
	m.l = m.e.open()
	if m.l.LogStartOffset() != 5 {
		t.Fatalf("log start %d after reopen", m.l.LogStartOffset())
	}
	m.check()
}

func TestCompactCompressedBatches(t *testing.T) {
	codecs := []struct {
		name string
		enc  func([]byte) []byte
	}{
		{"gzip", func(b []byte) []byte { return compressBatch(t, b, CodecGzip) }},
		{"snappy", func(b []byte) []byte { return compressBatch(t, b, CodecSnappy) }},
		{"xerial", func(b []byte) []byte { return xerial(t, b) }},
		{"lz4", func(b []byte) []byte { return compressBatch(t, b, CodecLz4) }},
		{"zstd", func(b []byte) []byte { return compressBatch(t, b, CodecZstd) }},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			m := newCModel(t, 1<<20)
			ts := m.e.clock.Ms()
			recs := []Record{
				{Timestamp: ts, Key: []byte("a"), Value: []byte("1")},
				{Timestamp: ts + 5, Key: []byte("b"), Value: []byte("1"), Headers: []Header{{Key: "h", Value: []byte("x")}}},
				{Timestamp: ts + 2, Key: []byte("c"), Value: bytes.Repeat([]byte("c"), 300)},
				{Timestamp: ts + 1, Key: []byte("a"), Value: []byte("2")},
			}
			b := c.enc(BuildBatch(ts, recs))
			codec := int(b[offAttributes+1] & attrCompressionMask)
			mustAppend(t, m.l, b)
			for i, r := range recs {
				r.Offset = int64(i)
				m.present[int64(i)] = r
			}
			m.put(put("b", "2"))
			forceRoll(t, m.l)
			m.compact(CompactPolicy{})
			m.check()
			rr, err := m.l.Read(0, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := rr.AppendTo(nil)
			rr.Release()
			h, err := ParseBatchHeader(got)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != codec || h.BaseOffset != 0 || h.LastOffsetDelta != 3 || h.NumRecords != 2 || h.MaxTimestamp != ts+2 || h.FirstTimestamp != ts {
				t.Fatalf("cleaned batch %+v", h)
			}
			if c.name == "xerial" && !bytes.HasPrefix(got[BatchHeaderSize:], xerialMagic) {
				t.Fatal("xerial framing lost")
			}
			dec, err := DecodeRecords(got[:h.Size()])
			if err != nil || len(dec) != 2 || dec[0].Offset != 2 || dec[1].Offset != 3 || dec[1].Timestamp != ts+1 {
				t.Fatalf("%+v %v", dec, err)
			}
		})
	}
}

// Producer fields survive, and the last batch of an idempotent producer
// stays as an empty batch so its sequence state can be rebuilt.
func TestCompactIdempotentProducerBatches(t *testing.T) {
	m := newCModel(t, 1<<20)
	ts := m.e.clock.Ms()
	const pid = 7
	b0 := idem(BuildBatch(ts, []Record{{Timestamp: ts, Key: []byte("a"), Value: []byte("1")}, {Timestamp: ts, Key: []byte("z"), Value: []byte("1")}}), pid, 2, 0)
	b1 := idem(BuildBatch(ts, []Record{{Timestamp: ts, Key: []byte("a"), Value: []byte("2")}, {Timestamp: ts, Key: []byte("b"), Value: []byte("1")}}), pid, 2, 2)
	r0 := mustAppend(t, m.l, b0)
	r1 := mustAppend(t, m.l, b1)
	m.present[0] = Record{Offset: 0, Timestamp: ts, Key: []byte("a"), Value: []byte("1")}
	m.present[1] = Record{Offset: 1, Timestamp: ts, Key: []byte("z"), Value: []byte("1")}
	m.present[2] = Record{Offset: 2, Timestamp: ts, Key: []byte("a"), Value: []byte("2")}
	m.present[3] = Record{Offset: 3, Timestamp: ts, Key: []byte("b"), Value: []byte("1")}
	m.put(put("a", "3"), put("b", "2")) // supersedes all of b1
	forceRoll(t, m.l)
	m.compact(CompactPolicy{})
	m.check()

	var hs []BatchHeader
	rr, err := m.l.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := rr.AppendTo(nil)
	rr.Release()
	for len(data) > 0 {
		h, err := ParseBatchHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		data = data[h.Size():]
	}
	if len(hs) != 3 {
		t.Fatalf("%d batches: %+v", len(hs), hs)
	}
	if h := hs[0]; h.BaseOffset != 0 || h.LastOffsetDelta != 1 || h.NumRecords != 1 || h.ProducerID != pid || h.ProducerEpoch != 2 || h.BaseSequence != 0 {
		t.Fatalf("first batch %+v", h)
	}
	if h := hs[1]; h.BaseOffset != 2 || h.LastOffsetDelta != 1 || h.NumRecords != 0 || h.Length != minLength || h.ProducerID != pid || h.ProducerEpoch != 2 || h.BaseSequence != 2 {
		t.Fatalf("empty batch %+v", h)
	}

	// Without snapshots the producer state is rebuilt from the batches.
	m.l.Close()
	snaps, _ := filepath.Glob(filepath.Join(m.e.dir, "*"+snapshotSuffix))
	for _, p := range snaps {
		os.Remove(p)
	}
	os.Remove(filepath.Join(m.e.dir, checkpointName))
	m.l = m.e.open()
	m.check()
	for _, c := range []struct {
		b    []byte
		want AppendResult
	}{{b0, r0}, {b1, r1}} {
		res, err := m.l.Append(bytes.Clone(c.b))
		if err != nil || !res.Duplicate || res.BaseOffset != c.want.BaseOffset || res.LastOffset != c.want.LastOffset {
			t.Fatalf("retry: %+v %v", res, err)
		}
	}
	if _, err := m.l.Append(idem(batch(1, 1, ts), pid, 2, 5)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap accepted: %v", err)
	}
	mustAppend(t, m.l, idem(batch(1, 1, ts), pid, 2, 4))
}

func TestCompactOffsetForTimestamp(t *testing.T) {
	m := newCModel(t, 500)
	m.fillKeys(40, 3, 4, time.Second)
	start := m.e.clock.Ms() - 40*1000
	m.compact(CompactPolicy{HistoryRetention: 10 * time.Second})
	m.check()
	recs := readAll(t, m.l, 0)
	for ts := start - 1; ts <= m.e.clock.Ms(); ts += 300 {
		wantOff, wantTs := int64(-1), int64(-1)
		for _, r := range recs {
			if r.Timestamp >= ts {
				wantOff, wantTs = r.Offset, r.Timestamp
				break
			}
		}
		off, got, err := m.l.OffsetForTimestamp(ts)
		if err != nil || off != wantOff || got != wantTs {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, got, err, wantOff, wantTs)
		}
	}
}

// A compaction whose segments retention deletes meanwhile gives up on
// them and leaves nothing behind.
func TestCompactAbandonsDeletedSegments(t *testing.T) {
	m := newCModel(t, 600)
	m.fillKeys(30, 4, 3, time.Second)
	var once sync.Once
	m.e.efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpSync && strings.HasSuffix(name, cleanedSuffix) {
			once.Do(func() {
				if _, err := m.l.DeleteRecordsBefore(activeBase(m.l)); err != nil {
					t.Error(err)
				}
			})
		}
	})
	st, err := m.l.Compact(CompactPolicy{})
	m.e.efs.SetHook(nil)
	if err != nil || st.Rewritten != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(m.e.dir, "*"+cleanedSuffix)); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	m.check()
	m.compact(CompactPolicy{})
	m.check()
}

// Readers running beside compaction, appends and merges always see every
// key's latest record and never a record that does not belong at its
// offset.
func TestCompactConcurrentReads(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 700
	e.cfg.RetentionMs = -1
	l := e.open()
	const nkeys = 7
	keyOf := func(off int64) string { return fmt.Sprintf("k%d", off%nkeys) }
	valOf := func(off int64) string { return fmt.Sprintf("v%d", off) }
	appendN := func(n int) {
		leo := l.LogEndOffset()
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Timestamp: e.clock.Ms(), Key: []byte(keyOf(leo + int64(i))), Value: []byte(valOf(leo + int64(i)))}
		}
		mustAppend(t, l, BuildBatch(e.clock.Ms(), recs))
	}
	for range 50 {
		appendN(3)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				// Scan to the HW as it stands when the scan ends: a record
				// the scan passes can only have been removed for a later
				// one of its key, which is then below that HW too.
				last := map[string]int64{}
				var hw int64
				for off := int64(0); ; {
					if hw = l.HighWatermark(); off >= hw {
						break
					}
					rr, err := l.Read(off, 250, true)
					if err != nil {
						t.Error(err)
						return
					}
					b, err := rr.AppendTo(nil)
					rr.Release()
					if err != nil {
						t.Errorf("read at %d: %v", off, err)
						return
					}
					if len(b) == 0 {
						hw = off // nothing from off to the HW of the read
						break
					}
					prev := int64(-1)
					for len(b) > 0 {
						h, err := ParseBatchHeader(b)
						if err != nil {
							t.Error(err)
							return
						}
						if h.BaseOffset <= prev {
							t.Errorf("read at %d: batch at %d after one ending at %d", off, h.BaseOffset, prev)
							return
						}
						prev = h.LastOffset()
						recs, err := DecodeRecords(b[:h.Size()])
						if err != nil {
							t.Error(err)
							return
						}
						for _, r := range recs {
							if r.Offset < off {
								continue
							}
							if string(r.Key) != keyOf(r.Offset) || string(r.Value) != valOf(r.Offset) {
								t.Errorf("offset %d holds %s=%s", r.Offset, r.Key, r.Value)
								return
							}
							last[string(r.Key)] = r.Offset
						}
						off = max(off, h.LastOffset()+1)
						b = b[h.Size():]
					}
				}
				// The latest record of every key below hw was seen.
				for k := range int64(nkeys) {
					want := hw - 1 - ((hw-1-k)%nkeys+nkeys)%nkeys
					if want >= 0 && last[keyOf(want)] != want {
						t.Errorf("key %s: last seen at %d, latest below %d is %d", keyOf(want), last[keyOf(want)], hw, want)
						return
					}
				}
				reads.Add(1)
			}
		}()
	}
	for range 30 {
		for range 10 {
			appendN(3)
		}
		if _, err := l.Compact(CompactPolicy{HistoryRetention: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	for reads.Load() < 20 && !t.Failed() {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
}

// A crash (the process dying) at any step of a compaction leaves files
// that open as a consistent log, holding every latest value, that a new
// compaction brings to the same result.
func TestCompactCrashAtEveryStep(t *testing.T) {
	for _, budget := range []int64{0, minDedupeSlots * slotBytes} {
		t.Run(fmt.Sprint("dedupe=", budget), func(t *testing.T) { testCompactCrashAtEveryStep(t, budget) })
	}
}

// testCompactCrashAtEveryStep runs with the default offset map (one pass)
// and with the smallest (several passes, each swapping segments in).
func testCompactCrashAtEveryStep(t *testing.T, budget int64) {
	m := newCModel(t, 900)
	m.e.opts.Fsync = FsyncAlways
	m.l.Close()
	m.l = m.e.open()
	p := CompactPolicy{HistoryRetention: 30 * time.Second, DeleteRetention: time.Minute, DedupeBufferSize: budget}
	// Enough keys that the cleaned log spans several segments, so that
	// the run installs several groups.
	m.fillKeys(40, 3, 40, time.Second)
	m.put(tomb("key-2"))
	m.fillKeys(15, 3, 40, time.Second)
	m.put(tomb("key-4"))
	m.fillKeys(15, 3, 5, 10*time.Second)
	orig := maps(m.present)
	swaps := 0

	root := t.TempDir()
	var crashes []string
	mutating := vfs.OpOpen | vfs.OpWrite | vfs.OpSync | vfs.OpTruncate | vfs.OpRemove | vfs.OpRename | vfs.OpSyncDir
	var mu sync.Mutex
	m.e.efs.SetHook(func(op vfs.Op, name string) {
		if op&mutating == 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if op == vfs.OpRename && strings.HasSuffix(name, swapSuffix) {
			swaps++
		}
		dst := filepath.Join(root, fmt.Sprint(len(crashes)))
		copyDir(t, m.e.dir, dst)
		crashes = append(crashes, dst)
	})
	st := m.compact(p)
	m.e.efs.SetHook(nil)
	m.check()
	t.Logf("%d passes", st.Passes)
	if budget > 0 && st.Passes < 2 {
		t.Fatalf("%d passes with the smallest offset map", st.Passes)
	}
	final := maps(m.present)
	if len(crashes) < 20 || swaps < 2 {
		t.Fatalf("only %d steps, %d groups", len(crashes), swaps)
	}
	for _, dir := range crashes {
		opts := Options{Fsync: FsyncAlways, Logger: quietLogger(), Now: m.e.clock.Now}
		l, err := Open(dir, m.e.cfg, opts)
		if err != nil {
			t.Fatalf("%s: Open: %v", dir, err)
		}
		checkSubset(t, l, orig, final)
		if _, err := l.Compact(p); err != nil {
			t.Fatalf("%s: Compact: %v", dir, err)
		}
		checkLog(t, l, final)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func maps(m map[int64]Record) map[int64]Record {
	out := make(map[int64]Record, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// checkSubset checks that l holds records of orig only, at their offsets,
// and at least those of final.
func checkSubset(t *testing.T, l *Log, orig, final map[int64]Record) {
	t.Helper()
	if err := l.Err(); err != nil {
		t.Fatalf("fenced: %v", err)
	}
	got := map[int64]bool{}
	for _, r := range readCompacted(t, l, l.LogStartOffset()) {
		w, ok := orig[r.Offset]
		if !ok || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) {
			t.Fatalf("offset %d: %q=%q", r.Offset, r.Key, r.Value)
		}
		got[r.Offset] = true
	}
	for off := range final {
		if !got[off] {
			t.Fatalf("offset %d (%q=%q) lost", off, final[off].Key, final[off].Value)
		}
	}
}

func copyDir(t *testing.T, src, dst string) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Error(err)
		return
	}
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			in.Close()
			t.Error(err)
			return
		}
		io.Copy(out, in)
		in.Close()
		out.Close()
	}
}

// An I/O error at any step of a compaction: before the cleaned segment is
// committed the log stays usable; after, it is fenced. Either way a
// reopened log is consistent, and compacts to the expected result.
func TestCompactFaultAtEveryStep(t *testing.T) {
	for _, budget := range []int64{0, minDedupeSlots * slotBytes} {
		t.Run(fmt.Sprint("dedupe=", budget), func(t *testing.T) { testCompactFaultAtEveryStep(t, budget) })
	}
}

func testCompactFaultAtEveryStep(t *testing.T, budget int64) {
	tmpl := newCModel(t, 900)
	p := CompactPolicy{HistoryRetention: 30 * time.Second, DeleteRetention: time.Minute, DedupeBufferSize: budget}
	tmpl.fillKeys(30, 3, 40, time.Second)
	tmpl.put(tomb("key-2"))
	tmpl.fillKeys(20, 3, 5, 10*time.Second)
	tmpl.l.Close()
	orig := maps(tmpl.present)
	want := &cmodel{t: t, e: tmpl.e, l: tmpl.l, present: maps(orig)}
	want.l = tmpl.e.open()
	want.apply(p, activeBase(want.l))
	want.l.Close()
	final := want.present

	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, vfs.OpRemove, vfs.OpOpen, vfs.OpRead} {
		fired, fenced := 0, 0
		for k := 0; ; k++ {
			dir := filepath.Join(t.TempDir(), "log")
			copyDir(t, tmpl.e.dir, dir)
			efs := vfs.NewErrorFS(nil)
			opts := Options{FS: efs, Fsync: FsyncNever, Logger: quietLogger(), Now: tmpl.e.clock.Now}
			l, err := Open(dir, tmpl.e.cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			o2, f2 := maps(orig), maps(final)
			before := efs.Count(op)
			efs.Inject(vfs.Fault{Op: op, After: k, Times: 1})
			_, cerr := l.Compact(p)
			n := efs.Count(op) - before
			efs.Reset()
			if n <= int64(k) {
				if cerr != nil {
					t.Fatalf("%v: Compact without a fault: %v", op, cerr)
				}
				l.Close()
				break
			}
			fired++
			switch {
			case cerr == nil:
				// A failure Compact can live with (index files).
			case l.Err() != nil:
				fenced++
			default:
				if !errors.Is(cerr, ErrStorage) {
					t.Fatalf("%v #%d: %v", op, k, cerr)
				}
				// Not committed: the log is as it was and usable.
				checkSubset(t, l, orig, final)
				ts := tmpl.e.clock.Ms()
				r := Record{Timestamp: ts, Key: []byte("extra"), Value: []byte("x")}
				res, err := l.Append(BuildBatch(ts, []Record{r}))
				if err != nil {
					t.Fatalf("%v #%d: append after a failed compaction: %v", op, k, err)
				}
				r.Offset = res.BaseOffset
				o2[r.Offset], f2[r.Offset] = r, r
			}
			l.Close()
			l, err = Open(dir, tmpl.e.cfg, Options{Fsync: FsyncNever, Logger: quietLogger(), Now: tmpl.e.clock.Now})
			if err != nil {
				t.Fatalf("%v #%d: reopen: %v", op, k, err)
			}
			checkSubset(t, l, o2, f2)
			if _, err := l.Compact(p); err != nil {
				t.Fatalf("%v #%d: Compact after reopen: %v", op, k, err)
			}
			checkLog(t, l, f2)
			l.Close()
			if k > 500 {
				t.Fatalf("%v: more than 500 steps", op)
			}
		}
		t.Logf("%v: %d faults, %d fenced the log", op, fired, fenced)
		if fired == 0 {
			t.Fatalf("%v: no fault fired", op)
		}
	}
}

// A read that holds a segment while compaction merges it with the next
// ones goes on in the merged segment, from where it was: nothing skipped,
// nothing twice.
func TestCompactMergeUnderRead(t *testing.T) {
	m := newCModel(t, 500)
	for i := range 40 {
		m.put(put(fmt.Sprintf("unique-%d", i), "v"))
	}
	if len(m.l.segs) < 4 {
		t.Fatalf("%d segments", len(m.l.segs))
	}
	first := m.l.segs[0].path
	// Every record stays, but the segments now fit in one.
	cfg := m.e.cfg
	cfg.SegmentBytes = 1 << 20
	m.l.SetConfig(cfg)

	blocked, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	m.e.efs.SetHook(func(op vfs.Op, name string) {
		// Only the reader's first read of the first segment waits.
		if op == vfs.OpRead && name == first && held.CompareAndSwap(false, true) {
			close(blocked)
			<-release
		}
	})
	type result struct {
		recs []Record
		err  error
	}
	done := make(chan result)
	go func() {
		rr, err := m.l.Read(0, 1<<20, true)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := rr.AppendTo(nil)
		rr.Release()
		var recs []Record
		for err == nil && len(b) > 0 {
			var h BatchHeader
			if h, err = ParseBatchHeader(b); err == nil {
				var rs []Record
				rs, err = DecodeRecords(b[:h.Size()])
				recs = append(recs, rs...)
				b = b[h.Size():]
			}
		}
		done <- result{recs, err}
	}()
	<-blocked
	st := m.compact(CompactPolicy{})
	if st.SegmentsAfter != 1 || st.Rewritten != st.Segments {
		t.Fatalf("no merge: %+v", st)
	}
	close(release)
	res := <-done
	m.e.efs.SetHook(nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.recs) != 40 {
		var o []int64
		for _, r := range res.recs {
			o = append(o, r.Offset)
		}
		t.Fatalf("read %d records across the merge, want 40: %v", len(res.recs), o)
	}
	for i, r := range res.recs {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
	m.check()
}

// A tombstone at the end of the log expires while the active segment is
// empty: its batch stays as an empty batch, so the end of the log can
// still be fetched.
func TestCompactKeepsTheLastBatchHeader(t *testing.T) {
	m := newCModel(t, 1<<20)
	p := CompactPolicy{DeleteRetention: time.Hour, MaxCompactionLag: time.Minute}
	m.put(put("a", "1"), put("b", "1"))
	m.put(put("a", "2"), tomb("a"))
	m.e.clock.Advance(2 * time.Hour)
	if st := m.compact(p); !st.Rolled || st.RecordsRemoved != 3 {
		t.Fatalf("%+v", st)
	}
	m.check()
	leo := m.l.LogEndOffset()
	rr, err := m.l.Read(leo-1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rr.AppendTo(nil)
	rr.Release()
	h, err := ParseBatchHeader(b)
	if err != nil || h.LastOffset() != leo-1 || h.NumRecords != 0 || h.Size() != BatchHeaderSize {
		t.Fatalf("last batch %+v %v", h, err)
	}
	if got := readAll(t, m.l, 0); len(got) != 1 || string(got[0].Key) != "b" {
		t.Fatalf("%+v", got)
	}
	// Once the log goes on, the empty batch goes too.
	m.put(put("c", "1"))
	forceRoll(t, m.l)
	m.compact(p)
	m.check()
	if rr, _ := m.l.Read(leo-1, 1, true); rr != nil {
		b, _ := rr.AppendTo(nil)
		rr.Release()
		if h, _ := ParseBatchHeader(b); h.NumRecords == 0 {
			t.Fatal("the empty batch stayed")
		}
	}
}

// Under FsyncAlways a roll without an append leaves the high watermark at
// the end of the segment it closed until the next fsync round; compacting
// that segment moves it to the start of the next one.
func TestCompactRolledHWSegment(t *testing.T) {
	m := newCModel(t, 1<<20)
	m.e.opts.Fsync = FsyncAlways
	m.l.Close()
	m.l = m.e.open()
	for i := range 20 {
		res := m.put(put("k", fmt.Sprint(i)), put(fmt.Sprint("u", i), "x"))
		if err := m.l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	m.e.clock.Advance(time.Hour)
	st := m.compact(CompactPolicy{MaxCompactionLag: time.Minute})
	if !st.Rolled || st.RecordsRemoved != 19 {
		t.Fatalf("%+v", st)
	}
	m.check()
	res := m.put(put("k", "last"))
	if err := m.l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	m.check()
}

// Compaction's swap holds appends up for no more than its in-memory
// switch: with the directory fsync after the swap's commit-point rename
// held, an append (an offset commit to __consumer_offsets, say) is made
// durable and answered.
func TestCompactSwapDoesNotStallAppends(t *testing.T) {
	m := newCModel(t, 900)
	m.e.opts.Fsync = FsyncAlways
	m.l.Close()
	m.l = m.e.open()
	m.fillKeys(40, 3, 10, time.Second)

	inSwap, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	var renamed atomic.Bool
	m.e.efs.SetHook(func(op vfs.Op, name string) {
		switch {
		case op == vfs.OpRename && strings.HasSuffix(name, swapSuffix):
			renamed.Store(true)
		case op == vfs.OpSyncDir && renamed.Load():
			once.Do(func() {
				close(inSwap)
				<-release
			})
		}
	})
	defer m.e.efs.SetHook(nil)
	defer releaseOnce.Do(func() { close(release) })
	compacted := make(chan error, 1)
	go func() {
		_, err := m.l.Compact(CompactPolicy{})
		compacted <- err
	}()
	select {
	case <-inSwap:
	case <-time.After(10 * time.Second):
		t.Fatal("compaction did not reach its swap")
	}

	appended := make(chan error, 1)
	go func() {
		res, err := m.l.Append(BuildBatch(m.e.clock.Ms(), []Record{{Key: []byte("key-1"), Value: []byte("during the swap")}}))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = m.l.WaitDurable(ctx, res.LastOffset+1)
		}
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatalf("append during the swap: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append not durable while compaction's swap syncs the directory")
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-compacted; err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if got := readCompacted(t, m.l, m.l.LogStartOffset()); string(got[len(got)-1].Value) != "during the swap" {
		t.Fatalf("last record %q", got[len(got)-1].Value)
	}
}
