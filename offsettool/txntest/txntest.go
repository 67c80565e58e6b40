// Package txntest leaves transactions in the states the transaction tools
// inspect (open, committed, aborted, hanging, holding group offsets), with
// a real franz-go transactional producer where a well-behaved client can
// reach the state, and with raw kmsg requests where only a broken one can
// (a hanging transaction). It works against any Kafka-compatible broker.
package txntest

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// End says how Txn ends the transaction.
type End int

const (
	Open   End = iota // left open until the test ends (then aborted)
	Commit            // committed
	Abort             // aborted
)

// Producer is a transactional producer Txn used.
type Producer struct {
	Client     *kgo.Client
	ProducerID int64
	Epoch      int16
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Txn produces n records to topic/partition in one transaction of
// transactional id txnID and ends it as told. An Open transaction stays
// open (timeout one minute) until the test ends, when it is aborted.
// offsets, when not nil, are committed in the transaction for group
// (AddOffsetsToTxn and TxnOffsetCommit with generation -1, as a producer
// outside a group does).
func Txn(t testing.TB, addr, txnID, topic string, partition int32, n int, end End, group string, offsets map[int32]int64) Producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(txnID), kgo.TransactionTimeout(time.Minute),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r := &kgo.Record{Partition: partition, Value: []byte(txnID + "-" + strconv.Itoa(i))}
		if err := cl.ProduceSync(c, r).FirstErr(); err != nil {
			cl.Close()
			t.Fatalf("txntest: produce in %s: %v", txnID, err)
		}
	}
	pid, epoch, err := cl.ProducerID(c)
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	if offsets != nil {
		commitOffsets(t, cl, txnID, pid, epoch, group, topic, offsets)
	}
	p := Producer{Client: cl, ProducerID: pid, Epoch: epoch}
	switch end {
	case Open:
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = cl.EndTransaction(c, kgo.TryAbort)
			cl.Close()
		})
		return p
	case Commit, Abort:
		if err := cl.EndTransaction(c, kgo.TransactionEndTry(end == Commit)); err != nil {
			cl.Close()
			t.Fatalf("txntest: end %s: %v", txnID, err)
		}
		waitEnded(t, c, kadm.NewClient(cl), txnID)
	}
	cl.Close()
	return p
}

// waitEnded waits until the coordinator has written the markers of
// txnID's end: EndTxn is answered once the end is prepared (Kafka and
// Rewind alike), so a reader that comes right after it may find the
// markers not yet written and the transaction still open.
func waitEnded(t testing.TB, ctx context.Context, adm *kadm.Client, txnID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctx, txnID)
		if err == nil {
			if d, ok := ds[txnID]; ok && d.Err == nil && d.State != "PrepareCommit" && d.State != "PrepareAbort" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("txntest: %s: markers not written after 30s (describe: %v)", txnID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func commitOffsets(t testing.TB, cl *kgo.Client, txnID string, pid int64, epoch int16, group, topic string, offsets map[int32]int64) {
	t.Helper()
	c := ctx(t)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
		resp, err := add.RequestWith(c, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil {
			break
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) {
			t.Fatalf("txntest: AddOffsetsToTxn: %v", err)
		}
	}
	// TxnOffsetCommit v6 names topics by id.
	tds, err := kadm.NewClient(cl).ListTopics(c, topic)
	if err == nil {
		err = tds.Error()
	}
	if err != nil {
		t.Fatalf("txntest: topic id of %s: %v", topic, err)
	}
	// The group coordinator may be loading; retry its retriable errors.
	for deadline := time.Now().Add(15 * time.Second); ; {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
		req.Generation, req.MemberID = -1, ""
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, tds[topic].ID
		for p, o := range offsets {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(c, cl)
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && err == nil {
						err = e
					}
				}
			}
		}
		if err == nil {
			return
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) {
			t.Fatalf("txntest: TxnOffsetCommit: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DisableVerification turns off Apache Kafka's
// transaction.partition.verification.enable (KIP-890; a dynamic
// cluster-wide broker config) until the test ends, so that Hanging can
// write a transactional batch the coordinator never heard of: the broker
// bug verification prevents.
func DisableVerification(t testing.TB, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if err := setVerification(ctx(t), cl, "false"); err != nil {
		cl.Close()
		t.Fatalf("txntest: disable %s: %v", verificationConfig, err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = setVerification(c, cl, "")
		cl.Close()
	})
	// Dynamic broker configs reach the broker through the metadata log:
	// give it a moment to apply.
	time.Sleep(time.Second)
}

const verificationConfig = "transaction.partition.verification.enable"

// setVerification sets the cluster-wide verificationConfig to v, or back
// to its default when v is empty.
func setVerification(ctx context.Context, cl *kgo.Client, v string) error {
	ac := kadm.AlterConfig{Op: kadm.SetConfig, Name: verificationConfig, Value: &v}
	if v == "" {
		ac = kadm.AlterConfig{Op: kadm.DeleteConfig, Name: verificationConfig}
	}
	rs, err := kadm.NewClient(cl).AlterBrokerConfigs(ctx, []kadm.AlterConfig{ac})
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	return err
}

// Hanging leaves a hanging transaction on topic/partition: txnID gets a
// producer id from InitProducerId, then n records are produced as a
// transactional batch without AddPartitionsToTxn (Produce v11, before
// KIP-890's implicit add), so the partition has an open transaction its
// coordinator knows nothing of. On Apache Kafka call DisableVerification
// first. It returns the producer id and epoch and the batch's offset.
func Hanging(t testing.TB, addr, txnID, topic string, partition int32, n int) (pid int64, epoch int16, offset int64) {
	t.Helper()
	// kgo sends the highest version both sides know; cap Produce at v11.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(0, 11)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := ctx(t)
	var initResp *kmsg.InitProducerIDResponse
	for deadline := time.Now().Add(15 * time.Second); ; {
		init := kmsg.NewPtrInitProducerIDRequest()
		init.TransactionalID = &txnID
		init.TransactionTimeoutMillis = 60000
		initResp, err = init.RequestWith(c, cl)
		if err == nil {
			err = kerr.ErrorForCode(initResp.ErrorCode)
		}
		if err == nil {
			break
		}
		if !kerr.IsRetriable(err) || time.Now().After(deadline) {
			t.Fatalf("txntest: InitProducerId %s: %v", txnID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid, epoch = initResp.ProducerID, initResp.ProducerEpoch
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID = &txnID
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch(pid, epoch, n)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if err := proctest.ProduceTopicIDs(c, cl, req); err != nil {
		t.Fatalf("txntest: %v", err)
	}
	for attempt := 0; ; attempt++ {
		resp, err := req.RequestWith(c, cl)
		if err != nil {
			t.Fatalf("txntest: produce hanging batch: %v", err)
		}
		p := resp.Topics[0].Partitions[0]
		err = kerr.ErrorForCode(p.ErrorCode)
		if err == nil {
			return pid, epoch, p.BaseOffset
		}
		// Verification refused the batch: another test on the same
		// Kafka restored the config as it ended. Turn it off again.
		if attempt < 5 && (errors.Is(err, kerr.TransactionAbortable) || errors.Is(err, kerr.InvalidTxnState)) {
			setVerification(c, cl, "false")
			time.Sleep(time.Second)
			continue
		}
		t.Fatalf("txntest: produce hanging batch: %v", err)
	}
}

// batch is a transactional record batch of n records, sequence 0.
func batch(pid int64, epoch int16, n int) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte("hanging-" + strconv.Itoa(i))}
		// Length counts what follows it: measure with a zero Length (one
		// varint byte), then encode for real.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           0x10, // transactional
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        0,
		NumRecords:           int32(n),
		Records:              recs,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	// The CRC (Castagnoli) covers everything after it, from attributes.
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}
