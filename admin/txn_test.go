package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// serves reports whether the broker serves every API key (ApiVersions).
func (e *env) serves(t *testing.T, keys ...int16) bool {
	t.Helper()
	vs, err := kadm.NewClient(e.client(t)).ApiVersions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, k := range keys {
			if _, ok := v.KeyMaxVersion(k); !ok {
				return false
			}
		}
	}
	return true
}

// TestTransactionsAPI: GET /api/v1/transactions lists the transactions open
// on partitions, from the broker in process; an ended one is gone.
func TestTransactionsAPI(t *testing.T) {
	e := newEnv(t)
	if !e.serves(t, 24, 27) { // AddPartitionsToTxn, WriteTxnMarkers
		t.Skip("the broker has no transaction coordinator writing markers yet")
	}
	e.createTopic(t, "orders", 2)
	open := txntest.Txn(t, e.b.Addr(), "etl-1", "orders", 0, 3, txntest.Open, "", nil)
	txntest.Txn(t, e.b.Addr(), "etl-2", "orders", 1, 2, txntest.Commit, "", nil)

	// The committed one is gone once its marker is written.
	var v txnView
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code := e.get(t, "/api/v1/transactions", &v); code != 200 {
			t.Fatalf("GET /api/v1/transactions: %d", code)
		}
		if len(v.Open) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open transactions: %+v, want the one of etl-1", v.Open)
		}
	}
	o := v.Open[0]
	if o.Topic != "orders" || o.Partition != 0 || o.ProducerID != open.ProducerID || o.ProducerEpoch != open.Epoch ||
		o.StartOffset != 0 || o.LastStable != 0 || o.HighWatermark != 3 || time.Since(o.LastWrite) > time.Minute ||
		o.TransactionalID != "etl-1" || o.State != "Ongoing" {
		t.Errorf("open transaction: %+v", o)
	}
	if len(o.GroupOffsets) != 0 {
		t.Errorf("group offsets of a transaction that committed none: %+v", o.GroupOffsets)
	}

	t.Run("group offsets", func(t *testing.T) {
		if !e.serves(t, 25, 28) { // AddOffsetsToTxn, TxnOffsetCommit
			t.Skip("the broker does not serve TxnOffsetCommit yet")
		}
		e.createTopic(t, "totals", 1)
		p := txntest.Txn(t, e.b.Addr(), "etl-3", "totals", 0, 1, txntest.Open, "etl", map[int32]int64{0: 42})
		if code := e.get(t, "/api/v1/transactions", &v); code != 200 {
			t.Fatalf("GET /api/v1/transactions: %d", code)
		}
		// It is open on totals/0 and on the group's __consumer_offsets
		// partition (its offsets are a transactional batch there), and
		// each row names the offset it holds.
		var topics []string
		for _, o := range v.Open {
			if o.ProducerID != p.ProducerID {
				continue
			}
			topics = append(topics, o.Topic)
			if len(o.GroupOffsets) != 1 || o.GroupOffsets[0] != (broker.TxnGroupOffset{Group: "etl", Topic: "totals", Partition: 0, Offset: 42}) || o.TransactionalID != "etl-3" {
				t.Errorf("transaction of etl-3: %+v, want it holding etl totals/0 at 42", o)
			}
		}
		if fmt.Sprint(topics) != "[__consumer_offsets totals]" {
			t.Errorf("etl-3 is open on %v, want __consumer_offsets and totals", topics)
		}
	})
}

// TestExplainOpenTransaction: the console's explain says a group's lag
// cannot reach 0 while a transaction is open on its partition, naming the
// producer, as `rewind group explain` does.
func TestExplainOpenTransaction(t *testing.T) {
	e := newEnv(t)
	if !e.serves(t, 24, 27) {
		t.Skip("the broker has no transaction coordinator writing markers yet")
	}
	e.createTopic(t, "orders", 1)
	open := txntest.Txn(t, e.b.Addr(), "etl-1", "orders", 0, 3, txntest.Open, "", nil)
	e.commitNow(t, "etl", "orders", map[int32]int64{0: 0})
	var ex offsettool.Explanation
	if code := e.get(t, "/api/v1/groups/etl/explain", &ex); code != 200 {
		t.Fatalf("explain: %d", code)
	}
	if len(ex.Partitions) != 1 {
		t.Fatalf("explain partitions: %+v", ex.Partitions)
	}
	p := ex.Partitions[0]
	want := fmt.Sprintf("producer %d (epoch %d) has had a transaction open there since offset 0", open.ProducerID, open.Epoch)
	if p.LastStable != 0 || p.LogEnd != 3 || p.LagCase != offsettool.LagOpenTxn || !strings.Contains(p.LagWhy, want) {
		t.Errorf("explain: LSO %d log end %d %s %q, want LSO 0, log end 3, open-transaction with %q", p.LastStable, p.LogEnd, p.LagCase, p.LagWhy, want)
	}
}
