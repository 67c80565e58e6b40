package offsettool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/rewindhq/rewind/rewindtest"
)

// txnCluster is a broker the transaction tools are checked against.
type txnCluster struct {
	name  string
	addr  string
	kafka bool // Apache Kafka: verification can be turned off for Hanging
}

// txnClusters is Apache Kafka 4.4 (kafkaref) and Rewind once it serves
// the transaction APIs (until then its subtest says so and skips).
func txnClusters(t *testing.T) []txnCluster {
	t.Helper()
	k := kafkaref.Start(t)
	return []txnCluster{{"kafka", k.Addrs()[0], true}, {"rewind", rewindtest.Start(t).Addr(), false}}
}

// needTxnAPIs skips a Rewind subtest while the broker does not serve the
// requests the test uses (the transactional ones by default).
func needTxnAPIs(t *testing.T, c *Client, tc txnCluster, keys ...int16) {
	t.Helper()
	if tc.kafka {
		return
	}
	if len(keys) == 0 {
		keys = []int16{keyListTransactions, keyDescribeTransactions, keyDescribeProducers, keyWriteTxnMarkers}
	}
	ctx := testCtx(t)
	for _, k := range append(keys, keyInitProducerID, keyEndTxn) {
		if err := c.requireAPI(ctx, k, 0, "the test"); err != nil {
			t.Skipf("%s: %v", tc.name, err)
		}
	}
	// Rewind refused every transactional InitProducerId before it had a
	// transaction coordinator, while still listing the key.
	id := "probe-" + suffix()
	if r := c.adm.FindTxnCoordinators(ctx, id)[id]; r.Err != nil {
		t.Skipf("%s: no transaction coordinator: %v", tc.name, r.Err)
	}
}

// suffix makes names unique, for a Kafka reused across runs
// (REWIND_KAFKA_BOOTSTRAP).
func suffix() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }

func findListed(ts []ListedTxn, id string) (ListedTxn, bool) {
	for _, l := range ts {
		if l.TransactionalID == id {
			return l, true
		}
	}
	return ListedTxn{}, false
}

// waitState waits until the coordinator lists id in state (a commit or
// abort completes after its markers are written).
func waitState(t *testing.T, c *Client, id, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := c.DescribeTransactions(testCtx(t), id)
		if err == nil && ds[0].State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s never reached %s: %v %+v", id, state, err, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTransactionsListDescribe(t *testing.T) {
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr)
			needTxnAPIs(t, c, tc)
			ctx := testCtx(t)
			sfx := suffix()
			topic := "txn-list-" + sfx
			if err := c.CreateTopic(ctx, topic, 2, 1, nil); err != nil {
				t.Fatal(err)
			}
			openID, commitID, abortID := "open-"+sfx, "commit-"+sfx, "abort-"+sfx
			open := txntest.Txn(t, tc.addr, openID, topic, 0, 3, txntest.Open, "", nil)
			committed := txntest.Txn(t, tc.addr, commitID, topic, 1, 2, txntest.Commit, "", nil)
			txntest.Txn(t, tc.addr, abortID, topic, 1, 2, txntest.Abort, "", nil)
			waitState(t, c, commitID, "CompleteCommit")
			waitState(t, c, abortID, "CompleteAbort")

			all, err := c.ListTransactions(ctx, TxnListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{openID: "Ongoing", commitID: "CompleteCommit", abortID: "CompleteAbort"} {
				l, ok := findListed(all, id)
				if !ok || l.State != want {
					t.Errorf("list: %s = %+v (found %v), want state %s", id, l, ok, want)
				}
			}
			if l, _ := findListed(all, openID); l.ProducerID != open.ProducerID {
				t.Errorf("list: %s has producer id %d, the producer has %d", openID, l.ProducerID, open.ProducerID)
			}

			ongoing, err := c.ListTransactions(ctx, TxnListOptions{States: []string{"ongoing"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := findListed(ongoing, openID); !ok {
				t.Errorf("--state Ongoing lacks %s: %+v", openID, ongoing)
			}
			for _, l := range ongoing {
				if l.State != "Ongoing" {
					t.Errorf("--state Ongoing listed %+v", l)
				}
			}
			byPID, err := c.ListTransactions(ctx, TxnListOptions{ProducerIDs: []int64{committed.ProducerID}})
			if err != nil {
				t.Fatal(err)
			}
			if len(byPID) != 1 || byPID[0].TransactionalID != commitID {
				t.Errorf("--producer-id %d: %+v, want only %s", committed.ProducerID, byPID, commitID)
			}
			byPattern, err := c.ListTransactions(ctx, TxnListOptions{Pattern: "^open-" + sfx + "$"})
			if err != nil {
				t.Fatal(err)
			}
			if len(byPattern) != 1 || byPattern[0].TransactionalID != openID {
				t.Errorf("--pattern: %+v, want only %s", byPattern, openID)
			}
			long, err := c.ListTransactions(ctx, TxnListOptions{States: []string{"Ongoing"}, MinDuration: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := findListed(long, openID); ok {
				t.Errorf("--duration-filter 1h lists %s, open for seconds", openID)
			}
			time.Sleep(20 * time.Millisecond)
			short, err := c.ListTransactions(ctx, TxnListOptions{States: []string{"Ongoing"}, MinDuration: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := findListed(short, openID); !ok {
				t.Errorf("--duration-filter 10ms lacks %s: %+v", openID, short)
			}
			if _, err := c.ListTransactions(ctx, TxnListOptions{States: []string{"Running"}}); err == nil || !strings.Contains(err.Error(), "Ongoing") {
				t.Errorf("unknown state: err = %v", err)
			}

			ds, err := c.DescribeTransactions(ctx, openID)
			if err != nil {
				t.Fatal(err)
			}
			d := ds[0]
			if d.State != "Ongoing" || d.ProducerID != open.ProducerID || d.ProducerEpoch != open.Epoch || d.TimeoutMillis != 60000 {
				t.Errorf("describe %s: %+v, want Ongoing, producer %d epoch %d, timeout 60000", openID, d, open.ProducerID, open.Epoch)
			}
			if len(d.Partitions) != 1 || d.Partitions[0] != (TopicPartition{topic, 0}) {
				t.Errorf("describe %s: partitions %v, want %s/0", openID, d.Partitions, topic)
			}
			if d.Started == nil || time.Since(*d.Started) > time.Minute || *d.DurationMillis < 0 {
				t.Errorf("describe %s: started %v duration %v", openID, d.Started, d.DurationMillis)
			}
			ds, err = c.DescribeTransactions(ctx, commitID)
			if err != nil {
				t.Fatal(err)
			}
			if ds[0].State != "CompleteCommit" || len(ds[0].Partitions) != 0 || ds[0].DurationMillis != nil {
				t.Errorf("describe %s: %+v, want CompleteCommit with no partitions and no duration", commitID, ds[0])
			}
			if _, err := c.DescribeTransactions(ctx, "never-"+sfx); !errors.Is(err, ErrUnknownTransaction) {
				t.Errorf("describe unknown id: err = %v", err)
			}
		})
	}
}

func TestTransactionsFindHangingAndAbort(t *testing.T) {
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.kafka {
				// Its coordinator checks every transactional batch's
				// partition (KIP-890): no client can leave one hanging.
				t.Skip("Rewind verifies each transactional batch's partition; aborting an open transaction is TestTransactionsAbortOpen")
			}
			c := dial(t, tc.addr)
			txntest.DisableVerification(t, tc.addr)
			ctx := testCtx(t)
			sfx := suffix()
			topic := "txn-hang-" + sfx
			if err := c.CreateTopic(ctx, topic, 3, 1, nil); err != nil {
				t.Fatal(err)
			}
			// Partition 0: an ongoing transaction its coordinator holds,
			// never hanging. Partitions 1 and 2: hanging ones.
			open := txntest.Txn(t, tc.addr, "live-"+sfx, topic, 0, 2, txntest.Open, "", nil)
			hangID := "hang-" + sfx
			pid, epoch, off := txntest.Hanging(t, tc.addr, hangID, topic, 1, 2)
			pid2, epoch2, _ := txntest.Hanging(t, tc.addr, "hang2-"+sfx, topic, 2, 1)
			time.Sleep(10 * time.Millisecond)

			ps, err := c.DescribeProducers(ctx, []TopicPartition{{topic, 0}, {topic, 1}})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 2 || ps[0].ProducerID != open.ProducerID || ps[0].TxnStartOffset != 0 ||
				ps[1].ProducerID != pid || ps[1].ProducerEpoch != epoch || ps[1].TxnStartOffset != off || ps[1].CoordinatorEpoch != -1 {
				t.Fatalf("describe producers: %+v", ps)
			}

			all := []TopicSelection{{Topic: topic}}
			hs, err := c.FindHanging(ctx, HangingOptions{Topics: all, BrokerID: -1})
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != 2 {
				t.Fatalf("find-hanging: %+v, want partitions 1 and 2", hs)
			}
			h := hs[0]
			if h.TP() != (TopicPartition{topic, 1}) || h.ProducerID != pid || h.TxnStartOffset != off || h.TransactionalID != hangID ||
				!strings.Contains(h.Why, "is Empty and its transaction does not include "+topic+"/1") {
				t.Errorf("find-hanging: %+v", h)
			}
			if hs[1].TP() != (TopicPartition{topic, 2}) || hs[1].ProducerID != pid2 {
				t.Errorf("find-hanging: %+v", hs[1])
			}
			if young, err := c.FindHanging(ctx, HangingOptions{Topics: all, BrokerID: -1, MaxTimeout: time.Hour}); err != nil || len(young) != 0 {
				t.Errorf("find-hanging --max-transaction-timeout 1h: %+v %v, want none (all are seconds old)", young, err)
			}
			if byBroker, err := c.FindHanging(ctx, HangingOptions{Topics: []TopicSelection{{Topic: topic, Partitions: []int32{2}}}, BrokerID: 1 << 20}); err != nil || len(byBroker) != 0 {
				t.Errorf("find-hanging --broker-id of no broker: %+v %v", byBroker, err)
			}
			if _, err := c.FindHanging(ctx, HangingOptions{BrokerID: -1}); err == nil {
				t.Error("find-hanging without scope succeeded")
			}

			// The hanging transaction holds the last stable offset at its
			// start: read_committed consumers see nothing of partition 1.
			lso, hw := stableAndEnd(t, c, topic, 1)
			if lso != off || hw != off+2 {
				t.Fatalf("before abort: LSO %d HW %d, want %d and %d", lso, hw, off, off+2)
			}
			if _, err := c.AbortTransaction(ctx, AbortSpec{TopicPartition: TopicPartition{topic, 1}, StartOffset: off + 7}); !errors.Is(err, ErrNoOpenTransaction) ||
				!strings.Contains(err.Error(), fmt.Sprintf("start at offset(s) %d", off)) {
				t.Errorf("abort at a wrong start offset: %v", err)
			}
			a, err := c.AbortTransaction(ctx, AbortSpec{TopicPartition: TopicPartition{topic, 1}, StartOffset: off})
			if err != nil {
				t.Fatal(err)
			}
			if a.ProducerID != pid || a.ProducerEpoch != epoch || a.CoordinatorEpoch != 0 || a.StartOffset != off {
				t.Errorf("abort: %+v", a)
			}
			// By producer, as for brokers before 3.0; -1 is sent as 0.
			if _, err := c.AbortTransaction(ctx, AbortSpec{TopicPartition: TopicPartition{topic, 2}, StartOffset: -1,
				ProducerID: pid2, ProducerEpoch: epoch2, CoordinatorEpoch: -1}); err != nil {
				t.Fatal(err)
			}
			for p := int32(1); p <= 2; p++ {
				lso, hw := stableAndEnd(t, c, topic, p)
				if lso != hw {
					t.Errorf("after abort: %s/%d LSO %d HW %d, want them equal (the marker ends the transaction)", topic, p, lso, hw)
				}
			}
			hs, err = c.FindHanging(ctx, HangingOptions{Topics: all, BrokerID: -1})
			if err != nil || len(hs) != 0 {
				t.Errorf("find-hanging after abort: %+v %v", hs, err)
			}
		})
	}
}

// TestTransactionsAbortOpen: a transaction its coordinator still holds is
// never listed as hanging, and abort by start offset ends it on the
// partition: the last stable offset moves to the high watermark.
func TestTransactionsAbortOpen(t *testing.T) {
	for _, tc := range txnClusters(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr)
			needTxnAPIs(t, c, tc)
			ctx := testCtx(t)
			sfx := suffix()
			topic := "txn-abort-" + sfx
			if err := c.CreateTopic(ctx, topic, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			open := txntest.Txn(t, tc.addr, "abort-open-"+sfx, topic, 0, 3, txntest.Open, "", nil)
			ps, err := c.DescribeProducers(ctx, []TopicPartition{{topic, 0}})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || ps[0].ProducerID != open.ProducerID || ps[0].ProducerEpoch != open.Epoch || ps[0].TxnStartOffset != 0 || ps[0].LastSequence != 2 {
				t.Fatalf("describe producers: %+v, want producer %d epoch %d open at 0, last sequence 2", ps, open.ProducerID, open.Epoch)
			}
			if hs, err := c.FindHanging(ctx, HangingOptions{Topics: []TopicSelection{{Topic: topic}}, BrokerID: -1}); err != nil || len(hs) != 0 {
				t.Fatalf("find-hanging lists a transaction its coordinator holds: %+v %v", hs, err)
			}
			if lso, hw := stableAndEnd(t, c, topic, 0); lso != 0 || hw != 3 {
				t.Fatalf("LSO %d HW %d, want 0 and 3", lso, hw)
			}
			a, err := c.AbortTransaction(ctx, AbortSpec{TopicPartition: TopicPartition{topic, 0}, StartOffset: 0})
			if err != nil {
				t.Fatal(err)
			}
			if a.ProducerID != open.ProducerID || a.StartOffset != 0 {
				t.Errorf("abort: %+v", a)
			}
			if lso, hw := stableAndEnd(t, c, topic, 0); lso != 4 || hw != 4 {
				t.Errorf("after abort: LSO %d HW %d, want 4 and 4 (3 records and the marker)", lso, hw)
			}
			if ps, err := c.DescribeProducers(ctx, []TopicPartition{{topic, 0}}); err != nil || len(ps) != 1 || ps[0].Open() {
				t.Errorf("describe producers after abort: %+v %v", ps, err)
			}
		})
	}
}

// stableAndEnd lists a partition's last stable offset (ListOffsets
// read_committed) and high watermark.
func stableAndEnd(t *testing.T, c *Client, topic string, p int32) (lso, hw int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lo, _ := l.Lookup(topic, p)
	eo, _ := e.Lookup(topic, p)
	return lo.Offset, eo.Offset
}
