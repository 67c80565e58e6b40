package group

import (
	"fmt"
	"time"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records of __consumer_offsets, in Apache Kafka's formats (package
// offsetsfmt reads them back; see its doc):
//
//	key version 0/1: OffsetCommitKey   {group, topic, partition}
//	                 value: OffsetCommitValue v3 (v1 with an explicit expire timestamp)
//	key version 2:   GroupMetadataKey  {group}
//	                 value: GroupMetadataValue v3
//	nil value:       tombstone
//
// Written with key version 1 for offsets and 2 for groups, as Kafka 2.1+
// writes them.

func offsetKey(group string, k tp) []byte {
	key := kmsg.NewOffsetCommitKey()
	key.Version = 1
	key.Group = group
	key.Topic = k.topic
	key.Partition = k.partition
	return key.AppendTo(nil)
}

func offsetRecord(group string, k tp, o *offset, now time.Time) Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	if !o.expire.IsZero() {
		v.Version = 1
		v.ExpireTimestamp = o.expire.UnixMilli()
	}
	v.Offset = o.offset
	v.LeaderEpoch = o.epoch
	v.Metadata = o.meta
	v.CommitTimestamp = o.commit.UnixMilli()
	return Record{Key: offsetKey(group, k), Value: v.AppendTo(nil), Timestamp: now.UnixMilli()}
}

func offsetTombstone(group string, k tp, now time.Time) Record {
	return Record{Key: offsetKey(group, k), Timestamp: now.UnixMilli()}
}

func groupKey(group string) []byte {
	key := kmsg.NewGroupMetadataKey()
	key.Version = 2
	key.Group = group
	return key.AppendTo(nil)
}

func groupTombstone(group string, now time.Time) Record {
	return Record{Key: groupKey(group), Timestamp: now.UnixMilli()}
}

// metadataRecord snapshots the group as a GroupMetadataValue v3, with the
// given assignments (Kafka's GroupMetadataManager.storeGroup); g.mu is held.
func (g *group) metadataRecord(assignments map[string][]byte) Record {
	now := g.c.now()
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = optString(g.protocol)
	v.Leader = optString(g.leader)
	v.CurrentStateTimestamp = -1
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, m := range g.orderedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.host
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadata(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = assignments[m.id]
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.name), Value: v.AppendTo(nil), Timestamp: now.UnixMilli()}
}

// ---- replay ----

// replayState accumulates __consumer_offsets records until the coordinator
// is first used; the last record per key wins, as after compaction.
type replayState struct {
	groups map[string]*replayGroup
	order  []string
	txns   txnIndex // groups with offsets of an open transaction
}

type replayGroup struct {
	meta    *kmsg.GroupMetadataValue // nil: none, or tombstoned
	offsets map[tp]*offset
	history map[tp][]histEntry
	txn     map[int64]*txnOffsets // open transactions' offsets, by producer id
}

func newReplayState() *replayState {
	return &replayState{groups: make(map[string]*replayGroup)}
}

// Batch is what replay needs of the record batch a record was read from:
// its producer, and whether it is transactional or a control batch (a
// transaction marker).
type Batch struct {
	ProducerID    int64 // -1: none
	ProducerEpoch int16
	Transactional bool
	Control       bool
}

// plainBatch is the Batch of a record Store.Append wrote.
var plainBatch = Batch{ProducerID: -1, ProducerEpoch: -1}

func (r *replayState) group(name string) *replayGroup {
	rg := r.groups[name]
	if rg == nil {
		rg = &replayGroup{offsets: make(map[tp]*offset), history: make(map[tp][]histEntry)}
		r.groups[name] = rg
		r.order = append(r.order, name)
	}
	return rg
}

// Replay feeds one record read back from __consumer_offsets at start-up,
// written outside any transaction (ReplayBatch says which batch a record
// came from). Call it for every record of every partition, in offset
// order within a partition, before Start: offset commits, group metadata
// and tombstones. Records with key versions this coordinator does not
// know (newer coordinators' record types) are skipped, as Kafka skips
// them; malformed known records return an error. partition and offset
// are used only in error messages.
func (c *Coordinator) Replay(partition int32, recOffset int64, key, value []byte, timestamp int64) error {
	return c.ReplayBatch(partition, recOffset, plainBatch, key, value, timestamp)
}

// ReplayBatch is Replay for a record of batch b, as Kafka's coordinator
// loader replays them: an offset commit of a transactional batch is
// pending for its producer, a control record (key and value as stored:
// kmsg.ControlRecordKey, EndTxnMarker) ends the producer's transaction
// in the partition, applying (commit) or dropping (abort) its pending
// offsets. Offsets whose marker is not in the log (a transaction open at
// a crash) stay pending after Start, until CompleteTxn.
func (c *Coordinator) ReplayBatch(partition int32, recOffset int64, b Batch, key, value []byte, timestamp int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replay == nil {
		return fmt.Errorf("group: Replay after the coordinator started (record at %d/%d)", partition, recOffset)
	}
	return c.replayInto(c.replay, partition, recOffset, b, key, value, timestamp)
}

// replayInto applies one record to r (see ReplayBatch).
func (c *Coordinator) replayInto(r *replayState, partition int32, recOffset int64, b Batch, key, value []byte, timestamp int64) error {
	c.seqAbove(recOffset)
	if b.Control {
		return c.replayMarker(r, partition, recOffset, b, key, timestamp)
	}
	k, err := offsetsfmt.DecodeKey(key)
	if err != nil {
		return fmt.Errorf("group: __consumer_offsets %d/%d: %w", partition, recOffset, err)
	}
	switch k.Kind {
	case offsetsfmt.OffsetCommit:
		rg := r.group(k.Group)
		p := tp{k.Topic, k.Partition}
		if value == nil {
			dropOffset(rg.offsets, rg.history, p, time.UnixMilli(timestamp))
			for _, t := range rg.txn {
				delete(t.offsets, p) // Kafka's replay drops them with the offset
			}
			c.publish(OffsetsDeleted{Group: k.Group, Partitions: []TopicPartition{{k.Topic, k.Partition}},
				Reason: DeletedReplayed, Time: time.UnixMilli(timestamp), Replayed: true})
			return nil
		}
		v, err := offsetsfmt.DecodeOffsetCommit(value)
		if err != nil {
			return fmt.Errorf("group: __consumer_offsets %d/%d: %w", partition, recOffset, err)
		}
		o := offset{offset: v.Offset, epoch: -1, meta: v.Metadata, commit: time.UnixMilli(v.CommitTimestamp)}
		if v.Version >= 3 {
			o.epoch = v.LeaderEpoch
		}
		if v.Version == 1 && v.ExpireTimestamp != -1 {
			o.expire = time.UnixMilli(v.ExpireTimestamp)
		}
		o.seq = recOffset
		if b.Transactional && b.ProducerID >= 0 {
			o.txn = true
			t := rg.txn[b.ProducerID]
			if t == nil {
				t = &txnOffsets{pid: b.ProducerID, offsets: make(map[tp]offset)}
				if rg.txn == nil {
					rg.txn = make(map[int64]*txnOffsets)
				}
				rg.txn[b.ProducerID] = t
			}
			t.epoch = b.ProducerEpoch
			t.offsets[p] = o
			r.txns.add(partition, b.ProducerID, k.Group)
			c.publish(txnPendingEvent(k.Group, p, &o, b.ProducerID, b.ProducerEpoch, true))
			return nil
		}
		putOffset(rg.offsets, rg.history, p, o, c.cfg.HistoryMaxPerPartition)
		c.publish(commitEvent(k.Group, p, &o, -1, true))
	case offsetsfmt.GroupMetadata:
		rg := r.group(k.Group)
		if value == nil {
			rg.meta = nil
			c.publish(StateChanged{Group: k.Group, To: stateDead.String(), Time: time.UnixMilli(timestamp), Replayed: true})
			return nil
		}
		v, err := offsetsfmt.DecodeGroupMetadata(value)
		if err != nil {
			return fmt.Errorf("group: __consumer_offsets %d/%d: %w", partition, recOffset, err)
		}
		rg.meta = v
	default:
		c.log.Debug("skipping unknown __consumer_offsets record", "partition", partition, "offset", recOffset, "key_version", k.Version)
	}
	return nil
}

// replayMarker applies a transaction marker read back: the producer's
// pending offsets in the partition's groups end as CompleteTxn ends them.
func (c *Coordinator) replayMarker(r *replayState, partition int32, recOffset int64, b Batch, key []byte, timestamp int64) error {
	var ck kmsg.ControlRecordKey
	if err := ck.ReadFrom(key); err != nil {
		return fmt.Errorf("group: __consumer_offsets %d/%d: control record key: %w", partition, recOffset, err)
	}
	var commit bool
	switch ck.Type {
	case kmsg.ControlRecordKeyTypeAbort:
	case kmsg.ControlRecordKeyTypeCommit:
		commit = true
	default:
		return nil // not a transaction marker (KIP-848 leader change records and the like)
	}
	at := time.UnixMilli(timestamp)
	for _, name := range r.txns.take(partition, b.ProducerID) {
		rg := r.groups[name]
		if rg == nil || rg.txn[b.ProducerID] == nil {
			continue
		}
		t := rg.txn[b.ProducerID]
		delete(rg.txn, b.ProducerID)
		// The same rule as at run time, on a group not built yet.
		g := &group{c: c, name: name, offsets: rg.offsets, history: rg.history}
		g.endTxn(t, commit, at, true)
	}
	return nil
}

// loadLocked turns the replayed records into groups, once; c.mu is held.
// As Kafka's loadGroupsAndOffsets: a group with metadata comes back with its
// generation, protocol and members (Stable if it has members, else Empty);
// a group with only offsets comes back Empty with no protocol type; a group
// whose metadata was tombstoned and that has no offsets is gone. Restored
// members must heartbeat within their session timeout, as after a Kafka
// coordinator failover, so a quick restart costs no rebalance.
func (c *Coordinator) loadLocked() {
	r := c.replay
	if r == nil {
		return
	}
	c.replay = nil
	now := c.now()
	for _, name := range r.order {
		if g := c.buildGroup(name, r.groups[name], now); g != nil {
			c.groups[name] = g
		}
	}
}

// buildGroup turns one group's replayed records into the group (nil if
// it is gone); c.mu is held.
func (c *Coordinator) buildGroup(name string, rg *replayGroup, now time.Time) *group {
	if rg.meta == nil && len(rg.offsets) == 0 && len(rg.txn) == 0 {
		return nil
	}
	g := newGroup(c, name)
	g.stateTime = time.Time{}
	if v := rg.meta; v != nil {
		g.protocolType = v.ProtocolType
		g.generation = v.Generation
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		if v.CurrentStateTimestamp >= 0 {
			g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
		}
		for _, vm := range v.Members {
			m := &member{
				id:               vm.MemberID,
				instanceID:       vm.InstanceID,
				clientID:         vm.ClientID,
				host:             vm.ClientHost,
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				protocolType:     v.ProtocolType,
				protocols:        []protocol{{g.protocol, vm.Subscription}},
				assignment:       vm.Assignment,
			}
			if v.Version < 1 || m.rebalanceTimeout <= 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			g.add(m, nil)
		}
		if v.Leader != nil && g.members[*v.Leader] != nil {
			g.leader = *v.Leader
		}
		if len(g.members) > 0 {
			g.state = stateStable
		}
		g.computeSubscribed()
		for _, m := range g.members {
			g.heartbeat(m)
		}
	}
	g.offsets = rg.offsets
	g.history = rg.history
	g.txn = rg.txn
	for pid := range g.txn {
		c.txns.add(c.PartitionFor(name), pid, name)
	}
	g.pruneHistory(now)
	return g
}

// BatchSize is the size of recs written as one uncompressed record batch
// (magic v2) with the smallest timestamp as its base, as the broker's
// store writes them: the size a partition's max.message.bytes limits
// (Kafka's sizeInBytes, the batch header included). Stores refuse a
// larger batch with MESSAGE_TOO_LARGE; the test fake and the contract
// suite (group/storetest) hold it against the same figure.
func BatchSize(recs []Record) int {
	const header = 61 // base offset through record count
	var base int64
	for i, r := range recs {
		if i == 0 || r.Timestamp < base {
			base = r.Timestamp
		}
	}
	n := header
	for i, r := range recs {
		kr := kmsg.Record{TimestampDelta64: r.Timestamp - base, OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		body := len(kr.AppendTo(nil)) - 1 // less the zero Length varint AppendTo starts with
		n += varintLen(int64(body)) + body
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// MarkerRecord is the control record of a transaction marker as Kafka
// writes it (kmsg.ControlRecordKey version 0, kmsg.EndTxnMarker version 0
// with the transaction coordinator's epoch, 0 on a single node): what
// Store.AppendMarker appends, and what ReplayBatch reads back.
func MarkerRecord(commit bool, timestamp int64) Record {
	k := kmsg.NewControlRecordKey()
	k.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		k.Type = kmsg.ControlRecordKeyTypeCommit
	}
	v := kmsg.NewEndTxnMarker()
	return Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil), Timestamp: timestamp}
}
