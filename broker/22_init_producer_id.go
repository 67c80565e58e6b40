package broker

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: v0-4
//
// Idempotent producers only: a new producer gets a fresh id with epoch 0;
// ids are reserved durably in blocks from the catalog, so an id is never
// issued twice, even across crashes. v3+ (KIP-360): a producer that names
// its current id and epoch gets the epoch bumped (a new id once the epoch
// would overflow). A transactional id is refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: Rewind has no transactions.

func init() { regKey(22, 0, 4, handleInitProducerID) }

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
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return now(resp)
	}
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < 32766 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return now(resp)
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
