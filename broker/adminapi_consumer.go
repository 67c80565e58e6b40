package broker

import (
	"sort"

	"github.com/rewindhq/rewind/group/assign"
)

// Consumer-protocol groups (KIP-848) in the admin view: described from the
// consumer-group coordinator as ConsumerGroupDescribe describes them
// (69_consumer_group_describe.go), since DescribeGroups answers them as
// "not a classic group".

// consumerGroupDescription describes group if it is a consumer-protocol
// group.
func (a *AdminAPI) consumerGroupDescription(name string) (GroupDescription, bool) {
	names := map[assign.TopicID]string{}
	for _, t := range a.reg.list() {
		names[assign.TopicID(t.ID)] = t.Name
	}
	cg := &a.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return GroupDescription{}, false
	}
	g := cg.c.Group(name)
	if g == nil {
		return GroupDescription{}, false
	}
	d := GroupDescription{Group: name, Type: "consumer", State: string(g.State()), ProtocolType: "consumer",
		Protocol: g.Assignor(), Assignor: g.Assignor(), GroupEpoch: g.Epoch, AssignmentEpoch: g.AssignmentEpoch}
	for _, id := range g.MemberIDs() {
		m := g.Member(id)
		gm := GroupMember{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost,
			Subscribed: append([]string(nil), m.SubscribedTopicNames...), MemberEpoch: m.Epoch,
			Assigned: namedPartitions(m.OwnedPartitions(), names), Target: namedPartitions(g.Target(id), names)}
		d.Members = append(d.Members, gm)
	}
	return d, true
}

// ConsumerGroupNames lists the consumer-protocol groups, sorted.
func (a *AdminAPI) ConsumerGroupNames() []string {
	cg := &a.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return nil
	}
	return cg.c.GroupIDs()
}

func namedPartitions(ps assign.Partitions, names map[assign.TopicID]string) map[string][]int32 {
	out := map[string][]int32{}
	for t, parts := range ps {
		if len(parts) == 0 {
			continue
		}
		n, ok := names[t]
		if !ok {
			continue // a deleted topic
		}
		out[n] = append(out[n], parts...)
		sort.Slice(out[n], func(i, j int) bool { return out[n][i] < out[n][j] })
	}
	return out
}
