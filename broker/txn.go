package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction coordinator (package txn) knows nothing of sockets or
// logs: this file gives it __transaction_state (txnStore) and the writer
// of the markers (txnMarkers), and replays the topic into it at start.

// TxnStateTopic is the internal topic of transaction state.
const TxnStateTopic = txn.StateTopic

// txnStateConfigs are the config overrides of __transaction_state: Kafka
// enforces compaction (only the last record of each id matters) and 100
// MiB segments.
func txnStateConfigs() map[string]string {
	return map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}
}

// startTxn builds the coordinator and replays __transaction_state into
// it. The topic is created on first use, as Kafka does (ensureTxnTopic),
// so a broker that never sees a transaction holds none of its partitions.
func (b *Broker) startTxn() error {
	meta, ok := b.topicMeta(TxnStateTopic)
	if !ok {
		meta.Partitions = b.cfg.TransactionStatePartitions
	}
	tc := txn.DefaultConfig()
	tc.Partitions = meta.Partitions
	tc.MaxTimeout = b.cfg.TransactionMaxTimeout
	tc.IDExpiration = b.cfg.TransactionalIDExpiration
	tc.AbortInterval = b.cfg.TransactionAbortInterval
	tc.NewProducerID = b.pids.alloc
	tc.Logger = b.log
	b.txn = txn.New(tc, txnStore{b}, txnMarkers{b})
	b.txnVerify = txnCommitVerifier{b}
	for p := int32(0); ok && p < meta.Partitions; p++ {
		if err := b.replayTxnState(p); err != nil {
			// As for __consumer_offsets: one damaged partition fences
			// only the ids it holds.
			if l := b.partition(TxnStateTopic, p); l != nil && l.Err() == nil {
				l.Fence(err)
			}
			b.txn.FencePartition(p, err)
			b.log.Error("transactional ids unavailable: their __transaction_state partition is damaged and fenced; repair it with `rewind repair`",
				"partition", fmt.Sprintf("%s-%d", TxnStateTopic, p), "err", err)
		}
	}
	return nil
}

// ensureTxnTopic creates __transaction_state if it does not exist yet
// (FindCoordinator for a transactional id, or the first write), with the
// partition count the coordinator hashes ids over.
func (b *Broker) ensureTxnTopic() error {
	if _, ok := b.topicMeta(TxnStateTopic); ok {
		return nil
	}
	b.txnCreate.Lock()
	defer b.txnCreate.Unlock()
	if _, ok := b.topicMeta(TxnStateTopic); ok {
		return nil
	}
	if _, err := b.reg.create(TxnStateTopic, b.txn.Partitions(), txnStateConfigs(), true, false, nil); err != nil {
		return fmt.Errorf("broker: create %s: %w", TxnStateTopic, err)
	}
	return nil
}

// replayTxnState feeds every record of __transaction_state partition p
// to the coordinator, in offset order. An undecodable record is skipped
// (logged), as Kafka skips keys it does not know.
func (b *Broker) replayTxnState(p int32) error {
	l := b.partition(TxnStateTopic, p)
	off := l.LogStartOffset()
	for off < l.HighWatermark() {
		rr, err := l.Read(off, 1<<20, true)
		if err != nil {
			return err
		}
		data, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		recs, next, err := storage.DecodeBatches(data, off)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := b.txn.Replay(p, rec.Key, rec.Value); err != nil {
				b.log.Warn("skipping undecodable record", "topic", TxnStateTopic, "partition", p, "offset", rec.Offset, "err", err)
			}
		}
		off = next
	}
	return nil
}

// inTxn checks that partition tp is in the ongoing transaction of id's
// producer pid/epoch before a transactional write to it (a produced batch,
// a transactional offset commit to the group's __consumer_offsets
// partition): with add (a TV2 client: Produce v12+, TxnOffsetCommit v5+)
// and transaction.version 2 it is added, durably, if it is not;
// otherwise a partition not in the transaction is TRANSACTION_ABORTABLE.
// Adding waits for __transaction_state to be durable.
func (b *Broker) inTxn(ctx context.Context, id string, pid int64, epoch int16, tp txn.Partition, add bool) *kerr.Error {
	// The previous transaction's end may still be writing its markers
	// when the producer's first batch of the next one arrives (EndTxn
	// is answered before that completes). Kafka's broker retries the
	// verification on CONCURRENT_TRANSACTIONS itself, every
	// add.partitions.to.txn.retry.backoff.ms (20 ms) for up to
	// add.partitions.to.txn.retry.backoff.max.ms (100 ms), before it
	// answers the producer NOT_ENOUGH_REPLICAS, which franz-go answers
	// with a metadata refresh of seconds. Rewind's coordinator is in the
	// same process, so instead of sleeping the whole backoff it retries
	// as soon as the end settles (its markers written), within the same
	// backoff and deadline: a producer's next transaction starts about
	// one fsync after the previous one's markers, not 20 ms.
	deadline := time.Now().Add(txnVerifyRetryMax)
	for {
		err := b.inTxnOnce(ctx, id, pid, epoch, tp, add)
		if err != kerr.ConcurrentTransactions || time.Now().After(deadline) {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, txnVerifyRetryBackoff)
		werr := b.txn.WaitSettled(wctx, id)
		cancel()
		if ctx.Err() != nil {
			return err
		}
		if werr == nil {
			// Settled, yet CONCURRENT_TRANSACTIONS may come again for a
			// moment (a pending transition not yet visible): never
			// spin faster than a millisecond.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// Kafka 4.4's add.partitions.to.txn.retry.backoff.ms and
// add.partitions.to.txn.retry.backoff.max.ms defaults.
const (
	txnVerifyRetryBackoff = 20 * time.Millisecond
	txnVerifyRetryMax     = 100 * time.Millisecond
)

func (b *Broker) inTxnOnce(ctx context.Context, id string, pid int64, epoch int16, tp txn.Partition, add bool) *kerr.Error {
	if add && b.txn.Version() >= txn.TV2 {
		return b.txn.AddPartitions(ctx, id, pid, epoch, []txn.Partition{tp}, txn.TV2)
	}
	per, err := b.txn.Verify(id, pid, epoch, []txn.Partition{tp})
	if err != nil {
		return err
	}
	return per[tp]
}

// txnCommitVerifier checks a TxnOffsetCommit against the coordinator
// before the group writes it (28_txn_offset_commit.go): the group's
// __consumer_offsets partition must be in the producer's transaction,
// added by AddOffsetsToTxn or, for a TV2 client (v5+), by the commit
// itself. The codes are Kafka's for a failed verification: a stale epoch
// INVALID_PRODUCER_EPOCH, a partition not in the transaction
// TRANSACTION_ABORTABLE from v4 and INVALID_TXN_STATE below.
type txnCommitVerifier struct{ b *Broker }

func (v txnCommitVerifier) VerifyTxnOffsetCommit(ctx context.Context, id string, pid int64, epoch int16, partition int32, version int16) int16 {
	err := v.b.inTxn(ctx, id, pid, epoch, txn.Partition{Topic: OffsetsTopic, Partition: partition}, version >= 5)
	switch err {
	case nil:
		return 0
	case kerr.ProducerFenced:
		return kerr.InvalidProducerEpoch.Code
	case kerr.TransactionAbortable:
		if version < 4 {
			return kerr.InvalidTxnState.Code
		}
	}
	return err.Code
}

// txnStore appends the coordinator's records to __transaction_state and
// waits for them to be durable.
type txnStore struct{ b *Broker }

func (s txnStore) Write(ctx context.Context, p int32, key, value []byte) error {
	if err := s.b.ensureTxnTopic(); err != nil {
		return fmt.Errorf("%w: %w", kerr.NotCoordinator, err)
	}
	l := s.b.partition(TxnStateTopic, p)
	if l == nil {
		return fmt.Errorf("broker: %s-%d does not exist: %w", TxnStateTopic, p, kerr.UnknownTopicOrPartition)
	}
	if err := s.b.disk.writable(); err != nil && value != nil {
		// A full disk: new state is refused (the client retries once
		// space returns); tombstones still go to the reserve.
		return fmt.Errorf("%w: %w", kerr.NotCoordinator, err)
	}
	ts := time.Now().UnixMilli()
	batch := storage.BuildBatch(ts, []storage.Record{{Key: key, Value: value, Timestamp: ts}})
	res, err := l.Append(batch)
	if err != nil {
		return storeErr(err)
	}
	if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
		return storeErr(err)
	}
	return nil
}

// txnMarkers writes a transaction's commit or abort markers through
// writeTxnMarkers (27_write_txn_markers.go), the function WriteTxnMarkers
// serves: the markers of every partition are appended, then waited for
// together, and those of __consumer_offsets partitions go to the group
// coordinator, which applies or drops the transaction's pending offsets.
type txnMarkers struct{ b *Broker }

func (w txnMarkers) WriteMarkers(ctx context.Context, m txn.Markers) ([]txn.Partition, error) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 2
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed = m.ProducerID, m.ProducerEpoch, m.Commit
	mk.CoordinatorEpoch, mk.TransactionVersion = m.CoordinatorEpoch, int8(m.TransactionVersion)
	for _, p := range m.Partitions {
		if n := len(mk.Topics); n == 0 || mk.Topics[n-1].Topic != p.Topic {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = p.Topic
			mk.Topics = append(mk.Topics, t)
		}
		t := &mk.Topics[len(mk.Topics)-1]
		t.Partitions = append(t.Partitions, p.Partition)
	}
	req.Markers = append(req.Markers, mk)
	resp := w.b.writeTxnMarkers(ctx, req)
	var retry []txn.Partition
	var err error
	for _, rm := range resp.Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				switch p.ErrorCode {
				case 0:
				case kerr.UnknownTopicOrPartition.Code:
					// Deleted since: Kafka drops its markers.
					w.b.log.Info("transaction marker skipped: the partition no longer exists", "transactional_id", m.TransactionalID, "topic", t.Topic, "partition", p.Partition)
				case kerr.InvalidProducerEpoch.Code, kerr.TransactionCoordinatorFenced.Code:
					// The partition has a newer producer epoch or
					// coordinator: this marker can never be written, and
					// Kafka stops sending it.
					w.b.log.Error("transaction marker refused", "transactional_id", m.TransactionalID, "topic", t.Topic, "partition", p.Partition, "err", kerr.ErrorForCode(p.ErrorCode))
				default:
					retry = append(retry, txn.Partition{Topic: t.Topic, Partition: p.Partition})
					err = fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
	}
	return retry, err
}
