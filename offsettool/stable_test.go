package offsettool

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/offsettool/txntest"
)

// TestExplainTransactionsKafka builds each reason a lag cannot reach 0 on
// Apache Kafka 4.4 with real transactions, and checks the snapshot and
// Explain name it: markers after the last record, an aborted transaction,
// an open transaction (by its transactional id) and a hanging one.
func TestExplainTransactionsKafka(t *testing.T) {
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr)
			needTxnAPIs(t, c, tc)
			if tc.kafka {
				txntest.DisableVerification(t, tc.addr)
			}
			ctx := testCtx(t)
			sfx := suffix()
			topic, group, openID := "lso-"+sfx, "etl-"+sfx, "lso-open-"+sfx
			if err := c.CreateTopic(ctx, topic, 4, 1, nil); err != nil {
				t.Fatal(err)
			}
			txntest.Txn(t, tc.addr, "lso-commit-"+sfx, topic, 0, 3, txntest.Commit, "", nil) // 0-2, marker 3
			open := txntest.Txn(t, tc.addr, openID, topic, 1, 2, txntest.Open, "", nil)      // 0-1 open
			txntest.Txn(t, tc.addr, "lso-abort-"+sfx, topic, 2, 4, txntest.Abort, "", nil)   // 0-3 aborted, marker 4
			// 0-1 hanging (on Kafka; Rewind's coordinator refuses such a
			// batch, so there partition 3 has a plain open transaction).
			var hpid int64
			if tc.kafka {
				hpid, _, _ = txntest.Hanging(t, tc.addr, "lso-hang-"+sfx, topic, 3, 2)
			} else {
				hpid = txntest.Txn(t, tc.addr, "lso-open2-"+sfx, topic, 3, 2, txntest.Open, "", nil).ProducerID
			}
			// A Sarama-style group: committed the offset after its last
			// record on partition 0, nothing read elsewhere.
			commit(t, c, group, topic, 3, 0, 0, 0)

			s, err := c.Snapshot(ctx, group, SnapshotOptions{Transactions: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Partitions) != 4 {
				t.Fatalf("partitions: %+v", s.Partitions)
			}
			for i, want := range [][2]int64{{4, 4}, {0, 2}, {5, 5}, {0, 2}} {
				p := s.Partitions[i]
				if p.LastStable != want[0] || p.LogEnd != want[1] {
					t.Errorf("%s: LSO %d log end %d, want %d and %d", p.TP(), p.LastStable, p.LogEnd, want[0], want[1])
				}
			}
			if tl := s.Partitions[0].Tail; tl == nil || *tl != (UnreadableTail{From: 3, To: 4, Markers: 1}) {
				t.Errorf("partition 0 tail: %+v", tl)
			}
			if tl := s.Partitions[2].Tail; tl == nil || *tl != (UnreadableTail{From: 0, To: 5, Markers: 1, Aborted: 4}) {
				t.Errorf("partition 2 tail: %+v", tl)
			}
			if o := s.Partitions[1].OpenTxns; len(o) != 1 || o[0].ProducerID != open.ProducerID || o[0].TransactionalID != openID ||
				o[0].State != "Ongoing" || o[0].Hanging || o[0].StartOffset != 0 || o[0].Started.IsZero() {
				t.Errorf("partition 1 open transactions: %+v", o)
			}
			if o := s.Partitions[3].OpenTxns; len(o) != 1 || o[0].ProducerID != hpid || o[0].Hanging != tc.kafka {
				t.Errorf("partition 3 open transactions: %+v", o)
			}

			ex := Explain(s, Newest)
			for i, want := range []struct {
				c   Case
				why string
			}{
				{LagControlRecords, "offsets 3-3 hold only 1 control record(s)"},
				{LagOpenTxn, `transactional id "` + openID + `") has had a transaction open there since offset 0`},
				{LagControlRecords, "and 4 record(s) of aborted transactions"},
				{LagHangingTxn, "--start-offset 0"},
			} {
				if i == 3 && !tc.kafka {
					want.c, want.why = LagOpenTxn, "lso-open2-"+sfx
				}
				p := ex.Partitions[i]
				if p.LagCase != want.c || !strings.Contains(p.LagWhy, want.why) {
					t.Errorf("%s/%d: %s %q, want %s with %q", p.Topic, p.Partition, p.LagCase, p.LagWhy, want.c, want.why)
				}
			}
			rows := LagRows([]GroupSnapshot{s})
			if len(rows) != 1 || rows[0].Lag != 1+2+5+2 || rows[0].StableLag != 1+0+5+0 {
				t.Errorf("lag rows: %+v, want lag 10 and stable lag 6", rows)
			}
		})
	}
}
