package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareGroupDescribe: v1. Each distinct group once: its state (Empty,
// Stable), epochs, the simple assignor, and each member's subscription
// and assignment (topic ids with their names). An unknown id is
// GROUP_ID_NOT_FOUND "Group X not found.", a classic or consumer group's
// "Group X is not a share group.", as Kafka 4.4 answers.

func init() { regKey(77, 1, 1, handleShareGroupDescribe) }

func handleShareGroupDescribe(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ShareGroupDescribeRequest)
	req.GroupIDs = dedupStrings(req.GroupIDs)
	var n respSize
	n.elems(len(req.GroupIDs), 2*sizeOf[kmsg.ShareGroupDescribeResponseGroup](), 32)
	if err := r.reserveResponse("ShareGroupDescribe", n); err != nil {
		return reply{}, err
	}
	b := r.c.b
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	topics := newShareTopics(b)
	for _, id := range req.GroupIDs {
		dg := kmsg.NewShareGroupDescribeResponseGroup()
		dg.GroupID, dg.AuthorizedOperations = id, math.MinInt32
		if !b.isShareGroup(id) {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			if b.otherGroupType(id) {
				dg.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a share group.")
			} else {
				dg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		s := &b.shares
		s.mu.Lock()
		if g := s.c.Group(id); g != nil {
			dg.GroupState, dg.GroupEpoch, dg.AssignmentEpoch, dg.Assignor = g.State(), g.Epoch, g.AssignmentEpoch, "simple"
			for _, m := range g.Members() {
				dm := kmsg.NewShareGroupDescribeResponseGroupMember()
				dm.MemberID, dm.RackID, dm.MemberEpoch = m.ID, m.RackID, m.Epoch
				dm.ClientID, dm.ClientHost = m.Client.ID, m.Client.Host
				dm.SubscribedTopicNames = append([]string{}, m.Subscribed...)
				for _, t := range m.AssignedTopics() {
					tid, _, ok := topics.Lookup(t)
					if !ok {
						continue
					}
					tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
					tp.TopicID, tp.Topic, tp.Partitions = tid, t, append([]int32{}, m.Assigned[t]...)
					dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		s.mu.Unlock()
		resp.Groups = append(resp.Groups, dg)
	}
	return now(resp)
}
