package txn

import (
	"fmt"
	"maps"
	"slices"
)

// State is a transaction's state, numbered as Kafka numbers it in
// __transaction_state (kmsg.TransactionState).
type State int8

const (
	Empty             State = 0 // no transaction open (a new id, or after InitProducerId)
	Ongoing           State = 1 // partitions or offsets were added
	PrepareCommit     State = 2 // EndTxn(commit) is durable; markers are being written
	PrepareAbort      State = 3 // EndTxn(abort), a timeout or a fence is durable; markers are being written
	CompleteCommit    State = 4 // the commit markers are written
	CompleteAbort     State = 5 // the abort markers are written
	Dead              State = 6 // the id is being expired (transactional.id.expiration.ms)
	PrepareEpochFence State = 7 // an Ongoing transaction is being aborted to fence its producer

	noState State = -1 // no transition pending
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is the name Kafka gives the state (DescribeTransactions,
// ListTransactions, kafka-transactions.sh).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// StateByName returns the state of a Kafka state name.
func StateByName(name string) (State, bool) {
	i := slices.Index(stateNames[:], name)
	return State(i), i >= 0
}

// from lists the states each state may be entered from
// (TransactionState.validPreviousStates in Kafka).
func (s State) from(prev State) bool {
	switch s {
	case Empty:
		return prev == Empty || prev == CompleteCommit || prev == CompleteAbort
	case Ongoing:
		return prev == Ongoing || prev == Empty || prev == CompleteCommit || prev == CompleteAbort
	case PrepareCommit:
		return prev == Ongoing
	case PrepareAbort:
		// From a settled state: a TV2 client aborting a transaction to
		// which nothing was added (Kafka 4.x accepts it and bumps the
		// epoch, as for any TV2 end).
		return prev == Ongoing || prev == PrepareEpochFence || prev == Empty || prev == CompleteCommit || prev == CompleteAbort
	case CompleteCommit:
		return prev == PrepareCommit
	case CompleteAbort:
		return prev == PrepareAbort
	case Dead:
		return prev == Empty || prev == CompleteCommit || prev == CompleteAbort
	case PrepareEpochFence:
		return prev == Ongoing
	}
	return false
}

// expirable says whether an id in state s may be expired after
// transactional.id.expiration.ms without use: no transaction is open.
func (s State) expirable() bool { return s == Empty || s == CompleteCommit || s == CompleteAbort }

// Partition is one topic partition of a transaction.
type Partition struct {
	Topic     string
	Partition int32
}

// Transaction versions (the transaction.version feature levels).
const (
	// TV1: KIP-890 part 1 (the broker verifies that a transactional
	// partition was added before it appends); what a client below
	// EndTxn v5 gets.
	TV1 int16 = 1
	// TV2: KIP-890 part 2: every EndTxn bumps the producer epoch, and a
	// Produce v12+ or TxnOffsetCommit v5+ adds its partition itself.
	TV2 int16 = 2
)

const (
	noProducerID    int64 = -1
	noProducerEpoch int16 = -1
	maxEpoch        int16 = 32767
)

// exhausted says whether epoch leaves no room to fence: Kafka never hands
// out 32767, so the coordinator can always bump once more.
func exhausted(epoch int16) bool { return epoch >= maxEpoch-1 }

// meta is one transactional id's state (Kafka's TransactionMetadata). Its
// fields are guarded by the Coordinator's mutex; pending is the target of
// a transition whose record is being written: while it is set no other
// transition may start (CONCURRENT_TRANSACTIONS), which is what lets the
// write happen outside the lock.
type meta struct {
	id             string
	producerID     int64
	prevProducerID int64 // the id before the last rotation (KIP-890 retries)
	nextProducerID int64 // a TV2 end that overflowed the epoch: the id given after it
	epoch          int16
	lastEpoch      int16 // the epoch before the last bump, to recognise a retried InitProducerId
	timeoutMs      int32
	state          State
	parts          map[Partition]struct{}
	startMs        int64 // when the first partition was added; -1 with none
	updateMs       int64
	tv             int16 // the client's transaction version at the last transition

	pending     State
	failedFence bool // an epoch fence's write failed: the bumped epoch was never given out
}

// transit is a transition prepared under the lock, written to the log
// outside it, and then applied (Kafka's TxnTransitMetadata). It is a
// value: the meta is not changed until the record is durable.
type transit struct {
	producerID     int64
	prevProducerID int64
	nextProducerID int64
	epoch          int16
	lastEpoch      int16
	timeoutMs      int32
	state          State
	parts          map[Partition]struct{}
	startMs        int64
	updateMs       int64
	tv             int16
}

func newMeta(id string, pid int64, timeoutMs int32, now int64) *meta {
	return &meta{id: id, producerID: pid, prevProducerID: noProducerID, nextProducerID: noProducerID,
		epoch: noProducerEpoch, lastEpoch: noProducerEpoch, timeoutMs: timeoutMs, state: Empty,
		parts: map[Partition]struct{}{}, startMs: -1, updateMs: now, pending: noState}
}

// snapshot is the transit that changes nothing: what the meta is now.
func (m *meta) snapshot() transit {
	return transit{producerID: m.producerID, prevProducerID: m.prevProducerID, nextProducerID: m.nextProducerID,
		epoch: m.epoch, lastEpoch: m.lastEpoch, timeoutMs: m.timeoutMs, state: m.state, parts: maps.Clone(m.parts),
		startMs: m.startMs, updateMs: m.updateMs, tv: m.tv}
}

// prepare starts the transition to t: it fails (a bug, never a client's
// doing) if one is pending or the state may not be entered from here.
func (m *meta) prepare(t transit) (transit, error) {
	if m.pending != noState {
		return transit{}, fmt.Errorf("txn: %q: transition to %v while one to %v is pending", m.id, t.state, m.pending)
	}
	if !t.state.from(m.state) {
		return transit{}, fmt.Errorf("txn: %q: %v cannot follow %v", m.id, t.state, m.state)
	}
	if t.producerID < 0 || (t.state != Dead && t.epoch < 0) {
		return transit{}, fmt.Errorf("txn: %q: transition to %v with producer %d epoch %d", m.id, t.state, t.producerID, t.epoch)
	}
	m.pending = t.state
	return t, nil
}

// prepareFence bumps the epoch of an Ongoing transaction to abort it and
// fence its producer (InitProducerId during a transaction, a timeout). A
// fence whose write failed is not bumped again: that epoch was never
// returned to anyone.
func (m *meta) prepareFence() (transit, error) {
	t := m.snapshot()
	t.state = PrepareEpochFence
	if !m.failedFence {
		t.epoch = m.epoch + 1
	}
	t.lastEpoch = noProducerEpoch
	t.nextProducerID = noProducerID
	t.tv = 0
	return m.prepare(t)
}

// prepareBump is InitProducerId on a settled transaction: the epoch is
// bumped; with expected set (KIP-360), a producer that names its current
// epoch gets a bump, and one naming the epoch before the last bump (a
// retry whose answer was lost) gets the current one again.
func (m *meta) prepareBump(timeoutMs int32, expected int16, hasExpected bool, now int64) (t transit, fenced bool, err error) {
	t = m.emptyTransit(timeoutMs, now)
	switch {
	case !hasExpected:
		t.epoch, t.lastEpoch = m.epoch+1, noProducerEpoch
	case m.epoch == noProducerEpoch || expected == m.epoch:
		t.epoch, t.lastEpoch = m.epoch+1, m.epoch
	case expected == m.lastEpoch:
		t.epoch, t.lastEpoch = m.epoch, m.lastEpoch
	default:
		return transit{}, true, nil
	}
	t, err = m.prepare(t)
	return t, false, err
}

// prepareRotate gives the id a new producer id once the epoch is
// exhausted.
func (m *meta) prepareRotate(pid int64, timeoutMs int32, now int64, keepLast bool) (transit, error) {
	t := m.emptyTransit(timeoutMs, now)
	t.producerID, t.prevProducerID, t.epoch, t.lastEpoch = pid, m.producerID, 0, noProducerEpoch
	if keepLast {
		t.lastEpoch = m.epoch
	}
	return m.prepare(t)
}

func (m *meta) emptyTransit(timeoutMs int32, now int64) transit {
	t := m.snapshot()
	t.state, t.timeoutMs, t.parts, t.startMs, t.updateMs = Empty, timeoutMs, map[Partition]struct{}{}, -1, now
	t.prevProducerID, t.nextProducerID, t.tv = m.producerID, noProducerID, 0
	return t
}

// prepareAdd adds parts to the transaction, starting it if none is open.
func (m *meta) prepareAdd(parts []Partition, tv int16, now int64) (transit, error) {
	t := m.snapshot()
	t.state, t.updateMs, t.tv = Ongoing, now, tv
	if m.state != Ongoing {
		t.startMs = now
	}
	for _, p := range parts {
		t.parts[p] = struct{}{}
	}
	return m.prepare(t)
}

// prepareEnd moves an Ongoing transaction to PrepareCommit or
// PrepareAbort. With TV2 the epoch is bumped now (the client learns the
// new one from EndTxn's answer) and, if that exhausts it, nextPID is the
// producer id the transaction completes with.
func (m *meta) prepareEnd(commit bool, tv int16, nextPID int64, now int64) (transit, error) {
	t := m.snapshot()
	t.state, t.updateMs, t.tv, t.nextProducerID = PrepareAbort, now, tv, nextPID
	if commit {
		t.state = PrepareCommit
	}
	if tv >= TV2 {
		t.epoch, t.lastEpoch = m.epoch+1, m.epoch
	}
	return m.prepare(t)
}

// prepareComplete is the transition once every marker is written.
func (m *meta) prepareComplete(now int64) (transit, error) {
	t := m.snapshot()
	t.state, t.updateMs, t.parts = CompleteAbort, now, map[Partition]struct{}{}
	if m.state == PrepareCommit {
		t.state = CompleteCommit
	}
	m.failedFence = false
	if m.tv >= TV2 && m.nextProducerID != noProducerID {
		// The end overflowed the epoch: the producer continues with the
		// id it was given in EndTxn's answer.
		t.producerID, t.prevProducerID, t.epoch = m.nextProducerID, m.producerID, 0
	}
	t.lastEpoch = m.epoch
	t.nextProducerID = noProducerID
	return m.prepare(t)
}

// prepareDead marks the id for expiry.
func (m *meta) prepareDead() (transit, error) {
	t := m.snapshot()
	t.state, t.parts = Dead, map[Partition]struct{}{}
	return m.prepare(t)
}

// complete applies t once its record is durable.
func (m *meta) complete(t transit) {
	m.producerID, m.prevProducerID, m.nextProducerID = t.producerID, t.prevProducerID, t.nextProducerID
	m.epoch, m.lastEpoch, m.timeoutMs, m.state = t.epoch, t.lastEpoch, t.timeoutMs, t.state
	m.parts, m.startMs, m.updateMs, m.tv = t.parts, t.startMs, t.updateMs, t.tv
	m.pending = noState
}

// sortedParts lists parts by topic, then partition.
func sortedParts(parts map[Partition]struct{}) []Partition {
	out := slices.Collect(maps.Keys(parts))
	slices.SortFunc(out, func(a, b Partition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}
