package broker

import (
	"sync"

	"github.com/rewindhq/rewind/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: v0-5
//
// Without a transactional id (an idempotent producer): a fresh producer
// id with epoch 0; ids are reserved durably in blocks from the catalog, so
// an id is never issued twice, even across crashes. The producer id and
// epoch a v3+ request names (KIP-360) are ignored, as Kafka's coordinator
// ignores them without a transactional id: nothing ties that id to the
// client, so bumping its epoch would let any client fence another's
// producer on every partition it writes.
//
// With a transactional id the transaction coordinator answers (package
// txn: epoch bumps, fencing of older producers, the abort of an open
// transaction, KIP-360 recovery), once the new state is durable in
// __transaction_state; the wait happens off the read loop.
//
// Version notes:
//   - v3: ProducerID/ProducerEpoch of the current producer (KIP-360).
//   - v4: PRODUCER_FENCED; below v4 it is answered INVALID_PRODUCER_EPOCH,
//     which older clients know, as Kafka does.
//   - v5: TRANSACTION_ABORTABLE may be answered (KIP-890); nothing else.

func init() { regKey(22, 0, 5, handleInitProducerID) }

const pidBlock = 1000

type pidAllocator struct {
	b          *Broker
	mu         sync.Mutex
	next, last int64 // ids [next, last) are reserved and unused
}

func (a *pidAllocator) alloc() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.last {
		first, err := a.b.reg.cat.ReserveProducerIDs(pidBlock)
		if err != nil {
			return 0, err
		}
		a.next, a.last = first, first+pidBlock
	}
	id := a.next
	a.next++
	return id, nil
}

func handleInitProducerID(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		var expected *txn.ProducerIDEpoch
		if req.Version >= 3 && req.ProducerID >= 0 {
			expected = &txn.ProducerIDEpoch{ID: req.ProducerID, Epoch: req.ProducerEpoch}
		}
		ctx, id := r.c.ctx, *req.TransactionalID
		return reply{later: func() (kmsg.Response, error) {
			pid, epoch, err := b.txn.InitProducerID(ctx, id, req.TransactionTimeoutMillis, expected)
			if err != nil {
				resp.ErrorCode = fencedCode(err, req.Version, 4)
				return resp, nil
			}
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
			return resp, nil
		}}, nil
	}
	id, err := b.pids.alloc()
	if err != nil {
		b.log.Error("producer id reservation failed", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return now(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return now(resp)
}

// fencedCode is err's code for a request of version v: PRODUCER_FENCED
// exists from version since on, and is INVALID_PRODUCER_EPOCH below it
// (Kafka's KafkaApis does the same for every transactional API).
func fencedCode(err *kerr.Error, v, since int16) int16 {
	if err == kerr.ProducerFenced && v < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return err.Code
}
