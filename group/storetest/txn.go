package storetest

import (
	"testing"

	"github.com/rewindhq/rewind/group"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The checks of Store.AppendTxn and Store.AppendMarker: transactional
// offset commits and the markers that end them, as Kafka's coordinator
// writes them into __consumer_offsets.
func init() {
	checks = append(checks, []struct {
		name string
		fn   func(testing.TB, *Harness)
	}{
		{"TxnBatchesInOrder", testTxnOrder},
		{"TxnManyCommitsOneTransaction", testTxnMany},
		{"TxnStaleEpoch", testTxnStaleEpoch},
		{"TxnFullDisk", testTxnFullDisk},
		{"TxnOversized", testTxnOversized},
	}...)
}

func needBatches(t testing.TB, h *Harness) {
	if h.ReadBatches == nil {
		t.Skip("the harness reads no batches")
	}
}

// entry is a record with its batch, for comparison.
type entry struct {
	rec   group.Record
	batch group.Batch
	// marker: the record is a control record; commit its type.
	marker, commit bool
}

func plain(r group.Record) entry {
	return entry{rec: r, batch: group.Batch{ProducerID: -1, ProducerEpoch: -1}}
}

func txn(r group.Record, pid int64, epoch int16) entry {
	return entry{rec: r, batch: group.Batch{ProducerID: pid, ProducerEpoch: epoch, Transactional: true}}
}

func marker(pid int64, epoch int16, commit bool) entry {
	return entry{batch: group.Batch{ProducerID: pid, ProducerEpoch: epoch, Transactional: true, Control: true}, marker: true, commit: commit}
}

// expectEntries checks partition p holds exactly want, batches included.
// A marker's record must be a control record of its type with an
// EndTxnMarker value; its timestamp is the store's.
func expectEntries(t testing.TB, h *Harness, p int32, want []entry) {
	t.Helper()
	recs, bs := h.Read(t, p), h.ReadBatches(t, p)
	if len(recs) != len(want) || len(bs) != len(want) {
		t.Fatalf("partition %d holds %d records (%d batches read), want %d", p, len(recs), len(bs), len(want))
	}
	for i, w := range want {
		if bs[i] != w.batch {
			t.Fatalf("partition %d record %d is of batch %+v, want %+v", p, i, bs[i], w.batch)
		}
		if !w.marker {
			if !sameRecord(recs[i], w.rec) {
				t.Fatalf("partition %d record %d is %s, want %s", p, i, describe(recs[i]), describe(w.rec))
			}
			continue
		}
		var k kmsg.ControlRecordKey
		if err := k.ReadFrom(recs[i].Key); err != nil {
			t.Fatalf("partition %d record %d: control key: %v", p, i, err)
		}
		want := kmsg.ControlRecordKeyTypeAbort
		if w.commit {
			want = kmsg.ControlRecordKeyTypeCommit
		}
		if k.Type != want {
			t.Fatalf("partition %d record %d is marker %v, want %v", p, i, k.Type, want)
		}
		var v kmsg.EndTxnMarker
		if err := v.ReadFrom(recs[i].Value); err != nil {
			t.Fatalf("partition %d record %d: marker value: %v", p, i, err)
		}
	}
}

func appendTxnOK(t testing.TB, s group.Store, p int32, pid int64, epoch int16, recs []group.Record) group.Pending {
	t.Helper()
	pend, err := s.AppendTxn(p, pid, epoch, recs)
	if err != nil {
		t.Fatalf("AppendTxn to %d, producer %d epoch %d: %v", p, pid, epoch, err)
	}
	return pend
}

func markerOK(t testing.TB, s group.Store, p int32, pid int64, epoch int16, commit bool) group.Pending {
	t.Helper()
	pend, err := s.AppendMarker(p, group.Marker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, TxnVersion: 1})
	if err != nil {
		t.Fatalf("AppendMarker to %d, producer %d epoch %d: %v", p, pid, epoch, err)
	}
	return pend
}

func markerOK2(t testing.TB, s group.Store, p int32, pid int64, epoch int16) group.Pending {
	t.Helper()
	pend, err := s.AppendMarker(p, group.Marker{ProducerID: pid, ProducerEpoch: epoch, Commit: true, TxnVersion: 2})
	if err != nil {
		t.Fatalf("AppendMarker (transaction version 2) to %d, producer %d epoch %d: %v", p, pid, epoch, err)
	}
	return pend
}

// Transactional batches and markers keep their producer and their place
// among plain appends, and survive a reopen.
func testTxnOrder(t testing.TB, h *Harness) {
	needBatches(t, h)
	g := groupOn(h, 0, "txn")
	a, b := batch(g, 0, 1), batch(g, 10, 2)
	c, d := batch(g, 20, 1), batch(g, 30, 1)
	appendOK(t, h.Store, 0, a)
	appendTxnOK(t, h.Store, 0, 7, 1, b)
	appendOK(t, h.Store, 0, c)
	markerOK(t, h.Store, 0, 7, 1, true)
	appendTxnOK(t, h.Store, 0, 8, 0, d)
	waitOK(t, markerOK(t, h.Store, 0, 8, 0, false))
	want := []entry{plain(a[0]), txn(b[0], 7, 1), txn(b[1], 7, 1), plain(c[0]), marker(7, 1, true), txn(d[0], 8, 0), marker(8, 0, false)}
	expectEntries(t, h, 0, want)
	expectEntries(t, h, 1, nil)
	h.Store = h.Reopen(t)
	expectEntries(t, h, 0, want)
}

// One transaction commits offsets several times (one TxnOffsetCommit per
// poll loop, each with sequence 0 as Kafka's coordinator writes them):
// every batch lands, none is taken for a producer's retry; so do those of
// the next transaction of the same epoch.
func testTxnMany(t testing.TB, h *Harness) {
	needBatches(t, h)
	g := groupOn(h, 1, "many")
	var want []entry
	for tx := 0; tx < 2; tx++ {
		for i := 0; i < 3; i++ {
			recs := batch(g, int64(10*tx+i), 1)
			appendTxnOK(t, h.Store, 1, 5, 0, recs)
			want = append(want, txn(recs[0], 5, 0))
		}
		waitOK(t, markerOK(t, h.Store, 1, 5, 0, tx == 0))
		want = append(want, marker(5, 0, tx == 0))
	}
	expectEntries(t, h, 1, want)
}

// A producer epoch older than the partition's last one for the producer
// is refused (INVALID_PRODUCER_EPOCH, as the log's producer state answers
// Kafka's coordinator), its commits and its marker alike, and nothing of
// them is written.
func testTxnStaleEpoch(t testing.TB, h *Harness) {
	needBatches(t, h)
	g := groupOn(h, 0, "epoch")
	recs := batch(g, 0, 1)
	appendTxnOK(t, h.Store, 0, 9, 3, recs)
	_, err := h.Store.AppendTxn(0, 9, 2, batch(g, 1, 1))
	expectCode(t, "AppendTxn of an older epoch", err, kerr.InvalidProducerEpoch)
	_, err = h.Store.AppendMarker(0, group.Marker{ProducerID: 9, ProducerEpoch: 2, Commit: true, TxnVersion: 1})
	expectCode(t, "AppendMarker of an older epoch", err, kerr.InvalidProducerEpoch)
	waitOK(t, markerOK(t, h.Store, 0, 9, 3, true))
	// Transaction version 2: the marker carries the bumped epoch, and
	// one of the transaction's own epoch is refused.
	more := batch(g, 2, 1)
	appendTxnOK(t, h.Store, 0, 9, 4, more)
	_, err = h.Store.AppendMarker(0, group.Marker{ProducerID: 9, ProducerEpoch: 4, Commit: true, TxnVersion: 2})
	expectCode(t, "AppendMarker of version 2 with the transaction's epoch", err, kerr.InvalidProducerEpoch)
	waitOK(t, markerOK2(t, h.Store, 0, 9, 5))
	expectEntries(t, h, 0, []entry{txn(recs[0], 9, 3), marker(9, 3, true), txn(more[0], 9, 4), marker(9, 5, true)})
}

// On a full disk transactional commits are refused as commits are
// (ErrStoreFull: NOT_COORDINATOR), and markers are taken, so that open
// transactions can end.
func testTxnFullDisk(t testing.TB, h *Harness) {
	needBatches(t, h)
	g := groupOn(h, 1, "full")
	recs := batch(g, 0, 1)
	waitOK(t, appendTxnOK(t, h.Store, 1, 4, 0, recs))
	restore := h.Full(t)
	_, err := h.Store.AppendTxn(1, 4, 0, batch(g, 1, 1))
	expectCode(t, "AppendTxn on a full disk", err, kerr.NotCoordinator)
	waitOK(t, markerOK(t, h.Store, 1, 4, 0, false))
	restore()
	expectEntries(t, h, 1, []entry{txn(recs[0], 4, 0), marker(4, 0, false)})
}

// A transactional batch over max.message.bytes is refused as Append
// refuses one.
func testTxnOversized(t testing.TB, h *Harness) {
	needBatches(t, h)
	g := groupOn(h, 0, "big")
	var recs []group.Record
	for group.BatchSize(recs) <= h.MaxMessageBytes {
		recs = append(recs, commit(g, "t", int32(len(recs)), 1, string(make([]byte, 4000)), baseTS))
	}
	_, err := h.Store.AppendTxn(0, 3, 0, recs)
	expectCode(t, "oversized AppendTxn", err, kerr.UnknownServerError)
	expectEntries(t, h, 0, nil)
}
