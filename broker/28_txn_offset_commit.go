package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit: v0-6
//
// A transactional producer's commit of its consumer group's offsets
// (consume-transform-produce). The group coordinator writes them at once
// into the group's __consumer_offsets partition, in a transactional batch
// of the producer, and keeps them pending until the transaction's marker
// (group/txn.go); the answer waits until the batch is durable.
//
//   - v0-2: no member id or generation; v2+ the leader epoch.
//   - v3+: member id, generation and group instance id, checked as Kafka
//     checks them for transactional commits (UNKNOWN_MEMBER_ID,
//     ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
//   - v4+ may be answered TRANSACTION_ABORTABLE by the transaction
//     coordinator's verification; v5 is v4 for clients of transaction
//     version 2, whose commit also adds the group to the transaction.
//   - v6 names topics by id: an unknown id is UNKNOWN_TOPIC_ID, and an
//     unknown group with a generation GROUP_ID_NOT_FOUND.
//
// An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION, as
// KafkaApis answers before the coordinator sees the request.

func init() { regKey(28, 0, 6, handleTxnOffsetCommit) }

// txnOffsetCommitVerifier is the transaction coordinator's check, before
// the commit is written, that the producer's transaction holds the
// group's __consumer_offsets partition (Kafka's
// maybeStartTransactionVerification: under transaction version 2 the
// commit itself adds it, v5+). It returns 0 or the code every partition is
// answered with. Nil (no transaction coordinator): nothing is verified.
type txnOffsetCommitVerifier interface {
	VerifyTxnOffsetCommit(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, partition int32, version int16) int16
}

func handleTxnOffsetCommit(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	var n respSize
	n.elems(len(req.Topics), 2*sizeOf[kmsg.TxnOffsetCommitResponseTopic](), 8)
	for _, t := range req.Topics {
		n.str(2 * len(t.Topic))
		n.elems(len(t.Partitions), 2*sizeOf[kmsg.TxnOffsetCommitResponseTopicPartition]()+256, 8)
		for _, p := range t.Partitions {
			n.str(len(req.Group) + len(t.Topic) + len(deref(p.Metadata)))
		}
	}
	if err := r.reserveResponse("TxnOffsetCommit", n); err != nil {
		return reply{}, err
	}
	unknownID := resolveTxnCommitTopicIDs(b, req)
	finish := func(resp *kmsg.TxnOffsetCommitResponse) *kmsg.TxnOffsetCommitResponse {
		for i := range resp.Topics {
			if unknownID[i] {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
				}
			}
		}
		return resp
	}
	g, ctx := b.grp, r.groupCtx()
	// Kafka verifies the transaction after KafkaApis has answered the
	// unknown topics and partitions and the group coordinator an empty
	// group id, and only for the partitions left: the coordinator alone
	// answers a request with none.
	if v := b.txnVerify; v != nil && req.Group != "" && b.anyPartition(req) {
		return reply{later: func() (kmsg.Response, error) {
			if code := v.VerifyTxnOffsetCommit(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, g.PartitionFor(req.Group), req.Version); code != 0 {
				resp := txnCommitError(req, code)
				for i, rt := range req.Topics {
					for j, rp := range rt.Partitions {
						if b.partition(rt.Topic, rp.Partition) == nil {
							resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicOrPartition.Code
						}
					}
				}
				return finish(resp), nil
			}
			return finish(g.TxnOffsetCommit(ctx, req)), nil
		}}, nil
	}
	// Appended here, on the read loop, in request order; answered once
	// durable, off it.
	wait := g.BeginTxnOffsetCommit(ctx, req)
	return reply{later: func() (kmsg.Response, error) { return finish(wait()), nil }}, nil
}

// anyPartition says whether a partition req names exists.
func (b *Broker) anyPartition(req *kmsg.TxnOffsetCommitRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if b.partition(rt.Topic, rp.Partition) != nil {
				return true
			}
		}
	}
	return false
}

// resolveTxnCommitTopicIDs names v6 topics by their ids; the topics whose
// id is unknown (answered UNKNOWN_TOPIC_ID) keep no name, which no
// partition exists under.
func resolveTxnCommitTopicIDs(b *Broker, req *kmsg.TxnOffsetCommitRequest) map[int]bool {
	if req.Version < 6 {
		return nil
	}
	idName := make(map[[16]byte]string)
	for _, t := range b.reg.list() {
		idName[t.ID] = t.Name
	}
	var unknown map[int]bool
	for i := range req.Topics {
		name, ok := idName[req.Topics[i].TopicID]
		if !ok {
			if unknown == nil {
				unknown = make(map[int]bool)
			}
			unknown[i] = true
		}
		req.Topics[i].Topic = name
	}
	return unknown
}

// txnCommitError answers every partition of req with code.
func txnCommitError(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
