package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The group coordinator's transactional writes to __consumer_offsets:
// a transaction's offset commits in a transactional batch of its
// producer, and the marker ending it (group.Store.AppendTxn and
// AppendMarker).
//
// Kafka's coordinator writes its transactional batches with sequence 0
// and skips the log's sequence checks (AppendOrigin.COORDINATOR); Rewind's
// log checks every producer batch, so each batch gets the producer's next
// sequence in the partition instead (0 for a new epoch). The producer
// epoch is checked as Kafka checks it: an older one is refused with
// INVALID_PRODUCER_EPOCH. Choosing the sequence and appending happen under
// one lock per partition, markers included, so that two commits of one
// producer cannot pick the same sequence.

var txnAppendLocks sync.Map // *storage.Log -> *sync.Mutex

func txnAppendLock(l *storage.Log) *sync.Mutex {
	mu, _ := txnAppendLocks.LoadOrStore(l, new(sync.Mutex))
	return mu.(*sync.Mutex)
}

func (s offsetsStore) AppendTxn(partition int32, producerID int64, producerEpoch int16, recs []group.Record) (group.Pending, error) {
	l := s.b.partition(OffsetsTopic, partition)
	if l == nil {
		return nil, fmt.Errorf("broker: %s-%d does not exist: %w", OffsetsTopic, partition, kerr.UnknownTopicOrPartition)
	}
	if len(recs) == 0 {
		return durable{}, nil
	}
	if err := s.b.disk.writable(); err != nil {
		return nil, fmt.Errorf("%w: %w", group.ErrStoreFull, err) // commits are refused on a full disk (diskspace.go)
	}
	srecs := make([]storage.Record, len(recs))
	ts := int64(0)
	for i, r := range recs {
		srecs[i] = storage.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		if i == 0 || r.Timestamp < ts {
			ts = r.Timestamp
		}
	}
	mu := txnAppendLock(l)
	mu.Lock()
	defer mu.Unlock()
	seq := int32(0)
	if ps, ok := l.Producer(producerID); ok && ps.ProducerEpoch == producerEpoch && ps.LastSequence >= 0 {
		seq = ps.LastSequence + 1
		if ps.LastSequence == 1<<31-1 {
			seq = 0 // sequences wrap, as the log expects
		}
	}
	batch := storage.BuildTxnBatch(ts, producerID, producerEpoch, seq, srecs)
	res, err := l.Append(batch)
	if err != nil {
		return nil, txnStoreErr(err)
	}
	if res.Duplicate {
		// Cannot happen with the sequence chosen above; never answer a
		// commit that was not written.
		return nil, fmt.Errorf("broker: %s-%d: transactional batch of producer %d taken as a retry: %w", OffsetsTopic, partition, producerID, kerr.UnknownServerError)
	}
	return &offsetsPending{l: l, end: res.LastOffset + 1}, nil
}

func (s offsetsStore) AppendMarker(partition int32, m group.Marker) (group.Pending, error) {
	l := s.b.partition(OffsetsTopic, partition)
	if l == nil {
		return nil, fmt.Errorf("broker: %s-%d does not exist: %w", OffsetsTopic, partition, kerr.UnknownTopicOrPartition)
	}
	// Taken on a full disk, as tombstones are: a marker is small, and
	// it is what ends the open transactions.
	mu := txnAppendLock(l)
	mu.Lock()
	defer mu.Unlock()
	res, err := l.AppendMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Commit, m.TxnVersion)
	if err != nil {
		return nil, txnStoreErr(err)
	}
	return &offsetsPending{l: l, end: res.LastOffset + 1}, nil
}

// txnStoreErr is storeErr with the log's transaction errors as Kafka
// answers them.
func txnStoreErr(err error) error {
	switch {
	case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
		return fmt.Errorf("%w: %w", kerr.TransactionCoordinatorFenced, err)
	case errors.Is(err, storage.ErrInvalidTxnState):
		return fmt.Errorf("%w: %w", kerr.InvalidTxnState, err)
	}
	return storeErr(err)
}

// completeGroupTxn is the broker's groupTxnMarker: the group coordinator
// appends the marker in order with the groups' writes and applies or
// drops the producer's pending offsets once it is durable. The code
// answered is the error's Kafka code, as Kafka's handleWriteTxnMarkers
// answers the group coordinator's failure (Errors.forException):
// REQUEST_TIMED_OUT when ctx ended first, KAFKA_STORAGE_ERROR for a
// storage error without one.
func (b *Broker) completeGroupTxn(ctx context.Context, partition int32, pid int64, epoch int16, coordinatorEpoch int32, commit bool, txnVersion int8) int16 {
	err := b.grp.CompleteTxn(ctx, partition, group.Marker{ProducerID: pid, ProducerEpoch: epoch,
		CoordinatorEpoch: coordinatorEpoch, Commit: commit, TxnVersion: txnVersion})
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	b.log.Warn("transaction marker for __consumer_offsets failed", "partition", partition, "producer_id", pid, "err", err)
	return kerr.KafkaStorageError.Code
}
