package broker

import (
	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn: v0-5
//
// Commits or aborts the transaction. The answer comes once PrepareCommit
// or PrepareAbort is durable in __transaction_state; the coordinator then
// writes the markers into every partition of the transaction and records
// CompleteCommit/CompleteAbort (package txn), so a read_committed consumer
// sees the outcome shortly after.
//
// Version notes:
//   - v2: PRODUCER_FENCED (INVALID_PRODUCER_EPOCH below, as Kafka).
//   - v3 flexible; v4: TRANSACTION_ABORTABLE.
//   - v5 (KIP-890 part 2, transaction.version 2): the epoch is bumped at
//     every end and returned with the producer id.

func init() { regKey(26, 0, 5, handleEndTxn) }

func handleEndTxn(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	tv := txn.TV1
	if req.Version >= 5 {
		tv = b.txn.Version()
	}
	ctx := r.c.ctx
	return reply{later: func() (kmsg.Response, error) {
		pid, epoch, err := b.txn.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, tv)
		if err != nil {
			resp.ErrorCode = fencedCode(err, req.Version, 2)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp, nil
	}}, nil
}
