package txn

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AddPartitions adds parts to id's transaction, starting one if none is
// open (AddPartitionsToTxn v0-3, AddOffsetsToTxn, and with TV2 the
// implicit add of a Produce v12+ or TxnOffsetCommit v5+; tv is the
// client's transaction version). It blocks until the state is durable.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []Partition, tv int16) *kerr.Error {
	if id == "" {
		return kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookup(id)
	switch {
	case err != nil:
		return err
	case m == nil || m.producerID != pid:
		return kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return kerr.ProducerFenced
	case m.pending != noState, m.state == PrepareCommit, m.state == PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	if m.state == Ongoing && m.has(parts) {
		return nil // nothing to write
	}
	t, perr := m.prepareAdd(parts, tv, c.nowMs())
	if perr != nil {
		c.log.Error("transaction state", "err", perr)
		return kerr.UnknownServerError
	}
	return c.write(ctx, m, t)
}

func (m *meta) has(parts []Partition) bool {
	for _, p := range parts {
		if _, ok := m.parts[p]; !ok {
			return false
		}
	}
	return true
}

// Verify says whether each of parts is in id's ongoing transaction (the
// check before a transactional batch is appended: AddPartitionsToTxn v4+
// with VerifyOnly). A partition that is not gets TRANSACTION_ABORTABLE;
// errors of the whole transaction apply to every partition.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, parts []Partition) (map[Partition]*kerr.Error, *kerr.Error) {
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookup(id)
	switch {
	case err != nil:
		return nil, err
	case m == nil || m.producerID != pid:
		return nil, kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return nil, kerr.ProducerFenced
	case m.state == PrepareCommit, m.state == PrepareAbort:
		// The pending state is not checked: the partitions are added only
		// once durable, and removed only once the markers are.
		return nil, kerr.ConcurrentTransactions
	}
	out := make(map[Partition]*kerr.Error, len(parts))
	for _, p := range parts {
		if _, ok := m.parts[p]; !ok || m.state != Ongoing {
			out[p] = kerr.TransactionAbortable
		} else {
			out[p] = nil
		}
	}
	return out, nil
}

// EndTxn commits or aborts id's transaction (EndTxn; tv is the client's
// transaction version: TV2 from v5 on while the feature is at 2). The
// answer comes once the PrepareCommit or PrepareAbort record is durable;
// the markers are written after it, and the transaction is
// CompleteCommit/CompleteAbort once they are. It returns the producer id
// and epoch the client goes on with (with TV2, the bumped epoch).
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool, tv int16) (int64, int16, *kerr.Error) {
	if id == "" {
		return noProducerID, noProducerEpoch, kerr.InvalidRequest
	}
	if tv > c.cfg.Version {
		tv = c.cfg.Version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookup(id)
	if err != nil {
		return noProducerID, noProducerEpoch, err
	}
	if m == nil {
		return noProducerID, noProducerEpoch, kerr.InvalidProducerIDMapping
	}
	// A TV2 client retrying an end whose answer it lost names the epoch
	// before the bump (or, after an overflow, the old producer id). Only
	// a TV2 request (EndTxn v5+) is judged so: a client below it never
	// learns of a bump, so the epoch before one is a fenced producer's,
	// answered PRODUCER_FENCED as Kafka 4.4 does when a timeout or
	// another InitProducerId aborted its transaction (both record the
	// coordinator's version, 2, in the state).
	v2 := m.tv >= TV2 && tv >= TV2
	retryBump := v2 && m.epoch == epoch+1
	retryOverflow := v2 && m.prevProducerID == pid && epoch == maxEpoch-1 && m.epoch == 0
	var valid bool
	if v2 {
		switch m.state {
		case PrepareCommit, PrepareAbort:
			// The current epoch too: the client's next transaction,
			// begun with the epoch the end returned while its markers
			// are still being written, ending early (an abort after a
			// failed produce). It gets CONCURRENT_TRANSACTIONS below and
			// retries once the end is complete, where Kafka 4.0 fixed
			// fencing it (KAFKA-18575).
			valid = retryBump || epoch == m.epoch
		case CompleteCommit, CompleteAbort:
			valid = retryBump || retryOverflow || epoch == m.epoch
		default:
			valid = epoch == m.epoch
		}
	} else {
		valid = epoch == m.epoch
	}
	retry := retryBump || retryOverflow
	switch {
	case m.producerID != pid && !retryOverflow:
		return noProducerID, noProducerEpoch, kerr.InvalidProducerIDMapping
	case !valid:
		return noProducerID, noProducerEpoch, kerr.ProducerFenced
	case m.pending != noState:
		return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
	}
	switch m.state {
	case Ongoing:
		nextPID := noProducerID
		if tv >= TV2 && exhausted(m.epoch) {
			var kerrv *kerr.Error
			if nextPID, kerrv = c.newPID(); kerrv != nil {
				return noProducerID, noProducerEpoch, kerrv
			}
		}
		return c.end(ctx, m, commit, tv, nextPID)
	case CompleteCommit, CompleteAbort:
		done := m.state == CompleteCommit
		if v2 && !retry {
			// A new transaction that added nothing: a TV2 client may
			// abort it (it bumps the epoch), not commit it.
			break
		}
		if commit == done {
			return m.producerID, m.epoch, nil // a retry of the end that completed
		}
		return noProducerID, noProducerEpoch, kerr.InvalidTxnState
	case PrepareCommit, PrepareAbort:
		if commit == (m.state == PrepareCommit) {
			return noProducerID, noProducerEpoch, kerr.ConcurrentTransactions
		}
		return noProducerID, noProducerEpoch, kerr.InvalidTxnState
	}
	// Empty, or a TV2 client's empty transaction after a complete one.
	if commit || tv < TV2 || m.state == Dead || m.state == PrepareEpochFence {
		return noProducerID, noProducerEpoch, kerr.InvalidTxnState
	}
	return c.end(ctx, m, false, tv, noProducerID)
}

// end writes the PrepareCommit/PrepareAbort of m and, once it is durable,
// starts writing the markers. c.mu is held.
func (c *Coordinator) end(ctx context.Context, m *meta, commit bool, tv int16, nextPID int64) (int64, int16, *kerr.Error) {
	now := c.nowMs()
	var t transit
	var err error
	if m.state == Ongoing {
		t, err = m.prepareEnd(commit, tv, nextPID, now)
	} else {
		// An abort with nothing added: the state machine goes through
		// PrepareAbort with no partitions, which bumps the epoch.
		t = m.snapshot()
		t.state, t.updateMs, t.tv, t.parts = PrepareAbort, now, tv, map[Partition]struct{}{}
		t.epoch, t.lastEpoch, t.startMs = m.epoch+1, m.epoch, now
		t, err = m.prepare(t)
	}
	if err != nil {
		c.log.Error("transaction state", "err", err)
		return noProducerID, noProducerEpoch, kerr.UnknownServerError
	}
	if kerrv := c.write(ctx, m, t); kerrv != nil {
		return noProducerID, noProducerEpoch, kerrv
	}
	pid, epoch := m.producerID, m.epoch
	if m.nextProducerID != noProducerID {
		pid, epoch = m.nextProducerID, 0
	}
	c.startComplete(m)
	return pid, epoch, nil
}

// fenceAndAbort aborts m's ongoing transaction with a bumped epoch, which
// fences its producer (InitProducerId of another producer, a timeout).
// Returns once PrepareAbort is durable. c.mu is held.
func (c *Coordinator) fenceAndAbort(ctx context.Context, m *meta) (int64, int16, *kerr.Error) {
	if m.epoch == maxEpoch {
		return noProducerID, noProducerEpoch, kerr.ProducerFenced
	}
	// The bumped epoch is set before the write, as Kafka does: if the
	// write fails it was never handed out, and the next fence reuses it.
	if !m.failedFence {
		m.epoch++
	}
	m.lastEpoch = noProducerEpoch
	t := m.snapshot()
	t.state, t.updateMs, t.tv, t.nextProducerID = PrepareAbort, c.nowMs(), c.cfg.Version, noProducerID
	t, err := m.prepare(t)
	if err != nil {
		c.log.Error("transaction state", "err", err)
		return noProducerID, noProducerEpoch, kerr.UnknownServerError
	}
	if kerrv := c.write(ctx, m, t); kerrv != nil {
		if c.txns[m.id] == m {
			m.failedFence = true
		}
		return noProducerID, noProducerEpoch, kerrv
	}
	c.startComplete(m)
	return m.producerID, m.epoch, nil
}

// startComplete prepares m's move from PrepareCommit/PrepareAbort to
// Complete* and writes its markers and that record in the background.
// c.mu is held.
func (c *Coordinator) startComplete(m *meta) {
	t, err := m.prepareComplete(c.nowMs())
	if err != nil {
		c.log.Error("transaction cannot be completed", "transactional_id", m.id, "err", err)
		return
	}
	c.completeLater(m, m.snapshot(), t)
}

// completeLater writes the markers of the prepared transaction at (the
// state m is in: PrepareCommit or PrepareAbort), then the Complete record
// t, retrying both until they succeed or the coordinator closes (a
// restart resumes them: Start). c.mu is held; m.pending is t's state, so
// nothing else changes m meanwhile.
func (c *Coordinator) completeLater(m *meta, at transit, t transit) {
	mk := Markers{TransactionalID: m.id, ProducerID: at.producerID, ProducerEpoch: at.epoch,
		Commit: at.state == PrepareCommit, CoordinatorEpoch: c.cfg.CoordinatorEpoch,
		TransactionVersion: at.tv, Partitions: sortedParts(at.parts)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		backoff := 10 * time.Millisecond
		retry := func(what string, err error) bool {
			c.log.Warn("transaction completion failed; retrying", "transactional_id", m.id, "step", what, "retry_in", backoff, "err", err)
			select {
			case <-c.ctx.Done():
				return false
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			return true
		}
		for len(mk.Partitions) > 0 {
			left, err := c.markers.WriteMarkers(c.ctx, mk)
			if len(left) == 0 {
				break
			}
			// Only those not written: a marker written again is harmless
			// but, under TV2, refused for not carrying a newer epoch.
			mk.Partitions = left
			if c.ctx.Err() != nil || !retry("markers", err) {
				return
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for {
			if c.txns[m.id] != m {
				return
			}
			m.pending = t.state // write clears it on failure
			err := c.write(c.ctx, m, t)
			if err == nil {
				return
			}
			m.pending = t.state // keep others out while waiting to retry
			c.mu.Unlock()
			ok := retry("complete record", err)
			c.mu.Lock()
			if !ok {
				m.pending = noState
				return
			}
		}
	}()
}

// AbortTimedOut aborts every transaction open longer than its timeout,
// fencing its producer (the coordinator's timer calls it every
// AbortInterval).
func (c *Coordinator) AbortTimedOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.nowMs()
	var due []*meta
	for _, m := range c.txns {
		if m.pending == noState && m.state == Ongoing && m.startMs+int64(m.timeoutMs) < now {
			due = append(due, m)
		}
	}
	for _, m := range due {
		if c.txns[m.id] != m || m.pending != noState || m.state != Ongoing {
			continue // changed while another was written
		}
		c.log.Info("aborting transaction open longer than its timeout", "transactional_id", m.id, "producer_id", m.producerID, "timeout_ms", m.timeoutMs)
		if _, _, err := c.fenceAndAbort(c.ctx, m); err != nil {
			c.log.Warn("abort of timed-out transaction failed", "transactional_id", m.id, "err", err)
		}
	}
}

// ExpireIDs forgets the ids with no open transaction that were not used
// for IDExpiration, writing a tombstone for each (the coordinator's timer
// calls it every ExpireInterval).
func (c *Coordinator) ExpireIDs() {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.nowMs() - c.cfg.IDExpiration.Milliseconds()
	var due []*meta
	for _, m := range c.txns {
		if m.pending == noState && m.state.expirable() && m.updateMs <= limit {
			due = append(due, m)
		}
	}
	for _, m := range due {
		if c.txns[m.id] != m || m.pending != noState || !m.state.expirable() {
			continue
		}
		if _, err := m.prepareDead(); err != nil {
			continue
		}
		key, _ := encode(m.id, m.snapshot(), c.cfg.Version)
		p := c.PartitionFor(m.id)
		c.mu.Unlock()
		err := c.store.Write(c.ctx, p, key, nil)
		c.mu.Lock()
		m.pending = noState
		if err != nil {
			c.log.Warn("expiring transactional id failed", "transactional_id", m.id, "err", err)
			continue
		}
		if c.txns[m.id] == m {
			delete(c.txns, m.id)
			c.notify()
		}
		c.log.Info("expired transactional id", "transactional_id", m.id)
	}
}
