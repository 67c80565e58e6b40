package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ProducerIDEpoch is a producer id and epoch.
type ProducerIDEpoch struct {
	ID    int64
	Epoch int16
}

// InitProducerID serves InitProducerId with a transactional id (Kafka's
// TransactionCoordinator.handleInitProducerId). expected is the producer's
// current id and epoch (v3+, KIP-360), nil when it has none. It blocks
// until the new state is durable.
//
//   - A new id gets a fresh producer id and epoch 0.
//   - A known id with no open transaction gets its epoch bumped, which
//     fences every older producer of the id; once the epoch is exhausted,
//     a new producer id with epoch 0.
//   - expected naming the epoch before the last bump is a retry whose
//     answer was lost: the current epoch again. Any other expected that
//     is not current is PRODUCER_FENCED.
//   - With a transaction open, it is aborted with a bumped epoch (the
//     epoch fence) and the answer is CONCURRENT_TRANSACTIONS: the client
//     retries and gets the epoch after the abort.
//   - A transaction being committed or aborted: CONCURRENT_TRANSACTIONS.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, expected *ProducerIDEpoch) (int64, int16, *kerr.Error) {
	switch {
	case id == "":
		return noProducerID, noProducerEpoch, kerr.InvalidRequest
	case timeoutMs <= 0 || int64(timeoutMs) > c.cfg.MaxTimeout.Milliseconds():
		return noProducerID, noProducerEpoch, kerr.InvalidTransactionTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, kerrv := c.lookup(id)
	if kerrv != nil {
		return noProducerID, noProducerEpoch, kerrv
	}
	if m == nil {
		pid, err := c.newPID()
		if err != nil {
			return noProducerID, noProducerEpoch, err
		}
		m = newMeta(id, pid, timeoutMs, c.nowMs())
		c.txns[id] = m
	}
	validPID := func(e ProducerIDEpoch) bool {
		// A just-created id (the producer recovers from
		// UNKNOWN_PRODUCER_ID), the current id, or the previous id with
		// an exhausted epoch (a retry after a rotation).
		return m.epoch == noProducerEpoch || e.ID == m.producerID ||
			(e.ID == m.prevProducerID && exhausted(e.Epoch))
	}
	switch {
	case m.pending != noState:
		return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
	case expected != nil && !validPID(*expected):
		return noProducerID, noProducerEpoch, kerr.ProducerFenced
	}
	var t transit
	switch m.state {
	case PrepareCommit, PrepareAbort:
		return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
	case Ongoing:
		// Abort it first; the client retries and gets the epoch after.
		if _, _, err := c.fenceAndAbort(ctx, m); err != nil {
			return noProducerID, noProducerEpoch, err
		}
		return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
	case Empty, CompleteCommit, CompleteAbort:
		var err error
		if exhausted(m.epoch) && (expected == nil || expected.Epoch == m.epoch) {
			pid, kerrv := c.newPID()
			if kerrv != nil {
				return noProducerID, noProducerEpoch, kerrv
			}
			t, err = m.prepareRotate(pid, timeoutMs, c.nowMs(), expected != nil)
		} else {
			var fenced bool
			var exp int16
			if expected != nil {
				exp = expected.Epoch
			}
			t, fenced, err = m.prepareBump(timeoutMs, exp, expected != nil, c.nowMs())
			if fenced {
				return noProducerID, noProducerEpoch, kerr.ProducerFenced
			}
		}
		if err != nil {
			c.log.Error("transaction state", "err", err)
			return noProducerID, noProducerEpoch, kerr.UnknownServerError
		}
	default: // Dead, PrepareEpochFence: never settled states
		return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
	}
	if err := c.write(ctx, m, t); err != nil {
		return noProducerID, noProducerEpoch, err
	}
	c.log.Info("initialized transactional id", "transactional_id", id, "producer_id", m.producerID, "epoch", m.epoch)
	return m.producerID, m.epoch, nil
}

func (c *Coordinator) newPID() (int64, *kerr.Error) {
	if c.cfg.NewProducerID == nil {
		return 0, kerr.UnknownServerError
	}
	pid, err := c.cfg.NewProducerID()
	if err != nil {
		c.log.Error("producer id reservation failed", "err", err)
		return 0, kerr.KafkaStorageError
	}
	return pid, nil
}
