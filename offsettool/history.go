package offsettool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kinds of HistoryEntry.
const (
	EventCommit = "commit" // an offset commit
	EventDelete = "delete" // a tombstone: the committed offset was deleted or expired
	EventGroup  = "group"  // group metadata: a new generation (rebalance) or the group emptied
	// EventGroupGone is a group metadata tombstone: the group was deleted or
	// expired (Kafka writes offset tombstones for its offsets alongside).
	EventGroupGone = "group-deleted"
	// EventGroupEpoch is a consumer group's (KIP-848) new group epoch: its
	// members or subscriptions changed. Generation holds the epoch and
	// Protocol "consumer"; its tombstone is EventGroupGone.
	EventGroupEpoch = "group-epoch"
	// EventMember is a consumer group member's metadata record: it joined,
	// or its subscription or client changed (Member); EventMemberGone its
	// tombstone: it left, was fenced or replaced.
	EventMember     = "member"
	EventMemberGone = "member-left"
	// EventAssignment is a consumer group member's current assignment
	// record: its member epoch and the partitions it owns (Member.Assigned)
	// and still has to revoke (Revoking).
	EventAssignment = "assignment"
)

// Outcomes of a transactional commit (HistoryEntry.Transaction): offsets
// committed inside a transaction (TxnOffsetCommit) take effect only when
// the transaction's commit marker is written to __consumer_offsets.
const (
	TxnCommitted = "committed" // its transaction committed: the offset took effect
	TxnAborted   = "aborted"   // its transaction aborted: the offset never took effect
	TxnPending   = "pending"   // its transaction is still open
)

// HistoryEntry is one record of the group in __consumer_offsets.
type HistoryEntry struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Metadata  string    `json:"metadata,omitempty"`
	// Generation, Protocol, Leader and Members are set for group events.
	Generation int32  `json:"generation,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Members    int    `json:"members,omitempty"`
	// Subscribed are the topics the members of a classic consumer
	// group's generation subscribed to (their JoinGroup metadata).
	Subscribed []string `json:"subscribed,omitempty"`
	// GroupMembers are a classic group's members at the generation
	// (EventGroup), with their assignments.
	GroupMembers []MemberRecord `json:"group_members,omitempty"`
	// Member is the consumer group member of EventMember, EventMemberGone
	// (its id only) and EventAssignment; MemberEpoch and Revoking are an
	// EventAssignment's.
	Member      *MemberRecord    `json:"member,omitempty"`
	MemberEpoch int32            `json:"member_epoch,omitempty"`
	Revoking    []TopicPartition `json:"revoking,omitempty"`
	// ProducerID and Transaction are set for a commit made inside a
	// transaction: the producer and the outcome its marker gave.
	ProducerID  int64  `json:"producer_id,omitempty"`
	Transaction string `json:"transaction,omitempty"`
	// Where the record lives in __consumer_offsets.
	LogPartition int32 `json:"log_partition"`
	LogOffset    int64 `json:"log_offset"`
}

// MemberRecord is a group member as __consumer_offsets records it.
type MemberRecord struct {
	ID         string `json:"member_id"`
	InstanceID string `json:"instance_id,omitempty"`
	ClientID   string `json:"client_id,omitempty"`
	Host       string `json:"host,omitempty"`
	// Subscribed and Regex are its subscription.
	Subscribed []string `json:"subscribed,omitempty"`
	Regex      string   `json:"regex,omitempty"`
	// Assigned are the partitions it owns (a consumer group's topics by
	// id until History names them).
	Assigned []TopicPartition `json:"assigned,omitempty"`
}

// Progress is told how many records of how many were scanned.
type Progress func(done, total int64)

// History reads __consumer_offsets from its start to its current end and
// returns group's records in time order. topics, when given, keeps only
// commits on those topics (group events are kept). It fails with
// ErrNoOffsetsLog when the cluster does not expose the topic (kfake keeps
// offsets in memory; some managed services hide it).
func (c *Client) History(ctx context.Context, group string, topics []string, progress Progress) ([]HistoryEntry, error) {
	tds, err := c.adm.ListTopicsWithInternal(ctx, OffsetsTopic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", oneLine(err))
	}
	td, ok := tds[OffsetsTopic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		why := "it does not exist"
		if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			why = oneLine(td.Err)
		}
		return nil, fmt.Errorf("%w on this cluster (%s): commit history needs a broker that keeps offsets in that topic, as Apache Kafka and Rewind do; use `rewind group describe %s` for the current offsets", ErrNoOffsetsLog, why, group)
	}
	start, end, err := c.bounds(ctx, []string{OffsetsTopic})
	if err != nil {
		return nil, err
	}
	parts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> end offset still to reach
	var total int64
	for p := range td.Partitions {
		tp := TopicPartition{OffsetsTopic, p}
		s, err := listed(start, tp)
		if err != nil {
			return nil, err
		}
		e, err := listed(end, tp)
		if err != nil {
			return nil, err
		}
		if e > s {
			parts[p] = kgo.NewOffset().At(s)
			remaining[p] = e
			total += e - s
		}
	}
	var out []HistoryEntry
	if len(parts) == 0 {
		return out, nil
	}
	cl, err := c.newKgo(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{OffsetsTopic: parts}),
		kgo.FetchMaxWait(250*time.Millisecond),
		// The markers say how each transactional commit ended, and a
		// partition that ends with one is read to its end.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	txns := txnOutcomes{}
	keep := map[string]bool{}
	for _, t := range topics {
		keep[t] = true
	}
	var done int64
	for len(remaining) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %d of %d records read: %w", OffsetsTopic, done, total, err)
		}
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("%w: fetching partition %d: %s", ErrNoOffsetsLog, p, oneLine(err))
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if e, ok := remaining[r.Partition]; ok {
				done++
				if r.Offset+1 >= e {
					delete(remaining, r.Partition)
				}
			}
			if r.Attrs.IsControl() {
				txns.end(r, func(i int, outcome string) { out[i].Transaction = outcome })
				return
			}
			if h, ok := decodeOffsetsRecord(r, group); ok {
				if (h.Kind == EventCommit || h.Kind == EventDelete) && len(keep) > 0 && !keep[h.Topic] {
					return
				}
				if r.Attrs.IsTransactional() {
					h.ProducerID, h.Transaction = r.ProducerID, TxnPending
					txns.add(r, len(out))
				}
				out = append(out, h)
			}
		})
		if progress != nil {
			progress(done, total)
		}
	}
	if err := c.nameHistoryTopics(ctx, out); err != nil {
		return nil, err
	}
	// Time order; entries of one millisecond by partition, and the same
	// partition's in log order (a group's records share one log partition).
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case !a.Time.Equal(b.Time):
			return a.Time.Before(b.Time)
		case a.Topic != b.Topic:
			return a.Topic < b.Topic
		case a.Partition != b.Partition:
			return a.Partition < b.Partition
		case a.LogPartition != b.LogPartition:
			return a.LogPartition < b.LogPartition
		}
		return a.LogOffset < b.LogOffset
	})
	return out, nil
}

// txnOutcomes follows the transactional records of __consumer_offsets
// until their producer's marker in the same partition ends them.
type txnOutcomes map[[2]int64][]int // (partition, producer id) -> pending items

func (t txnOutcomes) add(r *kgo.Record, item int) {
	k := [2]int64{int64(r.Partition), r.ProducerID}
	t[k] = append(t[k], item)
}

// end resolves the pending items of the marker r's producer.
func (t txnOutcomes) end(r *kgo.Record, resolve func(item int, outcome string)) {
	k := [2]int64{int64(r.Partition), r.ProducerID}
	outcome := TxnCommitted
	var key kmsg.ControlRecordKey
	if key.ReadFrom(r.Key) == nil && key.Type == 0 { // ABORT
		outcome = TxnAborted
	}
	for _, i := range t[k] {
		resolve(i, outcome)
	}
	delete(t, k)
}

// decodeOffsetsRecord decodes one __consumer_offsets record with Kafka's
// schemas (key version 0/1: offset commit, 2: group metadata) and keeps it
// if it belongs to group.
func decodeOffsetsRecord(r *kgo.Record, group string) (HistoryEntry, bool) {
	h := HistoryEntry{Time: r.Timestamp, LogPartition: r.Partition, LogOffset: r.Offset, Partition: -1, Offset: -1}
	k, err := offsetsfmt.DecodeKey(r.Key)
	if err != nil || k.Group != group {
		return h, false
	}
	switch k.Kind {
	case offsetsfmt.OffsetCommit:
		h.Topic, h.Partition = k.Topic, k.Partition
		if r.Value == nil {
			h.Kind = EventDelete
			return h, true
		}
		v, err := offsetsfmt.DecodeOffsetCommit(r.Value)
		if err != nil {
			return h, false
		}
		h.Kind, h.Offset, h.Metadata = EventCommit, v.Offset, v.Metadata
		if v.CommitTimestamp > 0 {
			h.Time = time.UnixMilli(v.CommitTimestamp)
		}
		return h, true
	case offsetsfmt.GroupMetadata:
		h.Kind = EventGroup
		if r.Value == nil {
			h.Kind = EventGroupGone
			return h, true
		}
		v, err := offsetsfmt.DecodeGroupMetadata(r.Value)
		if err != nil {
			return h, false
		}
		h.Generation, h.Members = v.Generation, len(v.Members)
		if v.ProtocolType == "consumer" {
			h.Subscribed = subscribedTopics(v.Members)
			h.GroupMembers = classicMembers(v.Members)
		}
		if v.Protocol != nil {
			h.Protocol = *v.Protocol
		}
		if v.CurrentStateTimestamp > 0 {
			h.Time = time.UnixMilli(v.CurrentStateTimestamp)
		}
		return h, true
	case offsetsfmt.ConsumerGroupMetadata:
		// Kafka 4.x's consumer groups write their epoch here; their other
		// records (members, assignments) are per member and skipped.
		h.Kind, h.Protocol = EventGroupEpoch, "consumer"
		if r.Value == nil {
			h.Kind = EventGroupGone
			return h, true
		}
		rec, err := offsetsfmt.DecodeConsumerGroupValue(k.Version, r.Value)
		if err != nil {
			return h, false
		}
		h.Generation = rec.(*offsetsfmt.ConsumerGroupMetadataValue).Epoch
		return h, true
	case offsetsfmt.ConsumerGroupMemberMetadata:
		h.Kind, h.Protocol, h.Member = EventMember, "consumer", &MemberRecord{ID: k.Member}
		if r.Value == nil {
			h.Kind = EventMemberGone
			return h, true
		}
		rec, err := offsetsfmt.DecodeConsumerGroupValue(k.Version, r.Value)
		if err != nil {
			return h, false
		}
		v := rec.(*offsetsfmt.ConsumerGroupMemberMetadataValue)
		m := h.Member
		m.ClientID, m.Host, m.Subscribed = v.ClientId, v.ClientHost, append([]string(nil), v.SubscribedTopicNames...)
		if v.InstanceId != nil {
			m.InstanceID = *v.InstanceId
		}
		if v.SubscribedTopicRegex != nil {
			m.Regex = *v.SubscribedTopicRegex
		}
		return h, true
	case offsetsfmt.ConsumerGroupCurrentMemberAssignment:
		if r.Value == nil {
			return h, false // written with the member's tombstone, which says it all
		}
		rec, err := offsetsfmt.DecodeConsumerGroupValue(k.Version, r.Value)
		if err != nil {
			return h, false
		}
		v := rec.(*offsetsfmt.ConsumerGroupCurrentMemberAssignmentValue)
		h.Kind, h.Protocol, h.MemberEpoch = EventAssignment, "consumer", v.MemberEpoch
		h.Member = &MemberRecord{ID: k.Member, Assigned: idPartitions(v.AssignedPartitions)}
		h.Revoking = idPartitions(v.PartitionsPendingRevocation)
		return h, true
	}
	return h, false
}

// topicIDPrefix marks a TopicPartition whose Topic is a topic id in hex,
// not yet named (History names those of topics that still exist).
const topicIDPrefix = "id:"

func idPartitions(tps []offsetsfmt.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions) []TopicPartition {
	var out []TopicPartition
	for _, t := range tps {
		for _, p := range t.Partitions {
			out = append(out, TopicPartition{topicIDPrefix + hex.EncodeToString(t.TopicId[:]), p})
		}
	}
	sortTPs(out)
	return out
}

// classicMembers are a classic consumer group's members at a generation,
// with the assignment their leader gave each (SyncGroup).
func classicMembers(ms []kmsg.GroupMetadataValueMember) []MemberRecord {
	out := make([]MemberRecord, 0, len(ms))
	for _, m := range ms {
		mr := MemberRecord{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.Subscription) == nil {
			mr.Subscribed = meta.Topics
		}
		var a kmsg.ConsumerMemberAssignment
		if len(m.Assignment) > 0 && a.ReadFrom(m.Assignment) == nil {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					mr.Assigned = append(mr.Assigned, TopicPartition{t.Topic, p})
				}
			}
			sortTPs(mr.Assigned)
		}
		out = append(out, mr)
	}
	return out
}

// nameHistoryTopics replaces the topic ids of consumer group assignments
// by the names Metadata gives them now (a deleted topic keeps its id).
func (c *Client) nameHistoryTopics(ctx context.Context, hs []HistoryEntry) error {
	need := false
	for _, h := range hs {
		need = need || h.Kind == EventAssignment
	}
	if !need {
		return nil
	}
	tds, err := c.adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("metadata: %s", oneLine(err))
	}
	names := map[[16]byte]string{}
	for _, td := range tds {
		names[td.ID] = td.Topic
	}
	NameTopics(hs, names)
	return nil
}

// HistoryRecord decodes one __consumer_offsets record as History does and
// keeps it if it belongs to group: for readers of the topic other than
// History (the console reads it in process). A consumer group's
// assignments name topics by id until NameTopics.
func HistoryRecord(r *kgo.Record, group string) (HistoryEntry, bool) {
	return decodeOffsetsRecord(r, group)
}

// NameTopics replaces the topic ids of consumer group assignments in hs by
// their names (a topic not in names keeps its id).
func NameTopics(hs []HistoryEntry, names map[[16]byte]string) {
	byKey := map[string]string{}
	for id, n := range names {
		byKey[topicIDPrefix+hex.EncodeToString(id[:])] = n
	}
	name := func(tps []TopicPartition) {
		for i := range tps {
			if n, ok := byKey[tps[i].Topic]; ok {
				tps[i].Topic = n
			}
		}
		sortTPs(tps)
	}
	for _, h := range hs {
		if h.Kind == EventAssignment {
			name(h.Member.Assigned)
			name(h.Revoking)
		}
	}
}

// CommittedAt replays history up to and including at and returns the
// committed offset of every partition at that moment; partitions with no
// commit then (never committed, or deleted) are absent. Commits of aborted
// or still open transactions never took effect and are skipped.
func CommittedAt(history []HistoryEntry, at time.Time) map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	for _, h := range history {
		if h.Time.After(at) {
			break
		}
		tp := TopicPartition{h.Topic, h.Partition}
		switch h.Kind {
		case EventCommit:
			if h.Transaction == TxnAborted || h.Transaction == TxnPending {
				continue
			}
			out[tp] = h.Offset
		case EventDelete:
			delete(out, tp)
		}
	}
	return out
}
