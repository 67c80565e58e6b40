package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnReq(v int16, group string, pid int64, epoch int16, topic string, offs map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version, r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = v, "tx", group, pid, epoch
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offs {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

func txnCodes(r *kmsg.TxnOffsetCommitResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out[tpName(t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// stableCode is the RequireStable fetch's code and offset for t/p.
func (h *harness) stableFetch(group, topic string, p int32) (int16, int64) {
	h.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group, r.RequireStable = 7, group, true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	r.Topics = append(r.Topics, rt)
	resp := h.c.OffsetFetch(context.Background(), r)
	sp := resp.Topics[0].Partitions[0]
	return sp.ErrorCode, sp.Offset
}

// A marker that cannot be written leaves the transaction's offsets
// pending (the coordinator writes it again), and CompleteTxn answers the
// store's error.
func TestTxnMarkerFailureKeepsPending(t *testing.T) {
	h := newHarness(t)
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 9}))), 0)
	h.store.setFail(fmt.Errorf("disk gone: %w", kerr.KafkaStorageError))
	err := h.c.CompleteTxn(context.Background(), h.c.PartitionFor("g"), Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true})
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("CompleteTxn with a failing store: %v, want KAFKA_STORAGE_ERROR", err)
	}
	code, _ := h.stableFetch("g", "t", 0)
	wantCode(t, "RequireStable after a failed marker", code, kerr.UnstableOffsetCommit.Code)
	h.store.setFail(nil)
	if err := h.c.CompleteTxn(context.Background(), h.c.PartitionFor("g"), Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true}); err != nil {
		t.Fatal(err)
	}
	code, off := h.stableFetch("g", "t", 0)
	if code != 0 || off != 9 {
		t.Fatalf("after the marker: %s %d, want 9", errName(code), off)
	}
}

// A marker whose fsync fails is not applied, and the offsets are pending
// again; the store's error is the answer.
func TestTxnMarkerSyncFailure(t *testing.T) {
	h := newHarness(t)
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 9}))), 0)
	h.store.gated = true
	done := make(chan error, 1)
	go func() {
		done <- h.c.CompleteTxn(context.Background(), h.c.PartitionFor("g"), Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true})
	}()
	h.eventually("marker appended", func() bool { return h.store.gateCount() == 1 })
	if ps := h.c.PendingTxnOffsets("g"); len(ps) != 1 { // the marker is in flight: not applied
		t.Fatalf("pending while the marker is in flight: %+v", ps)
	}
	h.store.release(0, fmt.Errorf("fsync: %w", kerr.KafkaStorageError))
	if err := <-done; !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("CompleteTxn: %v", err)
	}
	if ps := h.c.PendingTxnOffsets("g"); len(ps) != 1 || ps[0].Offset != 9 {
		t.Fatalf("pending after a failed marker: %+v", ps)
	}
	if c := h.c.Committed("g"); c["t"] != nil {
		t.Fatalf("a failed marker applied %v", c)
	}
}

// A TxnOffsetCommit the store refuses is answered with the error and
// leaves nothing pending; a stale producer epoch is INVALID_PRODUCER_EPOCH.
func TestTxnOffsetCommitRefused(t *testing.T) {
	h := newHarness(t)
	h.store.setFail(fmt.Errorf("disk gone: %w", kerr.KafkaStorageError))
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 9}))), kerr.NotCoordinator.Code)
	if ps := h.c.PendingTxnOffsets("g"); len(ps) != 0 {
		t.Fatalf("a refused commit is pending: %+v", ps)
	}
	h.store.setFail(nil)
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 2, "t", map[int32]int64{0: 9}))), 0)
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 1, "t", map[int32]int64{0: 10}))), kerr.InvalidProducerEpoch.Code)
	if ps := h.c.PendingTxnOffsets("g"); len(ps) != 1 || ps[0].Offset != 9 {
		t.Fatalf("pending after a fenced commit: %+v", ps)
	}
	if err := h.c.CompleteTxn(context.Background(), h.c.PartitionFor("g"), Marker{ProducerID: 5, ProducerEpoch: 1, Commit: true}); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("a marker of an older epoch: %v, want INVALID_PRODUCER_EPOCH", err)
	}
}

// Request-level errors, as Kafka's GroupCoordinatorService answers them.
func TestTxnOffsetCommitRequestErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.TopicPartitionExists = func(topic string, p int32) bool { return topic == "t" && p < 2 }
		c.OffsetMetadataMaxBytes = 4
	})
	ctx := context.Background()
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "", 5, 0, "t", map[int32]int64{0: 1}))), kerr.InvalidGroupID.Code)
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "u", map[int32]int64{0: 1}))), kerr.UnknownTopicOrPartition.Code)
	codes := txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "t", map[int32]int64{1: 1, 7: 1})))
	wantCode(t, "t/1", codes["t/1"], 0)
	wantCode(t, "t/7", codes["t/7"], kerr.UnknownTopicOrPartition.Code)
	big := txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 1})
	meta := "too long"
	big.Topics[0].Partitions[0].Metadata = &meta
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, big)), kerr.OffsetMetadataTooLarge.Code)
	h.c.Close()
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 1}))), kerr.CoordinatorNotAvailable.Code)
	if err := h.c.CompleteTxn(ctx, 0, Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true}); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("CompleteTxn on a closed coordinator: %v", err)
	}
}

// A fenced partition answers NOT_COORDINATOR to both.
func TestTxnFencedPartition(t *testing.T) {
	h := newHarness(t)
	p := h.c.PartitionFor("g")
	h.c.FencePartition(p, errors.New("damaged"))
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(context.Background(), txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 1}))), kerr.NotCoordinator.Code)
	if err := h.c.CompleteTxn(context.Background(), p, Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true}); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("CompleteTxn on a fenced partition: %v", err)
	}
}

// Observers see a transactional commit pending, then applied by its
// marker and marked as transactional, live and replayed alike.
func TestTxnEvents(t *testing.T) {
	log := &eventLog{}
	h := newHarness(t, observed(log))
	ctx := context.Background()
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 9}))), 0)
	if err := h.c.CompleteTxn(ctx, h.c.PartitionFor("g"), Marker{ProducerID: 5, ProducerEpoch: 0, Commit: true}); err != nil {
		t.Fatal(err)
	}
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 6, 0, "t", map[int32]int64{1: 4}))), 0)
	if err := h.c.CompleteTxn(ctx, h.c.PartitionFor("g"), Marker{ProducerID: 6, ProducerEpoch: 0, Commit: false}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`txn-pending g pid=5 epoch=0 t/0 offset=9 at=0s`,
		`commit g t/0 offset=9 epoch=-1 meta="" at=0s expire=- txn pid=5`,
		`txn-ended g pid=5 committed=true applied=[t/0]`,
		`txn-pending g pid=6 epoch=0 t/1 offset=4 at=0s`,
		`txn-ended g pid=6 committed=false applied=[]`,
	}
	wantEvents(t, log.take(), want)
	h.restart()
	var replayed []string
	for _, l := range want {
		replayed = append(replayed, l+" replayed")
	}
	wantEvents(t, log.take(), replayed)
}

// Transactional commits, plain commits and markers of many producers and
// groups at once: every committed transaction's offsets are applied
// exactly when no later plain commit replaced them, in memory as after a
// replay (run with -race).
func TestTxnConcurrent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			grp := fmt.Sprintf("g%d", w%3)
			pid := int64(100 + w)
			for i := 0; i < 50; i++ {
				off := int64(w*1000 + i)
				codes := txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, grp, pid, 0, "t", map[int32]int64{int32(w % 4): off})))
				if codes[tpName("t", int32(w%4))] != 0 {
					t.Errorf("txn commit: %v", codes)
					return
				}
				if i%5 == 0 {
					h.commit(commitReq(8, grp, "", -1, map[string]map[int32]int64{"t": {int32(w % 4): -off}}))
				}
				if err := h.c.CompleteTxn(ctx, h.c.PartitionFor(grp), Marker{ProducerID: pid, ProducerEpoch: 0, Commit: i%3 != 0}); err != nil {
					t.Errorf("marker: %v", err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	h.settle()
	before := map[string]map[string]map[int32]OffsetInfo{}
	for _, g := range []string{"g0", "g1", "g2"} {
		before[g] = h.c.Committed(g)
		if ps := h.c.PendingTxnOffsets(g); len(ps) != 0 {
			t.Fatalf("%s: pending after every marker: %+v", g, ps)
		}
	}
	n := h.restart()
	for g, want := range before {
		got := n.c.Committed(g)
		for p, o := range want["t"] {
			if got["t"][p].Offset != o.Offset {
				t.Errorf("%s t/%d: %d after a replay, %d before", g, p, got["t"][p].Offset, o.Offset)
			}
		}
	}
}

// OffsetDelete applies once its tombstone is durable: a transactional
// offset written before it goes with it, one written after it stays and
// is applied by the marker, in memory as after a replay.
func TestTxnDeleteWhileInFlight(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	allCodes(t, txnCodes(h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 9, 1: 9}))), 0)
	h.store.gated = true
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = "t"
	for _, p := range []int32{0, 1} {
		dp := kmsg.NewOffsetDeleteRequestTopicPartition()
		dp.Partition = p
		dt.Partitions = append(dt.Partitions, dp)
	}
	del.Topics = append(del.Topics, dt)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); h.c.OffsetDelete(ctx, del) }()
	h.eventually("tombstones appended", func() bool { return h.store.gateCount() == 1 })
	go func() {
		defer wg.Done()
		h.c.TxnOffsetCommit(ctx, txnReq(3, "g", 5, 0, "t", map[int32]int64{0: 11}))
	}()
	h.eventually("second commit appended", func() bool { return h.store.gateCount() == 2 })
	go func() {
		defer wg.Done()
		if err := h.c.CompleteTxn(ctx, h.c.PartitionFor("g"), Marker{ProducerID: 5, Commit: true}); err != nil {
			t.Errorf("marker: %v", err)
		}
	}()
	h.eventually("marker appended", func() bool { return h.store.gateCount() == 3 })
	for i := 0; i < 3; i++ {
		h.store.release(i, nil)
	}
	wg.Wait()
	h.settle()
	check := func(h *harness, when string) {
		t.Helper()
		_, got := h.fetch(7, "g", map[string][]int32{"t": {0, 1}})
		if got["t/0"] != 11 || got["t/1"] != -1 {
			t.Fatalf("%s: %v, want t/0=11 (written after the deletion) and t/1 deleted", when, got)
		}
	}
	check(h, "in memory")
	h.store.gated = false
	check(h.restart(), "after a replay")
}
