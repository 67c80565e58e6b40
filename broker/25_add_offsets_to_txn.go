package broker

import (
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn: v0-4
//
// Adds the group's __consumer_offsets partition to the transaction, as
// Kafka does: the offsets a TxnOffsetCommit then writes for the group are
// pending until the transaction's marker reaches that partition (the group
// coordinator applies or drops them). Answered once durable.
//
// Version notes: PRODUCER_FENCED from v2 (INVALID_PRODUCER_EPOCH below);
// v3 flexible; v4 may answer TRANSACTION_ABORTABLE.

func init() { regKey(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	ctx := r.c.ctx
	return reply{later: func() (kmsg.Response, error) {
		p := txn.Partition{Topic: OffsetsTopic, Partition: group.PartitionFor(req.Group, b.grp.Partitions())}
		if err := b.txn.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.Partition{p}, 0); err != nil {
			resp.ErrorCode = fencedCode(err, req.Version, 2)
		}
		return resp, nil
	}}, nil
}
