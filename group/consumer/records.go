package consumer

import (
	"maps"
	"slices"

	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// Record is a __consumer_offsets record (key and value, nil value for a
// tombstone) in Kafka 4.x's consumer-group record types, encoded by
// offsetsfmt: what the coordinator appends so that a restart, or any
// reader of the topic, sees the group as Kafka would have written it.
type Record struct {
	Key, Value []byte
}

func record(kind offsetsfmt.Kind, group, member, regex string, v offsetsfmt.CoordinatorRecord) Record {
	r := Record{Key: offsetsfmt.ConsumerGroupKey(kind, group, member, regex)}
	if v != nil {
		r.Value = v.AppendTo(nil)
	}
	return r
}

func epochRecord(g *Group) Record {
	return record(offsetsfmt.ConsumerGroupMetadata, g.ID, "", "",
		&offsetsfmt.ConsumerGroupMetadataValue{Epoch: g.Epoch, MetadataHash: g.MetadataHash})
}

func memberRecord(group string, m *Member) Record {
	v := &offsetsfmt.ConsumerGroupMemberMetadataValue{ClientId: m.ClientID, ClientHost: m.ClientHost,
		SubscribedTopicNames: slices.Clone(m.SubscribedTopicNames), RebalanceTimeoutMs: int32(m.RebalanceTimeout.Milliseconds())}
	if v.SubscribedTopicNames == nil {
		v.SubscribedTopicNames = []string{}
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	v.InstanceId, v.RackId, v.ServerAssignor, v.SubscribedTopicRegex = opt(m.InstanceID), opt(m.RackID), opt(m.ServerAssignor), opt(m.SubscribedTopicRegex)
	if c := m.Classic; c != nil {
		cm := &offsetsfmt.ConsumerGroupMemberMetadataValueClassicMemberMetadata{SessionTimeoutMs: int32(c.SessionTimeout.Milliseconds()),
			SupportedProtocols: []offsetsfmt.ConsumerGroupMemberMetadataValueClassicMemberMetadataClassicProtocol{}}
		for _, p := range c.Protocols {
			cm.SupportedProtocols = append(cm.SupportedProtocols, offsetsfmt.ConsumerGroupMemberMetadataValueClassicMemberMetadataClassicProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		v.ClassicMemberMetadata = cm
	}
	return record(offsetsfmt.ConsumerGroupMemberMetadata, group, m.ID, "", v)
}

func targetRecord(group, member string, ps assign.Partitions) Record {
	v := &offsetsfmt.ConsumerGroupTargetAssignmentMemberValue{TopicPartitions: []offsetsfmt.ConsumerGroupTargetAssignmentMemberValueTopicPartition{}}
	for _, t := range sortedIDs(ps) {
		v.TopicPartitions = append(v.TopicPartitions, offsetsfmt.ConsumerGroupTargetAssignmentMemberValueTopicPartition{TopicId: t, Partitions: slices.Clone(ps[t])})
	}
	return record(offsetsfmt.ConsumerGroupTargetAssignmentMember, group, member, "", v)
}

func targetEpochRecord(g *Group, timestampMs int64) Record {
	return record(offsetsfmt.ConsumerGroupTargetAssignmentMetadata, g.ID, "", "",
		&offsetsfmt.ConsumerGroupTargetAssignmentMetadataValue{AssignmentEpoch: g.AssignmentEpoch, AssignmentTimestamp: timestampMs})
}

func epochsToRecord(e Epochs) []offsetsfmt.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions {
	out := []offsetsfmt.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions{}
	for _, t := range slices.SortedFunc(maps.Keys(e), assign.TopicID.Compare) {
		if len(e[t]) == 0 {
			continue
		}
		tp := offsetsfmt.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions{TopicId: t}
		for _, p := range slices.Sorted(maps.Keys(e[t])) {
			tp.Partitions = append(tp.Partitions, p)
			tp.AssignmentEpochs = append(tp.AssignmentEpochs, e[t][p])
		}
		out = append(out, tp)
	}
	return out
}

func currentRecord(group string, m *Member) Record {
	return record(offsetsfmt.ConsumerGroupCurrentMemberAssignment, group, m.ID, "",
		&offsetsfmt.ConsumerGroupCurrentMemberAssignmentValue{MemberEpoch: m.Epoch, PreviousMemberEpoch: m.PreviousEpoch,
			State: int8(m.State), AssignedPartitions: epochsToRecord(m.Assigned), PartitionsPendingRevocation: epochsToRecord(m.PendingRevocation)})
}

func regexRecord(group, regex string, r *resolvedRegex, timestampMs int64) Record {
	var v offsetsfmt.CoordinatorRecord
	if r != nil {
		v = &offsetsfmt.ConsumerGroupRegularExpressionValue{Topics: slices.Clone(r.topics), VersionField: r.version, Timestamp: timestampMs}
	}
	return record(offsetsfmt.ConsumerGroupRegularExpression, group, "", regex, v)
}

// memberTombstones removes a member in Kafka's order: its current
// assignment, its target assignment, its metadata.
func memberTombstones(group, member string) []Record {
	return []Record{
		record(offsetsfmt.ConsumerGroupCurrentMemberAssignment, group, member, "", nil),
		record(offsetsfmt.ConsumerGroupTargetAssignmentMember, group, member, "", nil),
		record(offsetsfmt.ConsumerGroupMemberMetadata, group, member, "", nil),
	}
}

func sortedIDs(ps assign.Partitions) []assign.TopicID {
	return slices.SortedFunc(maps.Keys(ps), assign.TopicID.Compare)
}
