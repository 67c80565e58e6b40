package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// batchesOf lists the log's batches from its start (the log must have no
// open transaction: it reads below the LSO).
func batchesOf(t *testing.T, l *Log) map[int64]BatchHeader {
	t.Helper()
	out := map[int64]BatchHeader{}
	for _, h := range readCommittedBatches(t, l, l.LogStartOffset()) {
		out[h.BaseOffset] = h
	}
	return out
}

// Compaction removes aborted transactions' records, and commit and abort
// markers as Kafka's LogCleaner does: a marker stays while a record of its
// transaction is in the log when a run starts; the first run that finds
// none sets its delete horizon (now + delete.retention.ms) and drops the
// transaction's aborted-index entry; the first run after the horizon
// removes it. A producer's last marker stays, emptied, with the epoch
// that fences it, and a recovery without producer snapshots takes that
// epoch from it. Before, every marker and index entry stayed forever.
func TestCompactionRemovesTransactionMarkers(t *testing.T) {
	e := newEnv(t)
	e.cfg.SegmentBytes = 300
	e.cfg.ProducerIDExpirationMs = -1
	l := e.open()
	rec := func(k, v string) []byte {
		return BuildBatch(1, []Record{{Timestamp: 1, Key: []byte(k), Value: []byte(v)}})
	}
	mustAppend(t, l, txnBatch(rec("a", "aborted"), 1, 0, 0)) // 0
	mustMarker(t, l, 1, 0, 0, false)                         // 1
	mustAppend(t, l, txnBatch(rec("b", "txn"), 2, 0, 0))     // 2
	mustMarker(t, l, 2, 0, 0, true)                          // 3
	mustAppend(t, l, rec("b", "plain"))                      // 4: supersedes 2
	// Both producers go on, so that 0 and 2 are not their last batches
	// (which compaction keeps as empty headers, with their markers).
	mustAppend(t, l, txnBatch(rec("c", "txn"), 1, 0, 1)) // 5
	mustMarker(t, l, 1, 0, 0, true)                      // 6
	mustAppend(t, l, txnBatch(rec("d", "txn"), 2, 0, 1)) // 7
	mustMarker(t, l, 2, 0, 0, true)                      // 8
	// Producer 3, transaction version 2: the marker bumps its epoch, so
	// the marker is its last entry; its record is superseded.
	mustAppend(t, l, txnBatch(rec("e", "txn"), 3, 0, 0))                  // 9
	if _, err := l.AppendMarker(3, 1, 0, true, TxnVersion2); err != nil { // 10
		t.Fatal(err)
	}
	mustAppend(t, l, rec("e", "plain")) // 11
	for i := range 8 {
		mustAppend(t, l, rec(fmt.Sprintf("pad-%d", i), "x"))
	}
	markers := []int64{1, 3, 6, 8, 10}
	p := CompactPolicy{DeleteRetention: time.Hour}
	compact := func(why string) CompactStats {
		t.Helper()
		st, err := l.Compact(p)
		if err != nil {
			t.Fatalf("%s: %v", why, err)
		}
		return st
	}
	check := func(why string, wantData, wantMarkers, wantHorizon, wantEmpty []int64, wantAborted int) {
		t.Helper()
		bs := batchesOf(t, l)
		var data, mk, hz, empty []int64
		for off, h := range bs {
			switch {
			case off >= 12:
			case h.IsControl() && h.NumRecords == 0:
				empty = append(empty, off)
			case h.IsControl():
				mk = append(mk, off)
				if _, ok := deleteHorizon(&h); ok {
					hz = append(hz, off)
				}
			case h.NumRecords > 0:
				data = append(data, off)
			}
		}
		for _, s := range [][]int64{data, mk, hz, empty} {
			slices.Sort(s)
		}
		if !slices.Equal(data, wantData) || !slices.Equal(mk, wantMarkers) || !slices.Equal(hz, wantHorizon) || !slices.Equal(empty, wantEmpty) {
			t.Fatalf("%s: records at %v, markers at %v (delete horizon set: %v), empty control batches at %v; want %v, %v (%v), %v",
				why, data, mk, hz, empty, wantData, wantMarkers, wantHorizon, wantEmpty)
		}
		if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != wantAborted {
			t.Fatalf("%s: aborted index %+v, want %d entries", why, got, wantAborted)
		}
		if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw {
			t.Fatalf("%s: LSO %d, HW %d: nothing is open", why, lso, hw)
		}
	}
	check("before compaction", []int64{0, 2, 4, 5, 7, 9, 11}, markers, nil, nil, 1)

	compact("first run")
	// The aborted record and the superseded ones go; every marker had a
	// record of its transaction when the run started.
	check("after the first run", []int64{4, 5, 7, 11}, markers, nil, nil, 1)

	if st := compact("second run"); st.Skipped {
		t.Fatal("the second run was skipped: the markers the first one emptied would never go")
	}
	check("after the second run", []int64{4, 5, 7, 11}, markers, []int64{1, 3, 10}, nil, 0)
	e.clock.Advance(30 * time.Minute)
	compact("third run, before the horizon")
	check("before the horizon", []int64{4, 5, 7, 11}, markers, []int64{1, 3, 10}, nil, 0)

	e.clock.Advance(31 * time.Minute)
	compact("fourth run, after the horizon")
	// 1 and 3 go; 10, producer 3's last entry, stays empty; 6 and 8 keep
	// records of their transactions.
	check("after the horizon", []int64{4, 5, 7, 11}, []int64{6, 8}, nil, []int64{10}, 0)
	if st := compact("fifth run"); st.RecordsRemoved != 0 {
		t.Fatalf("fifth run removed %d records: the state should have settled", st.RecordsRemoved)
	}

	// A crash recovery that has no producer snapshot rebuilds producer
	// 3's epoch from its emptied marker: its older epoch stays fenced.
	crashClose(t, l)
	removeFiles(t, e.dir, snapshotSuffix)
	l = e.open()
	check("after a crash without snapshots", []int64{4, 5, 7, 11}, []int64{6, 8}, nil, []int64{10}, 0)
	if ps, ok := l.Producer(3); !ok || ps.ProducerEpoch != 1 {
		t.Fatalf("producer 3 after recovery: %+v (known %v), want epoch 1", ps, ok)
	}
	if _, err := l.Append(txnBatch(rec("f", "zombie"), 3, 0, 1)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("producer 3 at its fenced epoch 0 after recovery: %v, want ErrInvalidProducerEpoch", err)
	}
	if ps, ok := l.Producer(1); !ok || ps.ProducerEpoch != 0 || ps.TxnStartOffset != -1 {
		t.Fatalf("producer 1 after recovery: %+v (known %v)", ps, ok)
	}
}
