package broker

import (
	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn: v0-5
//
// v0-3 (clients): one transactional id; every partition is added to its
// transaction, or none: a partition of an unknown topic gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as
// in Kafka. Answered once the state is durable, off the read loop.
//
// v4+ (the batched broker form, KIP-890): several transactions; with
// VerifyOnly each partition is checked to be in the id's ongoing
// transaction (TRANSACTION_ABORTABLE when it is not), without it they are
// added (what a partition leader does for a TV2 produce).
//
// Version notes: PRODUCER_FENCED from v2 (INVALID_PRODUCER_EPOCH below);
// v3 flexible; v5 may answer TRANSACTION_ABORTABLE.

func init() { regKey(24, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var n respSize
	for _, t := range req.Transactions {
		n.str(len(t.TransactionalID))
		for _, tt := range t.Topics {
			n.str(len(tt.Topic))
			n.elems(len(tt.Partitions), sizeOf[kmsg.AddPartitionsToTxnResponseTransactionTopicPartition](), 8)
		}
	}
	for _, tt := range req.Topics {
		n.str(len(tt.Topic))
		n.elems(len(tt.Partitions), sizeOf[kmsg.AddPartitionsToTxnResponseTopicPartition](), 8)
	}
	if err := r.reserveResponse("AddPartitionsToTxn", n); err != nil {
		return reply{}, err
	}
	ctx := r.c.ctx
	if req.Version < 4 {
		return reply{later: func() (kmsg.Response, error) {
			parts, errs := b.txnPartitions(toTxnTopics(req.Topics))
			var err *kerr.Error
			if len(errs) == 0 {
				err = b.txn.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, 0)
			}
			resp.Topics = addPartitionsAnswer(req.Topics, func(p txn.Partition) int16 {
				if e, ok := errs[p]; ok {
					return e.Code
				}
				if len(errs) > 0 {
					return kerr.OperationNotAttempted.Code
				}
				if err != nil {
					return fencedCode(err, req.Version, 2)
				}
				return 0
			})
			return resp, nil
		}}, nil
	}
	return reply{later: func() (kmsg.Response, error) {
		for _, t := range req.Transactions {
			rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rt.TransactionalID = t.TransactionalID
			topics := make([]kmsg.AddPartitionsToTxnRequestTopic, len(t.Topics))
			for i, tt := range t.Topics {
				topics[i] = kmsg.AddPartitionsToTxnRequestTopic{Topic: tt.Topic, Partitions: tt.Partitions}
			}
			parts, errs := b.txnPartitions(toTxnTopics(topics))
			var perPart map[txn.Partition]*kerr.Error
			var err *kerr.Error
			switch {
			case len(errs) > 0:
			case t.VerifyOnly:
				perPart, err = b.txn.Verify(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts)
			default:
				err = b.txn.AddPartitions(ctx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, txn.TV2)
			}
			for _, rtt := range addPartitionsAnswer(topics, func(p txn.Partition) int16 {
				switch {
				case errs[p] != nil:
					return errs[p].Code
				case len(errs) > 0:
					return kerr.OperationNotAttempted.Code
				case err != nil:
					return err.Code
				case perPart[p] != nil:
					return perPart[p].Code
				}
				return 0
			}) {
				tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				tt.Topic = rtt.Topic
				for _, rp := range rtt.Partitions {
					p := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					p.Partition, p.ErrorCode = rp.Partition, rp.ErrorCode
					tt.Partitions = append(tt.Partitions, p)
				}
				rt.Topics = append(rt.Topics, tt)
			}
			resp.Transactions = append(resp.Transactions, rt)
		}
		return resp, nil
	}}, nil
}

type txnTopic struct {
	topic string
	parts []int32
}

func toTxnTopics(ts []kmsg.AddPartitionsToTxnRequestTopic) []txnTopic {
	out := make([]txnTopic, len(ts))
	for i, t := range ts {
		out[i] = txnTopic{t.Topic, t.Partitions}
	}
	return out
}

// txnPartitions returns the partitions named, and the error of each that
// cannot be in a transaction: an unknown topic or partition.
func (b *Broker) txnPartitions(ts []txnTopic) ([]txn.Partition, map[txn.Partition]*kerr.Error) {
	var parts []txn.Partition
	errs := map[txn.Partition]*kerr.Error{}
	for _, t := range ts {
		for _, p := range t.parts {
			tp := txn.Partition{Topic: t.topic, Partition: p}
			parts = append(parts, tp)
			if b.partition(t.topic, p) == nil {
				errs[tp] = kerr.UnknownTopicOrPartition
			}
		}
	}
	return parts, errs
}

func addPartitionsAnswer(ts []kmsg.AddPartitionsToTxnRequestTopic, code func(txn.Partition) int16) []kmsg.AddPartitionsToTxnResponseTopic {
	out := make([]kmsg.AddPartitionsToTxnResponseTopic, 0, len(ts))
	for _, t := range ts {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode = code(txn.Partition{Topic: t.Topic, Partition: p})
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
