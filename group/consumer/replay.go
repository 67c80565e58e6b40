package consumer

import (
	"fmt"
	"slices"
	"time"

	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// Replay applies one __consumer_offsets record (key, and value or nil for
// a tombstone) of a consumer-group record type, in log order, rebuilding
// the groups as they were when it was written (Kafka's
// GroupMetadataManager.replay). Other record types are ignored; a record
// that does not decode is an error. After the last record, Loaded starts
// the members' session timers.
func (c *Coordinator) Replay(key, value []byte) error {
	k, err := offsetsfmt.DecodeKey(key)
	if err != nil {
		return fmt.Errorf("consumer: replay: %w", err)
	}
	if !k.Kind.IsConsumerGroup() {
		return nil // offsets, classic groups, other group types: not ours
	}
	rec, err := offsetsfmt.Decode(key, value)
	if err != nil {
		return fmt.Errorf("consumer: replay: %w", err)
	}
	g := c.groups[rec.Group]
	if g == nil {
		if value == nil {
			return nil // a tombstone of a group already gone
		}
		g = NewGroup(rec.Group, c.cfg)
		c.groups[rec.Group] = g
	}
	member := func() *Member {
		m := g.members[rec.Member]
		if m == nil {
			m = &Member{ID: rec.Member, Assigned: Epochs{}, PendingRevocation: Epochs{}}
			g.members[rec.Member] = m
		}
		return m
	}
	switch v := rec.Consumer.(type) {
	case nil: // tombstones
		switch rec.Kind {
		case offsetsfmt.ConsumerGroupMetadata:
			delete(c.groups, rec.Group)
		case offsetsfmt.ConsumerGroupMemberMetadata:
			if m := g.members[rec.Member]; m != nil {
				g.setAssignment(m, nil, nil)
				if m.InstanceID != "" && g.static[m.InstanceID] == m.ID {
					delete(g.static, m.InstanceID)
				}
				delete(g.members, rec.Member)
			}
		case offsetsfmt.ConsumerGroupTargetAssignmentMember:
			delete(g.target, rec.Member)
		case offsetsfmt.ConsumerGroupCurrentMemberAssignment:
			if m := g.members[rec.Member]; m != nil {
				g.setAssignment(m, Epochs{}, Epochs{})
				m.Epoch, m.PreviousEpoch, m.State = 0, 0, Stable
			}
		case offsetsfmt.ConsumerGroupRegularExpression:
			delete(g.regexes, rec.Regex)
		}
	case *offsetsfmt.ConsumerGroupMetadataValue:
		g.Epoch, g.MetadataHash = v.Epoch, v.MetadataHash
	case *offsetsfmt.ConsumerGroupMemberMetadataValue:
		m := member()
		str := func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		}
		if m.InstanceID != "" && g.static[m.InstanceID] == m.ID {
			delete(g.static, m.InstanceID)
		}
		m.InstanceID, m.RackID, m.ServerAssignor, m.SubscribedTopicRegex = str(v.InstanceId), str(v.RackId), str(v.ServerAssignor), str(v.SubscribedTopicRegex)
		m.ClientID, m.ClientHost = v.ClientId, v.ClientHost
		m.SubscribedTopicNames = slices.Clone(v.SubscribedTopicNames)
		if len(m.SubscribedTopicNames) == 0 {
			m.SubscribedTopicNames = nil
		}
		m.RebalanceTimeout = time.Duration(v.RebalanceTimeoutMs) * time.Millisecond
		m.Classic = nil
		if cm := v.ClassicMemberMetadata; cm != nil {
			c := &ClassicMetadata{SessionTimeout: time.Duration(cm.SessionTimeoutMs) * time.Millisecond}
			for _, p := range cm.SupportedProtocols {
				c.Protocols = append(c.Protocols, ClassicProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)})
			}
			m.Classic = c
		}
		if m.InstanceID != "" {
			g.static[m.InstanceID] = m.ID
		}
	case *offsetsfmt.ConsumerGroupTargetAssignmentMemberValue:
		ps := assign.Partitions{}
		for _, tp := range v.TopicPartitions {
			if len(tp.Partitions) > 0 {
				ps[tp.TopicId] = slices.Sorted(slices.Values(tp.Partitions))
			}
		}
		g.target[rec.Member] = ps
	case *offsetsfmt.ConsumerGroupTargetAssignmentMetadataValue:
		g.AssignmentEpoch = v.AssignmentEpoch
		if v.AssignmentTimestamp > 0 {
			g.AssignmentTime = time.UnixMilli(v.AssignmentTimestamp)
		}
	case *offsetsfmt.ConsumerGroupCurrentMemberAssignmentValue:
		m := member()
		m.Epoch, m.PreviousEpoch, m.State = v.MemberEpoch, v.PreviousMemberEpoch, MemberState(v.State)
		g.setAssignment(m, epochsFromRecord(v.AssignedPartitions, v.MemberEpoch), epochsFromRecord(v.PartitionsPendingRevocation, v.MemberEpoch))
	case *offsetsfmt.ConsumerGroupRegularExpressionValue:
		g.regexes[rec.Regex] = resolvedRegex{topics: slices.Clone(v.Topics), version: v.VersionField}
	}
	return nil
}

// epochsFromRecord reads a current assignment's partitions; a record
// written without assignment epochs (before Kafka 4.3) gets the member
// epoch for each.
func epochsFromRecord(tps []offsetsfmt.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions, memberEpoch int32) Epochs {
	out := Epochs{}
	for _, tp := range tps {
		for i, p := range tp.Partitions {
			e := memberEpoch
			if i < len(tp.AssignmentEpochs) {
				e = tp.AssignmentEpochs[i]
			}
			out.add(tp.TopicId, p, e)
		}
	}
	return out
}

// Loaded ends a replay: every member must heartbeat within its session
// timeout from now, as after a Kafka coordinator failover, and a member
// still revoking gets its rebalance timeout again.
func (c *Coordinator) Loaded(now time.Time) { c.LoadedGroups(now, c.GroupIDs()) }

// LoadedGroups is Loaded for the given groups only (those of one
// __consumer_offsets partition replayed again after a repair).
func (c *Coordinator) LoadedGroups(now time.Time, ids []string) {
	for _, id := range ids {
		g := c.groups[id]
		if g == nil {
			continue
		}
		for _, m := range g.members {
			m.sessionDeadline = now.Add(g.sessionTimeout(m))
			if m.State == UnrevokedPartitions {
				m.rebalanceDeadline, m.rebalanceEpoch = now.Add(m.RebalanceTimeout), m.Epoch
			}
		}
	}
}
