package broker_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func initTxn(t *testing.T, cl *kgo.Client, id string, timeout int32) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeout
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("InitProducerId(%s): %v", id, err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func describeTxn(t *testing.T, cl *kgo.Client, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.TransactionStates[0]
}

// A transactional id is served by this broker: FindCoordinator finds it,
// InitProducerId gives it a producer id and bumps the epoch each time,
// AddPartitionsToTxn and AddOffsetsToTxn open a transaction, and all of it
// is in __transaction_state: a restarted broker describes the same.
// Before the coordinator existed FindCoordinator and InitProducerId
// answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func TestTransactionStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "txn", 2)

	for _, v := range []int16{0, 3, 4} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = v, 1, "tx-1", []string{"tx-1"}
		vs := kversion.Stable() // kgo sends the highest common version: cap it
		vs.SetMaxKeyVersion(10, v)
		resp, err := fc.RequestWith(testCtx(t, 10*time.Second), newClient(t, b.Addr(), kgo.MaxVersions(vs)))
		if err != nil {
			t.Fatal(err)
		}
		code, node := resp.ErrorCode, resp.NodeID
		if v >= 4 {
			code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		if code != 0 || node != 0 {
			t.Fatalf("FindCoordinator v%d: %v node %d", v, kerr.ErrorForCode(code), node)
		}
	}

	pid, e0 := initTxn(t, cl, "tx-1", 60000)
	pid2, e1 := initTxn(t, cl, "tx-1", 60000)
	if pid2 != pid || e1 != e0+1 {
		t.Fatalf("second InitProducerId: %d/%d after %d/%d", pid2, e1, pid, e0)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "tx-1", pid, e1
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "txn", Partitions: []int32{1, 0}}}
	addResp, err := add.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range addResp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "tx-1", pid, e1, "g"
	aoResp, err := ao.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil || aoResp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %v", err, kerr.ErrorForCode(aoResp.ErrorCode))
	}
	before := describeTxn(t, cl, "tx-1")
	if before.State != "Ongoing" || len(before.Topics) != 2 {
		t.Fatalf("describe: %+v", before)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := rewindtest.Start(t, broker.WithDataDir(dir))
	cl2 := newClient(t, b2.Addr())
	after := describeTxn(t, cl2, "tx-1")
	if after.State != before.State || after.ProducerID != pid || after.ProducerEpoch != e1 || after.StartTimestamp != before.StartTimestamp || len(after.Topics) != 2 {
		t.Fatalf("after restart: %+v, before %+v", after, before)
	}
	// The fenced producer stays fenced after the restart.
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx-1", pid, e0, true
	endResp, err := end.RequestWith(testCtx(t, 10*time.Second), cl2)
	if err != nil || endResp.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("EndTxn of the fenced epoch: %v %v", err, kerr.ErrorForCode(endResp.ErrorCode))
	}
	list := kmsg.NewPtrListTransactionsRequest()
	list.StateFilters = []string{"Ongoing"}
	lr, err := list.RequestWith(testCtx(t, 10*time.Second), cl2)
	if err != nil || len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "tx-1" {
		t.Fatalf("ListTransactions: %v %+v", err, lr)
	}
}

// ApiVersions v3 advertises transaction.version 2, which kgo reads to use
// KIP-890 part 2.
func TestApiVersionsAdvertisesTransactionVersion(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "t", "1"
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	for _, f := range resp.FinalizedFeatures {
		ok = ok || (f.Name == "transaction.version" && f.MaxVersionLevel == 2 && f.MinVersionLevel == 2)
	}
	if !ok || resp.FinalizedFeaturesEpoch < 0 {
		t.Fatalf("finalized features %+v epoch %d", resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
	}
}

// TxnOffsetCommit is written only for a producer whose transaction holds
// the group's __consumer_offsets partition: added by AddOffsetsToTxn, or by
// the commit itself from v5 (transaction version 2). Before the
// coordinator checked it, any producer id was taken.
func TestTxnOffsetCommitVerified(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "in", 1)
	commit := func(v int16, pid int64, epoch int16, group string) int16 {
		t.Helper()
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = v, "tx-oc", group, pid, epoch
		req.Generation = -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// kgo sends the highest version both sides have: cap it at v.
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(28, v)
		resp, err := req.RequestWith(testCtx(t, 10*time.Second), newClient(t, b.Addr(), kgo.MaxVersions(vs)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	pid, e := initTxn(t, cl, "tx-oc", 60000)
	for _, c := range []struct {
		what  string
		v     int16
		pid   int64
		epoch int16
		want  int16
	}{
		{"a producer id the coordinator never gave", 3, 987654, 0, kerr.InvalidProducerIDMapping.Code},
		{"a stale epoch", 3, pid, e - 1, kerr.InvalidProducerEpoch.Code},
		{"the group not added (v3)", 3, pid, e, kerr.InvalidTxnState.Code},
		{"the group not added (v4)", 4, pid, e, kerr.TransactionAbortable.Code},
		{"v5 adds the group itself", 5, pid, e, 0},
	} {
		if got := commit(c.v, c.pid, c.epoch, "g-oc"); got != c.want {
			t.Fatalf("%s: %v, want %v", c.what, kerr.ErrorForCode(got), kerr.ErrorForCode(c.want))
		}
	}
	if d := describeTxn(t, cl, "tx-oc"); d.State != "Ongoing" || len(d.Topics) != 1 || d.Topics[0].Topic != "__consumer_offsets" {
		t.Fatalf("after the v5 commit: %+v", d)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "tx-oc", pid, e, "g-oc2"
	if resp, err := ao.RequestWith(testCtx(t, 10*time.Second), cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	if got := commit(3, pid, e, "g-oc2"); got != 0 {
		t.Fatalf("v3 commit after AddOffsetsToTxn: %v", kerr.ErrorForCode(got))
	}
}

// A Produce holding a transactional batch but no transactional id is
// refused whole, as Kafka 4.4 refuses it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// on every partition, the request's plain batches included, checked before
// anything else: test/differential TestTransactionalProduceErrors), and
// nothing is appended. It used to be INVALID_TXN_STATE on the
// transactional partition only, the plain batch appended.
func TestTransactionalProduceWithoutTransactionalID(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "notxnid", 2)
	idem := kmsg.NewPtrInitProducerIDRequest()
	idem.ProducerID, idem.ProducerEpoch = -1, -1
	ir, err := idem.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v, error %d", err, ir.ErrorCode)
	}
	txnBatch := mutBatch(func(bb []byte) {
		binary.BigEndian.PutUint16(bb[offAttributes:], 0x10) // transactional
		binary.BigEndian.PutUint64(bb[43:], uint64(ir.ProducerID))
		binary.BigEndian.PutUint16(bb[51:], uint16(ir.ProducerEpoch))
		binary.BigEndian.PutUint32(bb[53:], 0) // first sequence
	})
	for _, v := range []int16{3, 11, 12} {
		req := produceRequest("notxnid", 0, txnBatch)
		req.Version = v
		plain := kmsg.NewProduceRequestTopicPartition()
		plain.Partition, plain.Records = 1, goodBatch(2)
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, plain)
		resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || p.BaseOffset != -1 {
				t.Errorf("v%d partition %d: error %v, base offset %d; want TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1",
					v, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
			}
		}
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "notxnid"
	for p := int32(0); p < 2; p++ {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	lr, err := lo.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lr.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Offset != 0 {
			t.Errorf("partition %d: end offset %d (error %d) after refused produces; want 0", p.Partition, p.Offset, p.ErrorCode)
		}
	}
}

// InitProducerId without a transactional id naming a producer id and epoch
// (v3+) gets a new producer id with epoch 0, as Kafka 4.4 answers it
// (test/differential TestIdempotentInitProducerIDWithProducer): it used to
// bump the epoch of the id named, whoever's it was, which let any client
// fence another producer's writes.
func TestIdempotentInitProducerIDIgnoresNamedProducer(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	first := kmsg.NewPtrInitProducerIDRequest()
	first.ProducerID, first.ProducerEpoch = -1, -1
	fr, err := first.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil || fr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v, error %d", err, fr.ErrorCode)
	}
	for _, v := range []int16{3, 4, 5} {
		for _, epoch := range []int16{0, 7} {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version, req.ProducerID, req.ProducerEpoch = v, fr.ProducerID, epoch
			resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != 0 || resp.ProducerID == fr.ProducerID || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
				t.Errorf("v%d naming %d/%d: error %v, producer %d epoch %d; want a new producer id with epoch 0",
					v, fr.ProducerID, epoch, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
			}
		}
	}
}
