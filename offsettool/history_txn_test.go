package offsettool

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool/txntest"
)

// TestHistoryTransactionalCommits: offsets committed inside transactions
// (TxnOffsetCommit) are marked in the history with their producer and
// outcome, committed, aborted or still pending, read from the markers in
// __consumer_offsets; CommittedAt keeps only the committed ones. The
// history must also end at a partition whose last record is a marker
// (consumers never receive control records: waiting for it hung until the
// timeout).
func TestHistoryTransactionalCommits(t *testing.T) {
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr)
			needTxnAPIs(t, c, tc, keyListTransactions, keyDescribeTransactions, keyDescribeProducers, keyWriteTxnMarkers, keyAddOffsetsToTxn, keyTxnOffsetCommit)
			ctx := testCtx(t)
			sfx := suffix()
			topic, group := "hist-txn-"+sfx, "hist-etl-"+sfx
			if err := c.CreateTopic(ctx, topic, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			commit(t, c, group, topic, 2) // a plain commit first
			p1 := txntest.Txn(t, tc.addr, "hist-commit-"+sfx, topic, 0, 1, txntest.Commit, group, map[int32]int64{0: 5})
			p2 := txntest.Txn(t, tc.addr, "hist-abort-"+sfx, topic, 0, 1, txntest.Abort, group, map[int32]int64{0: 8})

			// The group's __consumer_offsets partition now ends with the
			// abort marker.
			hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			h, err := c.History(hctx, group, nil, nil)
			cancel()
			if err != nil {
				t.Fatalf("history ending at a marker: %v", err)
			}
			want := []struct {
				offset int64
				pid    int64
				txn    string
			}{{2, 0, ""}, {5, p1.ProducerID, TxnCommitted}, {8, p2.ProducerID, TxnAborted}}
			check := func(h []HistoryEntry, want []struct {
				offset int64
				pid    int64
				txn    string
			}) {
				t.Helper()
				var commits []HistoryEntry
				for _, e := range h {
					if e.Kind == EventCommit {
						commits = append(commits, e)
					}
				}
				if len(commits) != len(want) {
					t.Fatalf("history commits %+v, want %d", commits, len(want))
				}
				for i, w := range want {
					e := commits[i]
					if e.Offset != w.offset || e.ProducerID != w.pid || e.Transaction != w.txn {
						t.Errorf("commit %d: offset %d producer %d transaction %q, want %d %d %q", i, e.Offset, e.ProducerID, e.Transaction, w.offset, w.pid, w.txn)
					}
				}
			}
			check(h, want)

			p3 := txntest.Txn(t, tc.addr, "hist-open-"+sfx, topic, 0, 1, txntest.Open, group, map[int32]int64{0: 9})
			h, err = c.History(ctx, group, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(h, append(want, struct {
				offset int64
				pid    int64
				txn    string
			}{9, p3.ProducerID, TxnPending}))
			// Burrow's window takes the committed transaction's offset as
			// the newest commit, not the aborted or the pending one.
			snap, err := c.Snapshot(ctx, group, SnapshotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			st, err := c.LagStatus(lctx, snap, lageval.DefaultConfig())
			cancel()
			if err != nil {
				t.Fatalf("lag status: %v", err)
			}
			if len(st.Partitions) != 1 || st.Partitions[0].End == nil || st.Partitions[0].End.Offset != 5 {
				t.Errorf("lag status: %+v, want the newest commit at 5", st.Partitions)
			} else if st.Partitions[0].End.Offset != 5 {
				t.Errorf("lag status: newest commit %+v, want offset 5", *st.Partitions[0].End)
			}
			// Rewinding to now takes the committed transaction's offset,
			// never the aborted or the pending one.
			if got := CommittedAt(h, time.Now().Add(time.Second)); got[TopicPartition{topic, 0}] != 5 {
				t.Errorf("committed at now: %v, want %s/0 at 5", got, topic)
			}
		})
	}
}
