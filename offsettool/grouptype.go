package offsettool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group types as ListGroups v5 names them (KIP-1043): a classic group
// (JoinGroup/SyncGroup, the client's assignor) or a consumer group of
// Kafka 4's consumer protocol (KIP-848, ConsumerGroupHeartbeat, the
// broker's assignor).
const (
	TypeClassic  = "classic"
	TypeConsumer = "consumer"
)

// States of a consumer group (KIP-848) besides Empty, Stable and Dead:
// Assigning, the group epoch moved past the target assignment's (the next
// heartbeat computes a new target); Reconciling, some member has not
// reached the target yet (it still owns partitions to revoke or waits for
// partitions another member still owns).
const (
	StateAssigning   = "Assigning"
	StateReconciling = "Reconciling"
)

// describeGroup fills s's type, state and members. DescribeGroups answers
// for classic groups; Kafka 4.x (and Rewind) answer it for a consumer
// group with GROUP_ID_NOT_FOUND ("not a classic group"), so such a group,
// or a group DescribeGroups calls Dead, is asked again with
// ConsumerGroupDescribe (so is any group DescribeGroups shows without
// members: kfake calls its consumer groups Stable there). interested gets every topic a member is
// assigned, targeted or subscribed to.
func (c *Client) describeGroup(ctx context.Context, s *GroupSnapshot, interested map[string]bool) error {
	group := s.Group
	described, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe group %q: %s", group, oneLine(err))
	}
	d, err := described.On(group, nil)
	if err != nil {
		return fmt.Errorf("describe group %q: %s", group, oneLine(err))
	}
	if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("describe group %q: %s", group, oneLine(d.Err))
	}
	// kfake answers DescribeGroups for a consumer group as a Stable group
	// without members, so every group without members is asked again.
	if d.Err != nil || len(d.Members) == 0 {
		cg, ok, err := c.describeConsumerGroup(ctx, group)
		if err != nil {
			return err
		}
		if ok {
			fillConsumerGroup(s, cg, interested)
			return nil
		}
	}
	s.Type = TypeClassic
	s.State, s.ProtocolType, s.Protocol = d.State, d.ProtocolType, d.Protocol
	for _, m := range d.Members {
		mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mem.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				interested[t.Topic] = true
				for _, p := range t.Partitions {
					mem.Assigned = append(mem.Assigned, TopicPartition{t.Topic, p})
				}
			}
		}
		if j, ok := m.Join.AsConsumer(); ok {
			for _, t := range j.Topics {
				interested[t] = true
			}
		}
		sortTPs(mem.Assigned)
		s.Members = append(s.Members, mem)
	}
	sort.Slice(s.Members, func(i, j int) bool { return s.Members[i].ID < s.Members[j].ID })
	return nil
}

// describeConsumerGroup asks ConsumerGroupDescribe about group; ok is false
// when the group is not a consumer group there (GROUP_ID_NOT_FOUND) or the
// cluster does not know the request (Kafka before 4.0, Redpanda). The
// request is sent as is, not through kadm, because kadm keys assignments
// by topic name and kfake sends only topic ids (Kafka sends both).
func (c *Client) describeConsumerGroup(ctx context.Context, group string) (kmsg.ConsumerGroupDescribeResponseGroup, bool, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	var none kmsg.ConsumerGroupDescribeResponseGroup
	shards := c.kcl.RequestSharded(ctx, req)
	if len(shards) == 0 {
		return none, false, nil
	}
	sh := shards[0]
	if sh.Err != nil {
		if unsupported(sh.Err) {
			return none, false, nil
		}
		return none, false, fmt.Errorf("describe consumer group %q: %s", group, oneLine(sh.Err))
	}
	resp := sh.Resp.(*kmsg.ConsumerGroupDescribeResponse)
	for _, d := range resp.Groups {
		if d.Group != group {
			continue
		}
		err := kerr.ErrorForCode(d.ErrorCode)
		switch {
		case errors.Is(err, kerr.GroupIDNotFound) || d.State == StateDead:
			return d, false, nil
		case err != nil && unsupported(err):
			return d, false, nil
		case err != nil:
			return d, false, fmt.Errorf("describe consumer group %q: %s", group, oneLine(err))
		}
		if err := c.nameTopics(ctx, &d); err != nil {
			return d, false, err
		}
		return d, true, nil
	}
	return none, false, nil
}

// nameTopics fills the topic names of d's assignments that carry only a
// topic id, from Metadata.
func (c *Client) nameTopics(ctx context.Context, d *kmsg.ConsumerGroupDescribeResponseGroup) error {
	missing := false
	for _, m := range d.Members {
		for _, tp := range append(append([]kmsg.AssignmentTopicPartition(nil), m.Assignment.TopicPartitions...), m.TargetAssignment.TopicPartitions...) {
			missing = missing || tp.Topic == ""
		}
	}
	if !missing {
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
	for i := range d.Members {
		m := &d.Members[i]
		for _, tps := range [][]kmsg.AssignmentTopicPartition{m.Assignment.TopicPartitions, m.TargetAssignment.TopicPartitions} {
			for j := range tps {
				if tps[j].Topic == "" {
					tps[j].Topic = names[tps[j].TopicID]
				}
			}
		}
	}
	return nil
}

// unsupported reports an error saying that the broker does not implement
// a request (kgo's "broker is too old" and "request key is unknown" are
// not exported).
func unsupported(err error) bool {
	if errors.Is(err, kerr.UnsupportedVersion) || errors.Is(err, kerr.InvalidRequest) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "too old") || strings.Contains(msg, "unknown")
}

func fillConsumerGroup(s *GroupSnapshot, d kmsg.ConsumerGroupDescribeResponseGroup, interested map[string]bool) {
	s.Type, s.State = TypeConsumer, d.State
	// A consumer group's members all speak the consumer protocol; the
	// broker's assignor plays the classic protocol's part.
	s.ProtocolType, s.Protocol, s.Assignor = "consumer", d.AssignorName, d.AssignorName
	s.GroupEpoch, s.AssignmentEpoch = d.Epoch, d.AssignmentEpoch
	for _, m := range d.Members {
		mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, MemberEpoch: m.MemberEpoch,
			Subscribed: append([]string(nil), m.SubscribedTopics...)}
		if m.InstanceID != nil {
			mem.InstanceID = *m.InstanceID
		}
		if m.SubscribedTopicRegex != nil {
			mem.SubscribedRegex = *m.SubscribedTopicRegex
		}
		// ConsumerGroupDescribe v1: 0 is a classic-protocol member of a
		// consumer group (KIP-848's online migration); v0 says -1.
		mem.Classic = m.MemberType == 0
		mem.Assigned = assignmentTPs(m.Assignment.TopicPartitions)
		mem.Target = assignmentTPs(m.TargetAssignment.TopicPartitions)
		mem.Revoking = minusTPs(mem.Assigned, mem.Target)
		mem.Awaiting = minusTPs(mem.Target, mem.Assigned)
		for _, tp := range append(mem.Assigned, mem.Target...) {
			interested[tp.Topic] = true
		}
		for _, t := range m.SubscribedTopics {
			interested[t] = true
		}
		s.Members = append(s.Members, mem)
	}
	sort.Slice(s.Members, func(i, j int) bool { return s.Members[i].ID < s.Members[j].ID })
}

func assignmentTPs(ts []kmsg.AssignmentTopicPartition) []TopicPartition {
	var out []TopicPartition
	for _, t := range ts {
		for _, p := range t.Partitions {
			out = append(out, TopicPartition{t.Topic, p})
		}
	}
	sortTPs(out)
	return out
}

// minusTPs is a without b, in a's order.
func minusTPs(a, b []TopicPartition) []TopicPartition {
	in := make(map[TopicPartition]bool, len(b))
	for _, tp := range b {
		in[tp] = true
	}
	var out []TopicPartition
	for _, tp := range a {
		if !in[tp] {
			out = append(out, tp)
		}
	}
	return out
}

// listGroupTypes lists every group with its type (ListGroups v5; empty on
// brokers before Kafka 3.8, whose groups are all classic).
func (c *Client) listGroupTypes(ctx context.Context) (map[string]kmsg.ListGroupsResponseGroup, error) {
	req := kmsg.NewPtrListGroupsRequest()
	out := map[string]kmsg.ListGroupsResponseGroup{}
	var first error
	for _, sh := range c.kcl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			if first == nil {
				first = sh.Err
			}
			continue
		}
		resp := sh.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		for _, g := range resp.Groups {
			out[g.Group] = g
		}
	}
	if len(out) == 0 && first != nil {
		return nil, fmt.Errorf("list groups: %s", oneLine(first))
	}
	return out, nil
}
