package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce: v3-13 (record batch magic 2 only)
//
// Each partition's batches are validated and appended by storage in the
// order requests arrive on the connection. acks=1 and acks=-1 are answered
// only once the append is durable per --fsync (one broker, so "all
// replicas" is this disk); the wait happens off the read loop, so one fsync
// can cover several pipelined requests. acks=0 gets no response.
//
// The request's frame is reused for another request as soon as the
// handler returns (conn.go, bufpool.go): nothing may keep a reference to
// the records, or to any other bytes of the request, after that.
//
// A partition named more than once is appended to once, with the records
// of its last repetition, and answered once, as Kafka does (its handler
// puts the request into a map keyed by partition). The response is reserved
// in --max-response-memory (respmem.go); a request whose response alone
// would exceed it closes the connection (no top-level error code).
//
// Version notes:
//   - v3: transactional id. A request holding a transactional batch (the
//     first batch of any partition) without a transactional id is refused
//     whole, every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED, before
//     anything else is checked, as Kafka's KafkaApis does (a transactional
//     id is what such a batch is authorized by).
//     A transactional batch is appended only if its
//     partition is in the producer's ongoing transaction, checked with
//     the transaction coordinator before the append (KIP-890 part 1, as
//     Kafka 4 does; txnVerify): otherwise INVALID_TXN_STATE (v11:
//     TRANSACTION_ABORTABLE), a stale epoch INVALID_PRODUCER_EPOCH, and a
//     coordinator that is busy with the transaction NOT_ENOUGH_REPLICAS,
//     which every client retries.
//   - v12 (KIP-890 part 2, transaction.version 2): the partition is added
//     to the transaction by the broker itself; the client sends no
//     AddPartitionsToTxn.
//   - v5: LogStartOffset in the response. v8: ErrorRecords, ErrorMessage.
//   - v9: flexible. v10-11 change only NOT_LEADER answers, which a single
//     node never gives.
//   - v13 (KIP-516): topics by id, not name, in the request and the
//     response; an id no topic has is UNKNOWN_TOPIC_ID on each of its
//     partitions. A topic named twice is the same id twice.

//
// ApiVersions advertises Produce from v0 although v0-2 are refused (the
// connection is closed): Apache Kafka 4.0 does the same (KAFKA-18659)
// because librdkafka before 2.10 decides that gzip, snappy and lz4 are
// unsupported when the broker does not list Produce v0, and then sends
// those batches uncompressed.

func init() {
	regKey(0, 3, 13, handleProduce)
	advertiseFrom(0, 0)
}

func handleProduce(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	var waits []pending

	var unknownID map[int]bool
	if req.Version >= 13 {
		req.Topics, _ = dedupTopicParts(req.Topics, produceTopicID, producePart)
		for i := range req.Topics {
			name, ok := b.reg.byID(req.Topics[i].TopicID)
			if !ok {
				if unknownID == nil {
					unknownID = map[int]bool{}
				}
				unknownID[i] = true
			}
			req.Topics[i].Topic = name
		}
	} else {
		req.Topics, _ = dedupTopicParts(req.Topics, produceTopic, producePart)
	}
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.ProduceResponseTopic](), 16)
	for _, rt := range req.Topics {
		n.str(len(rt.Topic))
	}
	n.elems(countParts(req.Topics, produceTopic), sizeOf[kmsg.ProduceResponseTopicPartition]()+sizeOf[pending](), 64)
	if err := r.reserveResponse("Produce", n); err != nil {
		return reply{}, err
	}

	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	// Without an authorizer too (acl_checks.go checks it with one).
	noTxnID := req.TransactionID == nil && hasTxnRecords(req)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		if req.Version >= 13 {
			st.Topic, st.TopicID = "", rt.TopicID
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			switch {
			case noTxnID:
				sp.ErrorCode, sp.ErrorMessage = kerr.TransactionalIDAuthorizationFailed.Code, strp("Transactional Id authorization failed.")
				continue
			case badAcks:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			case unknownID[i]:
				sp.ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			records := rp.Records
			if b.partition(rt.Topic, rp.Partition) != nil {
				// Checked once the partition is known, as Kafka does.
				var code int16
				if records, code = oneBatch(records); code != 0 {
					sp.ErrorCode = code
					continue
				}
			}
			if code, msg := txnVerify(r, req, rt.Topic, rp.Partition, records); code != 0 {
				sp.ErrorCode, sp.ErrorMessage = code, msg
				continue
			}
			l, res, code, msg, recErrs := produceTo(b, rt.Topic, rp.Partition, records)
			if code != 0 {
				sp.ErrorCode, sp.ErrorMessage, sp.ErrorRecords = code, msg, recErrs
				if code == kerr.OutOfOrderSequenceNumber.Code || code == kerr.InvalidProducerEpoch.Code || code == kerr.InvalidTimestamp.Code || recErrs != nil {
					// As Kafka: these are found by the log itself (its
					// validator, for timestamps and keys), which answers
					// with its start offset.
					if l := b.partition(rt.Topic, rp.Partition); l != nil {
						sp.LogStartOffset = l.LogStartOffset()
					}
				}
				continue
			}
			sp.BaseOffset = res.BaseOffset
			sp.LogAppendTime = res.LogAppendTime
			sp.LogStartOffset = res.LogStartOffset
			waits = append(waits, pending{l, res.LastOffset + 1, sp})
		}
	}

	// producer_byte_rate (quota_rate.go): the request's bytes, appended
	// or not, as Kafka records them once the produce is handled; not those
	// of transactional records without a transactional id, which Kafka
	// refuses before (an error response, charged to request_percentage
	// only).
	if !noTxnID {
		r.chargeProduceBytes()
	}
	if req.Acks == 0 {
		r.s.noRequestQuota = true // as Kafka: acks=0 is exempt from request_percentage
		// No response; the data still becomes durable through the group
		// commit. An error cannot be answered, so, as Apache Kafka does, the
		// connection is closed to make the client refresh its metadata.
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					return reply{}, fmt.Errorf("acks=0 produce to %s/%d failed: %v", st.Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
				}
			}
		}
		return reply{none: true}, nil
	}
	if len(waits) == 0 || b.cfg.Fsync != storage.FsyncAlways {
		return now(resp)
	}
	// Answered from the syncers of the logs, once all are durable: no
	// goroutine waits for the fsync (storage.Log.OnDurable).
	return reply{async: func(finish func(kmsg.Response, error)) {
		var left atomic.Int32
		left.Store(int32(len(waits)))
		for _, w := range waits {
			w.log.OnDurable(w.end, func(err error) {
				if err != nil {
					w.rp.ErrorCode = kerr.KafkaStorageError.Code
					w.rp.BaseOffset = -1
					msg := err.Error()
					w.rp.ErrorMessage = &msg
					// Not logged here, under the log's lock.
					go b.storageErrs.error("fsync failed", "log", w.log.Dir(), "err", err)
				}
				if left.Add(-1) == 0 {
					finish(resp, nil)
				}
			})
		}
	}}, nil
}

// oneBatch applies Kafka's check of a partition's records from Produce v3
// (the versions served): ProduceRequest.validateRecords over its batch
// iterator. The records are one batch: another whole batch after it is
// INVALID_RECORD; a tail too short to be one is dropped, as Kafka's
// iterator stops before it and its log trims what it did not validate;
// a tail whose length or magic no batch has is CORRUPT_MESSAGE. Records
// that do not start with a whole batch are returned as they are, for
// storage's validation to refuse.
func oneBatch(records []byte) ([]byte, int16) {
	const overhead, minRecord, toMagic = 12, 14, 17 // base offset and length; the smallest record (magic 0); up to the magic
	h, err := storage.ParseBatchHeader(records)
	if err != nil || h.Length < minRecord || h.Size() > int64(len(records)) {
		return records, 0
	}
	first, rest := records[:h.Size()], records[h.Size():]
	if len(rest) < overhead {
		return first, 0
	}
	n := int64(int32(binary.BigEndian.Uint32(rest[8:12])))
	switch {
	case n < minRecord:
		return records, kerr.CorruptMessage.Code
	case len(rest) < toMagic:
		return first, 0
	case int8(rest[16]) < 0 || rest[16] > 2:
		return records, kerr.CorruptMessage.Code
	case int64(len(rest)) < overhead+n:
		return first, 0
	}
	return records, kerr.InvalidRecord.Code
}

// txnVerify checks that the transactional batch records of
// topic/partition may be appended: that the partition is in its
// producer's ongoing transaction, added now for a TV2 client (Produce
// v12+). It returns the code and message to answer instead of appending,
// or 0. Adding waits for __transaction_state to be durable, on the read
// loop: only the first batch to each partition of a transaction does.
func txnVerify(r *request, req *kmsg.ProduceRequest, topic string, partition int32, records []byte) (int16, *string) {
	h, err := storage.ParseBatchHeader(records)
	if err != nil || !h.IsTransactional() || h.ProducerID < 0 {
		return 0, nil // not transactional: storage validates the rest
	}
	if req.TransactionID == nil {
		// handleProduce refused the request (hasTxnRecords).
		return kerr.TransactionalIDAuthorizationFailed.Code, strp("Transactional Id authorization failed.")
	}
	b := r.c.b
	if l := b.partition(topic, partition); l == nil {
		return 0, nil // produceTo answers UNKNOWN_TOPIC_OR_PARTITION
	}
	if meta, known := b.topicMeta(topic); known && meta.Internal {
		return 0, nil // produceTo answers INVALID_TOPIC_EXCEPTION
	}
	kerrv := b.inTxn(r.c.ctx, *req.TransactionID, h.ProducerID, h.ProducerEpoch, txn.Partition{Topic: topic, Partition: partition}, req.Version >= 12)
	switch kerrv {
	case nil:
		return 0, nil
	case kerr.ProducerFenced:
		return kerr.InvalidProducerEpoch.Code, nil
	case kerr.TransactionAbortable:
		if req.Version == 11 {
			return kerr.TransactionAbortable.Code, nil
		}
		return kerr.InvalidTxnState.Code, strp("Partition was not added to the transaction")
	case kerr.InvalidTxnState:
		return kerrv.Code, strp("Partition was not added to the transaction")
	case kerr.ConcurrentTransactions, kerr.CoordinatorNotAvailable, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress:
		// Retriable for the coordinator, but not every client retries
		// those on a Produce: Kafka answers this one, which they do.
		return kerr.NotEnoughReplicas.Code, strp("Unable to verify the partition has been added to the transaction. Underlying error: " + kerrv.Message)
	}
	return kerrv.Code, nil
}

// produceTo validates and appends the batches of one partition of a
// Produce request (and of the admin listener's produce), returning the
// log, where the records went, and the answer's code, message and the
// records it refuses (INVALID_TIMESTAMP names each). The append is not
// yet durable: wait with the log's WaitDurable or OnDurable.
func produceTo(b *Broker, topic string, partition int32, records []byte) (*storage.Log, storage.AppendResult, int16, *string, []kmsg.ProduceResponseTopicPartitionErrorRecord) {
	if meta, known := b.topicMeta(topic); known && meta.Internal {
		return nil, storage.AppendResult{}, kerr.InvalidTopicException.Code, nil, nil
	}
	l := b.partition(topic, partition)
	if l == nil {
		return nil, storage.AppendResult{}, kerr.UnknownTopicOrPartition.Code, nil, nil
	}
	if err := b.disk.writable(); err != nil {
		// A full disk (diskspace.go): Kafka answers this for a partition
		// whose log directory is offline.
		return nil, storage.AppendResult{}, kerr.KafkaStorageError.Code, strp(err.Error()), nil
	}
	res, err := l.Append(records)
	if err != nil {
		code := produceErrorCode(err)
		if code == kerr.KafkaStorageError.Code {
			b.storageErrs.error("append failed", "topic", topic, "partition", partition, "err", err)
		}
		return nil, storage.AppendResult{}, code, strp(err.Error()), recordErrors(err, topic, partition)
	}
	b.met.produced(topic, len(records), res)
	return l, res, 0, nil, nil
}

// recordErrors lists the records a batch was refused for, as Kafka's
// LogValidator does for timestamps out of bounds and for records without a
// key in a compacted topic (one per record, the first
// storage.MaxTimestampErrors of them).
func recordErrors(err error, topic string, partition int32) []kmsg.ProduceResponseTopicPartitionErrorRecord {
	var ke *storage.KeyError
	if errors.As(err, &ke) {
		msg := strp(fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d", topic, partition))
		out := make([]kmsg.ProduceResponseTopicPartitionErrorRecord, 0, len(ke.Records))
		for _, i := range ke.Records {
			e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			e.RelativeOffset, e.ErrorMessage = i, msg
			out = append(out, e)
		}
		return out
	}
	var te *storage.TimestampError
	if !errors.As(err, &te) {
		return nil
	}
	out := make([]kmsg.ProduceResponseTopicPartitionErrorRecord, 0, len(te.Records))
	for _, i := range te.Records {
		e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		e.RelativeOffset = i
		e.ErrorMessage = strp(fmt.Sprintf("the timestamp of record %d is out of range: it must be within [%d, %d]", i, te.Lo, te.Hi))
		out = append(out, e)
	}
	return out
}

// pending is a produce response partition waiting for its append to be
// durable.
type pending struct {
	log *storage.Log
	end int64
	rp  *kmsg.ProduceResponseTopicPartition
}

func produceTopic(t *kmsg.ProduceRequestTopic) (string, *[]kmsg.ProduceRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

// produceTopicID keys v13+ topics by id: their names are not sent.
func produceTopicID(t *kmsg.ProduceRequestTopic) (string, *[]kmsg.ProduceRequestTopicPartition) {
	return string(t.TopicID[:]), &t.Partitions
}

func producePart(p *kmsg.ProduceRequestTopicPartition) int32 { return p.Partition }

// produceErrorCode maps a storage append error to the Kafka error code a
// real broker sends for it.
func produceErrorCode(err error) int16 {
	switch {
	case errors.Is(err, storage.ErrCorruptMessage):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, storage.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, storage.ErrUnsupportedVersion):
		// A magic 0 or 1 batch: Kafka refuses it in Produce v3+ with
		// InvalidRecordException.
		return kerr.InvalidRecord.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, storage.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// chargeProduceBytes records the Produce request's bytes (its frame,
// header included: Kafka's request.sizeInBytes) to producer_byte_rate and
// keeps the throttle for the response.
func (r *request) chargeProduceBytes() {
	if t := r.c.b.quotas.record(quotaProduce, r.c.quotaUser(), r.clientID, float64(r.size), time.Now()); t > r.s.throttle {
		r.s.throttle = t
	}
}
