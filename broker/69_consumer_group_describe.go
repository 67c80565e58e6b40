package broker

import (
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// ConsumerGroupDescribe: v0-1 (KIP-848). Each group is described as
// Kafka 4.4 describes it: state, group and target assignment epochs, the
// assignor, and every member with its epoch, subscription, current and
// target assignments (v1: MemberType 1, a consumer-protocol member). A
// group this broker does not hold as a consumer-protocol group is
// GROUP_ID_NOT_FOUND, as Kafka answers for a group that does not exist
// (classic groups are described by DescribeGroups). Authorized
// operations are not computed (Kafka's "not requested" value).

func init() { regKey(69, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ConsumerGroupDescribeRequest)
	req.Groups = dedupStrings(req.Groups)
	var n respSize
	n.elems(len(req.Groups), 2*sizeOf[kmsg.ConsumerGroupDescribeResponseGroup](), 32)
	if err := r.reserveResponse("ConsumerGroupDescribe", n); err != nil {
		return reply{}, err
	}
	topics := newConsumerTopics(r.c.b.reg.list())
	names := map[assign.TopicID]string{}
	for name, m := range topics.byName {
		names[assign.TopicID(m.ID)] = name
	}
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.Version
	cg := &r.c.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	c := cg.coordinator()
	at := time.Now()
	for _, id := range req.Groups {
		cg.tickLocked(id, at)
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group = id
		g.AuthorizedOperations = math.MinInt32
		grp := c.Group(id)
		if grp == nil && cg.unavailable(cg.partition(id)) {
			g.ErrorCode = kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if grp == nil {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			g.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Group %s not found.", id))
			// Kafka leaves the state empty for a group it does not have.
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = string(grp.State()), grp.Epoch, grp.AssignmentEpoch, grp.Assignor()
		for _, mid := range grp.MemberIDs() {
			m := grp.Member(mid)
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.ID, m.Epoch, m.ClientID, m.ClientHost
			if m.InstanceID != "" {
				dm.InstanceID = kmsg.StringPtr(m.InstanceID)
			}
			if m.RackID != "" {
				dm.RackID = kmsg.StringPtr(m.RackID)
			}
			dm.SubscribedTopics = append([]string{}, m.SubscribedTopicNames...)
			// Kafka sends "" rather than null for a member without a regex.
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.SubscribedTopicRegex)
			// Kafka describes what the member owns: assigned and still
			// revoking.
			dm.Assignment = describeAssignment(m.OwnedPartitions(), names)
			dm.TargetAssignment = describeAssignment(grp.Target(mid), names)
			dm.MemberType = 1 // a consumer-protocol member
			if m.Classic != nil {
				dm.MemberType = 0 // a classic member of the group (consumer_groups_classic.go)
			}
			g.Members = append(g.Members, dm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return now(resp)
}

func describeAssignment(ps assign.Partitions, names map[assign.TopicID]string) kmsg.Assignment {
	var a kmsg.Assignment
	a.Default()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for t, parts := range ps {
		if len(parts) == 0 {
			continue
		}
		a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t, Topic: names[t], Partitions: parts})
	}
	return a
}
