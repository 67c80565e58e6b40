package differential

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The online migration between the classic and the consumer protocol
// (Kafka 4's group.consumer.migration.policy, bidirectional by default):
// a classic group that a consumer-protocol member joins becomes a
// consumer group whose classic member is served through JoinGroup,
// SyncGroup and Heartbeat, and becomes classic again when the
// consumer-protocol member leaves. Every answer is compared.

// ownedMeta is the "consumer" protocol subscription to topic (v1, with the
// partitions the member owns).
func ownedMeta(topic string, parts ...int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = []string{topic}
	if len(parts) > 0 {
		meta.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: topic, Partitions: parts}}
	}
	return meta.AppendTo(nil)
}

func syncedPartitions(resp kmsg.Response) []int32 {
	s, ok := resp.(*kmsg.SyncGroupResponse)
	if !ok || s.ErrorCode != 0 {
		return nil
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(s.MemberAssignment); err != nil {
		return nil
	}
	var out []int32
	for _, t := range a.Topics {
		out = append(out, t.Partitions...)
	}
	slices.Sort(out)
	return out
}

func TestConsumerGroupMigration(t *testing.T) {
	p := newPair(t)
	tp := name("mig")
	p.mustCreate(tp, 4)
	p.waitGroupsSee(tp)
	ids := p.topicIDs(tp)
	w := newTwin(p, name("g-mig"), tp)
	k := "migration-member-k" + suffix // a consumer-protocol member id, the client's own

	joinA := func(s side, owned ...int32) kmsg.Request {
		req := w.joinReq(s, "A", "", "range")
		req.Protocols[0].Metadata = ownedMeta(tp, owned...)
		return req
	}
	w.step("classic/JoinGroup without member id", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "", "", "range") })
	w.step("classic/JoinGroup", -1, "A", func(s side) kmsg.Request { return joinA(s) })
	w.step("classic/SyncGroup leader", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0, 1, 2, 3}})
	})
	w.step("classic/OffsetCommit", -1, "", func(s side) kmsg.Request { return commitReq(w.group, s.gen(), s.id("A"), tp, 4, "") })

	// K joins with the consumer protocol: the group is converted, A keeps
	// its partitions until it gives them up.
	w.step("upgrade/ConsumerGroupHeartbeat join", 1, "", func(s side) kmsg.Request { return joinReq(w.group, k, tp) })
	w.step("upgrade/ConsumerGroupHeartbeat of K", 1, "", func(s side) kmsg.Request {
		return owned(cgReq(w.group, k, 2), ids[s.i][tp])
	})
	w.step("upgrade/Heartbeat of A: rejoin", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("upgrade/Heartbeat of A: illegal generation", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()+1) })
	w.step("upgrade/Heartbeat naming K", -1, "", func(s side) kmsg.Request {
		req := w.heartbeatReq(s, "A", "", 2)
		req.MemberID = k
		return req
	})
	w.step("upgrade/SyncGroup of A before it rejoins", -1, "", func(s side) kmsg.Request { return w.syncReq(s, "A", "", s.gen(), nil) })
	w.step("upgrade/OffsetCommit of A at its generation", -1, "", func(s side) kmsg.Request { return commitReq(w.group, s.gen(), s.id("A"), tp, 4, "") })
	w.step("upgrade/OffsetCommit of A at another generation", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen()+1, s.id("A"), tp, 4, "")
	})
	w.step("upgrade/JoinGroup of another protocol type", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", "range")
		req.ProtocolType = "connect"
		return req
	})
	w.step("upgrade/JoinGroup of a protocol A lacks", -1, "", func(s side) kmsg.Request { return w.joinReq(s, "", "", "roundrobin") })
	w.step("upgrade/JoinGroup of A owning all", -1, "A", func(s side) kmsg.Request { return joinA(s, 0, 1, 2, 3) })
	w.step("upgrade/SyncGroup of another protocol", -1, "", func(s side) kmsg.Request {
		req := w.syncReq(s, "A", "", s.gen(), nil)
		req.Protocol = kmsg.StringPtr("roundrobin")
		return req
	})
	synced := w.step("upgrade/SyncGroup of A revoking", -1, "", func(s side) kmsg.Request { return w.syncReq(s, "A", "", s.gen(), nil) })
	kept := [2][]int32{syncedPartitions(synced[0]), syncedPartitions(synced[1])}
	w.step("upgrade/JoinGroup of A after revoking", -1, "A", func(s side) kmsg.Request { return joinA(s, kept[s.i]...) })
	w.step("upgrade/SyncGroup of A", -1, "", func(s side) kmsg.Request { return w.syncReq(s, "A", "", s.gen(), nil) })
	w.step("upgrade/Heartbeat of A", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("upgrade/ConsumerGroupHeartbeat of K after the release", 1, "", func(s side) kmsg.Request {
		return owned(cgReq(w.group, k, 2), ids[s.i][tp])
	})
	w.step("upgrade/ConsumerGroupDescribe", -1, "", func(s side) kmsg.Request {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{w.group}
		return req
	})
	w.step("upgrade/DescribeGroups", -1, "", func(s side) kmsg.Request {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{w.group}
		return req
	})
	w.step("upgrade/OffsetFetch", -1, "", func(s side) kmsg.Request { return fetchReq(w.group, tp) })

	// K leaves: A is the group's only member, on the classic protocol, and
	// the group is classic again, rebalancing.
	w.step("downgrade/ConsumerGroupHeartbeat leave", 1, "", func(s side) kmsg.Request { return cgReq(w.group, k, -1) })
	w.step("downgrade/DescribeGroups", -1, "", func(s side) kmsg.Request {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{w.group}
		return req
	})
	w.step("downgrade/Heartbeat of A", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("downgrade/JoinGroup of A", -1, "A", func(s side) kmsg.Request { return joinA(s, kept[s.i]...) })
	w.step("downgrade/SyncGroup leader", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0, 1, 2, 3}})
	})
	w.step("downgrade/OffsetFetch", -1, "", func(s side) kmsg.Request { return fetchReq(w.group, tp) })

	// A classic group of another protocol type cannot be upgraded.
	c := newTwin(p, name("g-mig-connect"), tp)
	c.step("connect/JoinGroup without member id", -1, "C", func(s side) kmsg.Request {
		req := c.joinReq(s, "", "", "range")
		req.ProtocolType = "connect"
		return req
	})
	c.step("connect/JoinGroup", -1, "C", func(s side) kmsg.Request {
		req := c.joinReq(s, "C", "", "range")
		req.ProtocolType = "connect"
		return req
	})
	c.step("connect/ConsumerGroupHeartbeat join", 1, "", func(s side) kmsg.Request { return joinReq(c.group, k, tp) })
	c.step("connect/ConsumerGroupHeartbeat not a join", 1, "", func(s side) kmsg.Request { return cgReq(c.group, k, 3) })
}
