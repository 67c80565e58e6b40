package broker

import (
	"context"
	"errors"
	"sync"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteTxnMarkers: v1-2 (Kafka 4.0 removed v0)
//
// The transaction coordinator's request to a partition leader: write the
// commit or abort marker of each producer's transaction into every
// partition named, and answer once they are durable. On one node the
// coordinator (package txn) calls writeTxnMarkers in process; the wire
// handler serves the same function (Kafka's tools and tests send it too:
// kafka-transactions.sh abort).
//
// Each partition is answered as Kafka's handleWriteTxnMarkersRequest and
// ProducerAppendInfo.appendEndTxnMarker do: UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_PRODUCER_EPOCH for an older epoch (transaction version 2: one not
// newer than the producer's), TRANSACTION_COORDINATOR_FENCED for an older
// coordinator epoch, KAFKA_STORAGE_ERROR when the log cannot take it (fenced,
// full disk, failed fsync). Every marker is appended before any wait, so
// the partitions' fsyncs run together.
//
// Markers for __consumer_offsets partitions go to groupTxnMarker when it is
// set: Kafka 4.x delegates those wholly to the group coordinator, which
// writes the marker in order with the group's records and applies or drops
// the producer's pending offset commits. Its COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS and NOT_COORDINATOR are answered
// NOT_LEADER_OR_FOLLOWER, which the transaction coordinator retries, as
// Kafka translates them.
//
// Version notes:
//   - v1: flexible. v2 (KIP-1228): TransactionVersion, which decides the
//     epoch check; v1 markers are checked as transaction version 0.

func init() { regKey(27, 1, 2, handleWriteTxnMarkers) }

// groupTxnMarker is the group coordinator's handling of a marker for a
// __consumer_offsets partition (Broker.groupTxnMarker, set before the
// broker serves; nil: written like any other partition's): it writes the
// marker of producer pid's transaction into that partition, completes the
// transaction for the groups there, and returns once the marker is
// durable with the Kafka error code to answer (0: written).
type groupTxnMarker func(ctx context.Context, partition int32, pid int64, epoch int16, coordinatorEpoch int32, commit bool, txnVersion int8) int16

func handleWriteTxnMarkers(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	var n respSize
	n.elems(len(req.Markers), sizeOf[kmsg.WriteTxnMarkersResponseMarker](), 16)
	for _, m := range req.Markers {
		n.elems(len(m.Topics), sizeOf[kmsg.WriteTxnMarkersResponseMarkerTopic](), 8)
		for _, t := range m.Topics {
			n.str(len(t.Topic))
			n.elems(len(t.Partitions), sizeOf[kmsg.WriteTxnMarkersResponseMarkerTopicPartition]()+sizeOf[markerWait](), 8)
		}
	}
	if err := r.reserveResponse("WriteTxnMarkers", n); err != nil {
		return reply{}, err
	}
	ctx := r.c.ctx
	return reply{later: func() (kmsg.Response, error) {
		resp := b.writeTxnMarkers(ctx, req)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return resp, nil
	}}, nil
}

// markerWait is a marker appended to a partition, waiting to be durable.
type markerWait struct {
	log *storage.Log
	end int64
	rp  *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
}

// writeTxnMarkers writes every marker of req and waits until each is
// durable per --fsync (or ctx ends: the partitions still waiting are
// answered REQUEST_TIMED_OUT). The response has one entry per marker, in
// the request's order, each with every partition it named. It is safe for
// concurrent use; it holds no broker lock while it waits.
func (b *Broker) writeTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) *kmsg.WriteTxnMarkersResponse {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	resp.Version = req.Version
	var waits []markerWait
	var groupWG sync.WaitGroup
	for _, m := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = m.ProducerID
		txnVersion := int8(0)
		if req.Version >= 2 {
			txnVersion = m.TransactionVersion
		}
		sm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, 0, len(m.Topics))
		for _, t := range m.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = t.Topic
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
		// The partitions' slices are final from here on: their elements'
		// addresses can be kept.
		for i, t := range m.Topics {
			for j, p := range t.Partitions {
				rp := &resp.Markers[len(resp.Markers)-1].Topics[i].Partitions[j]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if t.Topic == OffsetsTopic && b.groupTxnMarker != nil {
					groupWG.Add(1)
					go func(m kmsg.WriteTxnMarkersRequestMarker) {
						defer groupWG.Done()
						code := b.groupTxnMarker(ctx, p, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, txnVersion)
						switch code {
						case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
							code = kerr.NotLeaderForPartition.Code
						}
						rp.ErrorCode = code
					}(m)
					continue
				}
				l, end, code := b.appendMarker(t.Topic, p, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, txnVersion)
				if rp.ErrorCode = code; code == 0 {
					waits = append(waits, markerWait{l, end, rp})
				}
			}
		}
	}
	for _, w := range waits {
		if err := w.log.WaitDurable(ctx, w.end); err != nil {
			if ctx.Err() != nil {
				w.rp.ErrorCode = kerr.RequestTimedOut.Code
				continue
			}
			w.rp.ErrorCode = kerr.KafkaStorageError.Code
			b.storageErrs.error("marker fsync failed", "log", w.log.Dir(), "err", err)
		}
	}
	groupWG.Wait()
	return resp
}

// appendMarker appends one marker to topic/partition: the log and the
// offset to wait for, or the Kafka error code.
func (b *Broker) appendMarker(topic string, partition int32, pid int64, epoch int16, coordEpoch int32, commit bool, txnVersion int8) (*storage.Log, int64, int16) {
	l := b.partition(topic, partition)
	if l == nil {
		return nil, 0, kerr.UnknownTopicOrPartition.Code
	}
	if err := b.disk.writable(); err != nil {
		return nil, 0, kerr.KafkaStorageError.Code
	}
	res, err := l.AppendMarker(pid, epoch, coordEpoch, commit, txnVersion)
	switch {
	case err == nil:
		return l, res.LastOffset + 1, 0
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return nil, 0, kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrTransactionCoordinatorFenced):
		return nil, 0, kerr.TransactionCoordinatorFenced.Code
	case errors.Is(err, storage.ErrInvalidRecord):
		return nil, 0, kerr.InvalidRecord.Code
	}
	b.storageErrs.error("marker append failed", "topic", topic, "partition", partition, "err", err)
	return nil, 0, kerr.KafkaStorageError.Code
}
