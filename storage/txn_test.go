package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnBatch turns b into a transactional batch of producer pid.
func txnBatch(b []byte, pid int64, epoch int16, seq int32) []byte {
	b = idem(b, pid, epoch, seq)
	binary.BigEndian.PutUint16(b[offAttributes:], binary.BigEndian.Uint16(b[offAttributes:])|attrTransactional)
	setCRC(b)
	return b
}

func mustMarker(t *testing.T, l *Log, pid int64, epoch int16, coord int32, commit bool) AppendResult {
	t.Helper()
	res, err := l.AppendMarker(pid, epoch, coord, commit, 0)
	if err != nil {
		t.Fatalf("AppendMarker(%d, commit %v): %v", pid, commit, err)
	}
	return res
}

// readCommitted reads what a read_committed consumer gets from offset on:
// the batches below the LSO.
func readCommittedBatches(t *testing.T, l *Log, from int64) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	for off := from; ; {
		r, err := l.ReadCommitted(off, 1<<20, true)
		if err != nil {
			t.Fatalf("ReadCommitted(%d): %v", off, err)
		}
		b, err := r.AppendTo(nil)
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return out
		}
		for p := b; len(p) > 0; {
			h := decodeHeader(p)
			if h.BaseOffset >= r.LastStableOffset {
				t.Fatalf("ReadCommitted returned a batch at %d, at or above the LSO %d", h.BaseOffset, r.LastStableOffset)
			}
			out = append(out, h)
			p = p[h.Size():]
		}
		off = r.NextOffset
	}
}

func TestTransactionLSOAndAbortedIndex(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	b := batch(2, 10, 1)

	if got := l.LastStableOffset(); got != 0 {
		t.Fatalf("empty log: LSO %d", got)
	}
	mustAppend(t, l, txnBatch(b, 1, 0, 0)) // 0-1: producer 1 opens at 0
	mustAppend(t, l, idem(b, 2, 0, 0))     // 2-3: idempotent, no transaction
	if got := l.LastStableOffset(); got != 0 {
		t.Fatalf("open transaction at 0: LSO %d", got)
	}
	if got := readCommittedBatches(t, l, 0); len(got) != 0 {
		t.Fatalf("read_committed below an open transaction at 0: %d batches", len(got))
	}
	if r, err := l.Read(0, 1<<20, true); err != nil || r.Size == 0 || r.LastStableOffset != 0 {
		t.Fatalf("read_uncommitted: %+v %v", r, err)
	} else {
		r.Release()
	}
	mustAppend(t, l, txnBatch(b, 3, 0, 0)) // 4-5: producer 3 opens at 4
	mustAppend(t, l, txnBatch(b, 1, 0, 2)) // 6-7
	abort := mustMarker(t, l, 1, 0, 5, false)
	if abort.BaseOffset != 8 || abort.LastOffset != 8 {
		t.Fatalf("abort marker at %+v, want 8", abort)
	}
	if got := l.LastStableOffset(); got != 4 {
		t.Fatalf("after producer 1's abort, producer 3 still open at 4: LSO %d", got)
	}
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 8, LastStableOffset: 4}}
	if got := l.AbortedTransactions(0, 4); !slices.Equal(got, want) {
		t.Fatalf("aborted [0,4): %+v, want %+v", got, want)
	}
	if got := readCommittedBatches(t, l, 0); len(got) != 2 || got[1].BaseOffset != 2 {
		t.Fatalf("read_committed up to the LSO 4: %+v", got)
	}
	mustMarker(t, l, 3, 0, 5, true) // 9
	if got, hw := l.LastStableOffset(), l.HighWatermark(); got != hw || hw != 10 {
		t.Fatalf("all decided: LSO %d, HW %d", got, hw)
	}
	if got := l.AbortedTransactions(0, 10); !slices.Equal(got, want) {
		t.Fatalf("aborted [0,10): %+v", got)
	}
	// A fetch from after the abort marker needs no entry.
	if got := l.AbortedTransactions(9, 10); len(got) != 0 {
		t.Fatalf("aborted [9,10): %+v", got)
	}
	if got := readCommittedBatches(t, l, 0); len(got) != 6 {
		t.Fatalf("read_committed of a decided log: %d batches, want 6", len(got))
	}
	// An offset between the LSO and the HW is no error, only empty.
	mustAppend(t, l, txnBatch(b, 3, 0, 2)) // 10-11
	if r, err := l.ReadCommitted(11, 1<<20, true); err != nil || r.Size != 0 || r.LastStableOffset != 10 {
		t.Fatalf("ReadCommitted above the LSO: %+v %v", r, err)
	}

	// The marker is Kafka's control batch.
	r, err := l.Read(8, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := r.AppendTo(nil)
	r.Release()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if rb.FirstOffset != 8 || rb.Attributes != 0x30 || rb.ProducerID != 1 || rb.ProducerEpoch != 0 || rb.FirstSequence != -1 || rb.NumRecords != 1 {
		t.Fatalf("abort marker batch: %+v", rb)
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(rb.Records); err != nil {
		t.Fatal(err)
	}
	var key kmsg.ControlRecordKey
	var val kmsg.EndTxnMarker
	if err := key.ReadFrom(rec.Key); err != nil || key.Type != kmsg.ControlRecordKeyTypeAbort {
		t.Fatalf("marker key %+v %v", key, err)
	}
	if err := val.ReadFrom(rec.Value); err != nil || val.CoordinatorEpoch != 5 {
		t.Fatalf("marker value %+v %v", val, err)
	}
}

func TestMarkerChecks(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	b := batch(1, 10, 1)
	mustAppend(t, l, txnBatch(b, 1, 3, 0))
	// Kafka's INVALID_TXN_STATE: a non-transactional batch inside a
	// transaction.
	if _, err := l.Append(idem(b, 1, 3, 1)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("idempotent batch during a transaction: %v", err)
	}
	if _, err := l.AppendMarker(1, 2, 0, true, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an older epoch: %v", err)
	}
	// Transaction version 2: the coordinator bumped the epoch, a marker
	// of the data's epoch is a late or duplicate one.
	if _, err := l.AppendMarker(1, 3, 0, true, TxnVersion2); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("TV2 marker of the same epoch: %v", err)
	}
	leo := l.LogEndOffset()
	if _, err := l.AppendMarker(1, 4, 7, true, TxnVersion2); err != nil {
		t.Fatalf("TV2 marker of the bumped epoch: %v", err)
	}
	if l.LogEndOffset() != leo+1 || l.LastStableOffset() != leo+1 {
		t.Fatalf("after the commit: LEO %d LSO %d, want %d", l.LogEndOffset(), l.LastStableOffset(), leo+1)
	}
	// A fenced coordinator.
	mustAppend(t, l, txnBatch(b, 1, 4, 0))
	if _, err := l.AppendMarker(1, 4, 6, false, 0); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker of an older coordinator: %v", err)
	}
	if got := l.LastStableOffset(); got != leo+1 {
		t.Fatalf("refused markers moved the LSO to %d", got)
	}
	// A marker for a producer with nothing open is written, ends nothing
	// and indexes nothing (Kafka writes it too).
	res := mustMarker(t, l, 42, 0, 0, false)
	if got := l.AbortedTransactions(0, res.LastOffset+1); len(got) != 0 {
		t.Fatalf("an empty abort was indexed: %+v", got)
	}
	if got := l.LastStableOffset(); got != leo+1 {
		t.Fatalf("LSO %d, producer 1 still open at %d", got, leo+1)
	}
	ps := l.Producers()
	if len(ps) != 2 || ps[0].ProducerID != 1 || ps[0].TxnStartOffset != leo+1 || ps[0].CoordinatorEpoch != 7 || ps[0].ProducerEpoch != 4 ||
		ps[1].ProducerID != 42 || ps[1].TxnStartOffset != -1 || ps[1].LastSequence != -1 {
		t.Fatalf("Producers: %+v", ps)
	}
	// Control batches cannot be produced.
	ctl := buildMarker(1, 4, 7, true, 1)
	if _, err := l.Append(ctl); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("produced control batch: %v", err)
	}
}

// txnWorkload writes transactions over several segments: producers 1..3
// interleaved, some committed, some aborted, producer 3's left open.
func txnWorkload(t *testing.T, l *Log) (open int64, aborted []AbortedTxn) {
	t.Helper()
	b := batch(3, 40, 1)
	seq := map[int64]int32{}
	app := func(pid int64) AppendResult {
		r := mustAppend(t, l, txnBatch(b, pid, 0, seq[pid]))
		seq[pid] += 3
		return r
	}
	for round := range 6 {
		f1 := app(1).BaseOffset
		app(2)
		app(1)
		mustAppend(t, l, batch(2, 40, 1)) // a plain producer between
		app(2)
		mustMarker(t, l, 2, 0, 0, true)
		m := mustMarker(t, l, 1, 0, 0, round%2 == 0)
		if round%2 == 1 {
			aborted = append(aborted, AbortedTxn{ProducerID: 1, FirstOffset: f1, LastOffset: m.BaseOffset, LastStableOffset: m.BaseOffset + 1})
		}
		if round == 3 {
			open = app(3).BaseOffset
		}
	}
	// Producer 3's open transaction holds each later abort's LSO.
	for i := range aborted {
		if aborted[i].FirstOffset > open {
			aborted[i].LastStableOffset = open
		}
	}
	return open, aborted
}

func checkTxnState(t *testing.T, l *Log, open int64, aborted []AbortedTxn, why string) {
	t.Helper()
	if got := l.LastStableOffset(); got != open {
		t.Fatalf("%s: LSO %d, want %d (the open transaction's first offset)", why, got, open)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, aborted) {
		t.Fatalf("%s: aborted transactions\n got %+v\nwant %+v", why, got, aborted)
	}
	ps := l.Producers()
	if len(ps) != 3 || ps[2].TxnStartOffset != open || ps[0].TxnStartOffset != -1 {
		t.Fatalf("%s: producers %+v", why, ps)
	}
}

func TestTransactionStateSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			e := newEnv(t)
			e.cfg.SegmentBytes = 700
			l := e.open()
			open, aborted := txnWorkload(t, l)
			if len(l.segs) < 5 {
				t.Fatalf("workload fits in %d segments", len(l.segs))
			}
			checkTxnState(t, l, open, aborted, "before")
			if clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				// As after kill -9: files as written, no clean
				// checkpoint, every segment recovered; the snapshots
				// and transaction indexes removed as well, so that the
				// replay has to rebuild all of it.
				crashClose(t, l)
				removeFiles(t, e.dir, snapshotSuffix, txnIndexSuffix)
			}
			l2 := e.open()
			checkTxnState(t, l2, open, aborted, "after reopening")
			// A read_committed consumer stops at the open transaction.
			for _, h := range readCommittedBatches(t, l2, 0) {
				if h.LastOffset() >= open {
					t.Fatalf("read_committed returned %d-%d past the LSO %d", h.BaseOffset, h.LastOffset(), open)
				}
			}
			// Closing it opens the log up.
			mustMarker(t, l2, 3, 0, 0, false)
			if got := l2.LastStableOffset(); got != l2.HighWatermark() {
				t.Fatalf("after the last abort: LSO %d, HW %d", got, l2.HighWatermark())
			}
		})
	}
}

// crashClose releases l's files without the clean shutdown (a kill -9
// under FsyncNever: what was written is in the files).
func crashClose(t *testing.T, l *Log) {
	t.Helper()
	if err := l.close(false); err != nil {
		t.Fatal(err)
	}
	if err := writeCheckpoint(l.fs, l.dir, checkpoint{logStart: l.logStart}); err != nil {
		t.Fatal(err)
	}
}

func removeFiles(t *testing.T, dir string, suffixes ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		for _, suf := range suffixes {
			if strings.HasSuffix(ent.Name(), suf) {
				if err := os.Remove(filepath.Join(dir, ent.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestTxnIndexFileFormat(t *testing.T) {
	txns := []AbortedTxn{{1, 10, 20, 21}, {7, 15, 30, 25}}
	b := encodeTxnIndex(txns)
	if len(b) != 2*34 || binary.BigEndian.Uint16(b) != 0 || binary.BigEndian.Uint64(b[2:]) != 1 || binary.BigEndian.Uint64(b[34+26:]) != 25 {
		t.Fatalf("not Kafka's .txnindex layout: %x", b)
	}
	got, err := decodeTxnIndex(b, 0, 100)
	if err != nil || !slices.Equal(got, txns) {
		t.Fatalf("decode: %+v %v", got, err)
	}
	// Entries whose marker another segment holds are left out.
	if got, _ := decodeTxnIndex(b, 25, 100); !slices.Equal(got, txns[1:]) {
		t.Fatalf("decode from 25: %+v", got)
	}
	if _, err := decodeTxnIndex(b[:40], 0, 100); err == nil {
		t.Fatal("a torn index decoded")
	}
}

func TestCompactionDropsAbortedRecordsAndKeepsOpenTransactions(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 300
	l := e.open()
	rec := func(k, v string) []byte {
		return BuildBatch(1, []Record{{Timestamp: 1, Key: []byte(k), Value: []byte(v)}})
	}
	mustAppend(t, l, rec("a", "committed-1"))
	mustAppend(t, l, txnBatch(rec("a", "aborted"), 1, 0, 0))
	mustMarker(t, l, 1, 0, 0, false)
	// The producer goes on, so that its aborted batch is not its last
	// (which compaction keeps as an empty header) and goes whole.
	mustAppend(t, l, txnBatch(rec("c", "committed"), 1, 0, 1))
	mustMarker(t, l, 1, 0, 0, true)
	mustAppend(t, l, rec("b", "committed-1"))
	mustAppend(t, l, txnBatch(rec("b", "open"), 2, 0, 0)) // stays open
	for i := range 8 {
		mustAppend(t, l, rec(fmt.Sprintf("pad-%d", i), "x"))
	}
	if _, err := l.Compact(CompactPolicy{}); err != nil {
		t.Fatal(err)
	}
	vals := map[string][]string{}
	for _, r := range readAll(t, l, 0) {
		vals[string(r.Key)] = append(vals[string(r.Key)], string(r.Value))
	}
	// The aborted record never supersedes the committed one and is gone;
	// the open transaction's record is above the LSO, untouched, and so is
	// the record it might supersede.
	if !slices.Equal(vals["a"], []string{"committed-1"}) || !slices.Equal(vals["b"], []string{"committed-1", "open"}) || !slices.Equal(vals["c"], []string{"committed"}) {
		t.Fatalf("after compaction: a=%q b=%q c=%q", vals["a"], vals["b"], vals["c"])
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 1 || got[0].ProducerID != 1 {
		t.Fatalf("aborted index after compaction: %+v", got)
	}
	// Restarted: the merged segments' indexes were written.
	l.Close()
	l = e.open()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 1 || got[0].ProducerID != 1 || got[0].FirstOffset != 1 || got[0].LastOffset != 2 {
		t.Fatalf("aborted index after compaction and restart: %+v", got)
	}
	if got := l.LastStableOffset(); got != 6 {
		t.Fatalf("LSO after compaction and restart: %d, want 6", got)
	}
	// A crash recovery that scans the compacted segments again (every
	// segment here: no recovery point) keeps their index files: the log
	// no longer holds the aborted records to rebuild them from.
	crashClose(t, l)
	l = e.open()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 1 || got[0].ProducerID != 1 || got[0].FirstOffset != 1 || got[0].LastOffset != 2 {
		t.Fatalf("aborted index after compaction and a crash: %+v", got)
	}
	if got := l.LastStableOffset(); got != 6 {
		t.Fatalf("LSO after compaction and a crash: %d, want 6", got)
	}
	// The next run finds no record of the aborted transaction left: its
	// entry goes (as in Kafka's cleaned index), for good: a crash
	// recovery does not bring it back from the old file, whose marker
	// is still there (with its delete horizon).
	if _, err := l.Compact(CompactPolicy{}); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted index after the transaction's records went: %+v", got)
	}
	crashClose(t, l)
	l = e.open()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted index after the transaction's records went and a crash: %+v", got)
	}
	if got := l.LastStableOffset(); got != 6 {
		t.Fatalf("LSO after the second compaction and a crash: %d, want 6", got)
	}
}

func TestSnapshotVersion1StillReads(t *testing.T) {
	pm := producerMap{5: {epoch: 2, n: 1, lastTime: 9, batches: [producerBatchesKept]batchMeta{{firstSeq: 0, lastSeq: 2, firstOff: 10, lastOff: 12, ts: 3}}}}
	b := encodeSnapshot(40, pm)
	// Rewrite as version 1: without the coordinator epoch and the
	// transaction (12 bytes after the epoch).
	v1 := append([]byte{}, b[:20]...)
	binary.BigEndian.PutUint16(v1[4:], 1)
	v1 = append(v1, b[20:30]...)
	v1 = append(v1, b[42:len(b)-4]...)
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, castagnoli))
	off, got, err := decodeSnapshot(v1)
	if err != nil || off != 40 || got[5].epoch != 2 || got[5].coordEpoch != -1 || got[5].inTxn || got[5].batches[0].lastOff != 12 {
		t.Fatalf("version 1 snapshot: %d %+v %v", off, got[5], err)
	}
	pm[5].inTxn, pm[5].txnFirst, pm[5].coordEpoch = true, 11, 4
	_, got, err = decodeSnapshot(encodeSnapshot(40, pm))
	if err != nil || !got[5].inTxn || got[5].txnFirst != 11 || got[5].coordEpoch != 4 {
		t.Fatalf("version 2 snapshot: %+v %v", got[5], err)
	}
}

// Kafka 4.4 lets a transaction version 2 marker of the producer's
// current epoch through when nothing is open (a retried marker of a
// finished transaction), and refuses it while a transaction is open.
func TestTV2MarkerRetryOfAFinishedTransaction(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, txnBatch(batch(1, 10, 1), 1, 0, 0))
	if _, err := l.AppendMarker(1, 1, 0, true, TxnVersion2); err != nil {
		t.Fatalf("TV2 commit with the bumped epoch: %v", err)
	}
	if _, err := l.AppendMarker(1, 1, 0, true, TxnVersion2); err != nil {
		t.Fatalf("TV2 retry of the commit: %v", err)
	}
	mustAppend(t, l, txnBatch(batch(1, 10, 1), 1, 1, 0))
	if _, err := l.AppendMarker(1, 1, 0, true, TxnVersion2); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("TV2 marker of the open transaction's epoch: %v", err)
	}
}

// Retention and DeleteRecords take segments away under open and aborted
// transactions: the LSO never falls below the log start, the aborted
// entries of deleted segments go with them, and a producer with an open
// transaction does not expire.
func TestRetentionUnderTransactions(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 300
	e.cfg.RetentionMs = -1
	e.cfg.ProducerIDExpirationMs = 60_000
	l := e.open()
	b := batch(1, 40, 1)
	mustAppend(t, l, txnBatch(b, 1, 0, 0)) // 0: aborted below
	mustMarker(t, l, 1, 0, 0, false)       // 1
	open := mustAppend(t, l, txnBatch(b, 2, 0, 0)).BaseOffset
	for i := range 12 {
		mustAppend(t, l, idem(b, 3, 0, int32(i)))
	}
	mustAppend(t, l, txnBatch(b, 4, 0, 0)) // a later open transaction
	if got := l.LastStableOffset(); got != open {
		t.Fatalf("LSO %d, want %d", got, open)
	}
	e.clock.Advance(2 * time.Minute)
	if err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	// Producer 3 expired; 2 and 4 hold transactions open; 1's marker
	// is what keeps it (Kafka expires it too once it is old).
	var ids []int64
	for _, p := range l.Producers() {
		ids = append(ids, p.ProducerID)
	}
	if !slices.Contains(ids, 2) || !slices.Contains(ids, 4) || slices.Contains(ids, 3) {
		t.Fatalf("producers after expiration: %v", ids)
	}
	start, err := l.DeleteRecordsBefore(open + 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.LastStableOffset(); got != start {
		t.Fatalf("open transaction at %d below the new log start %d: LSO %d, want the log start", open, start, got)
	}
	if got := l.AbortedTransactions(start, l.HighWatermark()); len(got) != 0 {
		t.Fatalf("aborted entries of deleted segments: %+v", got)
	}
	if got := readCommittedBatches(t, l, start); len(got) != 0 {
		t.Fatalf("read_committed at the log start under an open transaction: %d batches", len(got))
	}
	// The open transaction still ends, and the LSO then moves to the
	// next open one.
	mustMarker(t, l, 2, 0, 0, true)
	if got, want := l.LastStableOffset(), l.LogEndOffset()-2; got != want {
		t.Fatalf("after committing producer 2: LSO %d, want %d (producer 4's transaction)", got, want)
	}
}

// A damaged .txnindex is rebuilt from the log, with every later one.
func TestDamagedTxnIndexIsRebuilt(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			e := newEnv(t)
			e.cfg.SegmentBytes = 700
			l := e.open()
			open, aborted := txnWorkload(t, l)
			var damaged string
			for _, s := range l.segs[:len(l.segs)-1] {
				if len(s.txns) > 0 && s.txns[0] != aborted[0] {
					damaged = s.txnIndexPath()
					break
				}
			}
			if damaged == "" {
				t.Fatal("no sealed segment holds a later aborted transaction")
			}
			if clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				crashClose(t, l)
				// The recovery scans the last segment only.
				ck, err := readCheckpoint(e.opts.FS, e.dir)
				if err != nil {
					t.Fatal(err)
				}
				ck.recoveryPoint = l.ck.recoveryPoint
				if err := writeCheckpoint(e.opts.FS, e.dir, ck); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(damaged, []byte("torn"), 0o644); err != nil {
				t.Fatal(err)
			}
			l2 := e.open()
			checkTxnState(t, l2, open, aborted, "after rebuilding a damaged index")
			l2.Close()
			l3 := e.open()
			checkTxnState(t, l3, open, aborted, "after the rebuilt index was written")
		})
	}
}

// FuzzTxnFiles feeds arbitrary bytes to the decoders of the files Open
// reads for transactions: the aborted-transaction index and the producer
// snapshot. Neither may panic, and what decodes must encode back to
// itself.
func FuzzTxnFiles(f *testing.F) {
	f.Add(encodeTxnIndex([]AbortedTxn{{1, 10, 20, 5}, {7, 15, 30, 31}}))
	pm := producerMap{5: {epoch: 2, n: 1, coordEpoch: 3, inTxn: true, txnFirst: 11, batches: [producerBatchesKept]batchMeta{{0, 2, 10, 12, 3}}}}
	f.Add(encodeSnapshot(40, pm))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if txns, err := decodeTxnIndex(b, 0, math.MaxInt64); err == nil {
			if got := encodeTxnIndex(txns); !slices.Equal(got, b) && len(b) > 0 {
				t.Fatalf("index %x decoded to %+v, encodes to %x", b, txns, got)
			}
		}
		if off, pm, err := decodeSnapshot(b); err == nil {
			off2, pm2, err := decodeSnapshot(encodeSnapshot(off, pm))
			if err != nil || off2 != off || len(pm2) != len(pm) {
				t.Fatalf("snapshot does not survive a round trip: %v", err)
			}
			for pid, e := range pm {
				if e2 := pm2[pid]; e2 == nil || *e2 != *e {
					t.Fatalf("producer %d: %+v, after a round trip %+v", pid, e, e2)
				}
			}
		}
	})
}

func TestProducerLookup(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	mustAppend(t, l, txnBatch(batch(2, 10, 1), 4, 1, 0))
	if ps, ok := l.Producer(4); !ok || ps.TxnStartOffset != 0 || ps.LastSequence != 1 || ps.ProducerEpoch != 1 {
		t.Fatalf("Producer(4): %+v %v", ps, ok)
	}
	if _, ok := l.Producer(5); ok {
		t.Fatal("Producer(5) of a producer the log never saw")
	}
	if all := l.Producers(); len(all) != 1 {
		t.Fatalf("Producers: %+v", all)
	}
}
