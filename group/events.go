package group

import (
	"time"
)

// Observers (Config.Observers) learn what the coordinator changed as typed
// events, so that the broker's lag recorder, metrics or a history never
// decode the __consumer_offsets records the coordinator has just encoded.
//
// Delivery guarantees:
//
//   - An event is published once its change is applied in memory: a commit
//     once it is durable and visible to OffsetFetch, a deletion once
//     OffsetFetch no longer answers the offset.
//   - Delivery is synchronous, on the goroutine that applied the change,
//     while the group's lock is held. So the events of one group reach
//     every observer in the order the group changed, and once a request is
//     answered its events have been observed (a /metrics scrape after an
//     OffsetCommit sees it). The events of different groups may arrive
//     concurrently: observers must be safe for concurrent use.
//   - Because the group's lock is held, Observe must be quick: update a map
//     or a counter, never do I/O, block, or call the Coordinator (that
//     would deadlock). A slow observer slows exactly the requests and
//     timers of the group it is told about, and nothing is queued or
//     dropped. An observer that needs to do more must hand the event to
//     its own goroutine.
//   - Replay: the offsets history is replayed as events. Every commit and
//     offset tombstone read back from __consumer_offsets (Replay at start-up,
//     LoadPartition after a repair) is published as it is read, with
//     Replayed set, in log order, so a lag window rebuilt from them is the
//     one a broker that never stopped would hold; a group tombstone read
//     back is StateChanged to Dead. Membership and group state are not
//     replayed as events: observers read them from the Coordinator (Groups,
//     DescribeGroups) once it has started.
//   - A group unloaded because its __consumer_offsets partition was fenced
//     is StateChanged to Dead (as Kafka transitions an unloaded group), so
//     observers drop what they know of it; LoadPartition replays it again.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// Event is one of CommitApplied, OffsetsDeleted, StateChanged, MemberJoined,
// MemberLeft, TxnOffsetPending and TxnEnded.
type Event interface{ groupName() string }

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CommitApplied: an offset commit is durable and applied.
type CommitApplied struct {
	Group       string
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1 when the commit carried none
	Metadata    string
	// CommitTime is the commit's time as stored: the coordinator's clock,
	// or the client's timestamp of an OffsetCommit v1.
	CommitTime time.Time
	// ExpireTime is the explicit expiry of an OffsetCommit v1-v4 retention
	// time; zero when the offset expires by offsets.retention.minutes.
	ExpireTime time.Time
	Replayed   bool // read back from __consumer_offsets
	// Transactional: the commit came from a TxnOffsetCommit of
	// ProducerID's transaction, applied when its commit marker was
	// (CommitTime is the TxnOffsetCommit's). ProducerID is -1 otherwise.
	Transactional bool
	ProducerID    int64
}

// TxnOffsetPending: a TxnOffsetCommit's offset is written and pending
// until its transaction ends (TxnEnded); OffsetFetch does not answer it
// yet, and RequireStable fetches answer UNSTABLE_OFFSET_COMMIT for the
// partition. Replay publishes the pending offsets it reads (Replayed set).
type TxnOffsetPending struct {
	Group         string
	ProducerID    int64
	ProducerEpoch int16
	Topic         string
	Partition     int32
	Offset        int64
	LeaderEpoch   int32
	Metadata      string
	CommitTime    time.Time
	Replayed      bool
}

// TxnEnded: the marker of ProducerID's transaction is durable in the
// group's __consumer_offsets partition, and the transaction's pending
// offsets of the group are gone: applied (Committed; Applied lists those
// that became the committed offset, each also a CommitApplied published
// just before, sorted) or dropped (an abort). A transactional offset is
// not applied when a later non-transactional commit of the partition
// replaced it meanwhile, or when the partition's offsets were deleted.
type TxnEnded struct {
	Group         string
	ProducerID    int64
	ProducerEpoch int16
	Committed     bool
	Applied       []TopicPartition
	Time          time.Time
	Replayed      bool
}

// DeleteReason says why offsets were deleted.
type DeleteReason int8

// Reasons of OffsetsDeleted.
const (
	DeletedByRequest DeleteReason = iota + 1 // OffsetDelete (KIP-496)
	DeletedWithGroup                         // DeleteGroups
	DeletedExpired                           // offsets.retention.minutes (or an explicit expiry) ran out
	DeletedTopic                             // the topic was deleted
	DeletedReplayed                          // a tombstone read back: the record does not say why
)

var deleteReasons = [...]string{"", "OffsetDelete", "DeleteGroups", "expired", "topic deleted", "replayed tombstone"}

func (r DeleteReason) String() string {
	if r < 0 || int(r) >= len(deleteReasons) {
		return "DeleteReason(?)"
	}
	return deleteReasons[r]
}

// OffsetsDeleted: committed offsets are gone (tombstoned and dropped from
// memory).
type OffsetsDeleted struct {
	Group      string
	Partitions []TopicPartition // sorted by topic and partition
	Reason     DeleteReason
	Time       time.Time
	Replayed   bool
}

// StateChanged: the group moved from one state to another, Kafka's names
// (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead). From is
// "" for a group that was only being replayed (a group tombstone read
// back, or a group of a partition fenced during replay). Generation,
// ProtocolType and Protocol are the group's once in To.
type StateChanged struct {
	Group        string
	From, To     string
	Generation   int32
	ProtocolType string
	Protocol     string
	Time         time.Time
	Replayed     bool
}

// MemberJoined: a member was added to the group (JoinGroup), or a static
// member came back under a new member id.
type MemberJoined struct {
	Group      string
	MemberID   string
	InstanceID string // "" for a dynamic member
	ClientID   string
	ClientHost string
	Reason     string
}

// MemberLeft: a member was removed: LeaveGroup, session timeout, not
// rejoining or syncing in time, a full group, or replaced by a static
// member with the same instance id.
type MemberLeft struct {
	Group      string
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Reason     string
}

func (e CommitApplied) groupName() string    { return e.Group }
func (e OffsetsDeleted) groupName() string   { return e.Group }
func (e StateChanged) groupName() string     { return e.Group }
func (e MemberJoined) groupName() string     { return e.Group }
func (e MemberLeft) groupName() string       { return e.Group }
func (e TxnOffsetPending) groupName() string { return e.Group }
func (e TxnEnded) groupName() string         { return e.Group }

// publish delivers e to every observer (see Observer for the guarantees).
func (c *Coordinator) publish(e Event) {
	for _, o := range c.cfg.Observers {
		o.Observe(e)
	}
}

func (g *group) publishCommit(k tp, o *offset) {
	g.c.publish(commitEvent(g.name, k, o, -1, false))
}

// commitEvent is the CommitApplied of o; pid is the producer of a
// transactional one.
func commitEvent(group string, k tp, o *offset, pid int64, replayed bool) CommitApplied {
	if !o.txn {
		pid = -1
	}
	return CommitApplied{Group: group, Topic: k.topic, Partition: k.partition, Offset: o.offset,
		LeaderEpoch: o.epoch, Metadata: o.meta, CommitTime: o.commit, ExpireTime: o.expire, Replayed: replayed,
		Transactional: o.txn, ProducerID: pid}
}

func (g *group) publishTxnPending(k tp, o *offset, epoch int16, pid int64, replayed bool) {
	g.c.publish(txnPendingEvent(g.name, k, o, pid, epoch, replayed))
}

func txnPendingEvent(group string, k tp, o *offset, pid int64, epoch int16, replayed bool) TxnOffsetPending {
	return TxnOffsetPending{Group: group, ProducerID: pid, ProducerEpoch: epoch, Topic: k.topic, Partition: k.partition,
		Offset: o.offset, LeaderEpoch: o.epoch, Metadata: o.meta, CommitTime: o.commit, Replayed: replayed}
}

// publishDeleted publishes the deletion of keys, if any.
func (g *group) publishDeleted(keys []tp, why DeleteReason, at time.Time) {
	if len(keys) == 0 || len(g.c.cfg.Observers) == 0 {
		return
	}
	tps := make([]TopicPartition, len(keys))
	for i, k := range keys {
		tps[i] = TopicPartition{k.topic, k.partition}
	}
	g.c.publish(OffsetsDeleted{Group: g.name, Partitions: tps, Reason: why, Time: at})
}

func (g *group) publishState(from state) {
	g.c.publish(StateChanged{Group: g.name, From: from.String(), To: g.state.String(), Generation: g.generation,
		ProtocolType: g.protocolType, Protocol: g.protocol, Time: g.stateTime})
}

func (g *group) publishJoined(m *member, reason string) {
	g.c.publish(MemberJoined{Group: g.name, MemberID: m.id, InstanceID: deref(m.instanceID),
		ClientID: m.clientID, ClientHost: m.host, Reason: reason})
}

func (g *group) publishLeft(m *member, reason string) {
	g.c.publish(MemberLeft{Group: g.name, MemberID: m.id, InstanceID: deref(m.instanceID),
		ClientID: m.clientID, ClientHost: m.host, Reason: reason})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
