package consumer

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
)

// Classic-protocol members of a consumer group (Kafka 4's
// GroupMetadataManager.classicGroupJoinToConsumerGroup and its Sync,
// Heartbeat and Leave siblings). While a group moves from one protocol to
// the other its members speak both: a member still on the classic
// protocol joins with JoinGroup, gets its assignment, computed by the
// group's server-side assignor, from SyncGroup, and learns that it must
// rejoin from REBALANCE_IN_PROGRESS on Heartbeat. Its JoinGroup is
// handled as a consumer-protocol heartbeat would be (update), its owned
// partitions taken from its subscription, so that reconciliation holds
// for both kinds of member: a partition goes to its new owner only after
// the previous one gave it up, which a classic member does by rejoining
// without it.

// ClassicProtocol is one protocol of a classic member's JoinGroup.
type ClassicProtocol struct {
	Name     string
	Metadata []byte
}

// ClassicMetadata is what a consumer group keeps of a member on the
// classic protocol (ConsumerGroupMemberMetadataValue.ClassicMemberMetadata).
// It is never changed in place, only replaced.
type ClassicMetadata struct {
	SessionTimeout time.Duration
	Protocols      []ClassicProtocol
}

func (c *ClassicMetadata) equal(o *ClassicMetadata) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.SessionTimeout == o.SessionTimeout && slices.EqualFunc(c.Protocols, o.Protocols, func(a, b ClassicProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// Timeouts of classic members beyond the session: the time a member told
// to rejoin has to do so, and the time a joined member has to sync.
const (
	JoinTimeout FenceReason = "join timeout"
	SyncTimeout FenceReason = "sync timeout"
)

// sessionTimeout is the member's session: its own for a classic member,
// group.consumer.session.timeout.ms otherwise.
func (g *Group) sessionTimeout(m *Member) time.Duration {
	if m.Classic != nil {
		return m.Classic.SessionTimeout
	}
	return g.conf().SessionTimeout
}

// classicMember finds or makes the member of a classic JoinGroup (Kafka's
// getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember with
// useClassicProtocol): a known member id must be a classic member; a
// static member joining without a member id replaces its previous
// incarnation, whichever protocol that used.
func (g *Group) classicMember(memberID, instance string, unknown bool) (member, replaced *Member, err error) {
	if instance == "" {
		member = g.members[memberID]
		if member == nil {
			return &Member{ID: memberID, Assigned: Epochs{}, PendingRevocation: Epochs{}}, nil, nil
		}
		if member.Classic == nil {
			return nil, nil, errNotClassic(memberID)
		}
		return member, nil, nil
	}
	existing := g.members[g.static[instance]]
	switch {
	case unknown && existing == nil:
		return &Member{ID: memberID, Assigned: Epochs{}, PendingRevocation: Epochs{}}, nil, nil
	case unknown:
		member = existing.clone()
		member.ID, member.Epoch, member.PreviousEpoch = memberID, 0, 0
		return member, existing, nil
	case existing == nil:
		return nil, nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Instance id %s is unknown.", instance)}
	case existing.ID != memberID:
		return nil, nil, &Error{kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", memberID, instance, existing.ID)}
	case existing.Classic == nil:
		return nil, nil, errNotClassic(memberID)
	}
	return existing, nil, nil
}

func errNotClassic(id string) error {
	return &Error{kerr.UnknownMemberID, fmt.Sprintf("Member %s does not use the classic protocol.", id)}
}

// supportsClassic is Kafka's ConsumerGroup.supportsClassicProtocols: the
// protocol type must be "consumer", and one of the protocols must be
// supported by every classic member of the group.
func (g *Group) supportsClassic(protocolType string, protos []ClassicProtocol) bool {
	if protocolType != "consumer" || len(protos) == 0 {
		return false
	}
	classic := 0
	counts := map[string]int{}
	for _, m := range g.members {
		if m.Classic == nil {
			continue
		}
		classic++
		seen := map[string]bool{}
		for _, p := range m.Classic.Protocols {
			if !seen[p.Name] {
				seen[p.Name] = true
				counts[p.Name]++
			}
		}
	}
	for _, p := range protos {
		if counts[p.Name] == classic {
			return true
		}
	}
	return false
}

// ClassicJoin handles a JoinGroup (v0-9) to a consumer group that has
// members, from a member on the classic protocol. The member joins (or
// rejoins) as a consumer-protocol heartbeat would, reconciling towards the
// target; the response is at once, with no leader and no members (the
// assignment is the coordinator's): the member id, its member epoch as the
// generation, and its first protocol. memberID is the id to give a new
// member. A refusal is an *Error and changes nothing.
func (g *Group) ClassicJoin(now time.Time, client Client, req *kmsg.JoinGroupRequest, topics Topics, newID string) (*kmsg.JoinGroupResponse, []Record, error) {
	var instance *string
	if req.Version >= 5 {
		instance = req.InstanceID
	}
	memberID := req.MemberID
	unknown := memberID == ""
	if unknown {
		memberID = newID
	}
	if len(g.members) >= g.cfg.MaxSize && g.members[memberID] == nil && (instance == nil || g.static[*instance] == "") {
		return nil, nil, &Error{kerr.GroupMaxSizeReached, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", g.cfg.MaxSize)}
	}
	protos := make([]ClassicProtocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		protos = append(protos, ClassicProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)})
	}
	if !g.supportsClassic(req.ProtocolType, protos) {
		return nil, nil, &Error{kerr.InconsistentGroupProtocol, fmt.Sprintf("Member %s's protocols are not supported.", memberID)}
	}
	if unknown && instance == nil && req.Version >= 4 {
		// KIP-394: the member joins again with the id it is given.
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = req.Version
		resp.MemberID = memberID
		resp.ErrorCode = kerr.MemberIDRequired.Code
		resp.Generation = -1
		resp.Protocol = kmsg.StringPtr("")
		return resp, nil, nil
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(protos[0].Metadata); err != nil {
		return nil, nil, &Error{kerr.InconsistentGroupProtocol, fmt.Sprintf("Member %s's subscription cannot be read: %v.", memberID, err)}
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		rebalance = session
	}
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.InstanceID, hb.RackID = g.ID, memberID, instance, sub.Rack
	hb.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	hb.SubscribedTopicNames = slices.Clone(sub.Topics)
	if hb.SubscribedTopicNames == nil {
		hb.SubscribedTopicNames = []string{}
	}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, o := range sub.OwnedPartitions {
		if id, _, ok := topics.Lookup(o.Topic); ok {
			hb.Topics = append(hb.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: o.Partitions})
		}
	}
	m, _, recs, err := g.update(now, client, hb, topics, &classicJoin{meta: &ClassicMetadata{SessionTimeout: session, Protocols: protos}, unknown: unknown})
	if err != nil {
		return nil, nil, err
	}
	m.joinDeadline = time.Time{}
	m.syncDeadline = now.Add(m.RebalanceTimeout)
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = req.Version
	resp.MemberID = m.ID
	resp.Generation = m.Epoch
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(protos[0].Name)
	resp.Members = []kmsg.JoinGroupResponseMember{}
	return resp, recs, nil
}

// classicMemberOf is Kafka's validateConsumerGroupMember followed by
// throwIfMemberDoesNotUseClassicProtocol and
// throwIfGenerationIdUnmatched.
func (g *Group) classicMemberOf(memberID string, instance *string, generation int32) (*Member, error) {
	var m *Member
	if instance == nil {
		if m = g.members[memberID]; m == nil {
			return nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", memberID, g.ID)}
		}
	} else {
		if m = g.members[g.static[*instance]]; m == nil {
			return nil, &Error{kerr.UnknownMemberID, fmt.Sprintf("Member with instance id %s is not a member of group %s.", *instance, g.ID)}
		}
		if m.ID != memberID {
			return nil, &Error{kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", memberID, *instance, m.ID)}
		}
	}
	if m.Classic == nil || len(m.Classic.Protocols) == 0 {
		return nil, errNotClassic(m.ID)
	}
	if m.Epoch != generation {
		return nil, &Error{kerr.IllegalGeneration, fmt.Sprintf("The request generation id %d is not equal to the member epoch %d of member %s.", generation, m.Epoch, m.ID)}
	}
	return m, nil
}

// mustRejoin sets the member's join timeout (if not set) and refuses with
// REBALANCE_IN_PROGRESS.
func (g *Group) mustRejoin(now time.Time, m *Member) error {
	if m.joinDeadline.IsZero() {
		m.joinDeadline = now.Add(m.RebalanceTimeout)
	}
	return &Error{kerr.RebalanceInProgress, fmt.Sprintf("A new rebalance is triggered in group %s and member %s should rejoin to catch up.", g.ID, m.ID)}
}

// ClassicSync handles a SyncGroup (v0-5) of a classic member of a
// consumer group: its assignment is what it owns now, encoded in the
// consumer protocol's version of its first protocol. A member behind the
// group epoch (and not still revoking) must rejoin first. Nothing is
// written; the caller answers once what was written before is durable.
func (g *Group) ClassicSync(now time.Time, req *kmsg.SyncGroupRequest, topics Topics) (*kmsg.SyncGroupResponse, error) {
	var instance *string
	if req.Version >= 3 {
		instance = req.InstanceID
	}
	m, err := g.classicMemberOf(req.MemberID, instance, req.Generation)
	if err != nil {
		return nil, err
	}
	proto := m.Classic.Protocols[0].Name
	if req.ProtocolType != nil && *req.ProtocolType != "consumer" {
		return nil, &Error{kerr.InconsistentGroupProtocol, fmt.Sprintf("The protocol type %s from member %s request is not equal to the group protocol type consumer.", *req.ProtocolType, m.ID)}
	}
	if req.Protocol != nil && *req.Protocol != proto {
		return nil, &Error{kerr.InconsistentGroupProtocol, fmt.Sprintf("The protocol name %s from member %s request is not equal to the protocol name %s returned in the join response.", *req.Protocol, m.ID, proto)}
	}
	if g.Epoch > m.Epoch && m.State != UnrevokedPartitions {
		return nil, g.mustRejoin(now, m)
	}
	m.syncDeadline = time.Time{}
	m.sessionDeadline = now.Add(g.sessionTimeout(m))
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = req.Version
	resp.ProtocolType, resp.Protocol = req.ProtocolType, req.Protocol
	resp.MemberAssignment = classicAssignment(m, topics)
	return resp, nil
}

// classicAssignment encodes the member's assigned partitions (not those it
// must revoke) as a ConsumerProtocolAssignment of the version of its
// first protocol's subscription.
func classicAssignment(m *Member, topics Topics) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	if md := m.Classic.Protocols[0].Metadata; len(md) >= 2 {
		a.Version = min(int16(md[0])<<8|int16(md[1]), 3)
	}
	names := topicNames(topics)
	ps := m.Assigned.partitions()
	for _, t := range sortedIDs(ps) {
		if name, ok := names[t]; ok {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: ps[t]})
		}
	}
	slices.SortFunc(a.Topics, func(x, y kmsg.ConsumerMemberAssignmentTopic) int { return cmpString(x.Topic, y.Topic) })
	return a.AppendTo(nil)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// topicNames maps the topics' ids to their names.
func topicNames(topics Topics) map[assign.TopicID]string {
	out := map[assign.TopicID]string{}
	for _, name := range topics.Names() {
		if id, _, ok := topics.Lookup(name); ok {
			out[id] = name
		}
	}
	return out
}

// ClassicHeartbeat handles a Heartbeat (v0-4) of a classic member of a
// consumer group: it keeps the session, and answers REBALANCE_IN_PROGRESS
// when the member must rejoin, because the group epoch moved past it, it
// must revoke partitions, or partitions it waits for were released.
func (g *Group) ClassicHeartbeat(now time.Time, req *kmsg.HeartbeatRequest) error {
	var instance *string
	if req.Version >= 3 {
		instance = req.InstanceID
	}
	m, err := g.classicMemberOf(req.MemberID, instance, req.Generation)
	if err != nil {
		return err
	}
	m.sessionDeadline = now.Add(g.sessionTimeout(m))
	if m.Epoch < g.Epoch || m.State == UnrevokedPartitions || (m.State == UnreleasedPartitions && !g.waitingOnUnreleased(m)) {
		return g.mustRejoin(now, m)
	}
	return nil
}

// waitingOnUnreleased reports whether a partition of m's target is still
// held by another member (Kafka's waitingOnUnreleasedPartition).
func (g *Group) waitingOnUnreleased(m *Member) bool {
	for t, ps := range g.target[m.ID] {
		for _, p := range ps {
			if o := g.owner(t, p); o != "" && o != m.ID {
				return true
			}
		}
	}
	return false
}

// ClassicLeave handles the members of a LeaveGroup (v0-5) to a consumer
// group: each classic member named leaves (by member id, or by instance
// id with or without its member id); the others are answered with their
// error. The group epoch is bumped once if anyone left.
func (g *Group) ClassicLeave(req *kmsg.LeaveGroupRequest) (*kmsg.LeaveGroupResponse, []Record) {
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	var recs []Record
	left := 0
	for _, l := range leaving {
		r := kmsg.LeaveGroupResponseMember{MemberID: l.MemberID, InstanceID: l.InstanceID}
		var m *Member
		switch {
		case l.InstanceID == nil:
			if m = g.members[l.MemberID]; m == nil {
				r.ErrorCode = kerr.UnknownMemberID.Code
			}
		default:
			if m = g.members[g.static[*l.InstanceID]]; m == nil {
				r.ErrorCode = kerr.UnknownMemberID.Code
			} else if l.MemberID != "" && l.MemberID != m.ID {
				r.ErrorCode, m = kerr.FencedInstanceID.Code, nil
			}
		}
		if m != nil && m.Classic == nil {
			r.ErrorCode, m = kerr.UnknownMemberID.Code, nil
		}
		if m != nil {
			r.MemberID = m.ID
			g.setAssignment(m, nil, nil)
			delete(g.members, m.ID)
			if m.InstanceID != "" && g.static[m.InstanceID] == m.ID {
				delete(g.static, m.InstanceID)
			}
			delete(g.target, m.ID)
			recs = append(recs, memberTombstones(g.ID, m.ID)...)
			left++
		}
		resp.Members = append(resp.Members, r)
	}
	if left > 0 {
		g.Epoch++
		recs = append(recs, epochRecord(g))
	}
	if req.Version < 3 {
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
	return resp, recs
}
